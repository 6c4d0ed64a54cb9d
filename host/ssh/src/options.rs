//! Packer's communicator settings as a builder hands them to the host (JSON), with Packer's
//! defaults, turned into a [`Config`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{Bastion, Config, Credentials, Secret, TransferMethod};
use crate::{Error, TemporaryKey, keys};

/// The `ssh_*` keys of a builder's config. Other keys are ignored: builders may pass their
/// whole config. Numbers and booleans may be strings, as Packer's weak decoding allows.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Options {
    pub communicator: String,
    pub pause_before_connecting: String,
    pub ssh_host: String,
    #[serde(deserialize_with = "weak::int")]
    pub ssh_port: u64,
    pub ssh_username: String,
    pub ssh_password: String,
    pub ssh_private_key_file: String,
    pub ssh_certificate_file: String,
    #[serde(deserialize_with = "weak::bool")]
    pub ssh_agent_auth: bool,
    pub ssh_timeout: String,
    pub ssh_wait_timeout: String,
    #[serde(deserialize_with = "weak::int")]
    pub ssh_handshake_attempts: u64,
    pub ssh_keep_alive_interval: String,
    pub ssh_read_write_timeout: String,
    #[serde(deserialize_with = "weak::bool")]
    pub ssh_pty: bool,
    pub ssh_file_transfer_method: String,
    #[serde(deserialize_with = "weak::strings")]
    pub ssh_ciphers: Vec<String>,
    #[serde(deserialize_with = "weak::strings")]
    pub ssh_key_exchange_algorithms: Vec<String>,
    #[serde(deserialize_with = "weak::bool")]
    pub ssh_clear_authorized_keys: bool,
    pub ssh_bastion_host: String,
    #[serde(deserialize_with = "weak::int")]
    pub ssh_bastion_port: u64,
    pub ssh_bastion_username: String,
    pub ssh_bastion_password: String,
    pub ssh_bastion_private_key_file: String,
    pub ssh_bastion_certificate_file: String,
    #[serde(deserialize_with = "weak::bool")]
    pub ssh_bastion_agent_auth: bool,
    #[serde(deserialize_with = "weak::bool")]
    pub ssh_bastion_interactive: bool,
    pub ssh_proxy_host: String,
    #[serde(deserialize_with = "weak::strings")]
    pub ssh_local_tunnels: Vec<String>,
    #[serde(deserialize_with = "weak::strings")]
    pub ssh_remote_tunnels: Vec<String>,
    pub temporary_key_pair_type: String,
    #[serde(deserialize_with = "weak::int")]
    pub temporary_key_pair_bits: u64,
    pub temporary_key_pair_name: String,
}

impl Options {
    /// No password, key or agent: the build's temporary key pair is the credential.
    pub fn needs_temporary_key(&self) -> bool {
        self.ssh_password.is_empty() && self.ssh_private_key_file.is_empty() && !self.ssh_agent_auth
    }

    /// Key and certificate files that cannot be read, as `(key, message)`: checked by the host
    /// at validate time, since plugins never see the user's keys.
    pub fn unreadable_files(&self, resolve: &dyn Fn(&str) -> PathBuf) -> Vec<(String, String)> {
        let uses_ssh = matches!(self.communicator.as_str(), "" | "ssh");
        [
            ("ssh_private_key_file", &self.ssh_private_key_file),
            ("ssh_certificate_file", &self.ssh_certificate_file),
            (
                "ssh_bastion_private_key_file",
                &self.ssh_bastion_private_key_file,
            ),
            (
                "ssh_bastion_certificate_file",
                &self.ssh_bastion_certificate_file,
            ),
        ]
        .into_iter()
        .filter(|(_, path)| uses_ssh && !path.is_empty())
        .filter_map(|(key, path)| {
            let full = expand(path, resolve);
            std::fs::File::open(&full).err().map(|e| {
                (
                    key.to_owned(),
                    format!("{key} is invalid: cannot read {path}: {e}"),
                )
            })
        })
        .collect()
    }

    /// The password values, for the caller's redaction.
    pub fn secrets(&self) -> Vec<String> {
        [&self.ssh_password, &self.ssh_bastion_password]
            .into_iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect()
    }

