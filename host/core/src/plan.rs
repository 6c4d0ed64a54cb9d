//! From a template and its variables to the builds to run: the semantic checks Packer's
//! `validate` makes (and some it misses), `-only`/`-except`, and each build's component configs
//! interpolated for that build, as the JSON the plugins receive.

use std::sync::Arc;
use std::time::Duration;

use kiln_template::diagnostic::{Diagnostic, Diagnostics};
use kiln_template::interpolate::{
    self, Context, Globals, PACKER_COMPAT_VERSION, Phase, UserVariables,
};
use kiln_template::key_path::KeyPath;
use kiln_template::model::{PostProcessor, Provisioner, Template};
use kiln_template::node::{Node, Value};
use kiln_template::source::{SourceFile, Span, Spanned};
use kiln_template::variables::Variables;

use crate::catalog::{Catalog, ComponentKind};
use crate::selection::Selection;

/// The builds a command will run, in template order.
#[derive(Clone, Debug)]
pub struct Plan {
    pub builds: Vec<PlannedBuild>,
}

#[derive(Clone, Debug)]
pub struct PlannedBuild {
    pub name: String,
    /// Where the builder is written (`builders[0]`).
    pub path: KeyPath,
    pub builder_type: String,
    /// The builder's config for this build (interpolated; build-time actions left in place).
    pub config: serde_json::Value,
    pub provisioners: Vec<PlannedProvisioner>,
    pub error_cleanup_provisioner: Option<PlannedProvisioner>,
    pub post_processor_chains: Vec<Vec<PlannedPostProcessor>>,
}

#[derive(Clone, Debug)]
pub struct PlannedProvisioner {
    pub provisioner_type: String,
    pub config: serde_json::Value,
    pub pause_before: Option<Duration>,
    pub max_retries: u32,
    pub timeout: Option<Duration>,
    pub path: KeyPath,
}

#[derive(Clone, Debug)]
pub struct PlannedPostProcessor {
    pub post_processor_type: String,
    pub name: Option<String>,
    pub keep_input_artifact: Option<bool>,
    pub config: serde_json::Value,
    pub path: KeyPath,
}

