//! The Rust SDK for kiln plugins.
//!
//! A plugin receives its config as JSON text, already interpolated by the host, and must
//! report every problem with the key it concerns so the user sees `builders[0].ssh_timeout:
//! invalid duration` rather than a bare parse error. [`config::decode`] does the typed part
//! with serde; [`config::Problems`] collects the plugin's own checks.
//!
//! ```
//! use kiln_plugin_sdk::config::{decode, Problems};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Checksum { checksum_types: Vec<String> }
//!
//! let config: Checksum = decode(r#"{"checksum_types": ["sha256"]}"#).unwrap();
//! let mut problems = Problems::new();
//! for (i, t) in config.checksum_types.iter().enumerate() {
//!     problems.check(t.starts_with("sha"), format!("checksum_types[{i}]"), "unsupported");
//! }
//! assert!(problems.finish().is_ok());
//! ```

pub mod config;
