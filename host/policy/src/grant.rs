//! One plugin's grant, the check every capability use goes through, and why a use was denied.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::allow_list::AllowList;
use crate::file::Mode;
use crate::identity::PluginIdentity;
use crate::limits::Limits;
use crate::network::{BindPattern, NetworkPattern, endpoint};
use crate::path::normalize;
use crate::source::{Source, Sourced};
use crate::wildcard::Wildcard;

/// Everything one plugin may use in one build, every value with the layer it came from.
/// Paths are host paths (the build's directories filled in), lexically normalized.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub plugin: PluginIdentity,
    pub mode: Sourced<Mode>,
    pub hypervisors: AllowList<Wildcard>,
    pub network: AllowList<NetworkPattern>,
    pub communicator: AllowList<NetworkPattern>,
    pub read_only: AllowList<PathBuf>,
    /// Includes the build's temporary directory.
    pub read_write: AllowList<PathBuf>,
    pub http_bind: AllowList<BindPattern>,
    pub env: AllowList<Wildcard>,
    pub local_exec: Sourced<bool>,
    pub limits: Limits,
}

/// One capability use, as the grant check sees it.
#[derive(Clone, Copy, Debug)]
pub enum Use<'a> {
    Read(&'a Path),
    Write(&'a Path),
    /// Plugin network traffic (downloads). `scheme` is `None` for a plain TCP connection;
    /// `host` is the name or address as the plugin gave it.
    Connect {
        scheme: Option<&'a str>,
        host: &'a str,
        port: u16,
    },
    /// Where a builder points the communicator.
    Communicator {
        host: &'a str,
        port: u16,
    },
    /// A host command; `argv[0]` is the program.
    LocalExec(&'a [String]),
    /// Handing a session's SSH login to host commands (Ansible connecting to the machine by
    /// itself): allowed to a plugin that may run host commands, for an address the
    /// communicator may reach.
    SshLogin {
        host: &'a str,
        port: u16,
    },
    /// Reading a host environment variable.
    Env(&'a str),
    Hypervisor(&'a str),
    HttpBind(SocketAddr),
}

/// The answer to one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Denial),
    /// Denied, but the policy is in audit mode: log the denial and go on.
    AuditDenied(Denial),
}

impl Decision {
    pub(crate) fn from_denial(denial: Option<Denial>, mode: Mode) -> Decision {
        match (denial, mode) {
            (None, _) => Decision::Allow,
            (Some(d), Mode::Enforce) => Decision::Deny(d),
            (Some(d), Mode::Audit) => Decision::AuditDenied(d),
        }
    }

    /// `Allow` or `AuditDenied`: the use goes ahead.
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Decision::Deny(_))
    }

    /// The denial, enforced or audited.
    pub fn denial(&self) -> Option<&Denial> {
        match self {
            Decision::Allow => None,
            Decision::Deny(d) | Decision::AuditDenied(d) => Some(d),
        }
    }

    /// `Err` only for an enforced denial.
    pub fn into_result(self) -> Result<(), Denial> {
        match self {
            Decision::Deny(d) => Err(d),
            Decision::Allow | Decision::AuditDenied(_) => Ok(()),
        }
    }
}

/// Why a use was denied: what was asked, the rule (key path) that refused it, and the file the
/// deciding value came from.
/// `denied: network 10.0.0.5:22 not in capabilities.network (/etc/kiln/policy.toml)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub what: String,
    pub relation: Relation,
    pub rule: &'static str,
    pub source: Source,
}

/// How a denial relates the use to its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// An allow-list that lacks the value.
    NotIn,
    /// A switch that is off.
    NotAllowedBy,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Relation::NotIn => "not in",
            Relation::NotAllowedBy => "not allowed by",
        })
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Denial {
            what,
            relation,
            rule,
            source,
        } = self;
        write!(f, "denied: {what} {relation} {rule} ({source})")
    }
}

impl std::error::Error for Denial {}

impl Denial {
    pub(crate) fn new(
        what: String,
        relation: Relation,
        rule: &'static str,
        source: &Source,
    ) -> Denial {
        Denial {
            what,
            relation,
            rule,
            source: source.clone(),
        }
    }
}

impl Grant {
    /// Allows or denies one use (an audit-mode denial is allowed, and says so).
    pub fn check(&self, what: &Use<'_>) -> Decision {
        Decision::from_denial(self.denial(what), self.mode.value)
    }

