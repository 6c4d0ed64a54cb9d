//! Loading what every command needs: the template, then its variables from defaults,
//! `PKR_VAR_*`, and `-var`/`-var-file` in command-line order.

use kiln_template::interpolate::Globals;
use kiln_template::load::{load_var_file, parse_template, read_source};
use kiln_template::variables::{Assignment, VariableInputs, Variables};
use kiln_template::{Diagnostic, Diagnostics, Template};

use crate::error::CliError;

/// A `-var` or `-var-file`, in the order typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarArg {
    Var(String),
    File(String),
}

/// Reads and decodes a template. Warnings come back beside it.
pub fn load_template(path: &str) -> Result<(Template, Diagnostics), CliError> {
    let source = read_source(path).map_err(CliError::template)?;
    tracing::debug!(template = source.name(), "parsing template");
    parse_template(&source).map_err(CliError::template)
}

/// Resolves the template's variables and installs the sensitive ones for redaction.
pub fn resolve_variables(
    template: &Template,
    var_args: &[VarArg],
    globals: &Globals,
) -> Result<(Variables, Diagnostics), CliError> {
    let mut d = Diagnostics::new();
    let mut assignments = Vec::new();
    for arg in var_args {
        match arg {
            VarArg::Var(text) => match text.split_once('=') {
                Some((name, value)) if !name.is_empty() => assignments.push(Assignment::Flag {
                    name: name.to_owned(),
                    value: value.to_owned(),
                }),
                _ => {
                    return Err(CliError::usage(
                        Diagnostic::error(format!("-var {text:?}: expected NAME=VALUE"))
                            .hint("for example: -var 'version=1.2.3'"),
                    ));
                }
            },
            VarArg::File(path) => match load_var_file(path) {
                Ok(file) => assignments.push(Assignment::File(file)),
                Err(errors) => d.extend(errors),
            },
        }
    }
    // The raw values of sensitive variables are hidden before anything else can print them
    // (an error below may quote the template or a variable file).
    let inputs = VariableInputs {
        environment: VariableInputs::environment_from(std::env::vars()),
        assignments,
    };
    crate::secrets::add(raw_sensitive_values(template, &inputs));
    if d.has_errors() {
        return Err(CliError::template(d));
    }
    let (variables, found) = Variables::resolve(template, &inputs, globals);
    crate::secrets::add(variables.sensitive_values().iter().cloned());
    d.extend(found);
    tracing::debug!(count = variables.iter().count(), "variables resolved");
    d.into_result(variables).map_err(CliError::template)
}

/// Every value a sensitive variable could take before resolution: its default and what the
/// environment, `-var` and `-var-file` give it.
fn raw_sensitive_values(template: &Template, inputs: &VariableInputs) -> Vec<String> {
    let sensitive = |name: &str| template.sensitive_variables.iter().any(|s| s.value == name);
    let mut values: Vec<String> = template
        .variables
        .iter()
        .filter(|v| sensitive(&v.name))
        .filter_map(|v| v.default.as_ref().map(|d| d.value.clone()))
        .collect();
    values.extend(
        inputs
            .environment
            .iter()
            .filter(|(k, _)| sensitive(k))
            .map(|(_, v)| v.clone()),
    );
    for assignment in &inputs.assignments {
        match assignment {
            Assignment::Flag { name, value } if sensitive(name) => values.push(value.clone()),
            Assignment::Flag { .. } => {}
            Assignment::File(file) => {
                values.extend(
                    file.values
                        .iter()
                        .filter(|(k, _)| sensitive(&k.value))
                        .map(|(_, v)| v.value.clone()),
                );
            }
        }
    }
    values
}

/// The process-wide values interpolation sees: start time, template dir, working dir, env.
pub fn globals_for(template: &Template) -> Globals {
    Globals::capture(template.source.dir().display().to_string())
}
