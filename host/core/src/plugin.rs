//! What a plugin is to the build: the three kinds Packer has (builder, provisioner,
//! post-processor), the values that cross the boundary, and the error every call can return.
//!
//! These traits are implemented by the runtimes (`kiln-wasm` for components, `kiln-rhai` for
//! scripts); the orchestrator ([`crate::pipeline`]) calls them and hands each call the build's
//! [`Capabilities`], the only way a plugin reaches the world.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::capabilities::Capabilities;
use crate::session::Session;

/// The build a call is made for (mirrors `build-info` in the WIT contract).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    pub name: String,
    pub builder_type: String,
    /// Shared by every build of one run; Packer's `PACKER_RUN_UUID`.
    pub run_id: String,
    /// Readable by plugins.
    pub template_dir: PathBuf,
    /// Writable by plugins: where relative output paths resolve (the working directory).
    pub output_dir: PathBuf,
    /// A scratch directory private to the build, writable, removed when the build ends.
    pub temp_dir: PathBuf,
    pub force: bool,
    pub debug: bool,
}

/// What a builder or post-processor produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artifact {
    /// Identifies the producer (`fnoeding.null`, `transcend.qemu`); vagrant picks its provider
    /// from it, as Packer's does.
    pub builder_id: String,
    pub id: String,
    /// The sentence shown in the end-of-run summary.
    pub description: String,
    /// Host paths.
    pub files: Vec<String>,
    /// Generated data (`ImageSha256`, `SSHPublicKey`, ...).
    pub data: Vec<(String, String)>,
}

/// A post-processor's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Processed {
    pub artifact: Artifact,
    /// Whether the input is kept unless the user's `keep_input_artifact` says otherwise.
    pub keep_input: bool,
    /// Keep the input whatever the user said (manifest, vagrant).
    pub force_keep: bool,
}

/// One problem with a config, naming its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

/// Why a plugin call failed (mirrors `error` in the WIT contract, plus the runtime's own
/// failures: a crash, a limit).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    #[error("{}", describe_config_errors(.0))]
    InvalidConfig(Vec<ConfigError>),
    #[error("denied: {0}")]
    Denied(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
    /// The plugin trapped, ran out of memory or time, or could not be instantiated.
    #[error("{0}")]
    Crashed(String),
}

impl PluginError {
    pub fn failed(text: impl Into<String>) -> Self {
        PluginError::Failed(text.into())
    }

    /// The answer of a capability whose host side is not built yet.
    pub fn not_available(what: &str) -> Self {
        PluginError::Failed(format!("{what} is not available in this version of kiln"))
    }
}

fn describe_config_errors(errors: &[ConfigError]) -> String {
    match errors {
        [] => "invalid configuration".to_owned(),
        [one] => config_error_line(one),
        many => {
            let lines: Vec<String> = many
                .iter()
                .map(|e| format!("  * {}", config_error_line(e)))
                .collect();
            format!("{} configuration errors:\n{}", many.len(), lines.join("\n"))
        }
    }
}

fn config_error_line(e: &ConfigError) -> String {
    if e.key.is_empty() {
        e.message.clone()
    } else {
        format!("{}: {}", e.key, e.message)
    }
}

/// Builders' step logic.
#[async_trait]
pub trait Builder: Send + Sync {
    /// Checks the config: the warnings, or every error found.
    async fn prepare(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
    ) -> Result<Vec<String>, PluginError>;
    /// Creates the machine, connects, asks the host to provision, shuts down.
    async fn run(&self, config: &str, caps: &Arc<Capabilities>) -> Result<Artifact, PluginError>;
}

#[async_trait]
pub trait Provisioner: Send + Sync {
    async fn prepare(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
    ) -> Result<Vec<String>, PluginError>;
    /// Provisions over the build's session; `data` is the builder's generated data.
    async fn provision(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
        session: Arc<dyn Session>,
        data: &[(String, String)],
    ) -> Result<(), PluginError>;
}

#[async_trait]
pub trait PostProcessor: Send + Sync {
    async fn prepare(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
    ) -> Result<Vec<String>, PluginError>;
    async fn post_process(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
        input: &Artifact,
    ) -> Result<Processed, PluginError>;
}

/// What kind of plugin a template entry asks for.
pub use crate::catalog::ComponentKind;

/// Finds the plugin for a template `type` (first-party components, Rhai scripts, plugins on
/// `KILN_PLUGIN_PATH`). `config` is the entry's config, for types that name their code in it
/// (`{"type": "rhai", "script": "x.rhai"}`).
pub trait PluginSource: Send + Sync {
    fn builder(
        &self,
        type_name: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Builder>, PluginError>;
    fn provisioner(
        &self,
        type_name: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Provisioner>, PluginError>;
    fn post_processor(
        &self,
        type_name: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn PostProcessor>, PluginError>;
    /// Whether a plugin implements this type in this version (`kiln validate` checks the
    /// configs of those it can, and only the structure of the rest).
    fn provides(&self, kind: ComponentKind, type_name: &str) -> bool;
    /// Where a type's code comes from, as the policy judges it: kiln's own, a third-party
    /// component (its sha256 and source), or a Rhai script of the template.
    fn origin(
        &self,
        kind: ComponentKind,
        type_name: &str,
        config: &serde_json::Value,
    ) -> Result<kiln_policy::Origin, PluginError>;
}