    fn denial(&self, what: &Use<'_>) -> Option<Denial> {
        let deny = |what: String, rule, source: &Source| {
            Some(Denial::new(what, Relation::NotIn, rule, source))
        };
        match *what {
            Use::Read(path) => {
                let path = normalize(path);
                let readable = self.readable_dirs().any(|dir| path.starts_with(dir));
                if readable {
                    None
                } else {
                    deny(
                        format!("read {}", path.display()),
                        "capabilities.read_only or capabilities.read_write",
                        &self.read_only.source,
                    )
                }
            }
            Use::Write(path) => {
                let path = normalize(path);
                if self.writable_dirs().any(|dir| path.starts_with(dir)) {
                    None
                } else {
                    deny(
                        format!("write {}", path.display()),
                        "capabilities.read_write",
                        &self.read_write.source,
                    )
                }
            }
            Use::Connect { scheme, host, port } => {
                if self.network.values().any(|p| p.matches(scheme, host, port)) {
                    None
                } else {
                    deny(
                        format!("network {}", endpoint(scheme, host, port)),
                        "capabilities.network",
                        &self.network.source,
                    )
                }
            }
            Use::Communicator { host, port } => {
                if self
                    .communicator
                    .values()
                    .any(|p| p.matches(None, host, port))
                {
                    None
                } else {
                    deny(
                        format!("communicator {}", endpoint(None, host, port)),
                        "capabilities.communicator",
                        &self.communicator.source,
                    )
                }
            }
            Use::LocalExec(argv) => {
                if self.local_exec.value {
                    None
                } else {
                    let what = match argv.first() {
                        Some(program) => format!("local exec of {program:?}"),
                        None => "local exec".to_string(),
                    };
                    Some(Denial::new(
                        what,
                        Relation::NotAllowedBy,
                        "capabilities.local_exec",
                        &self.local_exec.source,
                    ))
                }
            }
            Use::SshLogin { host, port } => {
                if !self.local_exec.value {
                    Some(Denial::new(
                        format!(
                            "handing the SSH login to {} to host commands",
                            endpoint(None, host, port)
                        ),
                        Relation::NotAllowedBy,
                        "capabilities.local_exec",
                        &self.local_exec.source,
                    ))
                } else if self
                    .communicator
                    .values()
                    .any(|p| p.matches(None, host, port))
                {
                    None
                } else {
                    deny(
                        format!("SSH login to {}", endpoint(None, host, port)),
                        "capabilities.communicator",
                        &self.communicator.source,
                    )
                }
            }
            Use::Env(name) => {
                if self.env.values().any(|p| p.matches(name)) {
                    None
                } else {
                    deny(
                        format!("environment variable {name}"),
                        "capabilities.env",
                        &self.env.source,
                    )
                }
            }
            Use::Hypervisor(name) => {
                if self.hypervisors.values().any(|p| p.matches(name)) {
                    None
                } else {
                    deny(
                        format!("hypervisor {name}"),
                        "capabilities.hypervisors",
                        &self.hypervisors.source,
                    )
                }
            }
            Use::HttpBind(addr) => {
                if self.http_bind.values().any(|p| p.matches(addr)) {
                    None
                } else {
                    deny(
                        format!("http bind {addr}"),
                        "capabilities.http_bind",
                        &self.http_bind.source,
                    )
                }
            }
        }
    }

    /// Every directory the plugin may read: read-only and read-write ones (for WASI
    /// preopens).
    pub fn readable_dirs(&self) -> impl Iterator<Item = &Path> {
        self.read_only
            .values()
            .chain(self.read_write.values())
            .map(PathBuf::as_path)
    }

    /// Every directory the plugin may write.
    pub fn writable_dirs(&self) -> impl Iterator<Item = &Path> {
        self.read_write.values().map(PathBuf::as_path)
    }

    /// The same grant with every directory passed through `f`: a caller that checks
    /// resolved paths (symlinks followed) canonicalizes the directories the same way, since
    /// this crate does no IO.
    pub fn map_dirs(&self, f: impl Fn(&Path) -> PathBuf) -> Grant {
        let map = |list: &AllowList<PathBuf>| AllowList {
            entries: list
                .entries
                .iter()
                .map(|e| Sourced::new(f(&e.value), e.source.clone()))
                .collect(),
            source: list.source.clone(),
        };
        Grant {
            read_only: map(&self.read_only),
            read_write: map(&self.read_write),
            ..self.clone()
        }
    }
}
