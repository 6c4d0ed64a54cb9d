//! Where the policy files are, and how the layers combine.
//!
//! Kiln's default comes first, then the system file, the user file, the project file and the
//! flags. While nothing is locked, each layer replaces the settings it names. Once the system
//! file says `locked = true`, every later layer may only narrow each setting (a sub-list of an
//! allow-list, a smaller limit, a switch turned off, a stricter Rhai rule, audit to enforce),
//! and one that tries to widen is an error naming both files. "Each setting" includes those
//! the locked file left to kiln's default: locking locks the whole effective policy.
//! `[[override]]` widens, so it is accepted only while nothing is locked, or from the system
//! file itself.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::allow_list::{AllowList, Pattern, Scoped};
use crate::file::{CapabilitiesSection, FileError, LimitsSection, Mode, PolicyFile};
use crate::policy::{EffectivePolicy, ExecTarget, OverrideRule};
use crate::size::ByteSize;
use crate::source::{LayerKind, Source, Sourced};

/// The system policy when `KILN_SYSTEM_POLICY` is not set.
pub const SYSTEM_POLICY: &str = "/etc/kiln/policy.toml";
/// The project policy's name, beside the template.
pub const PROJECT_POLICY: &str = "kiln.policy.toml";

/// What `kiln build` flags add to the policy (the flags layer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// Plugin types allowed to run host commands (`--allow-local-exec TYPE`).
    pub allow_local_exec: Vec<String>,
    /// `enforce` or `audit`, over the files' mode.
    pub mode: Option<Mode>,
}

/// Where each layer's file is. A file that does not exist is simply absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    pub system: Option<PathBuf>,
    pub user: Option<PathBuf>,
    pub project: Option<PathBuf>,
    pub flags: Flags,
}

impl Sources {
    /// The usual places, from the environment `var` gives: the system file is
    /// `$KILN_SYSTEM_POLICY` or `/etc/kiln/policy.toml`; the user file
    /// `$XDG_CONFIG_HOME/kiln/policy.toml` or `$HOME/.config/kiln/policy.toml`; the project file
    /// `kiln.policy.toml` in `template_dir`.
    pub fn locate(var: impl Fn(&str) -> Option<OsString>, template_dir: Option<&Path>) -> Sources {
        let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let system = set("KILN_SYSTEM_POLICY").unwrap_or_else(|| PathBuf::from(SYSTEM_POLICY));
        // XDG: a relative XDG_CONFIG_HOME is invalid and ignored.
        let config = set("XDG_CONFIG_HOME")
            .filter(|dir| dir.is_absolute())
            .or_else(|| set("HOME").map(|home| home.join(".config")));
        Sources {
            system: Some(system),
            user: config.map(|dir| dir.join("kiln").join("policy.toml")),
            project: template_dir.map(|dir| dir.join(PROJECT_POLICY)),
            flags: Flags::default(),
        }
    }

    /// [`Sources::locate`] with the process's environment.
    pub fn from_env(template_dir: Option<&Path>) -> Sources {
        Sources::locate(|name| std::env::var_os(name), template_dir)
    }

    pub fn with_flags(self, flags: Flags) -> Sources {
        Sources { flags, ..self }
    }
}

/// One layer's parsed file.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub kind: LayerKind,
    pub path: PathBuf,
    pub file: PolicyFile,
}

impl Layer {
    pub fn parse(
        kind: LayerKind,
        path: impl Into<PathBuf>,
        text: &str,
    ) -> Result<Layer, FileError> {
        let path = path.into();
        let file = PolicyFile::parse(&path, text)?;
        Ok(Layer { kind, path, file })
    }

    /// Reads and parses the file at `path`; `None` when there is no such file.
    pub fn read(kind: LayerKind, path: &Path) -> Result<Option<Layer>, LoadError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(Layer::parse(kind, path, &text)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LoadError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn source(&self) -> Source {
        Source::file(self.kind, &self.path)
    }
}

/// A policy that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read policy file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Layer(#[from] LayerError),
}

