//! `kiln inspect`: Packer's sections (description, variables, builders, provisioners) plus the
//! post-processor chains; `-machine-readable` gives Packer's `template-*` records.

use kiln_core::redact::REDACTED;
use kiln_template::Template;
use kiln_template::model::PostProcessor;
use kiln_template::source::Format;

use super::Env;
use crate::cli::InspectArgs;
use crate::error::CliError;
use crate::session::load_template;

pub fn run(env: &Env, args: &InspectArgs) -> Result<(), CliError> {
    let (template, warnings) = load_template(&args.template)?;
    env.ui.diagnostics(&warnings);
    let ui = &env.ui;
    let format = match template.source.format() {
        Format::Json => "JSON",
        Format::Yaml => "YAML",
    };
    ui.say(&format!(
        "kiln inspect: {format} template {}",
        template.source.name()
    ));
    if let Some(description) = &template.description {
        ui.say("Description:\n");
        ui.say(&format!("{description}\n"));
    }
    let sensitive = |name: &str| template.sensitive_variables.iter().any(|s| s.value == name);

    let required: Vec<&str> = template
        .variables
        .iter()
        .filter(|v| v.is_required())
        .map(|v| v.name.as_str())
        .collect();
    if !required.is_empty() {
        ui.say("Required variables:\n");
        for name in &required {
            ui.machine("", "template-variable", &[name, "", "1"]);
            ui.say(&format!("  {name}"));
        }
        ui.say("");
    }
    let optional: Vec<(&str, &str)> = template
        .variables
        .iter()
        .filter_map(|v| {
            v.default.as_ref().map(|d| {
                (
                    v.name.as_str(),
                    if sensitive(&v.name) {
                        REDACTED
                    } else {
                        d.value.as_str()
                    },
                )
            })
        })
        .collect();
    ui.say("Optional variables and their defaults:\n");
    if optional.is_empty() {
        ui.say("  <No variables>");
    }
    let width = optional.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, default) in &optional {
        ui.machine("", "template-variable", &[name, default, "0"]);
        ui.say(&format!("  {name:width$} = {default}"));
    }
    ui.say("");

    ui.say("Builders:\n");
    if template.builders.is_empty() {
        ui.say("  <No builders>");
    }
    let width = template
        .builders
        .iter()
        .map(|b| b.name.value.len())
        .max()
        .unwrap_or(0);
    for b in &template.builders {
        ui.machine("", "template-builder", &[&b.name.value, &b.kind.value]);
        ui.say(&format!("  {:width$} ({})", b.name.value, b.kind.value));
    }
    ui.say("");

    ui.say("Provisioners:\n");
    if template.provisioners.is_empty() {
        ui.say("  <No provisioners>");
    }
    for p in &template.provisioners {
        ui.machine("", "template-provisioner", &[&p.kind.value]);
        ui.say(&format!(
            "  {}{}",
            p.kind.value,
            filters(&p.only, &p.except)
        ));
    }
    if let Some(p) = &template.error_cleanup_provisioner {
        ui.machine("", "template-error-cleanup-provisioner", &[&p.kind.value]);
        ui.say(&format!("  {} (error-cleanup-provisioner)", p.kind.value));
    }
    ui.say("");

    post_processors(env, &template);
    Ok(())
}

fn post_processors(env: &Env, template: &Template) {
    let ui = &env.ui;
    ui.say("Post-processors:\n");
    if template.post_processors.is_empty() {
        ui.say("  <No post-processors>");
    }
    for (i, chain) in template.post_processors.iter().enumerate() {
        let number = (i + 1).to_string();
        let steps: Vec<String> = chain.steps.iter().map(describe).collect();
        for pp in &chain.steps {
            ui.machine(
                "",
                "template-post-processor",
                &[
                    &number,
                    &pp.kind.value,
                    pp.name.as_ref().map_or("", |n| n.value.as_str()),
                ],
            );
        }
        ui.say(&format!("  {number}: {}", steps.join(" -> ")));
    }
}

fn describe(pp: &PostProcessor) -> String {
    let name = match &pp.name {
        Some(n) if n.value != pp.kind.value => format!("{} ({})", n.value, pp.kind.value),
        _ => pp.kind.value.clone(),
    };
    format!("{name}{}", filters(&pp.only, &pp.except))
}

fn filters(
    only: &[kiln_template::source::Spanned<String>],
    except: &[kiln_template::source::Spanned<String>],
) -> String {
    let list = |l: &[kiln_template::source::Spanned<String>]| {
        l.iter()
            .map(|s| s.value.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (only.is_empty(), except.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" [only: {}]", list(only)),
        (true, false) => format!(" [except: {}]", list(except)),
        (false, false) => format!(" [only: {}; except: {}]", list(only), list(except)),
    }
}
