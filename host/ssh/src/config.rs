//! A connection's settings, with the credentials loaded.

use std::sync::Arc;
use std::time::Duration;

use russh::keys::{Certificate, PrivateKey};

/// A password, shown as `<sensitive>` by `Debug` so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<sensitive>")
    }
}

/// How to prove who we are, tried in this order: agent, keys, password.
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: Option<Secret>,
    /// Private keys (each with its certificate, if one was given).
    pub keys: Vec<(Arc<PrivateKey>, Option<Certificate>)>,
    /// Ask the agent at `SSH_AUTH_SOCK`.
    pub agent: bool,
}

impl Credentials {
    /// `password, publickey` — for "authentication failed (tried ...)".
    pub fn methods(&self) -> String {
        let mut methods = Vec::new();
        if self.agent {
            methods.push("agent");
        }
        if !self.keys.is_empty() {
            methods.push("publickey");
        }
        if self.password.is_some() {
            methods.push("password");
        }
        methods.join(", ")
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("methods", &self.methods())
            .finish()
    }
}

/// A jump host (`ssh_bastion_*`): the connection to the machine goes through it.
#[derive(Clone, Debug)]
pub struct Bastion {
    pub host: String,
    pub port: u16,
    pub credentials: Credentials,
}

/// `ssh_file_transfer_method`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransferMethod {
    /// Packer's default: the remote `scp -t` / `scp -f`.
    #[default]
    Scp,
    /// The sftp subsystem.
    Sftp,
}

/// Everything [`crate::Client::connect`] needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub credentials: Credentials,
    /// How long to keep trying to connect (`ssh_timeout`, Packer's default 5m).
    pub timeout: Duration,
    /// Failed handshakes (the port answered, SSH or authentication failed) tolerated before
    /// giving up early (`ssh_handshake_attempts`, default 10).
    pub handshake_attempts: u32,
    /// `ssh_keep_alive_interval` (5s); none disables keep-alives.
    pub keep_alive_interval: Option<Duration>,
    /// `ssh_read_write_timeout`: a connection silent for this long is dropped.
    pub read_write_timeout: Option<Duration>,
    /// `ssh_pty`: run commands in a pseudo-terminal.
    pub pty: bool,
    pub transfer: TransferMethod,
    pub bastion: Option<Bastion>,
    /// `ssh_ciphers` and `ssh_key_exchange_algorithms`, in order of preference; empty means
    /// russh's defaults.
    pub ciphers: Vec<String>,
    pub key_exchanges: Vec<String>,
    /// `pause_before_connecting`: wait this long before the first attempt.
    pub pause_before: Option<Duration>,
}

impl Config {
    /// `user@host:port`, for messages.
    pub fn target(&self) -> String {
        format!("{}@{}:{}", self.credentials.username, self.host, self.port)
    }
}
