//! Runs a [`Plan`]: every build at once (up to `parallel`), each one its builder, the
//! provisioners the builder asks for, then the post-processor chains, as Packer does. Every
//! plugin call gets the build's [`Capabilities`]; whatever the build opened is released from
//! its [`Ledger`] when it ends, however it ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use kiln_template::duration::humanize;
use kiln_template::interpolate::Globals;
use kiln_template::key_path::KeyPath;

use crate::capabilities::{BuildHooks, Capabilities, Grant};
use crate::catalog::ComponentKind;
use crate::ledger::{Ledger, Outcome};
use crate::plan::{Plan, PlannedBuild, PlannedPostProcessor, PlannedProvisioner};
use crate::plugin::{
    Artifact, BuildInfo, Builder, ConfigError, PluginError, PluginSource, PostProcessor,
    Provisioner,
};
use crate::session::Session;
use crate::ui::{BuildLog, Ui};

/// `--on-error`: what a failed build does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Run the error-cleanup-provisioner, then release everything (Packer's default).
    Cleanup,
    /// Release nothing but processes: artifacts and machines stay for inspection.
    Abort,
    /// Ask on the terminal: clean up, abort, or retry the failed step; without a terminal,
    /// clean up.
    Ask,
    /// Run the error-cleanup-provisioner, then leave everything else as `Abort` does.
    RunCleanupProvisioner,
}

/// How a run goes, beyond the plan.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub on_error: OnError,
    /// Builds at once; 0 is no limit.
    pub parallel: usize,
    pub debug: bool,
    pub force: bool,
    pub template_dir: PathBuf,
    pub output_dir: PathBuf,
    pub run_id: String,
    /// `kiln validate`: only prepare every component (all config errors at once); nothing runs.
    /// Types with no plugin in this version are skipped rather than reported.
    pub prepare_only: bool,
    /// The effective policy (kiln-policy): what each plugin is granted, and which may run.
    pub policy: Arc<kiln_policy::EffectivePolicy>,
}

/// How one build ended.
#[derive(Debug)]
pub struct BuildReport {
    pub name: String,
    pub duration: Duration,
    pub result: Result<Vec<Artifact>, BuildError>,
}

/// A failed build: which step, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {error}")]
pub struct BuildError {
    /// `builders[0] (null)`, `provisioners[2] (shell-local)`, `post-processors[0][1] (checksum)`.
    pub step: String,
    pub error: PluginError,
    /// Where the failing component is written in the template (`provisioners[2]`).
    pub path: Option<KeyPath>,
    /// Further errors found together with this one (every component's config is checked
    /// before anything runs).
    pub also: Vec<BuildError>,
}

impl BuildError {
    fn new(step: impl Into<String>, path: Option<&KeyPath>, error: PluginError) -> Self {
        BuildError {
            step: step.into(),
            error,
            path: path.cloned(),
            also: Vec::new(),
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.error == PluginError::Cancelled
    }
}

/// Runs every build of `plan`; one report per build, in plan order.
pub async fn run(
    plan: &Plan,
    source: Arc<dyn PluginSource>,
    ui: Arc<dyn Ui>,
    globals: Arc<Globals>,
    options: RunOptions,
    cancel: CancellationToken,
) -> Vec<BuildReport> {
    let parallel = if options.debug || plan.builds.len() <= 1 {
        1
    } else if options.parallel == 0 {
        plan.builds.len()
    } else {
        options.parallel
    };
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, build) in plan.builds.iter().enumerate() {
        let runner = BuildRunner {
            build: build.clone(),
            source: Arc::clone(&source),
            log: BuildLog::new(Arc::clone(&ui), build.name.clone()),
            globals: Arc::clone(&globals),
            options: options.clone(),
            cancel: cancel.clone(),
            aborted: Arc::default(),
        };
        let gate = Arc::clone(&gate);
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let started = Instant::now();
            let result = runner.run().await;
            (
                index,
                BuildReport {
                    name: runner.build.name.clone(),
                    duration: started.elapsed(),
                    result,
                },
            )
        });
    }
    let mut reports: Vec<Option<BuildReport>> = plan.builds.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, report)) => reports[index] = Some(report),
            Err(e) => tracing::error!("a build task failed: {e}"),
        }
    }
    reports
        .into_iter()
        .zip(&plan.builds)
        .map(|(report, build)| {
            report.unwrap_or_else(|| BuildReport {
                name: build.name.clone(),
                duration: Duration::ZERO,
                result: Err(BuildError::new(
                    "build",
                    None,
                    PluginError::failed("the build stopped unexpectedly"),
                )),
            })
        })
        .collect()
}

