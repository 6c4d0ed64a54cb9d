//! Kiln's policy: what plugins may run and what each may use, decided by layered TOML files,
//! and a "why denied" for every refusal.
//!
//! A [`PolicyFile`] is one file (`version = 1`, `locked`, `mode`, `[limits]`, `[plugins]`,
//! `[capabilities]`, `[[override]]`), parsed strictly with every error at `path:line:column`.
//! [`Sources`] says where the layers' files are (system, user, project) and carries the
//! [`Flags`]; [`EffectivePolicy::load`] reads them and combines them over kiln's default (see
//! [`layers`] for the rules: once the system file is `locked`, later layers only narrow).
//!
//! The [`EffectivePolicy`] then answers, without IO, for one [`PluginIdentity`]:
//! [`admits`](EffectivePolicy::admits) (may it run at all: hash, source, signature, Rhai),
//! [`limits_for`](EffectivePolicy::limits_for), and
//! [`grant_for`](EffectivePolicy::grant_for), a [`Grant`] with the build's directories from a
//! [`Context`] filled in. [`Grant::check`] takes each capability [`Use`] and returns a
//! [`Decision`]; a [`Denial`] names the rule and the file the deciding value came from. In
//! audit mode a denial comes back as [`Decision::AuditDenied`]: log it and allow. Both
//! `EffectivePolicy` and `Grant` display as TOML-like text with each value's source, for
//! `kiln policy show` and `kiln policy explain`.
//!
//! ```
//! use std::path::Path;
//! use kiln_policy::{Context, Decision, EffectivePolicy, Flags, Layer, LayerKind};
//! use kiln_policy::{PluginIdentity, PluginKind, Use};
//!
//! let system = Layer::parse(
//!     LayerKind::System,
//!     "/etc/kiln/policy.toml",
//!     "version = 1\nlocked = true\n[capabilities]\nnetwork = [\"https://deb.debian.org:443\"]\n",
//! )?;
//! let policy = EffectivePolicy::from_layers([system], &Flags::default())?;
//!
//! let builder = PluginIdentity::first_party(PluginKind::Builder, "qemu");
//! let ctx = Context {
//!     template_dir: "/home/me/debian".into(),
//!     output_dir: "/home/me/debian/output-qemu".into(),
//!     temp_dir: "/tmp/kiln-1234".into(),
//! };
//! let grant = policy.grant_for(&builder, &ctx);
//! let mirror = Use::Connect { scheme: Some("https"), host: "deb.debian.org", port: 443 };
//! assert_eq!(grant.check(&mirror), Decision::Allow);
//!
//! let denied = grant.check(&Use::Connect { scheme: None, host: "10.0.0.5", port: 22 });
//! assert_eq!(
//!     denied.denial().map(ToString::to_string).as_deref(),
//!     Some("denied: network 10.0.0.5:22 not in capabilities.network (/etc/kiln/policy.toml)"),
//! );
//! assert!(grant.check(&Use::Read(Path::new("/home/me/debian/http/preseed.cfg"))).is_allowed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Why the defaults are what they are: with no file at all kiln serves a single user running
//! their own templates, so the template's directory is readable, the output directory
//! writable, kiln's own plugins and the user's Rhai scripts trusted as the template itself is
//! (first-party builders download, `shell-local`, `ansible` and Rhai run host commands), and
//! third-party components get no network and no host commands. The limits (1 GiB per instance,
//! 4 hours per call, 24 for a builder, which runs a whole OS install in one call, 64 MiB of UI
//! output) are far above any honest plugin and low enough that a runaway one ends.

mod allow_list;
mod explain;
mod file;
mod grant;
mod identity;
mod key;
pub mod layers;
mod limits;
mod network;
mod path;
mod policy;
mod size;
mod source;
mod wildcard;

pub use allow_list::{AllowList, Scoped};
pub use file::{
    CapabilitiesSection, FileError, LimitsSection, Mode, Override, PluginsSection, PolicyFile,
    RhaiRule, Sha256Pattern, VERSION,
};
pub use grant::{Decision, Denial, Grant, Relation, Use};
pub use identity::{Origin, PluginIdentity, PluginKind};
pub use key::{PublicKey, Sha256};
pub use layers::{Flags, Layer, LayerError, LoadError, PROJECT_POLICY, SYSTEM_POLICY, Sources};
pub use limits::{GoDuration, Limits};
pub use network::{BindPattern, HostPattern, IpNet, NetworkPattern, PortRange};
pub use path::{Context, PathTemplate, normalize};
pub use policy::{EffectivePolicy, ExecTarget};
pub use size::ByteSize;
pub use source::{LayerKind, Source, Sourced};
pub use wildcard::Wildcard;