/// Layers that do not combine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayerError {
    /// `~/.config/kiln/policy.toml: capabilities.network adds "0.0.0.0/0" but
    /// /etc/kiln/policy.toml is locked`.
    #[error("{layer}: {key} {change} but {locked} is locked")]
    Widens {
        layer: Source,
        key: String,
        /// `adds "0.0.0.0/0"`, `raises 512MiB to 1GiB`, `turns local exec on`.
        change: String,
        locked: Source,
    },
    #[error("{layer}: `locked` belongs in the system policy only")]
    LockedOutsideSystem { layer: Source },
    #[error(
        "{layer}: [[override]] widens the policy, which only the system policy may do while {locked} is locked"
    )]
    OverrideWhileLocked { layer: Source, locked: Source },
}

impl EffectivePolicy {
    /// Reads every layer's file that exists and combines them with `sources.flags`.
    pub fn load(sources: &Sources) -> Result<EffectivePolicy, LoadError> {
        let places = [
            (LayerKind::System, &sources.system),
            (LayerKind::User, &sources.user),
            (LayerKind::Project, &sources.project),
        ];
        let mut layers = Vec::new();
        for (kind, path) in places {
            if let Some(path) = path {
                layers.extend(Layer::read(kind, path)?);
            }
        }
        Ok(EffectivePolicy::from_layers(layers, &sources.flags)?)
    }

    /// Combines parsed layers (applied system, user, project, whatever order they come in)
    /// and the flags, over kiln's default.
    pub fn from_layers(
        layers: impl IntoIterator<Item = Layer>,
        flags: &Flags,
    ) -> Result<EffectivePolicy, LayerError> {
        let mut layers: Vec<Layer> = layers.into_iter().collect();
        layers.sort_by_key(|l| l.kind);
        let mut policy = EffectivePolicy::default();
        for layer in &layers {
            if layer.kind != LayerKind::System && layer.file.locked.is_some() {
                return Err(LayerError::LockedOutsideSystem {
                    layer: layer.source(),
                });
            }
            match policy.locked_by.clone() {
                None => policy.replace(layer),
                Some(locked) => policy.narrow(layer, &locked)?,
            }
        }
        policy.apply_flags(flags)?;
        Ok(policy)
    }

    /// An unlocked layer: each setting it names replaces the one below.
    fn replace(&mut self, layer: &Layer) {
        let source = layer.source();
        let f = &layer.file;
        if let Some(mode) = f.mode {
            self.mode = Sourced::new(mode, source.clone());
        }
        let (limits, l) = (&mut self.limits, &f.limits);
        if let Some(memory) = l.memory {
            limits.memory = Sourced::new(memory, source.clone());
        }
        if let Some(wall_time) = l.wall_time {
            limits.wall_time = Sourced::new(wall_time, source.clone());
            limits.builder_wall_time = Sourced::new(wall_time, source.clone());
        }
        if let Some(builder) = l.builder_wall_time {
            limits.builder_wall_time = Sourced::new(builder, source.clone());
        }
        if let Some(fuel) = l.fuel {
            limits.fuel = Sourced::new((fuel > 0).then_some(fuel), source.clone());
        }
        if let Some(output) = l.output_bytes {
            limits.output_bytes = Sourced::new(output, source.clone());
        }

        fn set<T: Clone>(values: &Option<Vec<T>>, into: &mut AllowList<T>, source: &Source) {
            if let Some(values) = values {
                *into = AllowList::new(values.iter().cloned(), source.clone());
            }
        }
        let (p, fp) = (&mut self.plugins, &f.plugins);
        set(&fp.allowed_sha256, &mut p.allowed_sha256, &source);
        set(&fp.allowed_sources, &mut p.allowed_sources, &source);
        set(&fp.trusted_keys, &mut p.trusted_keys, &source);
        if let Some(allow) = fp.allow_unsigned {
            p.allow_unsigned = Sourced::new(allow, source.clone());
        }
        if let Some(rhai) = fp.rhai {
            p.rhai = Sourced::new(rhai, source.clone());
        }

        let (c, fc) = (&mut self.capabilities, &f.capabilities);
        set(&fc.hypervisors, &mut c.hypervisors, &source);
        if let Some(network) = &fc.network {
            c.network = AllowList::new(
                network.iter().cloned().map(Scoped::everyone),
                source.clone(),
            );
        }
        set(&fc.communicator, &mut c.communicator, &source);
        set(&fc.read_only, &mut c.read_only, &source);
        set(&fc.read_write, &mut c.read_write, &source);
        set(&fc.http_bind, &mut c.http_bind, &source);
        set(&fc.env, &mut c.env, &source);
        if let Some(local_exec) = fc.local_exec {
            c.local_exec = AllowList::new(local_exec.then_some(ExecTarget::Any), source.clone());
        }

        self.overrides
            .extend(f.overrides.iter().map(|o| OverrideRule {
                sha256: o.sha256,
                capabilities: o.capabilities.clone(),
                limits: o.limits.clone(),
                source: Source::Override {
                    layer: layer.kind,
                    path: Arc::from(layer.path.as_path()),
                },
            }));
        if layer.kind == LayerKind::System && f.locked == Some(true) {
            self.locked_by = Some(source);
        }
    }

