//! The effective policy: every layer combined, and what it means for one plugin.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::allow_list::{AllowList, Scoped};
use crate::file::{CapabilitiesSection, LimitsSection, Mode, RhaiRule, Sha256Pattern};
use crate::grant::{Decision, Denial, Grant, Relation};
use crate::identity::{Origin, PluginIdentity, PluginKind};
use crate::key::{PublicKey, Sha256};
use crate::limits::{
    DEFAULT_BUILDER_WALL_TIME, DEFAULT_MEMORY, DEFAULT_OUTPUT, DEFAULT_WALL_TIME, Limits,
};
use crate::network::{BindPattern, NetworkPattern};
use crate::path::{Context, PathTemplate, normalize};
use crate::size::ByteSize;
use crate::source::{Source, Sourced};
use crate::wildcard::Wildcard;

/// Who may run host commands. A policy file says `local_exec = true` (everyone) or `false`
/// (no one); kiln's default and `--allow-local-exec` name plugins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecTarget {
    /// Every plugin.
    Any,
    /// A first-party plugin of this type (`shell-local`).
    FirstParty(String),
    /// The template's Rhai scripts.
    Rhai,
    /// Any plugin of this type (`--allow-local-exec TYPE`).
    Type(String),
}

impl ExecTarget {
    pub fn matches(&self, plugin: &PluginIdentity) -> bool {
        match self {
            ExecTarget::Any => true,
            ExecTarget::FirstParty(t) => {
                plugin.origin == Origin::FirstParty && plugin.type_name == *t
            }
            ExecTarget::Rhai => matches!(plugin.origin, Origin::Rhai { .. }),
            ExecTarget::Type(t) => plugin.type_name == *t,
        }
    }
}

impl crate::allow_list::Pattern for ExecTarget {
    fn covers(&self, other: &Self) -> bool {
        match (self, other) {
            (ExecTarget::Any, _) => true,
            (ExecTarget::Type(a), ExecTarget::Type(b) | ExecTarget::FirstParty(b)) => a == b,
            (ExecTarget::FirstParty(a), ExecTarget::FirstParty(b)) => a == b,
            (ExecTarget::Rhai, ExecTarget::Rhai) => true,
            _ => false,
        }
    }
}

impl fmt::Display for ExecTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecTarget::Any => f.write_str("every plugin"),
            ExecTarget::FirstParty(t) => write!(f, "first-party {t}"),
            ExecTarget::Rhai => f.write_str("Rhai scripts"),
            ExecTarget::Type(t) => f.write_str(t),
        }
    }
}

