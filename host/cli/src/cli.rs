//! The command line: clap definitions, and Packer's single-dash spellings (`-only=a,b`,
//! `-var-file=f`) rewritten to clap's double-dash ones before parsing.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "Build identical machine images for many platforms from one Packer-compatible template",
    after_help = "Packer's flag spellings work too: -only=a,b -var-file=vars.json -machine-readable"
)]
pub struct Cli {
    /// Print Packer's machine-readable `timestamp,target,type,data...` lines.
    #[arg(long, global = true)]
    pub machine_readable: bool,

    /// Colour the output (`--color=false` turns it off, as do NO_COLOR and PACKER_NO_COLOR).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub color: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the template's builds.
    Build(BuildArgs),
    /// Check a template: syntax, types, references, variables and interpolation.
    Validate(ValidateArgs),
    /// Show a template's variables, builds, provisioners and post-processors.
    Inspect(InspectArgs),
    /// Evaluate interpolation expressions, one per line of stdin, as `packer console` does.
    Console(ConsoleArgs),
    /// Show the effective policy, or what it grants one plugin.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print kiln's version and the Packer version its templates are compatible with.
    Version,
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The template and the variables given for it.
#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// Template file (JSON, or YAML by its .yaml/.yml extension); `-` reads stdin.
    pub template: String,

    #[command(flatten)]
    pub variables: VariableArgs,
}

/// `--var` and `--var-file`. Their values are read from the parsed matches in command-line
/// order (`main::var_args_in_order`), which these vectors alone would lose.
#[derive(Debug, Args)]
pub struct VariableArgs {
    /// Set a variable: `--var name=value`. Repeatable; a later one wins.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    /// Read variables from a JSON or YAML file. Repeatable; later files and `--var`s given after
    /// a file win over it.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<String>,
}

/// `-only` / `-except`: build names or globs, comma-separated or repeated.
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Run only these builds (names or globs).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub only: Vec<String>,

    /// Run every build but these (names or globs); also skips post-processors by name.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub except: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub template: TemplateArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Delete existing output directories and artifacts instead of failing.
    #[arg(long)]
    pub force: bool,
    /// What to do when a build fails.
    #[arg(long, value_enum, default_value_t = OnError::Cleanup)]
    pub on_error: OnError,
    /// How many builds run at once; 0 means no limit.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub parallel_builds: usize,
    /// Pause between steps; builds run one at a time.
    #[arg(long)]
    pub debug: bool,
    /// Prefix each line of output with an RFC 3339 timestamp.
    #[arg(long)]
    pub timestamp_ui: bool,
    /// Let a third-party plugin type (from KILN_PLUGIN_PATH) run commands on this host, which
    /// kiln's default policy allows only shell-local and the template's Rhai scripts. Repeatable.
    #[arg(long, value_name = "TYPE")]
    pub allow_local_exec: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    Cleanup,
    Abort,
    Ask,
    RunCleanupProvisioner,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub template: TemplateArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Only check that the template parses and is well formed.
    #[arg(long)]
    pub syntax_only: bool,
}

/// `kiln policy ...`: the system, user and project policy files combined.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the effective policy, each value with the file it came from.
    Show {
        /// The template whose builds it is for (its `kiln.policy.toml` is the project layer);
        /// the current directory's when omitted.
        template: Option<String>,
    },
    /// Print what the policy grants one plugin type, and whether it may run.
    Explain {
        /// The plugin's template type (`shell`, `qemu`, `rhai`, a third-party type).
        plugin: String,
        /// Which kind of component the type is.
        #[arg(long, value_enum, default_value = "provisioner")]
        kind: PluginKindArg,
        /// The template it would run in (its directory is `${TEMPLATE_DIR}`).
        template: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PluginKindArg {
    Builder,
    Provisioner,
    PostProcessor,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Template file (JSON, or YAML by its .yaml/.yml extension); `-` reads stdin.
    pub template: String,
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Template whose variables the expressions may use.
    pub template: Option<String>,

    #[command(flatten)]
    pub variables: VariableArgs,
}

/// Rewrites Packer's `-only=a` to `--only=a` (and every other single-dash long flag).
/// Arguments after `--` are left alone.
pub fn normalize_packer_flags(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut rest_is_positional = false;
    args.into_iter()
        .map(|arg| {
            if rest_is_positional {
                return arg;
            }
            if arg == "--" {
                rest_is_positional = true;
                return arg;
            }
            // Any single-dash word (not a one-letter flag like -h, not a negative number) is a
            // long flag in Go's flag style: unknown ones then fail as `--name`, not as `-n`.
            match arg.strip_prefix('-') {
                Some(flag) if !flag.starts_with('-') => {
                    let name = flag.split('=').next().unwrap_or(flag);
                    let is_word =
                        name.len() > 1 && name.starts_with(|c: char| c.is_ascii_alphabetic());
                    if is_word { format!("-{arg}") } else { arg }
                }
                _ => arg,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packer_spellings_become_long_flags() {
        let args = [
            "kiln",
            "build",
            "-only=a,b",
            "-var",
            "x=1",
            "-var-file=v.json",
            "-machine-readable",
            "-h",
            "t.json",
            "--",
            "-force",
        ];
        let out = normalize_packer_flags(args.iter().map(|s| s.to_string()));
        assert_eq!(
            out,
            [
                "kiln",
                "build",
                "--only=a,b",
                "--var",
                "x=1",
                "--var-file=v.json",
                "--machine-readable",
                "-h",
                "t.json",
                "--",
                "-force"
            ]
        );
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
