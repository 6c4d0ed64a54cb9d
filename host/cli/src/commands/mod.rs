//! One file per command.

pub mod build;
pub mod console;
pub mod inspect;
pub mod policy;
pub mod validate;
pub mod version;

use kiln_core::catalog::Catalog;
use kiln_core::{Plan, Selection};
use kiln_template::Diagnostics;

use crate::cli::{SelectionArgs, TemplateArgs};
use crate::error::CliError;
use crate::session::{VarArg, globals_for, load_template, resolve_variables};
use crate::ui::Ui;

/// What every command gets besides its own arguments.
pub struct Env {
    pub ui: Ui,
    /// `-var` and `-var-file` in the order they were typed.
    pub var_args: Vec<VarArg>,
}

/// A checked plan and what running it needs from the template.
pub struct Planned {
    pub plan: Plan,
    pub template: kiln_template::Template,
    pub template_dir: std::path::PathBuf,
    pub globals: kiln_template::interpolate::Globals,
}

/// Loads, resolves and plans: the full check `validate` and `build` share. Warnings are printed.
/// `catalog` holds the types known besides kiln's own (plugins on `KILN_PLUGIN_PATH`).
pub fn plan(
    env: &Env,
    template: &TemplateArgs,
    selection: &SelectionArgs,
    catalog: &Catalog,
) -> Result<Planned, CliError> {
    let (template, mut warnings) = load_template(&template.template)?;
    let globals = globals_for(&template);
    let (variables, found) = resolve_variables(&template, &env.var_args, &globals)
        .inspect_err(|_| env.ui.diagnostics(&warnings))?;
    warnings.extend(found);
    let selection = Selection {
        only: selection.only.clone(),
        except: selection.except.clone(),
    };
    match Plan::new(&template, &variables, &globals, &selection, catalog) {
        Ok((plan, found)) => {
            warnings.extend(found);
            env.ui.diagnostics(&warnings);
            Ok(Planned {
                plan,
                template_dir: template.source.dir().to_path_buf(),
                template,
                globals,
            })
        }
        Err(errors) => {
            let mut all = Diagnostics::new();
            all.extend(warnings);
            all.extend(errors);
            Err(CliError::template(all))
        }
    }
}
