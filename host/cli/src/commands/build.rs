//! `kiln build`: plans exactly as `validate` does, then runs every build through its plugins,
//! prints Packer's end-of-run summary, and exits 1 when any build failed.

use std::sync::Arc;
use std::time::Instant;

use kiln_core::pipeline::{BuildReport, OnError as CoreOnError, RunOptions};
use kiln_core::ui::Ui as _;
use kiln_template::duration::humanize;

use super::Env;
use crate::build_ui::BuildUi;
use crate::cli::{BuildArgs, OnError};
use crate::error::CliError;
use crate::execute;
use crate::plugins;

pub fn run(env: &Env, args: &BuildArgs) -> Result<(), CliError> {
    let discovered = plugins::discover()?;
    let catalog = plugins::catalog(&discovered);
    let planned = super::plan(env, &args.template, &args.selection, &catalog)?;
    if args.debug {
        env.ui
            .say("Debug mode enabled. Builds will not be parallelized.");
    }
    let policy = execute::policy(&planned.template_dir, &args.allow_local_exec)?;
    let names: Vec<String> = planned.plan.builds.iter().map(|b| b.name.clone()).collect();
    let ui = Arc::new(BuildUi::new(env.ui, args.timestamp_ui, names));
    ui.announce_builds();
    let options = RunOptions {
        on_error: match args.on_error {
            OnError::Cleanup => CoreOnError::Cleanup,
            OnError::Abort => CoreOnError::Abort,
            OnError::Ask => CoreOnError::Ask,
            OnError::RunCleanupProvisioner => CoreOnError::RunCleanupProvisioner,
        },
        parallel: args.parallel_builds,
        debug: args.debug,
        force: args.force,
        template_dir: planned.template_dir.clone(),
        output_dir: execute::output_dir()?,
        run_id: uuid::Uuid::new_v4().to_string(),
        prepare_only: false,
        policy,
    };
    let started = Instant::now();
    let ran = execute::run(&planned, discovered, Arc::clone(&ui), options)?;
    summarize(&ui, &ran.reports, started.elapsed(), ran.cancelled);
    if ran.reports.iter().any(|r| r.result.is_err()) {
        // Each failure was reported above; exit 1 without repeating it.
        return Err(CliError::build_reported());
    }
    Ok(())
}

/// Packer's end of run: a line per build, the artifacts, the errors, machine-readable records.
fn summarize(ui: &BuildUi, reports: &[BuildReport], total: std::time::Duration, cancelled: bool) {
    for r in reports {
        match &r.result {
            Ok(_) => ui.build_line(
                &r.name,
                false,
                &format!(
                    "Build '{}' finished after {}.",
                    r.name,
                    humanize(r.duration)
                ),
            ),
            Err(e) => ui.build_line(
                &r.name,
                true,
                &format!(
                    "Build '{}' errored after {}: {e}",
                    r.name,
                    humanize(r.duration)
                ),
            ),
        }
    }
    ui.line("");
    ui.say("", &format!("Wait completed after {}", humanize(total)));
    ui.line("");
    if cancelled {
        ui.error("", "Cleanly cancelled builds after being interrupted.");
        return;
    }
    let failed: Vec<&BuildReport> = reports.iter().filter(|r| r.result.is_err()).collect();
    if !failed.is_empty() {
        ui.error(
            "",
            "Some builds didn't complete successfully and had errors:",
        );
        for r in &failed {
            if let Err(e) = &r.result {
                ui.error_line(&format!("--> {}: {e}", r.name));
                for more in &e.also {
                    ui.error_line(&format!("--> {}: {more}", r.name));
                }
            }
        }
        ui.machine("", "error-count", &[&failed.len().to_string()]);
        for r in &failed {
            if let Err(e) = &r.result {
                ui.machine(&r.name, "error", &[&e.to_string()]);
            }
        }
        ui.line("");
    }
    let successful: Vec<(&str, &kiln_core::plugin::Artifact)> = reports
        .iter()
        .filter_map(|r| r.result.as_ref().ok().map(|a| (r.name.as_str(), a)))
        .flat_map(|(name, list)| list.iter().map(move |a| (name, a)))
        .collect();
    if successful.is_empty() {
        ui.say("", "Builds finished but no artifacts were created.");
    } else {
        ui.say(
            "",
            "Builds finished. The artifacts of successful builds are:",
        );
        for (name, artifact) in &successful {
            ui.line(&format!("--> {name}: {}", artifact.description));
        }
    }
    for r in reports {
        let Ok(artifacts) = &r.result else { continue };
        ui.machine(&r.name, "artifact-count", &[&artifacts.len().to_string()]);
        for (i, a) in artifacts.iter().enumerate() {
            let i = i.to_string();
            ui.machine(&r.name, "artifact", &[&i, "builder-id", &a.builder_id]);
            ui.machine(&r.name, "artifact", &[&i, "id", &a.id]);
            ui.machine(&r.name, "artifact", &[&i, "string", &a.description]);
            ui.machine(
                &r.name,
                "artifact",
                &[&i, "files-count", &a.files.len().to_string()],
            );
            for (j, f) in a.files.iter().enumerate() {
                ui.machine(&r.name, "artifact", &[&i, "file", &j.to_string(), f]);
            }
            ui.machine(&r.name, "artifact", &[&i, "end"]);
        }
    }
}
