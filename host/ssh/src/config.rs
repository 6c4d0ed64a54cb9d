//! A connection's settings, with the credentials loaded.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::{Certificate, PrivateKey};

use crate::Error;

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

/// How a host program (OpenSSH's `ssh`, through Ansible) logs in with a session's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handover {
    /// The private key, written in OpenSSH format.
    Key,
    /// The password, written on one line.
    Password,
    /// The host's ssh-agent; nothing is written.
    Agent,
}

impl Credentials {
    /// Writes what a host program needs to log in as these credentials to `file`, created new
    /// with mode 0600: the first private key (kiln's choice among them, as it is the one a
    /// template names), its certificate beside it as `<file>-cert.pub` where OpenSSH looks;
    /// else nothing when the agent is used; else the password. The caller owns the file's
    /// directory and its removal.
    pub fn write_for_program(&self, file: &Path) -> Result<Handover, Error> {
        let failed = |e: &dyn std::fmt::Display| {
            Error::Failed(format!(
                "cannot write the SSH login for a host program to {}: {e}",
                file.display()
            ))
        };
        if let Some((key, certificate)) = self.keys.first() {
            let text = key
                .to_openssh(russh::keys::ssh_key::LineEnding::LF)
                .map_err(|e| failed(&e))?;
            write_private(file, text.as_bytes()).map_err(|e| failed(&e))?;
            if let Some(certificate) = certificate {
                let mut cert_path = file.as_os_str().to_owned();
                cert_path.push("-cert.pub");
                let text = certificate.to_openssh().map_err(|e| failed(&e))?;
                write_private(Path::new(&cert_path), format!("{text}\n").as_bytes())
                    .map_err(|e| failed(&e))?;
            }
            return Ok(Handover::Key);
        }
        if self.agent {
            return Ok(Handover::Agent);
        }
        match &self.password {
            Some(Secret(password)) => {
                write_private(file, format!("{password}\n").as_bytes()).map_err(|e| failed(&e))?;
                Ok(Handover::Password)
            }
            None => Err(Error::Config(
                "the session has no key, agent or password to hand over".into(),
            )),
        }
    }
}

/// A new file only its owner can read, never one that already exists.
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content)?;
    file.sync_all()
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::TemporaryKey;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn a_key_is_handed_over_in_openssh_format_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let key =
            TemporaryKey::generate("ed25519", 0, "kiln_test").unwrap_or_else(|e| panic!("{e}"));
        let credentials = Credentials {
            username: "root".into(),
            password: Some(Secret("Unused-Passw0rd-Long-Enough".into())),
            keys: vec![(key.private(), None)],
            agent: true,
        };
        let file = dir.path().join("id");
        assert_eq!(credentials.write_for_program(&file), Ok(Handover::Key));
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"),
            "{text}"
        );
        assert_eq!(mode(&file), 0o600);
        // An existing file is never overwritten.
        assert!(credentials.write_for_program(&file).is_err());
    }

    #[test]
    fn without_a_key_the_agent_then_the_password_is_handed_over() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut credentials = Credentials {
            username: "u".into(),
            password: Some(Secret("Handover-Passw0rd-Quite-Long".into())),
            keys: Vec::new(),
            agent: true,
        };
        let file = dir.path().join("agent");
        assert_eq!(credentials.write_for_program(&file), Ok(Handover::Agent));
        assert!(!file.exists());
        credentials.agent = false;
        let file = dir.path().join("password");
        assert_eq!(credentials.write_for_program(&file), Ok(Handover::Password));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap_or_default(),
            "Handover-Passw0rd-Quite-Long\n"
        );
        assert_eq!(mode(&file), 0o600);
        credentials.password = None;
        assert!(
            credentials
                .write_for_program(&dir.path().join("none"))
                .is_err()
        );
    }
}
