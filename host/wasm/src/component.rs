//! Components as kiln plugins: each implements the `kiln-core` trait of its world, and every
//! call runs in a fresh instance under the build's sandbox.

use std::sync::Arc;

use async_trait::async_trait;
use wasmtime::Store;
use wasmtime::component::Instance;

use kiln_core::capabilities::Capabilities;
use kiln_core::plugin::{
    Artifact, BuildInfo, Builder, PluginError, PostProcessor, Processed, Provisioner,
};
use kiln_core::session::Session;

use crate::bindings::builder::BuilderPlugin;
use crate::bindings::builder::kiln::plugin::types as wit;
use crate::bindings::post_processor::PostProcessorPlugin;
use crate::bindings::provisioner::ProvisionerPlugin;
use crate::imports::{SessionHandle, from_wit_error};
use crate::sandbox::StoreState;
use crate::{CallError, CallLimits, Plugin, PluginCall, Runtime, Sandbox};

/// A loaded component and the runtime that runs it; one per template type.
#[derive(Clone)]
pub struct Component {
    runtime: Arc<Runtime>,
    plugin: Arc<Plugin>,
    /// A label for errors (`provisioner shell-local`).
    label: String,
}

impl Component {
    pub fn new(runtime: Arc<Runtime>, plugin: Arc<Plugin>, label: impl Into<String>) -> Self {
        Component {
            runtime,
            plugin,
            label: label.into(),
        }
    }

    /// A fresh instance under the build's sandbox, bound to the exports of one world (`new`
    /// is that world's generated constructor).
    async fn bind<B>(
        &self,
        caps: &Arc<Capabilities>,
        world: &str,
        new: fn(&mut Store<StoreState>, &Instance) -> wasmtime::Result<B>,
    ) -> Result<(PluginCall, B), PluginError> {
        // The policy's limits for this plugin (memory per instance, wall time per call).
        let limits = CallLimits {
            memory_bytes: usize::try_from(caps.grant.limits.memory.value.bytes())
                .unwrap_or(usize::MAX),
            wall_time: caps.grant.limits.wall_time.value,
        };
        let sandbox = Sandbox::for_build(Arc::clone(caps), limits);
        let mut call = self
            .runtime
            .instantiate(&self.plugin, sandbox)
            .await
            .map_err(|e| crashed(&self.label, e))?;
        let (store, instance) = call.parts();
        let bindings = new(store, instance)
            .map_err(|e| PluginError::Crashed(format!("not a {world} component: {e:#}")))?;
        Ok((call, bindings))
    }
}

fn crashed(label: &str, e: CallError) -> PluginError {
    match e {
        CallError::Cancelled => PluginError::Cancelled,
        CallError::Timeout(limit) => PluginError::Timeout(format!(
            "{label} ran longer than its limit of {limit:?} and was stopped"
        )),
        other => PluginError::Crashed(other.to_string()),
    }
}

fn build_info(b: &BuildInfo) -> wit::BuildInfo {
    wit::BuildInfo {
        name: b.name.clone(),
        builder_type: b.builder_type.clone(),
        run_id: b.run_id.clone(),
        template_dir: b.template_dir.display().to_string(),
        output_dir: b.output_dir.display().to_string(),
        temp_dir: b.temp_dir.display().to_string(),
        force: b.force,
        debug: b.debug,
    }
}

fn to_artifact(a: wit::Artifact) -> Artifact {
    Artifact {
        builder_id: a.builder_id,
        id: a.id,
        description: a.description,
        files: a.files,
        data: a.data,
    }
}

fn from_artifact(a: &Artifact) -> wit::Artifact {
    wit::Artifact {
        builder_id: a.builder_id.clone(),
        id: a.id.clone(),
        description: a.description.clone(),
        files: a.files.clone(),
        data: a.data.clone(),
    }
}

/// The outcome of a typed call: a trap or limit becomes `Crashed`/`Timeout`, a plugin's own
/// error is converted.
fn settle<T>(
    label: &str,
    call: &PluginCall,
    result: wasmtime::Result<Result<T, wit::Error>>,
) -> Result<T, PluginError> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(from_wit_error(e)),
        Err(e) => Err(crashed(label, call.classify(e))),
    }
}

#[async_trait]
impl Builder for Component {
    async fn prepare(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
    ) -> Result<Vec<String>, PluginError> {
        let (mut call, bindings) = self
            .bind(caps, "builder", |s, i| BuilderPlugin::new(s, i))
            .await?;
        let store = call.store();
        let result = bindings
            .kiln_plugin_builder()
            .call_prepare(&mut *store, config, &build_info(&caps.build))
            .await;
        settle(&self.label, &call, result)
    }

    async fn run(&self, config: &str, caps: &Arc<Capabilities>) -> Result<Artifact, PluginError> {
        let (mut call, bindings) = self
            .bind(caps, "builder", |s, i| BuilderPlugin::new(s, i))
            .await?;
        let store = call.store();
        let result = bindings
            .kiln_plugin_builder()
            .call_run(&mut *store, config, &build_info(&caps.build))
            .await;
        settle(&self.label, &call, result).map(to_artifact)
    }
}

#[async_trait]
impl Provisioner for Component {
    async fn prepare(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
    ) -> Result<Vec<String>, PluginError> {
        let (mut call, bindings) = self
            .bind(caps, "provisioner", |s, i| ProvisionerPlugin::new(s, i))
            .await?;
        let store = call.store();
        let result = bindings
            .kiln_plugin_provisioner()
            .call_prepare(&mut *store, config, &build_info(&caps.build))
            .await;
        settle(&self.label, &call, result)
    }

    async fn provision(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
        session: Arc<dyn Session>,
        data: &[(String, String)],
    ) -> Result<(), PluginError> {
        let (mut call, bindings) = self
            .bind(caps, "provisioner", |s, i| ProvisionerPlugin::new(s, i))
            .await?;
        let store = call.store();
        let handle = store
            .data_mut()
            .table
            .push(SessionHandle(session))
            .map_err(|e| PluginError::Crashed(e.to_string()))?;
        let result = bindings
            .kiln_plugin_provisioner()
            .call_provision(&mut *store, config, &build_info(&caps.build), handle, data)
            .await;
        settle(&self.label, &call, result)
    }
}

#[async_trait]
impl PostProcessor for Component {
    async fn prepare(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
    ) -> Result<Vec<String>, PluginError> {
        let (mut call, bindings) = self
            .bind(caps, "post-processor", |s, i| {
                PostProcessorPlugin::new(s, i)
            })
            .await?;
        let store = call.store();
        let result = bindings
            .kiln_plugin_post_processor()
            .call_prepare(&mut *store, config, &build_info(&caps.build))
            .await;
        settle(&self.label, &call, result)
    }

    async fn post_process(
        &self,
        config: &str,
        caps: &Arc<Capabilities>,
        input: &Artifact,
    ) -> Result<Processed, PluginError> {
        let (mut call, bindings) = self
            .bind(caps, "post-processor", |s, i| {
                PostProcessorPlugin::new(s, i)
            })
            .await?;
        let store = call.store();
        let result = bindings
            .kiln_plugin_post_processor()
            .call_post_process(
                &mut *store,
                config,
                &build_info(&caps.build),
                &from_artifact(input),
            )
            .await;
        settle(&self.label, &call, result).map(|p| Processed {
            artifact: to_artifact(p.artifact),
            keep_input: p.keep_input,
            force_keep: p.force_keep,
        })
    }
}