impl Plan {
    /// Checks the template against its variables and plans the selected builds. Every error is
    /// reported at once, each with its place in the file.
    pub fn new(
        template: &Template,
        variables: &Variables,
        globals: &Globals,
        selection: &Selection,
        catalog: &Catalog,
    ) -> Result<(Plan, Diagnostics), Diagnostics> {
        let mut d = Diagnostics::new();
        let source = &template.source;
        check_min_version(template, &mut d);
        if template.builders.is_empty() {
            d.push(
                Diagnostic::error("the template defines no builders")
                    .at(source, Span::new(0, 1))
                    .hint("add a \"builders\" array with at least one builder"),
            );
        }
        for name in &template.sensitive_variables {
            if !template.variables.iter().any(|v| v.name == name.value) {
                d.push(
                    Diagnostic::error(format!(
                        "sensitive variable {:?} is not declared in \"variables\"",
                        name.value
                    ))
                    .at(source, name.span)
                    .note("its value could not be hidden from the output"),
                );
            }
        }
        check_types(template, catalog, &mut d);

        // Build names may use user variables (Packer interpolates them too).
        let mut users = variables.clone();
        let names: Vec<String> = template
            .builders
            .iter()
            .map(|b| {
                let mut ctx = Context::new(globals, &mut users, Phase::Template);
                render_string(&b.name, &mut ctx, source, &b.path.key("name"), &mut d)
                    .unwrap_or_else(|| b.name.value.clone())
            })
            .collect();
        for (i, name) in names.iter().enumerate() {
            if let Some(j) = names[..i].iter().position(|n| n == name)
                && template.builders[i].name.value != template.builders[j].name.value
            {
                {
                    d.push(
                        Diagnostic::error(format!(
                            "two builds are named {name:?} once variables are applied"
                        ))
                        .at(source, template.builders[i].name.span)
                        .with_path(&template.builders[i].path.key("name")),
                    );
                }
            }
        }
        check_references(template, &names, &mut d);
        if d.has_errors() {
            d.dedup();
            return Err(d);
        }

        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let pp_names: Vec<&str> = {
            let mut v: Vec<&str> = template
                .post_processors
                .iter()
                .flat_map(|c| &c.steps)
                .map(PostProcessor::display_name)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let selected = selection.apply(&name_refs, &pp_names).map_err(|errors| {
            let mut all = d.clone();
            errors.into_iter().for_each(|e| all.push(e));
            all
        })?;

        let mut builds = Vec::new();
        for index in selected.builds {
            let builder = &template.builders[index];
            let name = &names[index];
            let kind = &builder.kind.value;
            let mut planner = BuildPlanner {
                source,
                globals,
                users: variables.clone(),
                name,
                kind,
                d: &mut d,
            };
            let config = planner.interpolate(&builder.config, &builder.path);
            let provisioners = template
                .provisioners
                .iter()
                .filter_map(|p| planner.provisioner(p))
                .collect();
            let error_cleanup_provisioner = template
                .error_cleanup_provisioner
                .as_ref()
                .and_then(|p| planner.provisioner(p));
            let post_processor_chains = template
                .post_processors
                .iter()
                .map(|chain| {
                    chain
                        .steps
                        .iter()
                        .filter(|pp| {
                            !selected
                                .skipped_post_processors
                                .iter()
                                .any(|s| s == pp.display_name())
                        })
                        .filter_map(|pp| planner.post_processor(pp))
                        .collect::<Vec<_>>()
                })
                .filter(|chain| !chain.is_empty())
                .collect();
            builds.push(PlannedBuild {
                name: name.clone(),
                path: builder.path.clone(),
                builder_type: kind.clone(),
                config,
                provisioners,
                error_cleanup_provisioner,
                post_processor_chains,
            });
        }
        d.dedup();
        d.into_result(Plan { builds })
    }
}

fn check_min_version(template: &Template, d: &mut Diagnostics) {
    let Some(wanted) = &template.min_packer_version else {
        return;
    };
    let Some(wanted_parts) = parse_version(&wanted.value) else {
        d.push(
            Diagnostic::error(format!(
                "min_packer_version {:?} is not a version",
                wanted.value
            ))
            .at(&template.source, wanted.span),
        );
        return;
    };
    let ours = parse_version(PACKER_COMPAT_VERSION).unwrap_or_default();
    if wanted_parts > ours {
        d.push(
            Diagnostic::error(format!("this template requires Packer {} or newer; kiln is compatible with Packer {PACKER_COMPAT_VERSION}", wanted.value))
                .at(&template.source, wanted.span)
                .with_path(&KeyPath::root().key("min_packer_version")),
        );
    }
}

/// `1.6.6`, `v1.7`, `1.8.0-dev` as comparable numbers (missing parts are zero).
fn parse_version(text: &str) -> Option<Vec<u64>> {
    let core = text
        .trim()
        .trim_start_matches('v')
        .split(['-', '+'])
        .next()?;
    let mut parts: Vec<u64> = core
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    parts.resize(3.max(parts.len()), 0);
    Some(parts)
}

fn check_types(template: &Template, catalog: &Catalog, d: &mut Diagnostics) {
    let mut check = |kind: ComponentKind, type_name: &Spanned<String>, path: &KeyPath| {
        if catalog.is_known(kind, &type_name.value) {
            return;
        }
        let mut diag = Diagnostic::error(format!(
            "unknown {} type {:?}",
            kind.noun(),
            type_name.value
        ))
        .at(&template.source, type_name.span)
        .with_path(&path.key("type"));
        diag = match kiln_template::suggest::closest(&type_name.value, catalog.known_types(kind)) {
            Some(similar) => diag.hint(format!("did you mean {similar:?}?")),
            None => diag.note(format!(
                "kiln's {}s are: {}",
                kind.noun(),
                catalog.known_types(kind).join(", ")
            )),
        };
        d.push(diag);
    };
    for b in &template.builders {
        check(ComponentKind::Builder, &b.kind, &b.path);
    }
    for p in template
        .provisioners
        .iter()
        .chain(&template.error_cleanup_provisioner)
    {
        check(ComponentKind::Provisioner, &p.kind, &p.path);
    }
    for pp in template.post_processors.iter().flat_map(|c| &c.steps) {
        check(ComponentKind::PostProcessor, &pp.kind, &pp.path);
    }
}

/// `only`, `except` and `override` must name builds that exist (a typo would silently change
/// which builds a component runs in).
fn check_references(template: &Template, names: &[String], d: &mut Diagnostics) {
    // `path_of(i)` is where the i-th name is written.
    let mut check = |list: &[Spanned<String>], what: &str, path_of: &dyn Fn(usize) -> KeyPath| {
        for (i, reference) in list.iter().enumerate() {
            if names.contains(&reference.value) {
                continue;
            }
            let mut diag = Diagnostic::error(format!(
                "{what} names {:?}, which is not a build in this template",
                reference.value
            ))
            .at(&template.source, reference.span)
            .with_path(&path_of(i))
            .hint(format!("builds are: {}", names.join(", ")));
            if let Some(similar) =
                kiln_template::suggest::closest(&reference.value, names.iter().map(String::as_str))
            {
                diag = diag.hint(format!("did you mean {similar:?}?"));
            }
            d.push(diag);
        }
    };
    for p in template
        .provisioners
        .iter()
        .chain(&template.error_cleanup_provisioner)
    {
        check(&p.only, "only", &|i| p.path.key("only").index(i));
        check(&p.except, "except", &|i| p.path.key("except").index(i));
        let keys: Vec<Spanned<String>> = p.overrides.iter().map(|o| o.build.clone()).collect();
        check(&keys, "override", &|i| {
            p.path.key("override").key(&keys[i].value)
        });
    }
    for pp in template.post_processors.iter().flat_map(|c| &c.steps) {
        check(&pp.only, "only", &|i| pp.path.key("only").index(i));
        check(&pp.except, "except", &|i| pp.path.key("except").index(i));
    }
}

fn render_string(
    value: &Spanned<String>,
    ctx: &mut Context<'_>,
    source: &Arc<SourceFile>,
    path: &KeyPath,
    d: &mut Diagnostics,
) -> Option<String> {
    match interpolate::render(&value.value, ctx) {
        Ok(s) => Some(s),
        Err(e) => {
            let span = e.span_in(source, value.span, &value.value);
            d.push(
                Diagnostic::error(e.message)
                    .at(source, span)
                    .with_path(path),
            );
            None
        }
    }
}

/// Interpolates one build's components.
struct BuildPlanner<'a> {
    source: &'a Arc<SourceFile>,
    globals: &'a Globals,
    users: Variables,
    name: &'a str,
    kind: &'a str,
    d: &'a mut Diagnostics,
}

