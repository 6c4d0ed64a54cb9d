//! `kiln console`: each line of stdin is an interpolation expression, evaluated with the
//! template's variables, as `packer console` does.

use std::io::{BufRead, IsTerminal, Write};

use kiln_template::interpolate::{self, Context, Globals, Phase};
use kiln_template::variables::Variables;

use super::Env;
use crate::cli::ConsoleArgs;
use crate::error::CliError;
use crate::session::{globals_for, load_template, resolve_variables};

pub fn run(env: &Env, args: &ConsoleArgs) -> Result<(), CliError> {
    let (globals, mut variables) = match &args.template {
        Some(path) => {
            let (template, warnings) = load_template(path)?;
            env.ui.diagnostics(&warnings);
            let globals = globals_for(&template);
            let (variables, warnings) = resolve_variables(&template, &env.var_args, &globals)?;
            env.ui.diagnostics(&warnings);
            (globals, variables)
        }
        None => (
            Globals::capture(
                std::env::current_dir()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            Variables::default(),
        ),
    };
    let interactive = std::io::stdin().is_terminal();
    let mut failed = false;
    let stdin = std::io::stdin();
    loop {
        if interactive {
            let mut out = std::io::stdout();
            let _ = write!(out, "> ");
            let _ = out.flush();
        }
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if line == "exit" {
            break;
        }
        let mut ctx = Context::new(&globals, &mut variables, Phase::Template);
        match interpolate::render(line, &mut ctx) {
            Ok(value) => env.ui.say(&value),
            Err(e) => {
                failed = true;
                env.ui.error(&format!("error: {}", e.message));
            }
        }
    }
    if failed && !interactive {
        return Err(CliError {
            kind: crate::error::ErrorKind::Template,
            diagnostics: Default::default(),
        });
    }
    Ok(())
}
