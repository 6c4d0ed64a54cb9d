//! One policy file: the TOML format, parsed strictly (unknown keys are errors) into typed
//! values, every error placed at `path:line:column`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::key::{PublicKey, Sha256};
use crate::limits::parse_duration;
use crate::network::{BindPattern, NetworkPattern};
use crate::path::PathTemplate;
use crate::size::ByteSize;
use crate::wildcard::Wildcard;

/// The policy format version this kiln reads.
pub const VERSION: i64 = 1;

/// Whether denials stop the plugin or are only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    /// Denials are returned as [`Decision::AuditDenied`](crate::Decision::AuditDenied): logged,
    /// and allowed.
    Audit,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        })
    }
}

/// Whether Rhai scripts may run; ordered from the most permissive to the strictest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RhaiRule {
    Allowed,
    /// Only scripts signed by one of `plugins.trusted_keys`.
    SignedOnly,
    Denied,
}

impl fmt::Display for RhaiRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RhaiRule::Allowed => "allowed",
            RhaiRule::SignedOnly => "signed-only",
            RhaiRule::Denied => "denied",
        })
    }
}

/// An entry of `plugins.allowed_sha256`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sha256Pattern {
    /// `*`: any component.
    Any,
    Exact(Sha256),
}

impl Sha256Pattern {
    pub fn matches(&self, sha256: &Sha256) -> bool {
        match self {
            Sha256Pattern::Any => true,
            Sha256Pattern::Exact(want) => want == sha256,
        }
    }

    pub fn covers(&self, other: &Sha256Pattern) -> bool {
        match (self, other) {
            (Sha256Pattern::Any, _) => true,
            (Sha256Pattern::Exact(a), Sha256Pattern::Exact(b)) => a == b,
            (Sha256Pattern::Exact(_), Sha256Pattern::Any) => false,
        }
    }
}

impl fmt::Display for Sha256Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sha256Pattern::Any => f.write_str("*"),
            Sha256Pattern::Exact(sha) => write!(f, "{sha}"),
        }
    }
}

/// A parsed policy file. `None` (or an absent section) means the file does not name the
/// setting, so the layers below it decide.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyFile {
    pub locked: Option<bool>,
    pub mode: Option<Mode>,
    pub limits: LimitsSection,
    pub plugins: PluginsSection,
    pub capabilities: CapabilitiesSection,
    pub overrides: Vec<Override>,
}

/// `[limits]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LimitsSection {
    pub memory: Option<ByteSize>,
    /// Every plugin call; builders too unless `builder_wall_time` is given beside it.
    pub wall_time: Option<Duration>,
    pub builder_wall_time: Option<Duration>,
    /// `Some(0)` is "no fuel metering".
    pub fuel: Option<u64>,
    pub output_bytes: Option<ByteSize>,
}

/// `[plugins]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PluginsSection {
    pub allowed_sha256: Option<Vec<Sha256Pattern>>,
    pub allowed_sources: Option<Vec<Wildcard>>,
    pub trusted_keys: Option<Vec<PublicKey>>,
    pub allow_unsigned: Option<bool>,
    pub rhai: Option<RhaiRule>,
}

/// `[capabilities]`, and `[override.capabilities]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CapabilitiesSection {
    pub hypervisors: Option<Vec<Wildcard>>,
    pub network: Option<Vec<NetworkPattern>>,
    pub communicator: Option<Vec<NetworkPattern>>,
    pub read_only: Option<Vec<PathTemplate>>,
    pub read_write: Option<Vec<PathTemplate>>,
    pub http_bind: Option<Vec<BindPattern>>,
    pub env: Option<Vec<Wildcard>>,
    pub local_exec: Option<bool>,
}

/// `[[override]]`: more for one component, by content hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub sha256: Sha256,
    pub capabilities: CapabilitiesSection,
    pub limits: LimitsSection,
}

/// A policy file that does not parse, at its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl PolicyFile {
    /// Parses `text`, the content of the file at `path` (used for error positions only).
    pub fn parse(path: &Path, text: &str) -> Result<PolicyFile, FileError> {
        let place = Place { path, text };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            place.error(span, with_suggestion(e.message()))
        })?;
        place.convert(raw)
    }
}