/// The policy in force: kiln's default, then the system file, the user file, the project file
/// and the flags, combined by the rules in [`crate::layers`]. Built by
/// [`EffectivePolicy::load`] or [`EffectivePolicy::from_layers`]; evaluating it does no IO.
#[derive(Clone, Debug, PartialEq)]
pub struct EffectivePolicy {
    /// The system file, when it is locked.
    pub(crate) locked_by: Option<Source>,
    pub(crate) mode: Sourced<Mode>,
    pub(crate) limits: LimitSettings,
    pub(crate) plugins: PluginRules,
    pub(crate) capabilities: CapabilityRules,
    pub(crate) overrides: Vec<OverrideRule>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LimitSettings {
    pub memory: Sourced<ByteSize>,
    pub wall_time: Sourced<Duration>,
    pub builder_wall_time: Sourced<Duration>,
    pub fuel: Sourced<Option<u64>>,
    pub output_bytes: Sourced<ByteSize>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PluginRules {
    pub allowed_sha256: AllowList<Sha256Pattern>,
    pub allowed_sources: AllowList<Wildcard>,
    pub trusted_keys: AllowList<PublicKey>,
    pub allow_unsigned: Sourced<bool>,
    pub rhai: Sourced<RhaiRule>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CapabilityRules {
    pub hypervisors: AllowList<Wildcard>,
    pub network: AllowList<Scoped<NetworkPattern>>,
    pub communicator: AllowList<NetworkPattern>,
    pub read_only: AllowList<PathTemplate>,
    pub read_write: AllowList<PathTemplate>,
    pub http_bind: AllowList<BindPattern>,
    pub env: AllowList<Wildcard>,
    pub local_exec: AllowList<ExecTarget>,
}

/// An `[[override]]`, as later narrowing layers left it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OverrideRule {
    pub sha256: Sha256,
    pub capabilities: CapabilitiesSection,
    pub limits: LimitsSection,
    pub source: Source,
}

impl Default for EffectivePolicy {
    /// Kiln's default, for a single user with no policy file: first-party plugins, Rhai and
    /// the components the user installed run; they read the template's directory and write the
    /// output directory; first-party `shell-local` and `ansible` (which runs
    /// `ansible-playbook` on the host) and Rhai scripts may run host commands;
    /// first-party builders may download, third-party plugins reach no network; the
    /// communicator may go anywhere.
    fn default() -> EffectivePolicy {
        let d = Source::Default;
        EffectivePolicy {
            locked_by: None,
            mode: Sourced::default(Mode::Enforce),
            limits: LimitSettings {
                memory: Sourced::default(DEFAULT_MEMORY),
                wall_time: Sourced::default(DEFAULT_WALL_TIME),
                builder_wall_time: Sourced::default(DEFAULT_BUILDER_WALL_TIME),
                fuel: Sourced::default(None),
                output_bytes: Sourced::default(DEFAULT_OUTPUT),
            },
            plugins: PluginRules {
                allowed_sha256: AllowList::new([Sha256Pattern::Any], d.clone()),
                allowed_sources: AllowList::new([Wildcard::any()], d.clone()),
                trusted_keys: AllowList::new([], d.clone()),
                allow_unsigned: Sourced::default(true),
                rhai: Sourced::default(RhaiRule::Allowed),
            },
            capabilities: CapabilityRules {
                hypervisors: AllowList::new([Wildcard::any()], d.clone()),
                network: AllowList::new(
                    [Scoped {
                        value: NetworkPattern::any(),
                        first_party_only: true,
                    }],
                    d.clone(),
                ),
                communicator: AllowList::new([NetworkPattern::any()], d.clone()),
                read_only: AllowList::new([PathTemplate::template_dir()], d.clone()),
                read_write: AllowList::new([PathTemplate::output_dir()], d.clone()),
                http_bind: AllowList::new([BindPattern::any()], d.clone()),
                env: AllowList::new([], d.clone()),
                local_exec: AllowList::new(
                    [
                        ExecTarget::FirstParty("shell-local".into()),
                        ExecTarget::FirstParty("ansible".into()),
                        ExecTarget::Rhai,
                    ],
                    d,
                ),
            },
            overrides: Vec::new(),
        }
    }
}

impl EffectivePolicy {
    /// Enforce or audit, and where that was decided.
    pub fn mode(&self) -> &Sourced<Mode> {
        &self.mode
    }

    /// The system policy file, when it is locked.
    pub fn locked_by(&self) -> Option<&Source> {
        self.locked_by.as_ref()
    }

    /// Whether this plugin may run at all: kiln's own always; a third-party component by
    /// hash, source and signature; a Rhai script by `plugins.rhai`.
    pub fn admits(&self, plugin: &PluginIdentity) -> Decision {
        let rules = &self.plugins;
        let trusted = |key: &Option<PublicKey>| {
            key.is_some_and(|key| rules.trusted_keys.values().any(|k| *k == key))
        };
        let denial = match &plugin.origin {
            Origin::FirstParty => None,
            Origin::ThirdParty {
                sha256,
                source,
                signed_by,
            } => {
                let source_text = normalize_source(source);
                if !rules.allowed_sha256.values().any(|p| p.matches(sha256)) {
                    Some(Denial::new(
                        format!("plugin sha256 {sha256}"),
                        Relation::NotIn,
                        "plugins.allowed_sha256",
                        &rules.allowed_sha256.source,
                    ))
                } else if !rules
                    .allowed_sources
                    .values()
                    .any(|p| p.matches(&source_text))
                {
                    Some(Denial::new(
                        format!("plugin source {source}"),
                        Relation::NotIn,
                        "plugins.allowed_sources",
                        &rules.allowed_sources.source,
                    ))
                } else if trusted(signed_by) || rules.allow_unsigned.value {
                    None
                } else if let Some(key) = signed_by {
                    Some(Denial::new(
                        format!("plugin signing key {key}"),
                        Relation::NotIn,
                        "plugins.trusted_keys",
                        &rules.trusted_keys.source,
                    ))
                } else {
                    Some(Denial::new(
                        "unsigned plugin".into(),
                        Relation::NotAllowedBy,
                        "plugins.allow_unsigned",
                        &rules.allow_unsigned.source,
                    ))
                }
            }
            Origin::Rhai {
                script_path,
                signed_by,
            } => {
                let what = match rules.rhai.value {
                    RhaiRule::Allowed => None,
                    RhaiRule::SignedOnly if trusted(signed_by) => None,
                    RhaiRule::SignedOnly if signed_by.is_some() => {
                        Some("Rhai script signed by an untrusted key")
                    }
                    RhaiRule::SignedOnly => Some("unsigned Rhai script"),
                    RhaiRule::Denied => Some("Rhai script"),
                };
                what.map(|what| {
                    Denial::new(
                        format!("{what} {}", script_path.display()),
                        Relation::NotAllowedBy,
                        "plugins.rhai",
                        &rules.rhai.source,
                    )
                })
            }
        };
        Decision::from_denial(denial, self.mode.value)
    }

    /// The limits for this plugin: the policy's, or its override's.
    pub fn limits_for(&self, plugin: &PluginIdentity) -> Limits {
        let l = &self.limits;
        let builder = plugin.kind == PluginKind::Builder;
        let mut limits = Limits {
            memory: l.memory.clone(),
            wall_time: if builder {
                l.builder_wall_time.clone()
            } else {
                l.wall_time.clone()
            },
            fuel: l.fuel.clone(),
            output_bytes: l.output_bytes.clone(),
        };
        for o in self.overrides_for(plugin) {
            let at = |value| Sourced::new(value, o.source.clone());
            if let Some(memory) = o.limits.memory {
                limits.memory = at(memory);
            }
            let wall_time = if builder {
                o.limits.builder_wall_time.or(o.limits.wall_time)
            } else {
                o.limits.wall_time
            };
            if let Some(wall_time) = wall_time {
                limits.wall_time = Sourced::new(wall_time, o.source.clone());
            }
            if let Some(fuel) = o.limits.fuel {
                limits.fuel = Sourced::new((fuel > 0).then_some(fuel), o.source.clone());
            }
            if let Some(output) = o.limits.output_bytes {
                limits.output_bytes = at(output);
            }
        }
        limits
    }

    /// Everything this plugin may use in one build, `${TEMPLATE_DIR}` and `${OUTPUT_DIR}`
    /// filled in from `ctx`, the build's temporary directory added as writable.
    pub fn grant_for(&self, plugin: &PluginIdentity, ctx: &Context) -> Grant {
        let caps = &self.capabilities;
        let overrides: Vec<&OverrideRule> = self.overrides_for(plugin).collect();
        fn with_overrides<T: Clone, U>(
            list: &AllowList<T>,
            keep: impl Fn(&T) -> Option<U>,
            overrides: &[&OverrideRule],
            extra: impl Fn(&CapabilitiesSection) -> Option<Vec<U>>,
        ) -> AllowList<U> {
            let mut entries: Vec<Sourced<U>> = list
                .entries
                .iter()
                .filter_map(|e| keep(&e.value).map(|v| Sourced::new(v, e.source.clone())))
                .collect();
            for o in overrides {
                for value in extra(&o.capabilities).unwrap_or_default() {
                    entries.push(Sourced::new(value, o.source.clone()));
                }
            }
            AllowList {
                entries,
                source: list.source.clone(),
            }
        }
        let first_party = plugin.origin == Origin::FirstParty;
        let resolve = |t: &PathTemplate| Some(t.resolve(ctx));
        let mut read_write = with_overrides(&caps.read_write, resolve, &overrides, |c| {
            c.read_write
                .as_ref()
                .map(|list| list.iter().map(|t| t.resolve(ctx)).collect())
        });
        read_write
            .entries
            .push(Sourced::new(normalize(&ctx.temp_dir), Source::Build));
        let local_exec = caps
            .local_exec
            .entries
            .iter()
            .find(|e| e.value.matches(plugin))
            .map(|e| Sourced::new(true, e.source.clone()))
            .or_else(|| {
                overrides
                    .iter()
                    .find(|o| o.capabilities.local_exec == Some(true))
                    .map(|o| Sourced::new(true, o.source.clone()))
            })
            .unwrap_or_else(|| Sourced::new(false, caps.local_exec.source.clone()));
        Grant {
            plugin: plugin.clone(),
            mode: self.mode.clone(),
            hypervisors: with_overrides(&caps.hypervisors, same_value, &overrides, |c| {
                c.hypervisors.clone()
            }),
            network: with_overrides(
                &caps.network,
                |s: &Scoped<NetworkPattern>| {
                    (first_party || !s.first_party_only).then(|| s.value.clone())
                },
                &overrides,
                |c| c.network.clone(),
            ),
            communicator: with_overrides(&caps.communicator, same_value, &overrides, |c| {
                c.communicator.clone()
            }),
            read_only: with_overrides(&caps.read_only, resolve, &overrides, |c| {
                c.read_only
                    .as_ref()
                    .map(|list| list.iter().map(|t| t.resolve(ctx)).collect())
            }),
            read_write,
            http_bind: with_overrides(&caps.http_bind, same_value, &overrides, |c| {
                c.http_bind.clone()
            }),
            env: with_overrides(&caps.env, same_value, &overrides, |c| c.env.clone()),
            local_exec,
            limits: self.limits_for(plugin),
        }
    }

    fn overrides_for<'a>(
        &'a self,
        plugin: &PluginIdentity,
    ) -> impl Iterator<Item = &'a OverrideRule> + 'a {
        let sha256 = plugin.sha256();
        self.overrides
            .iter()
            .filter(move |o| Some(o.sha256) == sha256)
    }
}

/// Keeps an entry as it is.
fn same_value<T: Clone>(value: &T) -> Option<T> {
    Some(value.clone())
}

/// A `file://` source with `..` removed, so `file:///opt/kiln/../../home/x` cannot pass for a
/// source under `/opt/kiln`.
fn normalize_source(source: &str) -> String {
    match source.strip_prefix("file://") {
        Some(path) => format!("file://{}", normalize(Path::new(path)).display()),
        None => source.to_string(),
    }
}
