//! Where a template `type` finds its code: kiln's own components (embedded in this binary),
//! components on `KILN_PLUGIN_PATH`, and Rhai scripts (`"type": "rhai"`). Components are
//! compiled on first use (and then deserialized from the cache on later runs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kiln_core::catalog::{Catalog, ComponentKind};
use kiln_core::plugin::{Builder, PluginError, PluginSource, PostProcessor, Provisioner};
use kiln_embedded_plugins::{EmbeddedPlugin, Kind};
use kiln_policy::Origin;
use kiln_rhai::RhaiPlugin;
use kiln_template::Diagnostic;
use kiln_wasm::{Component, Runtime};

use crate::error::CliError;

/// A component found on `KILN_PLUGIN_PATH` (`kiln-provisioner-NAME.wasm`, as Packer's
/// `packer-provisioner-NAME` binaries).
#[derive(Clone, Debug)]
pub struct Discovered {
    pub kind: ComponentKind,
    pub name: String,
    pub path: PathBuf,
}

fn embedded(kind: ComponentKind, name: &str) -> Option<&'static EmbeddedPlugin> {
    let kind = match kind {
        ComponentKind::Builder => Kind::Builder,
        ComponentKind::Provisioner => Kind::Provisioner,
        ComponentKind::PostProcessor => Kind::PostProcessor,
    };
    kiln_embedded_plugins::find(kind, name)
}

/// Reads the directories of `KILN_PLUGIN_PATH` (colon-separated). A plugin may not take the
/// name of one of kiln's own: it would silently change what a template means.
pub fn discover() -> Result<Vec<Discovered>, CliError> {
    let Some(path) = std::env::var_os("KILN_PLUGIN_PATH") else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for dir in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let Some(stem) = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".wasm"))
            else {
                continue;
            };
            let parsed = [
                ("kiln-builder-", ComponentKind::Builder),
                ("kiln-provisioner-", ComponentKind::Provisioner),
                ("kiln-post-processor-", ComponentKind::PostProcessor),
            ]
            .into_iter()
            .find_map(|(prefix, kind)| stem.strip_prefix(prefix).map(|name| (kind, name)));
            let Some((kind, name)) = parsed else { continue };
            if kind.is_known(name) {
                return Err(CliError::build(
                    Diagnostic::error(format!(
                        "{} would replace kiln's own {} {name:?}",
                        file.display(),
                        kind.noun()
                    ))
                    .hint("a plugin cannot take the name of a built-in type; rename the file"),
                ));
            }
            found.push(Discovered {
                kind,
                name: name.to_owned(),
                path: file,
            });
        }
    }
    Ok(found)
}

/// The types a template may use: kiln's own and the discovered ones.
pub fn catalog(discovered: &[Discovered]) -> Catalog {
    let mut catalog = Catalog::default();
    for d in discovered {
        catalog.add(d.kind, d.name.clone());
    }
    catalog
}

/// Where compiled components are cached: `KILN_CACHE_DIR`, else `$XDG_CACHE_HOME/kiln`, else
/// `~/.cache/kiln`.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("KILN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("kiln")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kiln")))
        .unwrap_or_else(|| std::env::temp_dir().join("kiln-cache"));
    base.join("components")
}