    /// A layer under a lock: each setting it names must be within the one in force.
    fn narrow(&mut self, layer: &Layer, locked: &Source) -> Result<(), LayerError> {
        let source = layer.source();
        let f = &layer.file;
        let widens = |key: &str, change: String| LayerError::Widens {
            layer: source.clone(),
            key: key.to_string(),
            change,
            locked: locked.clone(),
        };
        if !f.overrides.is_empty() {
            return Err(LayerError::OverrideWhileLocked {
                layer: source.clone(),
                locked: locked.clone(),
            });
        }
        if let Some(mode) = f.mode {
            narrow_mode(&mut self.mode, mode, &source).map_err(|c| widens("mode", c))?;
        }

        let (limits, l) = (&mut self.limits, &f.limits);
        let size = |s: &ByteSize| s.to_string();
        let time = |d: &Duration| crate::limits::GoDuration(*d).to_string();
        at_most(
            &widens,
            "limits.memory",
            &mut limits.memory,
            l.memory,
            &source,
            size,
        )?;
        at_most(
            &widens,
            "limits.output_bytes",
            &mut limits.output_bytes,
            l.output_bytes,
            &source,
            size,
        )?;
        // A file's wall_time covers builders too, here only where it narrows theirs.
        let builder = l
            .builder_wall_time
            .or(l.wall_time.filter(|w| *w < limits.builder_wall_time.value));
        let builder_key = if l.builder_wall_time.is_some() {
            "limits.builder_wall_time"
        } else {
            "limits.wall_time"
        };
        at_most(
            &widens,
            "limits.wall_time",
            &mut limits.wall_time,
            l.wall_time,
            &source,
            time,
        )?;
        at_most(
            &widens,
            builder_key,
            &mut limits.builder_wall_time,
            builder,
            &source,
            time,
        )?;
        match (l.fuel, limits.fuel.value) {
            (None, _) => {}
            (Some(0), None) => {}
            (Some(0), Some(_)) => {
                return Err(widens("limits.fuel", "turns fuel metering off".into()));
            }
            (Some(new), Some(current)) if new > current => {
                return Err(widens("limits.fuel", format!("raises {current} to {new}")));
            }
            (Some(new), _) => limits.fuel = Sourced::new(Some(new), source.clone()),
        }

        let (p, fp) = (&mut self.plugins, &f.plugins);
        let ctx = Narrowing {
            source: &source,
            locked,
        };
        ctx.list(
            "plugins.allowed_sha256",
            &mut p.allowed_sha256,
            &fp.allowed_sha256,
            None,
        )?;
        ctx.list(
            "plugins.allowed_sources",
            &mut p.allowed_sources,
            &fp.allowed_sources,
            None,
        )?;
        ctx.list(
            "plugins.trusted_keys",
            &mut p.trusted_keys,
            &fp.trusted_keys,
            None,
        )?;
        match fp.allow_unsigned {
            Some(true) if !p.allow_unsigned.value => {
                return Err(widens(
                    "plugins.allow_unsigned",
                    "allows unsigned plugins".into(),
                ));
            }
            Some(allow) => p.allow_unsigned = Sourced::new(allow, source.clone()),
            None => {}
        }
        match fp.rhai {
            Some(rhai) if rhai < p.rhai.value => {
                return Err(widens(
                    "plugins.rhai",
                    format!("relaxes \"{}\" to \"{rhai}\"", p.rhai.value),
                ));
            }
            Some(rhai) => p.rhai = Sourced::new(rhai, source.clone()),
            None => {}
        }

        let (c, fc) = (&mut self.capabilities, &f.capabilities);
        ctx.list(
            "capabilities.hypervisors",
            &mut c.hypervisors,
            &fc.hypervisors,
            None,
        )?;
        let network = fc
            .network
            .as_ref()
            .map(|n| n.iter().cloned().map(Scoped::everyone).collect());
        ctx.list("capabilities.network", &mut c.network, &network, None)?;
        ctx.list(
            "capabilities.communicator",
            &mut c.communicator,
            &fc.communicator,
            None,
        )?;
        // Write access includes read access, so a read-only path may sit under a writable one.
        let readable: Vec<_> = c
            .read_only
            .values()
            .chain(c.read_write.values())
            .cloned()
            .collect();
        ctx.list(
            "capabilities.read_only",
            &mut c.read_only,
            &fc.read_only,
            Some(&readable),
        )?;
        ctx.list(
            "capabilities.read_write",
            &mut c.read_write,
            &fc.read_write,
            None,
        )?;
        ctx.list(
            "capabilities.http_bind",
            &mut c.http_bind,
            &fc.http_bind,
            None,
        )?;
        ctx.list("capabilities.env", &mut c.env, &fc.env, None)?;
        match fc.local_exec {
            Some(true) if !c.local_exec.values().any(|t| *t == ExecTarget::Any) => {
                return Err(widens(
                    "capabilities.local_exec",
                    "turns local exec on".into(),
                ));
            }
            Some(true) => c.local_exec = AllowList::new([ExecTarget::Any], source.clone()),
            Some(false) => c.local_exec = AllowList::new([], source.clone()),
            None => {}
        }

        for o in &mut self.overrides {
            narrow_override(o, &f.capabilities, &f.limits);
        }
        Ok(())
    }

