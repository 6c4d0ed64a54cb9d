//! kiln's Rhai host: plugins written as [Rhai](https://rhai.rs) scripts. The only crate that
//! names Rhai types.
//!
//! A template entry `{"type": "rhai", "script": "provision.rhai", ...}` is a
//! [`RhaiPlugin`], which implements kiln-core's [`Builder`](kiln_core::plugin::Builder),
//! [`Provisioner`](kiln_core::plugin::Provisioner) and
//! [`PostProcessor`](kiln_core::plugin::PostProcessor); which one it is depends on where the
//! template puts it. The script is compiled once ([`RhaiPlugin::for_entry`]); each call runs
//! it in a fresh engine (`sandbox.rs`) on a thread of its own (`call.rs`), where it reaches
//! the world only through the build's [`Capabilities`](kiln_core::capabilities::Capabilities),
//! the same door and the same grant checks as WebAssembly components (`capabilities.rs`).
//!
//! # What a script sees
//!
//! Entry points mirror the WIT exports: `fn provision(session, data)` for a provisioner,
//! `fn post_process(artifact)` for a post-processor, `fn run(hooks)` for a builder, and an
//! optional `fn prepare()` returning an array of warnings, or throwing a string, a
//! `#{key: ..., message: ...}` or an array of those (the config's errors). Top-level
//! statements (imports, constants) run before each entry point. `config` (the entry's keys
//! but `type` and `script`) and `build` (`name`, `builder_type`, `run_id`, `template_dir`,
//! `output_dir`, `temp_dir`, `force`, `debug`) are read-only maps visible everywhere.
//! `guest-sdk/rhai/README.md` is the reference for script authors.
//!
//! # Example
//!
//! ```
//! use kiln_rhai::{Limits, RhaiPlugin};
//!
//! let plugin = RhaiPlugin::from_source(
//!     "hello.rhai",
//!     r#"fn provision(session, data) { say(`hello from ${build.name}`); }"#,
//!     Limits::default(),
//! )?;
//! assert_eq!(plugin.name(), "hello.rhai");
//!
//! let broken = RhaiPlugin::from_source("broken.rhai", "let x = ;", Limits::default());
//! assert!(broken.unwrap_err().to_string().starts_with("broken.rhai:1:9: "));
//! # Ok::<(), kiln_rhai::RhaiError>(())
//! ```

mod call;
mod capabilities;
mod diagnostic;
mod error;
pub mod limits;
mod modules;
mod plugin;
mod sandbox;
mod values;

pub use capabilities::DISCONNECTED;
pub use error::RhaiError;
pub use limits::Limits;
pub use plugin::RhaiPlugin;