impl BuildPlanner<'_> {
    fn runs_here(&self, only: &[Spanned<String>], except: &[Spanned<String>]) -> bool {
        (only.is_empty() || only.iter().any(|o| o.value == self.name))
            && !except.iter().any(|e| e.value == self.name)
    }

    fn provisioner(&mut self, p: &Provisioner) -> Option<PlannedProvisioner> {
        if !self.runs_here(&p.only, &p.except) {
            return None;
        }
        // `override.<build>` replaces top-level keys of the config for that build.
        let mut config = self.interpolate(&p.config, &p.path);
        if let Some(o) = p.overrides.iter().find(|o| o.build.value == self.name) {
            let over = self.interpolate(&o.config, &p.path.key("override").key(&o.build.value));
            if let (Some(base), serde_json::Value::Object(over)) = (config.as_object_mut(), over) {
                base.extend(over);
            }
        }
        Some(PlannedProvisioner {
            provisioner_type: p.kind.value.clone(),
            config,
            pause_before: p.pause_before,
            max_retries: p.max_retries,
            timeout: p.timeout,
            path: p.path.clone(),
        })
    }

    fn post_processor(&mut self, pp: &PostProcessor) -> Option<PlannedPostProcessor> {
        if !self.runs_here(&pp.only, &pp.except) {
            return None;
        }
        Some(PlannedPostProcessor {
            post_processor_type: pp.kind.value.clone(),
            name: pp.name.as_ref().map(|n| n.value.clone()),
            keep_input_artifact: pp.keep_input_artifact,
            config: self.interpolate(&pp.config, &pp.path),
            path: pp.path.clone(),
        })
    }

    /// Every string in the tree rendered for this build; map keys are left as written.
    fn interpolate(&mut self, node: &Node, path: &KeyPath) -> serde_json::Value {
        use serde_json::Value as J;
        match &node.value {
            Value::String(s) => {
                let users: &mut dyn UserVariables = &mut self.users;
                let mut ctx = Context::new(self.globals, users, Phase::Template)
                    .with_build(self.name, self.kind);
                match interpolate::render(s, &mut ctx) {
                    Ok(out) => J::String(out),
                    Err(e) => {
                        let span = e.span_in(self.source, node.span, s);
                        self.d.push(
                            Diagnostic::error(e.message)
                                .at(self.source, span)
                                .with_path(path),
                        );
                        J::String(s.clone())
                    }
                }
            }
            Value::Array(items) => J::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| self.interpolate(n, &path.index(i)))
                    .collect(),
            ),
            Value::Object(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), self.interpolate(&e.value, &path.key(&e.key))))
                    .collect(),
            ),
            _ => node.to_json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("1.10.0") > parse_version("1.6.6"));
        assert_eq!(parse_version("1.6"), parse_version("1.6.0"));
        assert_eq!(parse_version("v1.7.0-dev"), Some(vec![1, 7, 0]));
        assert_eq!(parse_version("one"), None);
    }
}
