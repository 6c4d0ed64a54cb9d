//! `kiln build`: checks and plans exactly as `validate` does, then runs the builds.

use kiln_template::Diagnostic;

use super::Env;
use crate::cli::BuildArgs;
use crate::error::CliError;

pub fn run(env: &Env, args: &BuildArgs) -> Result<(), CliError> {
    let plan = super::plan(env, &args.template, &args.selection)?;
    if args.debug {
        env.ui
            .say("Debug mode enabled. Builds will not be parallelized.");
    }
    let names: Vec<&str> = plan.builds.iter().map(|b| b.name.as_str()).collect();
    tracing::debug!(builds = ?names, on_error = ?args.on_error, parallel = args.parallel_builds, "planned");
    // The builds themselves run as plugins (WASI components and Rhai scripts); that runtime is
    // not part of this version, so nothing can run yet. Say so plainly rather than pretend.
    Err(CliError::build(
        Diagnostic::error(format!(
            "cannot run {}: this version of kiln has no plugin runtime yet, so no builder can run",
            names.join(", ")
        ))
        .note("the template, its variables and -only/-except were checked and are valid")
        .hint("kiln validate and kiln inspect work on this template today"),
    ))
}