/// What the user chose after a failed step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Cleanup,
    Abort,
    Retry,
}

struct BuildRunner {
    build: PlannedBuild,
    source: Arc<dyn PluginSource>,
    log: BuildLog,
    globals: Arc<Globals>,
    options: RunOptions,
    cancel: CancellationToken,
    /// Set when a failure was decided as "abort" (by the mode, or the user at `ask`).
    aborted: Arc<std::sync::atomic::AtomicBool>,
}

/// A provisioner ready to run: its plan entry, its config as the plugin receives it, and its
/// plugin.
struct ReadyProvisioner {
    planned: PlannedProvisioner,
    config: String,
    plugin: Arc<dyn Provisioner>,
    grant: Grant,
}

impl ReadyProvisioner {
    fn step(&self) -> String {
        provisioner_step(&self.planned)
    }

    fn fail(&self, error: PluginError) -> BuildError {
        BuildError::new(self.step(), Some(&self.planned.path), error)
    }
}

/// `provisioners[2] (shell-local)`: where the template writes it, and its type.
fn provisioner_step(p: &PlannedProvisioner) -> String {
    format!("{} ({})", p.path, p.provisioner_type)
}

fn post_processor_step(pp: &PlannedPostProcessor) -> String {
    format!("{} ({})", pp.path, pp.post_processor_type)
}

struct ReadyPostProcessor {
    planned: PlannedPostProcessor,
    config: String,
    plugin: Arc<dyn PostProcessor>,
    grant: Grant,
}

impl ReadyPostProcessor {
    fn step(&self) -> String {
        post_processor_step(&self.planned)
    }

    fn fail(&self, error: PluginError) -> BuildError {
        BuildError::new(self.step(), Some(&self.planned.path), error)
    }
}

impl BuildRunner {
    /// What the policy grants this component, or why it may not run at all.
    fn grant(
        &self,
        kind: ComponentKind,
        type_name: &str,
        config: &serde_json::Value,
        temp_dir: &std::path::Path,
    ) -> Result<Grant, PluginError> {
        let identity = kiln_policy::PluginIdentity {
            kind: match kind {
                ComponentKind::Builder => kiln_policy::PluginKind::Builder,
                ComponentKind::Provisioner => kiln_policy::PluginKind::Provisioner,
                ComponentKind::PostProcessor => kiln_policy::PluginKind::PostProcessor,
            },
            type_name: type_name.to_owned(),
            origin: self.source.origin(kind, type_name, config)?,
        };
        match self.options.policy.admits(&identity) {
            kiln_policy::Decision::Deny(denial) => {
                return Err(PluginError::Denied(format!(
                    "{} {} {} ({}): {} {type_name} may not run",
                    denial.what,
                    denial.relation,
                    denial.rule,
                    denial.source,
                    kind.noun()
                )));
            }
            kiln_policy::Decision::AuditDenied(denial) => self.log.error(&format!(
                "audit: {denial}; {} {type_name} runs because the policy's mode is \"audit\"",
                kind.noun()
            )),
            kiln_policy::Decision::Allow => {}
        }
        // Real paths, so a check on a resolved path and the grant agree.
        let real =
            |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let ctx = kiln_policy::Context {
            template_dir: real(&self.options.template_dir),
            output_dir: real(&self.options.output_dir),
            temp_dir: real(temp_dir),
        };
        Ok(self.options.policy.grant_for(&identity, &ctx))
    }

