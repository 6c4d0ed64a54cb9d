//! What can go wrong, in words a user can act on.

/// Every failure of the communicator. The text says what was attempted, against what, and why
/// it failed (connection refused, authentication, timeout) — the most asked-for debugging help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The options are wrong (an unknown transfer method, an unreadable key file).
    #[error("{0}")]
    Config(String),
    /// `ssh_timeout` ran out, or `ssh_handshake_attempts` were used up.
    #[error("{0}")]
    Timeout(String),
    /// The connection dropped and could not be re-opened.
    #[error("{0}")]
    Disconnected(String),
    /// A command or transfer failed on the machine.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    pub(crate) fn failed(text: impl Into<String>) -> Self {
        Error::Failed(text.into())
    }
}

impl From<russh::Error> for Error {
    fn from(e: russh::Error) -> Self {
        match e {
            russh::Error::Disconnect
            | russh::Error::SendError
            | russh::Error::RecvError
            | russh::Error::HUP
            | russh::Error::KeepaliveTimeout
            | russh::Error::InactivityTimeout => {
                Error::Disconnected(format!("the SSH connection was lost ({e})"))
            }
            other => Error::Failed(format!("SSH: {other}")),
        }
    }
}