    /// The settings, checked, with Packer's defaults, key files read (`resolve` turns a
    /// relative path into a host path; `~/` is the user's home). `temporary` is used when
    /// [`Options::needs_temporary_key`].
    pub fn into_config(
        self,
        resolve: &dyn Fn(&str) -> PathBuf,
        temporary: Option<&TemporaryKey>,
    ) -> Result<Config, Error> {
        for (set, key, instead) in [
            (
                !self.ssh_proxy_host.is_empty(),
                "ssh_proxy_host",
                "; use ssh_bastion_host",
            ),
            (!self.ssh_local_tunnels.is_empty(), "ssh_local_tunnels", ""),
            (
                !self.ssh_remote_tunnels.is_empty(),
                "ssh_remote_tunnels",
                "",
            ),
            (
                self.ssh_bastion_interactive,
                "ssh_bastion_interactive",
                "; use ssh_bastion_password or a key",
            ),
        ] {
            if set {
                return Err(Error::Config(format!(
                    "{key} is not supported by this version of kiln{instead}"
                )));
            }
        }
        if self.ssh_host.is_empty() {
            return Err(Error::Config("ssh_host: no address to connect to".into()));
        }
        if self.ssh_username.is_empty() {
            return Err(Error::Config("An ssh_username must be specified".into()));
        }
        let port = port_or("ssh_port", self.ssh_port, 22)?;
        let timeout = match (self.ssh_wait_timeout.as_str(), self.ssh_timeout.as_str()) {
            ("", "") => Duration::from_secs(300),
            ("", t) => duration("ssh_timeout", t)?,
            (t, _) => duration("ssh_wait_timeout", t)?,
        };
        let keep_alive = match self.ssh_keep_alive_interval.as_str() {
            "" => Some(Duration::from_secs(5)),
            t => Some(duration("ssh_keep_alive_interval", t)?).filter(|d| !d.is_zero()),
        };
        let read_write_timeout = match self.ssh_read_write_timeout.as_str() {
            "" => None,
            t => Some(duration("ssh_read_write_timeout", t)?).filter(|d| !d.is_zero()),
        };
        let transfer = match self.ssh_file_transfer_method.as_str() {
            "" | "scp" => TransferMethod::Scp,
            "sftp" => TransferMethod::Sftp,
            other => {
                return Err(Error::Config(format!(
                    "ssh_file_transfer_method ('{other}') is invalid, valid methods: sftp, scp"
                )));
            }
        };
        let mut machine = credentials(
            &self.ssh_username,
            &self.ssh_password,
            &self.ssh_private_key_file,
            &self.ssh_certificate_file,
            self.ssh_agent_auth,
            resolve,
        )?;
        if self.needs_temporary_key() {
            let key = temporary.ok_or_else(|| {
                Error::Config(
                    "no ssh_password, ssh_private_key_file or ssh_agent_auth, and no temporary key pair"
                        .into(),
                )
            })?;
            machine.keys.push((key.private(), None));
        }
        let bastion = if self.ssh_bastion_host.is_empty() {
            None
        } else {
            let (key, certificate) = if self.ssh_bastion_private_key_file.is_empty() {
                (&self.ssh_private_key_file, &self.ssh_certificate_file)
            } else {
                (
                    &self.ssh_bastion_private_key_file,
                    &self.ssh_bastion_certificate_file,
                )
            };
            let username = if self.ssh_bastion_username.is_empty() {
                &self.ssh_username
            } else {
                &self.ssh_bastion_username
            };
            let jump = credentials(
                username,
                &self.ssh_bastion_password,
                key,
                certificate,
                self.ssh_bastion_agent_auth,
                resolve,
            )?;
            if jump.methods().is_empty() {
                return Err(Error::Config(
                    "ssh_bastion_password, ssh_bastion_private_key_file or ssh_bastion_agent_auth must be specified".into(),
                ));
            }
            Some(Bastion {
                host: self.ssh_bastion_host.clone(),
                port: port_or("ssh_bastion_port", self.ssh_bastion_port, 22)?,
                credentials: jump,
            })
        };
        let pause_before = match self.pause_before_connecting.as_str() {
            "" => None,
            t => Some(duration("pause_before_connecting", t)?),
        };
        Ok(Config {
            host: self.ssh_host,
            port,
            credentials: machine,
            timeout,
            handshake_attempts: match self.ssh_handshake_attempts {
                0 => 10,
                n => u32::try_from(n).unwrap_or(u32::MAX),
            },
            keep_alive_interval: keep_alive,
            read_write_timeout,
            pty: self.ssh_pty,
            transfer,
            bastion,
            ciphers: self.ssh_ciphers,
            key_exchanges: self.ssh_key_exchange_algorithms,
            pause_before,
        })
    }
}

fn credentials(
    username: &str,
    password: &str,
    key_file: &str,
    certificate_file: &str,
    agent: bool,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<Credentials, Error> {
    let mut keys = Vec::new();
    if !key_file.is_empty() {
        let certificate = (!certificate_file.is_empty()).then(|| expand(certificate_file, resolve));
        keys.push(keys::load(
            &expand(key_file, resolve),
            certificate.as_deref(),
        )?);
    }
    Ok(Credentials {
        username: username.to_owned(),
        password: (!password.is_empty()).then(|| Secret(password.to_owned())),
        keys,
        agent,
    })
}

/// `~/x` in the user's home; anything else through `resolve`.
fn expand(path: &str, resolve: &dyn Fn(&str) -> PathBuf) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => resolve(path),
    }
}

fn port_or(key: &str, value: u64, default: u16) -> Result<u16, Error> {
    match value {
        0 => Ok(default),
        n => u16::try_from(n).map_err(|_| Error::Config(format!("{key} {n} is not a port"))),
    }
}

