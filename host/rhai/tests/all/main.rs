//! kiln-rhai's tests: real scripts run against real capabilities, with a recording UI.

// Helpers outside `#[test]` functions panic on broken fixtures too.
#![allow(clippy::unwrap_used)]

mod builder;
mod errors;
mod fixture;
mod post_processor;
mod provisioner;
mod sandbox;
mod shipped;