    async fn run(&self) -> Result<Vec<Artifact>, BuildError> {
        let ledger = Arc::new(Ledger::new());
        let result = self.run_with(&ledger).await;
        let aborted = self.aborted.load(std::sync::atomic::Ordering::Relaxed);
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(e) if e.is_cancelled() => Outcome::Failure,
            Err(_) if aborted => Outcome::Abort,
            Err(_) => Outcome::Failure,
        };
        if outcome == Outcome::Abort {
            self.log
                .say("Aborting: leaving the build's artifacts in place (--on-error)");
        }
        let released = ledger.release(outcome).await;
        if !released.is_empty() {
            self.log
                .debug(&format!("released: {}", released.join("; ")));
        }
        result
    }

    async fn run_with(&self, ledger: &Arc<Ledger>) -> Result<Vec<Artifact>, BuildError> {
        let temp_dir = make_temp_dir(&self.build.name).map_err(|e| {
            BuildError::new(
                "build",
                None,
                PluginError::failed(format!("cannot create a temporary directory: {e}")),
            )
        })?;
        ledger.record_temp_dir(temp_dir.clone());
        let info = BuildInfo {
            name: self.build.name.clone(),
            builder_type: self.build.builder_type.clone(),
            run_id: self.options.run_id.clone(),
            template_dir: self.options.template_dir.clone(),
            output_dir: self.options.output_dir.clone(),
            temp_dir: temp_dir.clone(),
            force: self.options.force,
            debug: self.options.debug,
        };
        let builder_step = format!("{} ({})", self.build.path, self.build.builder_type);
        let fail = |step: &str, path: &KeyPath, error: PluginError| {
            BuildError::new(step, Some(path), error)
        };
        let prepare_only = self.options.prepare_only;
        let available = |kind: ComponentKind, type_name: &str| {
            !prepare_only || self.source.provides(kind, type_name)
        };
        let caps_for = |grant: Grant| {
            Capabilities::new(
                info.clone(),
                self.log.clone(),
                Arc::clone(ledger),
                grant,
                self.cancel.clone(),
                Arc::clone(&self.globals),
            )
        };

        // Find and prepare every component first, so config errors of all of them are
        // reported before anything runs (Packer prepares all of a build's components first).
        let builder_grant = self
            .grant(
                ComponentKind::Builder,
                &self.build.builder_type,
                &self.build.config,
                &temp_dir,
            )
            .map_err(|error| fail(&builder_step, &self.build.path, error))?;
        let mut errors = Vec::new();
        let builder_config = self.build.config.to_string();
        let builder: Option<Arc<dyn Builder>> =
            if available(ComponentKind::Builder, &self.build.builder_type) {
                let builder = self
                    .source
                    .builder(&self.build.builder_type, &self.build.config)
                    .map_err(|error| fail(&builder_step, &self.build.path, error))?;
                let builder_caps = Arc::new(caps_for(builder_grant.clone()));
                let prepared = self
                    .cancellable(builder.prepare(&builder_config, &builder_caps))
                    .await;
                match with_key_file_errors(prepared, &self.build.config, &builder_caps) {
                    Ok(warnings) => self.warn(&warnings),
                    Err(error) => errors.push(fail(&builder_step, &self.build.path, error)),
                }
                Some(builder)
            } else {
                None
            };
        let mut provisioners = Vec::new();
        let mut cleanup = None;
        let planned = (self.build.provisioners.iter().map(|p| (false, p))).chain(
            self.build
                .error_cleanup_provisioner
                .iter()
                .map(|p| (true, p)),
        );
        for (is_cleanup, p) in planned {
            if !available(ComponentKind::Provisioner, &p.provisioner_type) {
                continue;
            }
            let ready_step = provisioner_step(p);
            let grant = match self.grant(
                ComponentKind::Provisioner,
                &p.provisioner_type,
                &p.config,
                &temp_dir,
            ) {
                Ok(grant) => grant,
                Err(error) => {
                    errors.push(fail(&ready_step, &p.path, error));
                    continue;
                }
            };
            let config = p.config.to_string();
            let plugin = match self.source.provisioner(&p.provisioner_type, &p.config) {
                Ok(plugin) => plugin,
                Err(error) => {
                    errors.push(fail(&ready_step, &p.path, error));
                    continue;
                }
            };
            let caps = Arc::new(caps_for(grant.clone()));
            match self.cancellable(plugin.prepare(&config, &caps)).await {
                Ok(warnings) => self.warn(&warnings),
                Err(error) => errors.push(fail(&ready_step, &p.path, error)),
            }
            let ready = ReadyProvisioner {
                planned: p.clone(),
                config,
                plugin,
                grant,
            };
            if is_cleanup {
                cleanup = Some(ready);
            } else {
                provisioners.push(ready);
            }
        }
        let mut chains: Vec<Vec<ReadyPostProcessor>> = Vec::new();
        for chain in &self.build.post_processor_chains {
            let mut ready = Vec::new();
            for pp in chain {
                if !available(ComponentKind::PostProcessor, &pp.post_processor_type) {
                    continue;
                }
                let step = post_processor_step(pp);
                let grant = match self.grant(
                    ComponentKind::PostProcessor,
                    &pp.post_processor_type,
                    &pp.config,
                    &temp_dir,
                ) {
                    Ok(grant) => grant,
                    Err(error) => {
                        errors.push(fail(&step, &pp.path, error));
                        continue;
                    }
                };
                let config = pp.config.to_string();
                let plugin = match self
                    .source
                    .post_processor(&pp.post_processor_type, &pp.config)
                {
                    Ok(plugin) => plugin,
                    Err(error) => {
                        errors.push(fail(&step, &pp.path, error));
                        continue;
                    }
                };
                let caps = Arc::new(caps_for(grant.clone()));
                match self.cancellable(plugin.prepare(&config, &caps)).await {
                    Ok(warnings) => self.warn(&warnings),
                    Err(error) => errors.push(fail(&step, &pp.path, error)),
                }
                ready.push(ReadyPostProcessor {
                    planned: pp.clone(),
                    config,
                    plugin,
                    grant,
                });
            }
            chains.push(ready);
        }
        if !errors.is_empty() {
            let mut first = errors.remove(0);
            first.also = errors;
            return Err(first);
        }
        if prepare_only {
            return Ok(Vec::new());
        }
        let Some(builder) = builder else {
            return Err(fail(
                &builder_step,
                &self.build.path,
                PluginError::failed("no builder plugin"),
            ));
        };

        // The builder runs; it calls back into `ProvisionHook` when the machine is reachable.
        let hook = Arc::new(ProvisionHook {
            runner: self.clone_shallow(),
            provisioners,
            cleanup,
            failure: std::sync::Mutex::new(None),
        });
        let run_caps = Arc::new(caps_for(builder_grant).with_hooks(Arc::clone(&hook) as _));
        let artifact = loop {
            match self
                .cancellable(builder.run(&builder_config, &run_caps))
                .await
            {
                Ok(artifact) => break artifact,
                Err(error) => {
                    // A provisioner's failure surfaces through the builder; report it as the
                    // provisioner's.
                    let failed = hook.failure.lock().ok().and_then(|mut f| f.take());
                    let failure =
                        failed.unwrap_or_else(|| fail(&builder_step, &self.build.path, error));
                    if failure.is_cancelled() || failure.step != builder_step {
                        return Err(failure);
                    }
                    match self.decide(&failure).await {
                        Decision::Retry => continue,
                        Decision::Cleanup | Decision::Abort => return Err(failure),
                    }
                }
            }
        };
        self.pause("Pausing after the builder. Press enter to continue.");

        // Post-processor chains, each starting from the builder's artifact.
        let mut artifacts = Vec::new();
        let mut keep_builder_artifact = chains.is_empty();
        for chain in &chains {
            let mut prior = artifact.clone();
            for (position, pp) in chain.iter().enumerate() {
                self.log.say(&format!(
                    "Running post-processor: {}",
                    pp.planned.post_processor_type
                ));
                let caps = Arc::new(caps_for(pp.grant.clone()));
                let processed = loop {
                    let call = pp.plugin.post_process(&pp.config, &caps, &prior);
                    match self.cancellable(call).await {
                        Ok(processed) => break processed,
                        Err(error) => {
                            let failure = pp.fail(error);
                            if failure.is_cancelled() {
                                return Err(failure);
                            }
                            match self.decide(&failure).await {
                                Decision::Retry => continue,
                                _ => return Err(failure),
                            }
                        }
                    }
                };
                // Packer's rule: the plugin's default, unless the user set
                // keep_input_artifact and the plugin does not force keeping.
                let keep = match pp.planned.keep_input_artifact {
                    Some(user) if !processed.force_keep => user,
                    Some(false) => {
                        self.log.message(&format!(
                            "{}: keep_input_artifact is ignored: this post-processor always keeps its input",
                            pp.step()
                        ));
                        true
                    }
                    _ => processed.keep_input || processed.force_keep,
                };
                if position == 0 {
                    keep_builder_artifact |= keep;
                } else if keep {
                    artifacts.push(prior.clone());
                } else {
                    destroy(&prior, &artifact, &self.log).await;
                }
                prior = processed.artifact;
            }
            artifacts.push(prior);
        }
        if keep_builder_artifact {
            artifacts.insert(0, artifact);
        } else {
            destroy(&artifact, &Artifact::default(), &self.log).await;
        }
        Ok(artifacts)
    }

    fn clone_shallow(&self) -> BuildRunner {
        BuildRunner {
            build: self.build.clone(),
            source: Arc::clone(&self.source),
            log: self.log.clone(),
            globals: Arc::clone(&self.globals),
            options: self.options.clone(),
            cancel: self.cancel.clone(),
            aborted: Arc::clone(&self.aborted),
        }
    }

    fn warn(&self, warnings: &[String]) {
        for w in warnings {
            self.log.message(&format!("Warning: {w}"));
        }
    }

    /// Runs a plugin call unless the build is cancelled first.
    async fn cancellable<T>(
        &self,
        call: impl Future<Output = Result<T, PluginError>>,
    ) -> Result<T, PluginError> {
        tokio::select! {
            result = call => result,
            () = self.cancel.cancelled() => Err(PluginError::Cancelled),
        }
    }

    /// `--debug`: waits for enter on the terminal; skipped silently without one (as Packer).
    fn pause(&self, text: &str) {
        if self.options.debug {
            let _ = self.log.ask(text);
        }
    }

    /// `--on-error=ask` asks; every other mode decides by itself.
    async fn decide(&self, failure: &BuildError) -> Decision {
        let decision = self.decision(failure).await;
        if decision == Decision::Abort {
            self.aborted
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        decision
    }

    async fn decision(&self, failure: &BuildError) -> Decision {
        match self.options.on_error {
            OnError::Cleanup => Decision::Cleanup,
            OnError::Abort | OnError::RunCleanupProvisioner => Decision::Abort,
            OnError::Ask => {
                self.log.error(&format!(
                    "Step {:?} failed: {}",
                    failure.step, failure.error
                ));
                let log = self.log.clone();
                loop {
                    let asked = log.clone();
                    let answer = tokio::task::spawn_blocking(move || {
                        asked.ask("[c] Clean up and exit, [a] abort without cleanup, or [r] retry step (build may fail even if retry succeeds)?")
                    })
                    .await
                    .ok()
                    .flatten();
                    match answer.as_deref().map(str::trim) {
                        None => {
                            log.message("No terminal to ask on: cleaning up");
                            return Decision::Cleanup;
                        }
                        Some("c") => return Decision::Cleanup,
                        Some("a") => return Decision::Abort,
                        Some("r") => return Decision::Retry,
                        Some(other) => log.error(&format!("Incorrect input: {other:?}")),
                    }
                }
            }
        }
    }
}

