//! Where a policy value came from, so a denial and `kiln policy show` can name it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The layers of a policy, applied in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LayerKind {
    /// `/etc/kiln/policy.toml` (or `$KILN_SYSTEM_POLICY`): the administrator's; may be locked.
    System,
    /// `~/.config/kiln/policy.toml`.
    User,
    /// `kiln.policy.toml` beside the template.
    Project,
    /// `kiln build` flags.
    Flags,
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LayerKind::System => "system",
            LayerKind::User => "user",
            LayerKind::Project => "project",
            LayerKind::Flags => "flags",
        })
    }
}

/// The origin of one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Kiln's built-in default, used where no layer names the setting.
    Default,
    /// A policy file of a layer.
    File { layer: LayerKind, path: Arc<Path> },
    /// An `[[override]]` of a layer's file.
    Override { layer: LayerKind, path: Arc<Path> },
    /// The flags layer.
    CommandLine,
    /// Kiln's own rule that a build may always use its temporary directory.
    Build,
}

impl Source {
    pub fn file(layer: LayerKind, path: impl AsRef<Path>) -> Source {
        Source::File {
            layer,
            path: Arc::from(path.as_ref()),
        }
    }

    pub fn layer(&self) -> Option<LayerKind> {
        match self {
            Source::File { layer, .. } | Source::Override { layer, .. } => Some(*layer),
            Source::CommandLine => Some(LayerKind::Flags),
            Source::Default | Source::Build => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("kiln's default policy"),
            Source::File { path, .. } => write!(f, "{}", path.display()),
            Source::Override { path, .. } => write!(f, "{} [[override]]", path.display()),
            Source::CommandLine => f.write_str("command line"),
            Source::Build => f.write_str("the build's temporary directory"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Sourced<T> {
    pub fn new(value: T, source: Source) -> Sourced<T> {
        Sourced { value, source }
    }

    pub(crate) fn default(value: T) -> Sourced<T> {
        Sourced::new(value, Source::Default)
    }
}
