//! The error every plugin call returns: the contract's `error` variant, with constructors and
//! a [`Context`] trait so `?` carries a sentence a user can act on.

use std::fmt::Display;

use crate::config::ConfigError;

pub use crate::bindings::kiln::plugin::types::Error;

/// An I/O error without its WASI errno (`(os error 44)`), which names nothing a user knows.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match (e.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(i)) => text[..i].to_owned(),
        _ => text,
    }
}

impl Error {
    /// Anything else, in words a user can act on.
    pub fn failed(message: impl Display) -> Self {
        Error::Failed(message.to_string())
    }

    /// One config problem at `key`.
    pub fn invalid_config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig(vec![ConfigError {
            key: key.into(),
            message: message.into(),
        }])
    }

    /// The error as a user reads it (the generated `Display` is the debug form).
    pub fn message(&self) -> String {
        match self {
            Error::InvalidConfig(errors) => errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            Error::Denied(m) => format!("denied: {m}"),
            Error::Timeout(m) => format!("timeout: {m}"),
            Error::Cancelled => "cancelled".to_owned(),
            Error::Failed(m) => m.clone(),
        }
    }
}

impl From<Vec<ConfigError>> for Error {
    fn from(errors: Vec<ConfigError>) -> Self {
        Error::InvalidConfig(errors)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Failed(e.to_string())
    }
}

/// Adds what was being done to an error: `read_to_string(p).context(format!("reading {p}"))?`
/// fails with `reading p: No such file or directory`. A denial, timeout or cancellation keeps
/// its kind.
pub trait Context<T> {
    fn context(self, what: impl Display) -> Result<T, Error>;
}

impl<T> Context<T> for Result<T, Error> {
    fn context(self, what: impl Display) -> Result<T, Error> {
        self.map_err(|e| match e {
            Error::Failed(m) => Error::Failed(format!("{what}: {m}")),
            Error::Denied(m) => Error::Denied(format!("{what}: {m}")),
            Error::Timeout(m) => Error::Timeout(format!("{what}: {m}")),
            other => other,
        })
    }
}

impl<T> Context<T> for Result<T, std::io::Error> {
    fn context(self, what: impl Display) -> Result<T, Error> {
        self.map_err(|e| Error::Failed(format!("{what}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_prefixes_the_message_and_keeps_the_kind() {
        let r: Result<(), Error> = Err(Error::Denied("local exec".into()));
        assert!(
            matches!(r.context("running x"), Err(Error::Denied(m)) if m == "running x: local exec")
        );
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("gone"));
        assert_eq!(
            r.context("reading a").unwrap_err().message(),
            "reading a: gone"
        );
    }

    #[test]
    fn config_errors_read_as_key_and_message() {
        let e = Error::from(vec![
            ConfigError {
                key: "alpha".into(),
                message: "bad".into(),
            },
            ConfigError {
                key: String::new(),
                message: "whole".into(),
            },
        ]);
        assert_eq!(e.message(), "alpha: bad; whole");
    }
}