/// A component's code.
enum Code<'a> {
    Embedded(&'static [u8]),
    File(&'a std::path::Path),
}

/// Where a type's code comes from, for the policy: kiln's own (embedded), a discovered
/// component (by its sha256), or a Rhai `script` of the template.
pub fn origin(
    discovered: &[Discovered],
    template_dir: &std::path::Path,
    kind: ComponentKind,
    type_name: &str,
    script: &str,
) -> Result<Origin, PluginError> {
    if type_name == "rhai" {
        return Ok(Origin::Rhai {
            script_path: template_dir.join(script),
            signed_by: None,
        });
    }
    if embedded(kind, type_name).is_some() {
        return Ok(Origin::FirstParty);
    }
    match discovered
        .iter()
        .find(|d| d.kind == kind && d.name == type_name)
    {
        Some(d) => {
            let hex = kiln_core::digest::file_digest(&d.path, "sha256")?;
            let sha256 = hex
                .parse()
                .map_err(|e| PluginError::failed(format!("sha256 of {}: {e}", d.path.display())))?;
            Ok(Origin::ThirdParty {
                sha256,
                source: format!("file://{}", d.path.display()),
                signed_by: None,
            })
        }
        // No code at all: nothing will run, and loading it reports that.
        None => Ok(Origin::FirstParty),
    }
}

/// The [`PluginSource`] of a `kiln build`.
pub struct Plugins {
    runtime: Arc<Runtime>,
    discovered: Vec<Discovered>,
    template_dir: PathBuf,
    loaded: Mutex<HashMap<(String, String), Component>>,
}

impl Plugins {
    pub fn new(runtime: Arc<Runtime>, discovered: Vec<Discovered>, template_dir: PathBuf) -> Self {
        Plugins {
            runtime,
            discovered,
            template_dir,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// Where a component type's code is: kiln's own (embedded), else a discovered file.
    fn locate(&self, kind: ComponentKind, name: &str) -> Option<Code<'_>> {
        if let Some(p) = embedded(kind, name) {
            return Some(Code::Embedded(p.bytes));
        }
        self.discovered
            .iter()
            .find(|d| d.kind == kind && d.name == name)
            .map(|d| Code::File(&d.path))
    }

    /// The loaded component of a type. The cache stays locked while a component loads, so
    /// builds that need the same type at once compile it once.
    fn component(&self, kind: ComponentKind, name: &str) -> Result<Component, PluginError> {
        let key = (kind.noun().to_owned(), name.to_owned());
        let mut loaded = self
            .loaded
            .lock()
            .map_err(|_| PluginError::failed("the plugin cache is unusable"))?;
        if let Some(c) = loaded.get(&key) {
            return Ok(c.clone());
        }
        let label = format!("{} {name}", kind.noun());
        let bytes: std::borrow::Cow<'static, [u8]> = match self.locate(kind, name) {
            Some(Code::Embedded(bytes)) => std::borrow::Cow::Borrowed(bytes),
            Some(Code::File(path)) => {
                std::borrow::Cow::Owned(std::fs::read(path).map_err(|e| {
                    PluginError::failed(format!("cannot read {}: {e}", path.display()))
                })?)
            }
            None => {
                return Err(PluginError::failed(format!(
                    "no plugin implements the {} type {name:?} in this version of kiln",
                    kind.noun()
                )));
            }
        };
        let plugin = self
            .runtime
            .load(&bytes)
            .map_err(|e| PluginError::Crashed(format!("{label}: {e}")))?;
        // Its limits come with each call's grant (the policy's `[limits]`).
        let component = Component::new(Arc::clone(&self.runtime), Arc::new(plugin), label);
        loaded.insert(key, component.clone());
        Ok(component)
    }

    fn rhai(&self, config: &serde_json::Value) -> Result<RhaiPlugin, PluginError> {
        RhaiPlugin::for_entry(&self.template_dir, config).map_err(PluginError::from)
    }
}

impl PluginSource for Plugins {
    fn builder(
        &self,
        type_name: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Builder>, PluginError> {
        if type_name == "rhai" {
            return Ok(Arc::new(self.rhai(config)?));
        }
        Ok(Arc::new(self.component(ComponentKind::Builder, type_name)?))
    }

    fn provisioner(
        &self,
        type_name: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Provisioner>, PluginError> {
        if type_name == "rhai" {
            return Ok(Arc::new(self.rhai(config)?));
        }
        Ok(Arc::new(
            self.component(ComponentKind::Provisioner, type_name)?,
        ))
    }

    fn post_processor(
        &self,
        type_name: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn PostProcessor>, PluginError> {
        if type_name == "rhai" {
            return Ok(Arc::new(self.rhai(config)?));
        }
        Ok(Arc::new(
            self.component(ComponentKind::PostProcessor, type_name)?,
        ))
    }

    fn provides(&self, kind: ComponentKind, type_name: &str) -> bool {
        type_name == "rhai" || self.locate(kind, type_name).is_some()
    }

    fn origin(
        &self,
        kind: ComponentKind,
        type_name: &str,
        config: &serde_json::Value,
    ) -> Result<Origin, PluginError> {
        let script = config.get("script").and_then(|s| s.as_str()).unwrap_or("");
        origin(
            &self.discovered,
            &self.template_dir,
            kind,
            type_name,
            script,
        )
    }
}
