//! The Rust SDK for kiln plugins.
//!
//! A plugin is one small crate with `crate-type = ["cdylib"]`, built with plain
//! `cargo build --target wasm32-wasip2`: it implements [`Builder`], [`Provisioner`] or
//! [`PostProcessor`] and exports it with [`export_builder!`], [`export_provisioner!`] or
//! [`export_post_processor!`]. The host calls each export in a fresh instance, so every call
//! carries the config (JSON text, already interpolated) and the [`BuildInfo`].
//!
//! The config is decoded with serde by [`config::decode`], whose errors name the key
//! (`inline[1]: invalid type ...`, `unknown configuration key "bogus"`); the plugin's own checks
//! go in `prepare` through [`config::Problems`], so the user sees every problem at once.
//!
//! Everything a plugin does to the world goes through the host: [`log`] for the UI,
//! [`template::render`] for build-time template text, [`artifacts`] for the files it makes,
//! and the raw contract interfaces in [`host`] (`local_exec`, `archive`, `download`,
//! `connector`, `build_hooks`, ...). Files are opened with `std::fs` at host paths; relative
//! paths from a config go through [`BuildInfo::resolve`] first, since a component has no
//! working directory.
//!
//! ```no_run
//! use kiln_plugin_sdk::{BuildInfo, Error, PluginInfo, Provisioner, Session, config, log};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     greeting: String,
//! }
//!
//! struct Hello;
//!
//! impl Provisioner for Hello {
//!     type Config = Config;
//!
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("hello", env!("CARGO_PKG_VERSION"), "Says hello.")
//!     }
//!
//!     fn prepare(config: &mut Config, _build: &BuildInfo) -> Result<Vec<String>, Error> {
//!         let mut problems = config::Problems::new();
//!         problems.check(!config.greeting.is_empty(), "greeting", "must not be empty");
//!         problems.finish()?;
//!         Ok(Vec::new())
//!     }
//!
//!     fn provision(
//!         config: Config,
//!         build: &BuildInfo,
//!         _session: &Session,
//!         _data: &[(String, String)],
//!     ) -> Result<(), Error> {
//!         log::say(format!("{} from {}", config.greeting, build.name));
//!         Ok(())
//!     }
//! }
//!
//! kiln_plugin_sdk::export_provisioner!(Hello);
//! ```

pub mod artifacts;
mod bindings;
mod build_info;
pub mod config;
pub mod duration;
mod error;
pub mod log;
pub mod plugin;
pub mod template;

/// The contract's host interfaces as generated, for what the helpers do not wrap:
/// `host::local_exec::run`, `host::ssh_login::open`, `host::archive::create`,
/// `host::download::fetch`, `host::connector::connect`, `host::build_hooks::provision`,
/// `host::hypervisor`, ...
pub mod host {
    pub use crate::bindings::kiln::plugin::*;
}

pub use bindings::kiln::plugin::communicator::Session;
pub use bindings::kiln::plugin::types::{Artifact, Endpoint, PluginInfo};
pub use bindings::post_processor_world::exports::kiln::plugin::post_processor::Processed;
pub use build_info::BuildInfo;
pub use config::ConfigError;
pub use error::{Context, Error, io_reason};

/// A random number from the component's WASI random source (std seeds `RandomState` from it).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
pub use plugin::{Builder, PostProcessor, Provisioner};
