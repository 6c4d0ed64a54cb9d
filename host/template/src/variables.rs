//! User variables: defaults (which may use `{{env}}` and other variables), `PKR_VAR_name` from the
//! environment, then `-var` and `-var-file` in command-line order, later winning. Required
//! variables that stay unset are reported together; sensitive values are collected for redaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::interpolate::{self, Context, Globals, Phase, UserVariables};
use crate::key_path::KeyPath;
use crate::model::Template;
use crate::node::Node;
use crate::source::{SourceFile, Spanned};

/// Secrets shorter than this mangle the output when masked (Packer #11145 masked every "a").
const MIN_MASKABLE_SECRET: usize = 4;

/// A `-var-file`: an object of names to scalar values, in JSON or YAML.
#[derive(Clone, Debug)]
pub struct VarFile {
    pub source: Arc<SourceFile>,
    pub values: Vec<(Spanned<String>, Spanned<String>)>,
}

impl VarFile {
    pub fn from_node(source: &Arc<SourceFile>, root: &Node) -> Result<VarFile, Diagnostics> {
        let mut diagnostics = Diagnostics::new();
        let Some(entries) = root.entries() else {
            return Err(Diagnostic::error(format!(
                "a variable file must be an object of names to values, found {}",
                root.kind_name()
            ))
            .at(source, root.span)
            .into());
        };
        let mut values = Vec::new();
        for e in entries {
            match e.value.scalar_text() {
                Some(text) => values.push((
                    Spanned::new(e.key.clone(), e.key_span),
                    Spanned::new(text, e.value.span),
                )),
                None => diagnostics.push(
                    Diagnostic::error(format!(
                        "variable {:?} must be a string, number or boolean, found {}",
                        e.key,
                        e.value.kind_name()
                    ))
                    .at(source, e.value.span)
                    .with_path(&KeyPath::root().key(&e.key)),
                ),
            }
        }
        diagnostics
            .into_result(VarFile {
                source: Arc::clone(source),
                values,
            })
            .map(|(v, _)| v)
    }
}

/// One `-var` or `-var-file`, in the order given.
#[derive(Clone, Debug)]
pub enum Assignment {
    Flag { name: String, value: String },
    File(VarFile),
}

/// What the user supplied beyond the template's defaults.
#[derive(Clone, Debug, Default)]
pub struct VariableInputs {
    /// `PKR_VAR_<name>` values from the environment (lowest precedence after defaults).
    pub environment: Vec<(String, String)>,
    pub assignments: Vec<Assignment>,
}

