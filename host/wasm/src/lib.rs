//! kiln's WebAssembly component host. This is the only crate that names wasmtime types.
//!
//! One [`Runtime`] per process holds the engine (epoch interruption on, so a plugin that loops
//! is stopped on time), the WASI linker, and a [`ComponentCache`] of compiled components keyed
//! by their sha256 and the engine's compatibility hash: the first load of a component compiles
//! it, later loads deserialize it. [`Runtime::load`] prepares a component for instantiation
//! once; every plugin call then gets a fresh store ([`Runtime::instantiate`]) with its own
//! memory cap, wall-clock deadline and WASI context built from a [`Sandbox`]: no environment,
//! no inherited stdio, no sockets, only the directories granted (template read-only, output
//! read-write), and stdout/stderr delivered line by line to the build's UI.
//!
//! The plugin contract (`guest-sdk/wit`) is compiled into typed bindings in [`bindings`].
//!
//! ```no_run
//! # async fn demo(component_bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use kiln_wasm::{Runtime, Sandbox};
//! let runtime = Runtime::new("/tmp/kiln-cache".into())?;
//! let plugin = runtime.load(component_bytes)?;
//! let mut call = runtime.instantiate(&plugin, Sandbox::default()).await?;
//! let (answer,): (u32,) = call.call("answer", ()).await?;
//! # Ok(()) }
//! ```

pub mod bindings;
mod cache;
mod component;
mod imports;
mod output;
mod runtime;
mod sandbox;

pub use cache::{ComponentCache, LoadOrigin};
pub use component::Component;
pub use output::{OutputLine, OutputSink, StreamKind};
pub use runtime::{CallError, LoadError, Plugin, PluginCall, Runtime};
pub use sandbox::{CallLimits, Sandbox};

#[cfg(test)]
mod tests;