struct Place<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Place<'_> {
    fn error(&self, span: Range<usize>, message: String) -> FileError {
        let offset = span.start.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        FileError {
            path: self.path.to_path_buf(),
            line,
            column: before[line_start..].chars().count() + 1,
            message,
        }
    }

    fn value<T>(
        &self,
        key: &str,
        raw: &Spanned<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, FileError> {
        parse(raw.get_ref()).map_err(|e| self.error(raw.span(), format!("{key}: {e}")))
    }

    fn list<T>(
        &self,
        key: &str,
        raw: Option<Vec<Spanned<String>>>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<Vec<T>>, FileError> {
        raw.map(|entries| {
            entries
                .iter()
                .map(|entry| self.value(key, entry, &parse))
                .collect()
        })
        .transpose()
    }

    fn convert(&self, raw: RawFile) -> Result<PolicyFile, FileError> {
        if *raw.version.get_ref() != VERSION {
            return Err(self.error(
                raw.version.span(),
                format!(
                    "unsupported policy version {}: this kiln reads version {VERSION}",
                    raw.version.get_ref()
                ),
            ));
        }
        let overrides = raw
            .overrides
            .into_iter()
            .map(|o| self.convert_override(o))
            .collect::<Result<_, _>>()?;
        Ok(PolicyFile {
            locked: raw.locked,
            mode: raw.mode,
            limits: self.convert_limits("limits", raw.limits.unwrap_or_default())?,
            plugins: self.convert_plugins(raw.plugins.unwrap_or_default())?,
            capabilities: self
                .convert_capabilities("capabilities", raw.capabilities.unwrap_or_default())?,
            overrides,
        })
    }

    fn convert_limits(&self, section: &str, raw: RawLimits) -> Result<LimitsSection, FileError> {
        let size = |key: &str, raw: Option<Spanned<RawSize>>| -> Result<_, FileError> {
            let Some(raw) = raw else { return Ok(None) };
            let parsed = match raw.get_ref() {
                RawSize::Bytes(n) => u64::try_from(*n)
                    .map(ByteSize)
                    .map_err(|_| "a size cannot be negative".to_string()),
                RawSize::Text(text) => ByteSize::parse(text),
            }
            .and_then(|size| {
                if size.0 == 0 {
                    Err("must be more than zero".to_string())
                } else {
                    Ok(size)
                }
            });
            parsed
                .map(Some)
                .map_err(|e| self.error(raw.span(), format!("{section}.{key}: {e}")))
        };
        let duration = |key: &str, raw: &Option<Spanned<String>>| {
            raw.as_ref()
                .map(|raw| self.value(&format!("{section}.{key}"), raw, parse_duration))
                .transpose()
        };
        let fuel = raw
            .fuel
            .map(|raw| {
                u64::try_from(*raw.get_ref()).map_err(|_| {
                    self.error(
                        raw.span(),
                        format!("{section}.fuel: cannot be negative (0 turns fuel off)"),
                    )
                })
            })
            .transpose()?;
        Ok(LimitsSection {
            memory: size("memory", raw.memory)?,
            wall_time: duration("wall_time", &raw.wall_time)?,
            builder_wall_time: duration("builder_wall_time", &raw.builder_wall_time)?,
            fuel,
            output_bytes: size("output_bytes", raw.output_bytes)?,
        })
    }

    fn convert_plugins(&self, raw: RawPlugins) -> Result<PluginsSection, FileError> {
        Ok(PluginsSection {
            allowed_sha256: self.list("plugins.allowed_sha256", raw.allowed_sha256, |t| {
                if t == "*" {
                    Ok(Sha256Pattern::Any)
                } else {
                    t.parse().map(Sha256Pattern::Exact)
                }
            })?,
            allowed_sources: self.list("plugins.allowed_sources", raw.allowed_sources, |t| {
                const SCHEMES: [&str; 3] = ["oci://", "https://", "file://"];
                if t == "*" || SCHEMES.iter().any(|s| t.starts_with(s)) {
                    Ok(Wildcard::new(t))
                } else {
                    Err(format!(
                        "{t:?}: a source starts with oci://, https:// or file:// (or is *)"
                    ))
                }
            })?,
            trusted_keys: self.list("plugins.trusted_keys", raw.trusted_keys, str::parse)?,
            allow_unsigned: raw.allow_unsigned,
            rhai: raw.rhai,
        })
    }

    fn convert_capabilities(
        &self,
        section: &str,
        raw: RawCapabilities,
    ) -> Result<CapabilitiesSection, FileError> {
        let key = |k: &str| format!("{section}.{k}");
        Ok(CapabilitiesSection {
            hypervisors: self.list(&key("hypervisors"), raw.hypervisors, |t| {
                name_pattern(t, |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            })?,
            network: self.list(&key("network"), raw.network, NetworkPattern::parse)?,
            communicator: self.list(&key("communicator"), raw.communicator, |t| {
                let pattern = NetworkPattern::parse(t)?;
                match pattern.scheme() {
                    Some(_) => Err(format!(
                        "{t:?}: a communicator target is host[:port], without a scheme"
                    )),
                    None => Ok(pattern),
                }
            })?,
            read_only: self.list(&key("read_only"), raw.read_only, PathTemplate::parse)?,
            read_write: self.list(&key("read_write"), raw.read_write, PathTemplate::parse)?,
            http_bind: self.list(&key("http_bind"), raw.http_bind, BindPattern::parse)?,
            env: self.list(&key("env"), raw.env, |t| {
                name_pattern(t, |c| c.is_ascii_alphanumeric() || c == '_')
            })?,
            local_exec: raw.local_exec.map(Spanned::into_inner),
        })
    }

    fn convert_override(&self, raw: RawOverride) -> Result<Override, FileError> {
        let sha256 = self.value("override.sha256", &raw.sha256, str::parse)?;
        let capabilities = raw.capabilities.unwrap_or_default();
        if let Some(local_exec) = &capabilities.local_exec
            && !local_exec.get_ref()
        {
            return Err(self.error(
                local_exec.span(),
                "override.capabilities.local_exec: an override only adds to the policy, so \
                 false has no effect here"
                    .into(),
            ));
        }
        Ok(Override {
            sha256,
            capabilities: self.convert_capabilities("override.capabilities", capabilities)?,
            limits: self.convert_limits("override.limits", raw.limits.unwrap_or_default())?,
        })
    }
}

/// A name, or a `*` pattern over names.
fn name_pattern(text: &str, allowed: impl Fn(char) -> bool) -> Result<Wildcard, String> {
    if !text.is_empty() && text.chars().all(|c| c == '*' || allowed(c)) {
        Ok(Wildcard::new(text))
    } else {
        Err(format!("{text:?} is not a name or a * pattern"))
    }
}

/// Adds "did you mean" to serde's unknown key and unknown variant messages, whose candidates
/// it lists in backquotes: "unknown field `memroy`, expected one of `memory`, `fuel`".
fn with_suggestion(message: &str) -> String {
    let message = message.trim_end();
    if message == "missing field `version`" {
        return "missing `version = 1` (every policy file states its format version)".into();
    }
    let unknown = ["unknown field `", "unknown variant `"];
    if !unknown.iter().any(|u| message.starts_with(u)) {
        return message.to_string();
    }
    let mut quoted = message.split('`').skip(1).step_by(2);
    let Some(given) = quoted.next() else {
        return message.to_string();
    };
    let best = kiln_template::suggest::closest(given, quoted);
    let message = message.replacen("unknown field", "unknown key", 1);
    match best {
        Some(candidate) => format!("{message}; did you mean `{candidate}`?"),
        None => message,
    }
}

// The file as TOML has it. Every value a second pass parses keeps its span, so an error points
// at the entry rather than the whole array.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: Spanned<i64>,
    locked: Option<bool>,
    mode: Option<Mode>,
    limits: Option<RawLimits>,
    plugins: Option<RawPlugins>,
    capabilities: Option<RawCapabilities>,
    #[serde(rename = "override", default)]
    overrides: Vec<RawOverride>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory: Option<Spanned<RawSize>>,
    wall_time: Option<Spanned<String>>,
    builder_wall_time: Option<Spanned<String>>,
    fuel: Option<Spanned<i64>>,
    output_bytes: Option<Spanned<RawSize>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPlugins {
    allowed_sha256: Option<Vec<Spanned<String>>>,
    allowed_sources: Option<Vec<Spanned<String>>>,
    trusted_keys: Option<Vec<Spanned<String>>>,
    allow_unsigned: Option<bool>,
    rhai: Option<RhaiRule>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCapabilities {
    hypervisors: Option<Vec<Spanned<String>>>,
    network: Option<Vec<Spanned<String>>>,
    communicator: Option<Vec<Spanned<String>>>,
    read_only: Option<Vec<Spanned<String>>>,
    read_write: Option<Vec<Spanned<String>>>,
    http_bind: Option<Vec<Spanned<String>>>,
    env: Option<Vec<Spanned<String>>>,
    local_exec: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    sha256: Spanned<String>,
    capabilities: Option<RawCapabilities>,
    limits: Option<RawLimits>,
}

/// A size: a TOML integer (bytes) or a string with a unit.
enum RawSize {
    Bytes(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RawSize, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: a number of bytes, or a string like \"512MiB\"")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RawSize, E> {
                i64::try_from(n)
                    .map(RawSize::Bytes)
                    .map_err(|_| E::custom("the size is too large"))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(text.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