impl VariableInputs {
    /// Picks `PKR_VAR_*` out of an environment.
    pub fn environment_from(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Vec<(String, String)> {
        vars.into_iter()
            .filter_map(|(k, v)| k.strip_prefix("PKR_VAR_").map(|name| (name.to_owned(), v)))
            .collect()
    }
}

/// The resolved values of every declared variable.
#[derive(Clone, Debug, Default)]
pub struct Variables {
    values: BTreeMap<String, String>,
    sensitive: Vec<String>,
}

impl Variables {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Values that must never be printed: those of `sensitive-variables`, non-empty.
    pub fn sensitive_values(&self) -> &[String] {
        &self.sensitive
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Resolves every variable; errors (undeclared `-var`, unset required variables, bad
    /// defaults) are all reported together.
    pub fn resolve(
        template: &Template,
        inputs: &VariableInputs,
        globals: &Globals,
    ) -> (Variables, Diagnostics) {
        let mut diagnostics = Diagnostics::new();
        let declared = |name: &str| template.variables.iter().any(|v| v.name == name);
        let names = || template.variables.iter().map(|v| v.name.as_str());
        let mut provided: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &inputs.environment {
            if declared(name) {
                provided.insert(name.clone(), value.clone());
            }
        }
        for assignment in &inputs.assignments {
            match assignment {
                Assignment::Flag { name, value } => {
                    if declared(name) {
                        provided.insert(name.clone(), value.clone());
                    } else {
                        let mut d = Diagnostic::error(format!(
                            "-var {name}: the template declares no variable {name:?}"
                        ));
                        d = match crate::suggest::closest(name, names()) {
                            Some(similar) => d.hint(format!("did you mean {similar:?}?")),
                            None => d.hint(declared_list(template)),
                        };
                        diagnostics.push(d);
                    }
                }
                Assignment::File(file) => {
                    for (name, value) in &file.values {
                        if declared(&name.value) {
                            provided.insert(name.value.clone(), value.value.clone());
                        } else {
                            // Var files are often shared between templates: a warning, not an error.
                            diagnostics.push(
                                Diagnostic::warning(format!("variable {:?} is not declared in the template; its value is ignored", name.value))
                                    .at(&file.source, name.span),
                            );
                        }
                    }
                }
            }
        }
        let mut resolver = Resolver {
            template,
            provided,
            state: BTreeMap::new(),
            globals,
            diagnostics: Diagnostics::new(),
        };
        let mut missing = Vec::new();
        for variable in &template.variables {
            if variable.default.is_none() && !resolver.provided.contains_key(&variable.name) {
                missing.push(variable);
                continue;
            }
            let _ = resolver.resolve(&variable.name);
        }
        diagnostics.extend(resolver.diagnostics);
        if !missing.is_empty() {
            let list: Vec<&str> = missing.iter().map(|v| v.name.as_str()).collect();
            let first = missing[0];
            diagnostics.push(
                Diagnostic::error(format!(
                    "required variable{} not set: {}",
                    if list.len() == 1 { "" } else { "s" },
                    list.join(", ")
                ))
                .at(&template.source, first.name_span)
                .hint(format!(
                    "set {} with -var {}=VALUE, a -var-file, or PKR_VAR_{} in the environment",
                    if list.len() == 1 { "it" } else { "each" },
                    first.name,
                    first.name
                )),
            );
        }
        let values: BTreeMap<String, String> = resolver
            .state
            .into_iter()
            .filter_map(|(k, s)| match s {
                State::Done(v) => Some((k, v)),
                _ => None,
            })
            .collect();
        let mut sensitive: Vec<String> = Vec::new();
        for name in &template.sensitive_variables {
            let default = template
                .variables
                .iter()
                .find(|v| v.name == name.value)
                .and_then(|v| v.default.as_ref());
            for value in values
                .get(&name.value)
                .into_iter()
                .chain(default.map(|d| &d.value))
            {
                if !value.is_empty() && !sensitive.contains(value) {
                    sensitive.push(value.clone());
                }
            }
        }
        for name in &template.sensitive_variables {
            let length = values.get(&name.value).map_or(0, |v| v.chars().count());
            if (1..MIN_MASKABLE_SECRET).contains(&length) {
                diagnostics.push(
                    Diagnostic::warning(format!(
                        "sensitive variable {:?} is only {length} character{} long: every occurrence of it in the output will be shown as <sensitive>",
                        name.value,
                        if length == 1 { "" } else { "s" }
                    ))
                    .at(&template.source, name.span)
                    .hint("use a longer secret, or drop it from \"sensitive-variables\" if it is not secret"),
                );
            }
        }
        (Variables { values, sensitive }, diagnostics)
    }
}

fn declared_list(template: &Template) -> String {
    if template.variables.is_empty() {
        "the template has no \"variables\" section".to_owned()
    } else {
        let names: Vec<&str> = template.variables.iter().map(|v| v.name.as_str()).collect();
        format!("declared variables: {}", names.join(", "))
    }
}

impl UserVariables for Variables {
    fn user(&mut self, name: &str) -> Result<String, String> {
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| format!("user variable {name:?} is not declared in \"variables\""))
    }
}

enum State {
    InProgress,
    Done(String),
    Failed,
}

struct Resolver<'t> {
    template: &'t Template,
    provided: BTreeMap<String, String>,
    state: BTreeMap<String, State>,
    globals: &'t Globals,
    diagnostics: Diagnostics,
}

impl Resolver<'_> {
    fn resolve(&mut self, name: &str) -> Result<String, String> {
        match self.state.get(name) {
            Some(State::Done(v)) => return Ok(v.clone()),
            Some(State::InProgress) => {
                return Err(format!(
                    "variable {name:?} refers to itself through other variables"
                ));
            }
            Some(State::Failed) => return Err(format!("variable {name:?} could not be resolved")),
            None => {}
        }
        if let Some(value) = self.provided.get(name) {
            self.state
                .insert(name.to_owned(), State::Done(value.clone()));
            return Ok(value.clone());
        }
        let template = self.template;
        let Some(variable) = template.variables.iter().find(|v| v.name == name) else {
            let mut message = format!("user variable {name:?} is not declared in \"variables\"");
            if let Some(similar) =
                crate::suggest::closest(name, template.variables.iter().map(|v| v.name.as_str()))
            {
                message.push_str(&format!("; did you mean {similar:?}?"));
            }
            return Err(message);
        };
        let Some(default) = &variable.default else {
            return Err(format!("variable {name:?} is required and not set"));
        };
        self.state.insert(name.to_owned(), State::InProgress);
        let globals = self.globals;
        let rendered = interpolate::render(
            &default.value,
            &mut Context::new(globals, self, Phase::Variables),
        );
        match rendered {
            Ok(value) => {
                self.state
                    .insert(name.to_owned(), State::Done(value.clone()));
                Ok(value)
            }
            Err(e) => {
                self.state.insert(name.to_owned(), State::Failed);
                let span = e.span_in(&template.source, default.span, &default.value);
                self.diagnostics.push(
                    Diagnostic::error(e.message)
                        .at(&template.source, span)
                        .with_path(&KeyPath::root().key("variables").key(name)),
                );
                Err(format!("variable {name:?} could not be resolved"))
            }
        }
    }
}

impl UserVariables for Resolver<'_> {
    fn user(&mut self, name: &str) -> Result<String, String> {
        self.resolve(name)
    }
}
