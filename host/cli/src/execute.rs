//! Running a plan through the plugin runtime, for `kiln build` (everything) and `kiln validate`
//! (every component's `prepare`): the compiled-component cache, the plugin source, a tokio
//! runtime, and SIGINT/SIGTERM turned into cancellation.

use std::path::PathBuf;
use std::sync::Arc;

use kiln_core::pipeline::{self, BuildReport, RunOptions};
use kiln_core::ui::Ui as _;
use kiln_template::Diagnostic;
use tokio_util::sync::CancellationToken;

use crate::build_ui::BuildUi;
use crate::commands::Planned;
use crate::error::CliError;
use crate::plugins::{self, Discovered, Plugins};

/// How a run ended: a report per build, and whether the user interrupted it.
pub struct Ran {
    pub reports: Vec<BuildReport>,
    pub cancelled: bool,
}

/// The working directory: where relative outputs go, as in Packer.
pub fn output_dir() -> Result<PathBuf, CliError> {
    std::env::current_dir().map_err(|e| {
        CliError::build(Diagnostic::error(format!(
            "cannot read the working directory: {e}"
        )))
    })
}

/// The effective policy for a template in `template_dir`: the system, user and project files
/// (kiln-policy's layers) and `--allow-local-exec`. A bad file is an error naming it.
pub fn policy(
    template_dir: &std::path::Path,
    allow_local_exec: &[String],
) -> Result<Arc<kiln_policy::EffectivePolicy>, CliError> {
    let flags = kiln_policy::Flags {
        allow_local_exec: allow_local_exec.to_vec(),
        mode: None,
    };
    let sources = kiln_policy::Sources::from_env(Some(template_dir)).with_flags(flags);
    kiln_policy::EffectivePolicy::load(&sources)
        .map(Arc::new)
        .map_err(|e| CliError::build(Diagnostic::error(format!("policy: {e}"))))
}

/// Passwords in the builders' communicator settings: redacted from everything shown, though
/// no `sensitive-variables` entry names them (a builder's debug line or an error could quote
/// them).
fn communicator_secrets(planned: &Planned) -> Vec<String> {
    const KEYS: [&str; 3] = ["ssh_password", "ssh_bastion_password", "winrm_password"];
    planned
        .plan
        .builds
        .iter()
        .flat_map(|build| KEYS.iter().filter_map(|k| build.config.get(*k)))
        .filter_map(|v| v.as_str())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs `planned` under `options`, the builds' output going to `ui`.
pub fn run(
    planned: &Planned,
    discovered: Vec<Discovered>,
    ui: Arc<BuildUi>,
    options: RunOptions,
) -> Result<Ran, CliError> {
    crate::secrets::add(communicator_secrets(planned));
    let runtime = kiln_wasm::Runtime::new(plugins::cache_dir()).map_err(|e| {
        CliError::build(Diagnostic::error(format!(
            "cannot start the plugin runtime: {e}"
        )))
    })?;
    let source = Arc::new(Plugins::new(
        Arc::new(runtime),
        discovered,
        planned.template_dir.clone(),
    ));
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::build(Diagnostic::error(format!("cannot start: {e}"))))?;
    let cancel = CancellationToken::new();
    let reports = tokio.block_on(async {
        let interrupted = cancel.clone();
        let signal_ui = Arc::clone(&ui);
        tokio::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            signal_ui.error("", "Cancelling build after receiving interrupt");
            interrupted.cancel();
        });
        pipeline::run(
            &planned.plan,
            source,
            Arc::clone(&ui) as Arc<dyn kiln_core::ui::Ui>,
            Arc::new(planned.globals.clone()),
            options,
            cancel.clone(),
        )
        .await
    });
    Ok(Ran {
        reports,
        cancelled: cancel.is_cancelled(),
    })
}
