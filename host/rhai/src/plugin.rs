//! [`RhaiPlugin`]: a compiled script, usable as a builder, a provisioner or a post-processor.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rhai::{AST, CallFnOptions, Dynamic, Scope};

use kiln_core::capabilities::Capabilities;
use kiln_core::plugin::{
    Artifact, Builder, ConfigError, PluginError, PostProcessor, Processed, Provisioner,
};
use kiln_core::session::Session;

use crate::call::{CallContext, on_script_thread};
use crate::capabilities::{Hooks, ScriptSession};
use crate::diagnostic::Sources;
use crate::error::{Failure, RhaiError, parse_error};
use crate::limits::Limits;
use crate::sandbox;
use crate::values;

/// A Rhai script plugin: the script compiled once, run in a fresh sandboxed engine per call.
#[derive(Clone)]
pub struct RhaiPlugin {
    script: Arc<Script>,
    limits: Limits,
}

struct Script {
    /// As errors show it: the `script` value as written in the template.
    name: String,
    text: Arc<str>,
    ast: AST,
}

/// The kinds of plugin a script can be, with the entry point each needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Builder,
    Provisioner,
    PostProcessor,
}

impl Kind {
    fn entry_point(self) -> (&'static str, &'static str) {
        match self {
            Kind::Builder => ("run", "fn run(hooks)"),
            Kind::Provisioner => ("provision", "fn provision(session, data)"),
            Kind::PostProcessor => ("post_process", "fn post_process(artifact)"),
        }
    }

    fn arity(self) -> usize {
        match self {
            Kind::Builder | Kind::PostProcessor => 1,
            Kind::Provisioner => 2,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Builder => "a Rhai builder",
            Kind::Provisioner => "a Rhai provisioner",
            Kind::PostProcessor => "a Rhai post-processor",
        }
    }
}

impl RhaiPlugin {
    /// Reads and compiles the script at `script_path`, under kiln's default [`Limits`];
    /// errors name the file as `script_path` is written.
    pub fn load(script_path: &Path) -> Result<RhaiPlugin, RhaiError> {
        let name = script_path.display().to_string();
        let text = std::fs::read_to_string(script_path).map_err(|source| RhaiError::Read {
            name: name.clone(),
            source,
        })?;
        RhaiPlugin::from_source(&name, &text, Limits::default())
    }