/// Removes an intermediate artifact's files (not those it shares with `keep`).
async fn destroy(artifact: &Artifact, keep: &Artifact, log: &BuildLog) {
    for file in &artifact.files {
        if keep.files.contains(file) {
            continue;
        }
        let path = std::path::Path::new(file);
        let removed = match tokio::fs::symlink_metadata(path).await {
            Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(path).await,
            Ok(_) => tokio::fs::remove_file(path).await,
            Err(_) => Ok(()),
        };
        if let Err(e) = removed {
            log.error(&format!("could not remove {file}: {e}"));
        }
    }
}

/// The communicator's key files are read by the host, never by the builder plugin (it cannot
/// see them), so the host checks they can be read, beside the plugin's own config errors.
fn with_key_file_errors(
    prepared: Result<Vec<String>, PluginError>,
    config: &serde_json::Value,
    caps: &Capabilities,
) -> Result<Vec<String>, PluginError> {
    let Ok(options) = serde_json::from_value::<kiln_ssh::Options>(config.clone()) else {
        return prepared;
    };
    let unreadable: Vec<ConfigError> = options
        .unreadable_files(&|p: &str| caps.resolve(p))
        .into_iter()
        .map(|(key, message)| ConfigError { key, message })
        .collect();
    match prepared {
        _ if unreadable.is_empty() => prepared,
        Err(PluginError::InvalidConfig(mut list)) => {
            list.extend(unreadable);
            Err(PluginError::InvalidConfig(list))
        }
        Ok(_) => Err(PluginError::InvalidConfig(unreadable)),
        Err(other) => Err(other),
    }
}

