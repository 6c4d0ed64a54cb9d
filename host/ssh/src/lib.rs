//! kiln's SSH communicator, on [russh]: the host side of every `ssh` session a plugin uses.
//!
//! - [`Options`] is Packer's communicator settings (`ssh_host`, `ssh_username`, `ssh_timeout`,
//!   `ssh_bastion_*`, ...) as a builder hands them over, with Packer's defaults;
//!   [`Options::into_config`] turns them into a [`Config`] with the credentials loaded.
//! - [`Client::connect`] waits for the guest's sshd (retrying until `ssh_timeout`, counting
//!   failed handshakes against `ssh_handshake_attempts`), hopping through a bastion when one is
//!   set, and tells an [`Observer`] what it waits for and why each attempt failed.
//! - A [`Client`] runs commands ([`Client::exec`], output streamed as it arrives, the exit status
//!   or [`ExitStatus::Disconnected`]) and moves files with sftp or scp ([`Client::upload`],
//!   [`Client::upload_bytes`], [`Client::download`]). A dropped connection is re-opened on the
//!   next call, so provisioners survive a reboot.
//! - [`TemporaryKey`] is a build's own key pair, used when no password or key is configured.
//!
//! Host keys are accepted for this connection only and never written anywhere: the machine
//! being built was created moments ago, so there is nothing to compare them with.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kiln_ssh::Error> {
//! use kiln_ssh::{Client, Options, Stream};
//! let options: Options = serde_json::from_str(
//!     r#"{"ssh_host": "127.0.0.1", "ssh_port": 2222, "ssh_username": "root", "ssh_password": "pw"}"#,
//! ).map_err(|e| kiln_ssh::Error::Config(e.to_string()))?;
//! let config = options.into_config(&|p: &str| p.into(), None)?;
//! let client = Client::connect(config, std::sync::Arc::new(kiln_ssh::Quiet)).await?;
//! let status = client.exec("uname -a", None, &mut |_: Stream, bytes: &[u8]| {
//!     print!("{}", String::from_utf8_lossy(bytes));
//! }).await?;
//! # let _ = status; Ok(()) }
//! ```

mod client;
mod config;
mod connect;
mod error;
mod keys;
mod options;
mod scp;
mod sftp;
mod shell_quote;
mod tree;

pub use client::{Client, ExitStatus, Stream, with_environment};
pub use config::{Bastion, Config, Credentials, Handover, Secret, TransferMethod};
pub use connect::{Observer, Quiet};
pub use error::Error;
pub use keys::TemporaryKey;
pub use options::Options;
pub use shell_quote::quote;
pub use tree::local_size;

/// Where transferred bytes are reported (a progress bar).
pub type Progress<'a> = &'a (dyn Fn(u64) + Send + Sync);
