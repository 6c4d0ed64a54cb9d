//! `kiln validate`: everything `build` checks before it starts a machine.

use super::Env;
use crate::cli::ValidateArgs;
use crate::error::CliError;
use crate::session::load_template;

pub fn run(env: &Env, args: &ValidateArgs) -> Result<(), CliError> {
    if args.syntax_only {
        let (_, warnings) = load_template(&args.template.template)?;
        env.ui.diagnostics(&warnings);
    } else {
        let catalog = crate::plugins::catalog(&crate::plugins::discover()?);
        let planned = super::plan(env, &args.template, &args.selection, &catalog)?;
        tracing::debug!(builds = planned.plan.builds.len(), "template validated");
    }
    env.ui.say("The template is valid.");
    Ok(())
}
