//! `kiln`: build identical machine images for many platforms from one Packer-compatible template.
//!
//! This crate is the only one that writes to the terminal or picks exit codes: 0 success,
//! 1 a build or validation error, 2 a usage error.

mod build_ui;
mod cli;
mod commands;
mod error;
mod execute;
mod logging;
mod plugins;
mod secrets;
mod session;
mod ui;

use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches};

use cli::{Cli, Command};
use commands::Env;
use error::CliError;
use session::VarArg;
use ui::Ui;

fn main() -> ExitCode {
    let args = cli::normalize_packer_flags(std::env::args());
    let matches = match Cli::command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let parsed = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let ui = Ui::new(parsed.machine_readable, parsed.color);
    if let Err(message) = logging::init() {
        ui.error(&format!("error: {message}"));
        return ExitCode::from(1);
    }
    let env = Env {
        ui,
        var_args: var_args_in_order(&matches),
    };
    match run(&env, parsed.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            env.ui.diagnostics(&e.diagnostics);
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(env: &Env, command: Command) -> Result<(), CliError> {
    match command {
        Command::Build(args) => commands::build::run(env, &args),
        Command::Validate(args) => commands::validate::run(env, &args),
        Command::Inspect(args) => commands::inspect::run(env, &args),
        Command::Console(args) => commands::console::run(env, &args),
        Command::Policy(command) => commands::policy::run(env, &command),
        Command::Version => {
            commands::version::run(env);
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "kiln", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// `-var` and `-var-file` interleaved as typed, so a later one wins whichever kind it is.
fn var_args_in_order(matches: &ArgMatches) -> Vec<VarArg> {
    let Some((_, sub)) = matches.subcommand() else {
        return Vec::new();
    };
    let mut ordered: Vec<(usize, VarArg)> = Vec::new();
    let mut collect = |id: &str, make: fn(String) -> VarArg| {
        if let (Some(values), Some(indices)) = (sub.get_many::<String>(id), sub.indices_of(id)) {
            ordered.extend(indices.zip(values).map(|(i, v)| (i, make(v.clone()))));
        }
    };
    if sub.try_contains_id("vars").unwrap_or(false) {
        collect("vars", VarArg::Var);
    }
    if sub.try_contains_id("var_files").unwrap_or(false) {
        collect("var_files", VarArg::File);
    }
    ordered.sort_by_key(|(i, _)| *i);
    ordered.into_iter().map(|(_, v)| v).collect()
}