    fn apply_flags(&mut self, flags: &Flags) -> Result<(), LayerError> {
        let source = Source::CommandLine;
        if let Some(mode) = flags.mode {
            match &self.locked_by {
                None => self.mode = Sourced::new(mode, source.clone()),
                Some(locked) => {
                    narrow_mode(&mut self.mode, mode, &source).map_err(|change| {
                        LayerError::Widens {
                            layer: source.clone(),
                            key: "mode".into(),
                            change,
                            locked: locked.clone(),
                        }
                    })?;
                }
            }
        }
        for type_name in &flags.allow_local_exec {
            let target = ExecTarget::Type(type_name.clone());
            let exec = &mut self.capabilities.local_exec;
            if exec.values().any(|t| t.covers(&target)) {
                continue;
            }
            if let Some(locked) = &self.locked_by {
                return Err(LayerError::Widens {
                    layer: source,
                    key: "--allow-local-exec".into(),
                    change: format!("adds {type_name:?}"),
                    locked: locked.clone(),
                });
            }
            exec.entries.push(Sourced::new(target, source.clone()));
        }
        Ok(())
    }
}

/// Takes `new` if it is no larger than `current`.
fn at_most<T: PartialOrd>(
    widens: &dyn Fn(&str, String) -> LayerError,
    key: &str,
    current: &mut Sourced<T>,
    new: Option<T>,
    source: &Source,
    show: impl Fn(&T) -> String,
) -> Result<(), LayerError> {
    match new {
        Some(new) if new > current.value => Err(widens(
            key,
            format!("raises {} to {}", show(&current.value), show(&new)),
        )),
        Some(new) => {
            *current = Sourced::new(new, source.clone());
            Ok(())
        }
        None => Ok(()),
    }
}

