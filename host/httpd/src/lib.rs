//! The HTTP server a build serves its preseed and kickstart files from: Packer's
//! `http_directory`, `http_bind_address`, `http_port_min`/`http_port_max`, and kiln's
//! `http_content` (files served from memory).
//!
//! [`Server::start`] binds a free port chosen at random in the range (as Packer does), then
//! serves `GET` and `HEAD` (with single `Range` requests, so downloads can resume) until
//! [`Server::stop`] or drop. Every request, a 404 included, is told to a [`RequestLog`] as a
//! [`Request`] once its response is sent, so a user sees at once whether the installer fetched
//! its preseed file; [`Server::requests`] keeps the same record for the build's summary.
//!
//! Paths are percent-decoded before anything else; a `..` segment is refused outright, and a
//! file is served only if its real path (symlinks resolved) lies under the canonicalized
//! directory, so nothing outside `http_directory` can be reached.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kiln_httpd::Error> {
//! use std::sync::Arc;
//! use kiln_httpd::{Request, RequestLog, Server, Settings};
//!
//! struct Log;
//! impl RequestLog for Log {
//!     fn served(&self, request: &Request) {
//!         tracing::info!("{request}");
//!     }
//! }
//!
//! let settings = Settings {
//!     content: vec![("preseed.cfg".into(), "d-i debian-installer/locale string en_US\n".into())],
//!     ..Settings::default()
//! };
//! let server = Server::start(settings, Arc::new(Log)).await?;
//! let url = format!("http://{}/preseed.cfg", server.address());
//! # let _ = url;
//! server.stop().await;
//! # Ok(()) }
//! ```

mod body;
mod error;
mod port;
mod request;
mod server;
mod site;

pub use error::Error;
pub use request::{Request, RequestLog};
pub use server::{Server, Settings};
