//! `kiln validate`: everything `build` checks before it starts a machine: the template, and
//! then each component's own `prepare` (as Packer's validate does), for the types a plugin
//! implements in this version. Plugin config errors point at the key in the file.

use std::sync::Arc;

use kiln_core::pipeline::{BuildError, OnError, RunOptions};
use kiln_core::plugin::PluginError;
use kiln_template::key_path::KeyPath;
use kiln_template::node::{Node, Value};
use kiln_template::source::Span;
use kiln_template::{Diagnostic, Diagnostics, Template};

use super::Env;
use crate::build_ui::BuildUi;
use crate::cli::ValidateArgs;
use crate::error::CliError;
use crate::execute;
use crate::plugins;
use crate::session::load_template;

pub fn run(env: &Env, args: &ValidateArgs) -> Result<(), CliError> {
    if args.syntax_only {
        let (_, warnings) = load_template(&args.template.template)?;
        env.ui.diagnostics(&warnings);
    } else {
        let discovered = plugins::discover()?;
        let catalog = plugins::catalog(&discovered);
        let planned = super::plan(env, &args.template, &args.selection, &catalog)?;
        let policy = execute::policy(&planned.template_dir, &[])?;
        let names = planned.plan.builds.iter().map(|b| b.name.clone()).collect();
        let ui = Arc::new(BuildUi::new(env.ui, false, names));
        let options = RunOptions {
            on_error: OnError::Cleanup,
            parallel: 0,
            debug: false,
            force: false,
            template_dir: planned.template_dir.clone(),
            output_dir: execute::output_dir()?,
            run_id: uuid::Uuid::new_v4().to_string(),
            prepare_only: true,
            policy,
        };
        let ran = execute::run(&planned, discovered, ui, options)?;
        let mut errors = Diagnostics::new();
        for report in &ran.reports {
            if let Err(first) = &report.result {
                for e in std::iter::once(first).chain(&first.also) {
                    for d in diagnostics(&planned.template, e) {
                        errors.push(d);
                    }
                }
            }
        }
        // A component shared by several builds fails the same way in each: say it once.
        errors.dedup();
        if errors.has_errors() {
            return Err(CliError::template(errors));
        }
        tracing::debug!(builds = planned.plan.builds.len(), "template validated");
    }
    env.ui.say("The template is valid.");
    Ok(())
}

/// A plugin's errors as diagnostics, each config error at its key in the file.
fn diagnostics(template: &Template, e: &BuildError) -> Vec<Diagnostic> {
    let component = e.path.as_ref().and_then(|p| component_node(template, p));
    let place = |d: Diagnostic, key: &str| -> Diagnostic {
        let (Some(path), Some(node)) = (&e.path, component) else {
            return d;
        };
        let (span, full) = locate(node, path, key);
        d.at(&template.source, span).with_path(&full)
    };
    match &e.error {
        PluginError::InvalidConfig(list) if !list.is_empty() => list
            .iter()
            .map(|c| {
                place(
                    Diagnostic::error(format!("{}: {}", e.step, c.message)),
                    &c.key,
                )
            })
            .collect(),
        other => vec![place(Diagnostic::error(format!("{}: {other}", e.step)), "")],
    }
}

/// The config node of the component written at `path`.
fn component_node<'t>(template: &'t Template, path: &KeyPath) -> Option<&'t Node> {
    let wanted = path.as_str();
    template
        .builders
        .iter()
        .find(|b| b.path.as_str() == wanted)
        .map(|b| &b.config)
        .or_else(|| {
            template
                .provisioners
                .iter()
                .chain(&template.error_cleanup_provisioner)
                .find(|p| p.path.as_str() == wanted)
                .map(|p| &p.config)
        })
        .or_else(|| {
            template
                .post_processors
                .iter()
                .flat_map(|c| &c.steps)
                .find(|p| p.path.as_str() == wanted)
                .map(|p| &p.config)
        })
}

/// The span of `key` (`inline[1]`, `ssh_host`) inside a component, as deep as it exists, and
/// its full key path; a key that is missing points at the component itself.
fn locate(node: &Node, path: &KeyPath, key: &str) -> (Span, KeyPath) {
    let mut span = node.span;
    let mut here = node;
    let mut full = path.clone();
    for segment in key_segments(key) {
        let next = match (&here.value, segment) {
            (Value::Object(entries), Segment::Key(k)) => {
                entries.iter().find(|e| e.key == k).map(|e| {
                    span = e.key_span;
                    &e.value
                })
            }
            (Value::Array(items), Segment::Index(i)) => items.get(i).inspect(|n| span = n.span),
            _ => None,
        };
        let Some(next) = next else { break };
        full = match segment {
            Segment::Key(k) => full.key(k),
            Segment::Index(i) => full.index(i),
        };
        here = next;
    }
    (span, full)
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// `a.b[1][2]` → `a`, `b`, `1`, `2`.
fn key_segments(key: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in key.split('.').filter(|p| !p.is_empty()) {
        let (name, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        for index in rest.split(['[', ']']).filter(|s| !s.is_empty()) {
            match index.parse() {
                Ok(i) => out.push(Segment::Index(i)),
                Err(_) => out.push(Segment::Key(index)),
            }
        }
    }
    out
}