fn make_temp_dir(build: &str) -> std::io::Result<PathBuf> {
    let safe: String = build
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let dir = tempfile::Builder::new()
        .prefix(&format!("kiln-{safe}-"))
        .tempdir()?;
    Ok(dir.keep())
}

/// The provisioner chain a builder runs through `build-hooks.provision`.
struct ProvisionHook {
    runner: BuildRunner,
    provisioners: Vec<ReadyProvisioner>,
    cleanup: Option<ReadyProvisioner>,
    /// The provisioner failure, kept so the build reports the provisioner rather than the
    /// builder that relayed it.
    failure: std::sync::Mutex<Option<BuildError>>,
}

impl ProvisionHook {
    async fn run_one(
        &self,
        p: &ReadyProvisioner,
        caps: &Arc<Capabilities>,
        session: &Arc<dyn Session>,
        data: &[(String, String)],
    ) -> Result<(), PluginError> {
        let runner = &self.runner;
        let pcaps = Arc::new(caps.for_plugin(p.grant.clone()));
        let mut attempt = 0;
        loop {
            let call = p
                .plugin
                .provision(&p.config, &pcaps, Arc::clone(session), data);
            let result = match p.planned.timeout {
                Some(limit) => match tokio::time::timeout(limit, runner.cancellable(call)).await {
                    Ok(r) => r,
                    Err(_) => Err(PluginError::Timeout(format!(
                        "the provisioner did not finish within its timeout of {}",
                        humanize(limit)
                    ))),
                },
                None => runner.cancellable(call).await,
            };
            match result {
                Err(e) if e != PluginError::Cancelled && attempt < p.planned.max_retries => {
                    attempt += 1;
                    runner.log.error(&format!(
                        "{}: {e}; retrying ({attempt} of {})",
                        p.step(),
                        p.planned.max_retries
                    ));
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl BuildHooks for ProvisionHook {
    async fn provision(
        &self,
        caps: &Arc<Capabilities>,
        session: Arc<dyn Session>,
        data: &[(String, String)],
    ) -> Result<(), PluginError> {
        let runner = &self.runner;
        for p in &self.provisioners {
            runner.pause("Pausing before the next provisioner. Press enter to continue.");
            if let Some(pause) = p.planned.pause_before {
                runner.log.say(&format!(
                    "Pausing {} before the next provisioner...",
                    humanize(pause)
                ));
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = runner.cancel.cancelled() => return Err(PluginError::Cancelled),
                }
            }
            runner.log.say(&format!(
                "Provisioning with {}...",
                p.planned.provisioner_type
            ));
            loop {
                let Err(error) = self.run_one(p, caps, &session, data).await else {
                    break;
                };
                let failure = p.fail(error);
                if failure.is_cancelled() {
                    return Err(self.remember(failure));
                }
                let decision = runner.decide(&failure).await;
                // `run-cleanup-provisioner` aborts, but runs the cleanup provisioner first.
                let run_cleanup = decision == Decision::Cleanup
                    || runner.options.on_error == OnError::RunCleanupProvisioner;
                match decision {
                    Decision::Retry => continue,
                    _ if !run_cleanup => return Err(self.remember(failure)),
                    _ => {
                        if let Some(cleanup) = &self.cleanup {
                            runner.log.say(
                                "Provisioning step had errors: Running the cleanup provisioner, if present...",
                            );
                            if let Err(e) = self.run_one(cleanup, caps, &session, data).await {
                                runner.log.error(&format!("{}: {e}", cleanup.step()));
                            }
                        }
                        return Err(self.remember(failure));
                    }
                }
            }
        }
        Ok(())
    }
}

impl ProvisionHook {
    fn remember(&self, failure: BuildError) -> PluginError {
        let error = failure.error.clone();
        if let Ok(mut slot) = self.failure.lock() {
            *slot = Some(failure);
        }
        error
    }
}