fn narrow_mode(current: &mut Sourced<Mode>, new: Mode, source: &Source) -> Result<(), String> {
    if new == Mode::Audit && current.value == Mode::Enforce {
        return Err("sets \"audit\" over \"enforce\"".into());
    }
    *current = Sourced::new(new, source.clone());
    Ok(())
}

struct Narrowing<'a> {
    source: &'a Source,
    locked: &'a Source,
}

impl Narrowing<'_> {
    /// Replaces `current` with `new` if each new entry is within one of `current`'s (or of
    /// `coverage`, when given), keeping what those entries restrict.
    fn list<T: Pattern>(
        &self,
        key: &str,
        current: &mut AllowList<T>,
        new: &Option<Vec<T>>,
        coverage: Option<&[T]>,
    ) -> Result<(), LayerError> {
        let Some(new) = new else { return Ok(()) };
        let coverage: Vec<&T> = match coverage {
            Some(values) => values.iter().collect(),
            None => current.values().collect(),
        };
        let mut narrowed = Vec::with_capacity(new.len());
        for entry in new {
            let covering: Vec<&T> = coverage
                .iter()
                .copied()
                .filter(|c| c.covers(entry))
                .collect();
            if covering.is_empty() {
                return Err(LayerError::Widens {
                    layer: self.source.clone(),
                    key: key.to_string(),
                    change: format!("adds \"{entry}\""),
                    locked: self.locked.clone(),
                });
            }
            narrowed.push(entry.within(&covering));
        }
        *current = AllowList::new(narrowed, self.source.clone());
        Ok(())
    }
}

/// A narrowing layer narrows the overrides too: an override entry stays only where the
/// layer's list still covers it, and its limits are capped by the layer's.
fn narrow_override(o: &mut OverrideRule, caps: &CapabilitiesSection, limits: &LimitsSection) {
    fn keep<T: Pattern>(extra: &mut Option<Vec<T>>, narrowed: &Option<Vec<T>>) {
        if let (Some(extra), Some(narrowed)) = (extra.as_mut(), narrowed) {
            extra.retain(|e| narrowed.iter().any(|n| n.covers(e)));
        }
    }
    let c = &mut o.capabilities;
    keep(&mut c.hypervisors, &caps.hypervisors);
    keep(&mut c.network, &caps.network);
    keep(&mut c.communicator, &caps.communicator);
    keep(&mut c.read_only, &caps.read_only);
    keep(&mut c.read_write, &caps.read_write);
    keep(&mut c.http_bind, &caps.http_bind);
    keep(&mut c.env, &caps.env);
    if caps.local_exec == Some(false) {
        c.local_exec = None;
    }
    fn cap<T: Ord + Copy>(extra: &mut Option<T>, narrowed: Option<T>) {
        if let (Some(e), Some(n)) = (extra.as_mut(), narrowed) {
            *e = (*e).min(n);
        }
    }
    let l = &mut o.limits;
    cap(&mut l.memory, limits.memory);
    cap(&mut l.output_bytes, limits.output_bytes);
    // The override's wall time covers its builders unless it names theirs.
    let builder = l.builder_wall_time.or(l.wall_time);
    if let (Some(b), Some(n)) = (builder, limits.builder_wall_time.or(limits.wall_time)) {
        l.builder_wall_time = Some(b.min(n));
    }
    cap(&mut l.wall_time, limits.wall_time);
    match (l.fuel, limits.fuel) {
        (Some(0), Some(n)) if n > 0 => l.fuel = Some(n),
        (Some(e), Some(n)) if n > 0 => l.fuel = Some(e.min(n)),
        _ => {}
    }
}
