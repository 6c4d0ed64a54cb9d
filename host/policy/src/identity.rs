//! Who a plugin is, as far as the policy cares: its kind, its type name and where it came from.

use std::fmt;
use std::path::PathBuf;

use crate::key::{PublicKey, Sha256};

/// The three plugin worlds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PluginKind {
    Builder,
    Provisioner,
    PostProcessor,
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::Builder => "builder",
            PluginKind::Provisioner => "provisioner",
            PluginKind::PostProcessor => "post-processor",
        })
    }
}

/// Where a plugin's code came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// One of kiln's own embedded components.
    FirstParty,
    /// A component from elsewhere, known by its content hash. `source` is where it was
    /// installed from (`oci://…`, `https://…`, `file:///…`); `signed_by` is the key whose
    /// signature over it the caller verified, if any.
    ThirdParty {
        sha256: Sha256,
        source: String,
        signed_by: Option<PublicKey>,
    },
    /// A Rhai script of the template (`"type": "rhai"`).
    Rhai {
        script_path: PathBuf,
        signed_by: Option<PublicKey>,
    },
}

/// One plugin, for [`EffectivePolicy::grant_for`](crate::EffectivePolicy::grant_for),
/// [`admits`](crate::EffectivePolicy::admits) and
/// [`limits_for`](crate::EffectivePolicy::limits_for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginIdentity {
    pub kind: PluginKind,
    pub type_name: String,
    pub origin: Origin,
}

impl PluginIdentity {
    pub fn first_party(kind: PluginKind, type_name: impl Into<String>) -> PluginIdentity {
        PluginIdentity {
            kind,
            type_name: type_name.into(),
            origin: Origin::FirstParty,
        }
    }

    pub fn sha256(&self) -> Option<Sha256> {
        match &self.origin {
            Origin::ThirdParty { sha256, .. } => Some(*sha256),
            Origin::FirstParty | Origin::Rhai { .. } => None,
        }
    }
}

impl fmt::Display for PluginIdentity {
    /// `provisioner shell-local`, as denials and `kiln policy explain` name a plugin.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.type_name)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signed = |f: &mut fmt::Formatter<'_>, key: &Option<PublicKey>| match key {
            Some(key) => write!(f, ", signed by {key}"),
            None => f.write_str(", unsigned"),
        };
        match self {
            Origin::FirstParty => f.write_str("first-party"),
            Origin::ThirdParty {
                sha256,
                source,
                signed_by,
            } => {
                write!(f, "third-party sha256 {sha256} from {source}")?;
                signed(f, signed_by)
            }
            Origin::Rhai {
                script_path,
                signed_by,
            } => {
                write!(f, "Rhai script {}", script_path.display())?;
                signed(f, signed_by)
            }
        }
    }
}