fn duration(key: &str, text: &str) -> Result<Duration, Error> {
    match kiln_go_duration::parse(text) {
        Ok(d) if !d.negative => Ok(d.magnitude),
        Ok(_) => Err(Error::Config(format!("{key}: {text:?} is negative"))),
        Err(e) => {
            let why = match e {
                kiln_go_duration::ParseError::MissingUnit => {
                    " (it needs a unit: 30s, 5m, 1h)".to_owned()
                }
                kiln_go_duration::ParseError::UnknownUnit(u) => format!(" (unknown unit {u:?})"),
                kiln_go_duration::ParseError::Invalid => String::new(),
            };
            Err(Error::Config(format!(
                "{key}: {text:?} is not a duration{why}"
            )))
        }
    }
}

/// Packer's weak decoding for the few types the options have.
mod weak {
    use serde::{Deserialize, Deserializer, de::Error};
    use serde_json::Value;

    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(0),
            Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number"))),
            Value::String(s) if s.is_empty() => Ok(0),
            Value::String(s) => s
                .parse()
                .map_err(|_| D::Error::custom(format!("{s:?} is not a whole number"))),
            other => Err(D::Error::custom(format!("{other} is not a number"))),
        }
    }

    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(false),
            Value::Bool(b) => Ok(b),
            Value::Number(n) => Ok(n.as_f64() != Some(0.0)),
            Value::String(s) => match s.as_str() {
                "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
                _ => Err(D::Error::custom(format!("{s:?} is not a boolean"))),
            },
            other => Err(D::Error::custom(format!("{other} is not a boolean"))),
        }
    }

    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::String(s) if s.is_empty() => Ok(Vec::new()),
            Value::String(s) => Ok(s.split(',').map(str::to_owned).collect()),
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(D::Error::custom(format!("{other} is not a string"))),
                })
                .collect(),
            other => Err(D::Error::custom(format!(
                "{other} is not a list of strings"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(json: &str) -> Options {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"))
    }

    fn config(json: &str) -> Result<Config, Error> {
        options(json).into_config(&|p: &str| PathBuf::from(p), None)
    }

    #[test]
    fn packer_defaults_apply() {
        let c = config(r#"{"ssh_host": "h", "ssh_username": "u", "ssh_password": "p"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.port, 22);
        assert_eq!(c.timeout, Duration::from_secs(300));
        assert_eq!(c.handshake_attempts, 10);
        assert_eq!(c.keep_alive_interval, Some(Duration::from_secs(5)));
        assert_eq!(c.transfer, TransferMethod::Scp);
        assert_eq!(c.credentials.methods(), "password");
        assert_eq!(format!("{:?}", c.credentials.password), "Some(<sensitive>)");
    }

    #[test]
    fn weak_values_and_the_old_timeout_name_are_accepted() {
        let c = config(
            r#"{"ssh_host": "h", "ssh_username": "u", "ssh_password": "p", "ssh_port": "2222",
                "ssh_timeout": "1m", "ssh_wait_timeout": "90s", "ssh_pty": "true",
                "ssh_file_transfer_method": "sftp"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.port, 2222);
        assert_eq!(c.timeout, Duration::from_secs(90));
        assert!(c.pty);
        assert_eq!(c.transfer, TransferMethod::Sftp);
    }

    #[test]
    fn unsupported_and_wrong_settings_are_named() {
        let base = r#""ssh_host": "h", "ssh_username": "u", "ssh_password": "p""#;
        for (extra, expected) in [
            (
                r#""ssh_proxy_host": "p""#,
                "ssh_proxy_host is not supported",
            ),
            (
                r#""ssh_file_transfer_method": "rsync""#,
                "ssh_file_transfer_method ('rsync') is invalid",
            ),
            (
                r#""ssh_timeout": "soon""#,
                "ssh_timeout: \"soon\" is not a duration",
            ),
            (r#""ssh_port": 70000"#, "ssh_port 70000 is not a port"),
        ] {
            let err = config(&format!("{{{base}, {extra}}}")).err();
            assert!(
                matches!(&err, Some(Error::Config(t)) if t.contains(expected)),
                "{extra}: {err:?}"
            );
        }
    }

    #[test]
    fn no_credentials_means_the_temporary_key() {
        let o = options(r#"{"ssh_host": "h", "ssh_username": "u"}"#);
        assert!(o.needs_temporary_key());
        let err = o
            .clone()
            .into_config(&|p: &str| PathBuf::from(p), None)
            .err();
        assert!(matches!(err, Some(Error::Config(t)) if t.contains("no temporary key pair")));
        let key =
            TemporaryKey::generate("ed25519", 0, "kiln_test").unwrap_or_else(|e| panic!("{e}"));
        let c = o
            .into_config(&|p: &str| PathBuf::from(p), Some(&key))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.credentials.methods(), "publickey");
    }
}
