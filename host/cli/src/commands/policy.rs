//! `kiln policy show` and `kiln policy explain`: the effective policy (system, user and project
//! files, as kiln-policy combines them), and what it grants one plugin type.

use std::path::{Path, PathBuf};

use kiln_core::catalog::ComponentKind;
use kiln_policy::{Context, Decision, PluginIdentity, PluginKind};
use kiln_template::Diagnostic;

use super::Env;
use crate::cli::{PluginKindArg, PolicyCommand};
use crate::error::CliError;
use crate::{execute, plugins};

pub fn run(env: &Env, command: &PolicyCommand) -> Result<(), CliError> {
    match command {
        PolicyCommand::Show { template } => {
            let policy = execute::policy(&template_dir(template.as_deref())?, &[])?;
            env.ui.say(policy.to_string().trim_end());
        }
        PolicyCommand::Explain {
            plugin,
            kind,
            template,
        } => {
            let dir = template_dir(template.as_deref())?;
            let policy = execute::policy(&dir, &[])?;
            let (component, policy_kind) = match kind {
                PluginKindArg::Builder => (ComponentKind::Builder, PluginKind::Builder),
                PluginKindArg::Provisioner => (ComponentKind::Provisioner, PluginKind::Provisioner),
                PluginKindArg::PostProcessor => {
                    (ComponentKind::PostProcessor, PluginKind::PostProcessor)
                }
            };
            let discovered = plugins::discover()?;
            let origin = plugins::origin(&discovered, &dir, component, plugin, "script.rhai")
                .map_err(|e| CliError::build(Diagnostic::error(e.to_string())))?;
            let identity = PluginIdentity {
                kind: policy_kind,
                type_name: plugin.clone(),
                origin,
            };
            let ctx = Context {
                template_dir: dir,
                output_dir: execute::output_dir()?,
                temp_dir: std::env::temp_dir().join("kiln-<build>-<random>"),
            };
            match policy.admits(&identity) {
                Decision::Allow => env.ui.say(&format!("{policy_kind} {plugin} may run.")),
                Decision::Deny(denial) => {
                    env.ui.say(&format!("{policy_kind} {plugin} may not run: {denial}"))
                }
                Decision::AuditDenied(denial) => env.ui.say(&format!(
                    "{policy_kind} {plugin} runs only because the policy's mode is \"audit\": {denial}"
                )),
            }
            env.ui
                .say(policy.grant_for(&identity, &ctx).to_string().trim_end());
        }
    }
    Ok(())
}

/// The directory of `template`, or the current one.
fn template_dir(template: Option<&str>) -> Result<PathBuf, CliError> {
    let cwd = execute::output_dir()?;
    Ok(match template {
        Some(t) => {
            let path = cwd.join(t);
            path.parent().map_or(cwd.clone(), Path::to_path_buf)
        }
        None => cwd,
    })
}
