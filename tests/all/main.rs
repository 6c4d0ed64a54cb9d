//! kiln's integration tests: one binary, a module per area (wasmtime's layout keeps link time
//! down on small machines).

// Test helpers panic on broken fixtures; that is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)]

mod ansible;
mod build;
mod cli_output;
mod conformance;
mod kiln;
mod packer_differential;
mod policy;
mod qemu;
mod qemu_media;
mod ssh;
mod vagrant;