    /// The plugin for a template entry `{"type": "rhai", "script": "provision.rhai", ...}`:
    /// the script is resolved against `template_dir` and named in errors as written.
    pub fn for_entry(
        template_dir: &Path,
        config: &serde_json::Value,
    ) -> Result<RhaiPlugin, RhaiError> {
        let script = config
            .get("script")
            .and_then(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .ok_or(RhaiError::NoScript)?;
        let text = std::fs::read_to_string(template_dir.join(script)).map_err(|source| {
            RhaiError::Read {
                name: script.to_owned(),
                source,
            }
        })?;
        RhaiPlugin::from_source(script, &text, Limits::default())
    }

    /// Compiles `text`, named `name` in errors, to run under `limits`.
    pub fn from_source(name: &str, text: &str, limits: Limits) -> Result<RhaiPlugin, RhaiError> {
        let text: Arc<str> = Arc::from(text);
        let engine = sandbox::compiler(&limits);
        let mut ast = engine.compile(&*text).map_err(|e| {
            RhaiError::Parse(parse_error(name, e, &Sources::new(name, Arc::clone(&text))))
        })?;
        ast.set_source(name);
        Ok(RhaiPlugin {
            script: Arc::new(Script {
                name: name.to_owned(),
                text,
                ast,
            }),
            limits,
        })
    }

    /// The script's name, as errors show it.
    pub fn name(&self) -> &str {
        &self.script.name
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The error for a script without the entry point `kind` needs, if it lacks it.
    fn missing_entry_point(&self, kind: Kind) -> Option<PluginError> {
        let (name, signature) = kind.entry_point();
        let script = &self.script.name;
        let arities: Vec<usize> = self
            .script
            .ast
            .iter_functions()
            .filter(|f| f.name == name)
            .map(|f| f.params.len())
            .collect();
        if arities.contains(&kind.arity()) {
            return None;
        }
        let message = match arities.first() {
            None => format!(
                "{script} defines no `{signature}`; {} needs one",
                kind.describe()
            ),
            Some(n) => format!(
                "{script} defines `fn {name}` with {n} parameter{}; {} needs `{signature}`",
                if *n == 1 { "" } else { "s" },
                kind.describe()
            ),
        };
        Some(PluginError::InvalidConfig(vec![ConfigError {
            key: "script".into(),
            message,
        }]))
    }

    fn has_prepare(&self) -> bool {
        self.script
            .ast
            .iter_functions()
            .any(|f| f.name == "prepare" && f.params.is_empty())
    }

    /// Calls `function` with `args` (made on the script's thread, since session and hooks
    /// values live there) and hands the result to `finish`.
    async fn call<T, A, F>(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
        function: &'static str,
        args: A,
        finish: F,
    ) -> Result<T, PluginError>
    where
        T: Send + 'static,
        A: FnOnce() -> Vec<Dynamic> + Send + 'static,
        F: FnOnce(Dynamic) -> Result<T, PluginError> + Send + 'static,
    {
        let config: serde_json::Value = serde_json::from_str(config)
            .map_err(|e| PluginError::failed(format!("{}: config: {e}", self.script.name)))?;
        let cancel = caps.cancel.child_token();
        let ctx = Arc::new(CallContext::new(
            Arc::clone(caps),
            self.script.name.clone(),
            cancel.clone(),
            self.limits.time_limit,
        )?);
        let script = Arc::clone(&self.script);
        let limits = self.limits.clone();
        tracing::debug!(script = %script.name, function, "rhai: calling");
        on_script_thread(&self.script.name, cancel, move || {
            let sources = Arc::new(Sources::new(&script.name, Arc::clone(&script.text)));
            let engine = sandbox::engine(
                &limits,
                &ctx,
                &sources,
                values::script_config(&config),
                values::build_map(&ctx.caps.build),
            );
            let mut scope = Scope::new();
            let result = engine.call_fn_with_options::<Dynamic>(
                CallFnOptions::new(),
                &mut scope,
                &script.ast,
                function,
                args(),
            );
            match result {
                Ok(value) => finish(value),
                Err(e) => Err(Failure {
                    ctx: &ctx,
                    sources: &sources,
                    limits: &limits,
                    thrown_is_config: function == "prepare",
                }
                .convert(e)),
            }
        })
        .await
    }

    async fn prepare_as(
        &self,
        kind: Kind,
        config: &str,
        caps: &Arc<Capabilities>,
    ) -> Result<Vec<String>, PluginError> {
        if let Some(e) = self.missing_entry_point(kind) {
            return Err(e);
        }
        if !self.has_prepare() {
            return Ok(Vec::new());
        }
        let name = self.script.name.clone();
        self.call(config, caps, "prepare", Vec::new, move |value| {
            values::warnings_from(&value).map_err(|t| PluginError::Failed(format!("{name}: {t}")))
        })
        .await
    }
}

impl std::fmt::Debug for RhaiPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RhaiPlugin")
            .field("script", &self.script.name)
            .field("limits", &self.limits)
            .finish()
    }
}

#[async_trait]
impl Provisioner for RhaiPlugin {
    async fn prepare(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
    ) -> Result<Vec<String>, PluginError> {
        self.prepare_as(Kind::Provisioner, config, caps).await
    }

    async fn provision(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
        session: Arc<dyn Session>,
        data: &[(String, String)],
    ) -> Result<(), PluginError> {
        if let Some(e) = self.missing_entry_point(Kind::Provisioner) {
            return Err(e);
        }
        let data = data.to_vec();
        let args = move || {
            vec![
                Dynamic::from(ScriptSession(session)),
                values::data_map(&data),
            ]
        };
        self.call(config, caps, "provision", args, |_| Ok(())).await
    }
}

#[async_trait]
impl PostProcessor for RhaiPlugin {
    async fn prepare(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
    ) -> Result<Vec<String>, PluginError> {
        self.prepare_as(Kind::PostProcessor, config, caps).await
    }

    async fn post_process(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
        input: &Artifact,
    ) -> Result<Processed, PluginError> {
        if let Some(e) = self.missing_entry_point(Kind::PostProcessor) {
            return Err(e);
        }
        let input = input.clone();
        let name = self.script.name.clone();
        self.call(
            config,
            caps,
            "post_process",
            move || vec![values::artifact_map(&input)],
            move |value| {
                values::processed_from(&value)
                    .map_err(|t| PluginError::Failed(format!("{name}: {t}")))
            },
        )
        .await
    }
}

#[async_trait]
impl Builder for RhaiPlugin {
    async fn prepare(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
    ) -> Result<Vec<String>, PluginError> {
        self.prepare_as(Kind::Builder, config, caps).await
    }

    async fn run(&self, config: &str, caps: &Arc<Capabilities>) -> Result<Artifact, PluginError> {
        if let Some(e) = self.missing_entry_point(Kind::Builder) {
            return Err(e);
        }
        let name = self.script.name.clone();
        self.call(
            config,
            caps,
            "run",
            || vec![Dynamic::from(Hooks)],
            move |value| {
                values::artifact_from(&value, "the artifact run returned")
                    .map_err(|t| PluginError::Failed(format!("{name}: {t}")))
            },
        )
        .await
    }
}
