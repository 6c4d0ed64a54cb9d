//! Packer's shell-local (1.6.6, `common/shell-local`), shared by the provisioner and the
//! post-processor: runs `inline` commands or scripts on the host through the host's local
//! exec, each through `execute_command` with `{{.Vars}}` and `{{.Script}}` rendered.

pub mod env_vars;
mod os;

use std::path::PathBuf;

use kiln_plugin_sdk::config::{Problems, weak};
use kiln_plugin_sdk::host::local_exec;
use kiln_plugin_sdk::{BuildInfo, Context, Error, log, template};
use serde::Deserialize;

pub use env_vars::{flatten, format_env_var, quote_value};

const SUPPORTED_OS: [&str; 6] = [
    "darwin", "freebsd", "linux", "openbsd", "solaris", "windows",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Deprecated: one command, run as `inline`.
    #[serde(default, deserialize_with = "weak::string")]
    pub command: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub inline: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub script: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub scripts: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub inline_shebang: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub environment_vars: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub env_var_format: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub execute_command: Vec<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub only_on: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub tempfile_extension: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub use_linux_pathing: bool,
    #[serde(default, deserialize_with = "weak::ints")]
    pub valid_exit_codes: Vec<i32>,
}

const TOO_MANY: &str = "You may only specify one of the following options: Command, Inline, \
                        Script or Scripts. Please consolidate these options in your config.";

impl Config {
    /// Packer's `Validate`: defaults, and every problem at once.
    pub fn prepare(&mut self, build: &BuildInfo) -> Result<Vec<String>, Error> {
        let mut problems = Problems::new();
        if self.inline_shebang.is_empty() {
            self.inline_shebang = "/bin/sh -e".to_owned();
        }
        if self.execute_command.is_empty() {
            self.execute_command = ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]
                .map(str::to_owned)
                .to_vec();
        }
        if self.valid_exit_codes.is_empty() {
            self.valid_exit_codes = vec![0];
        }
        if self.command.is_empty()
            && self.inline.is_empty()
            && self.scripts.is_empty()
            && self.script.is_empty()
        {
            problems.add(
                "inline",
                "Command, Inline, Script and Scripts options cannot all be empty.",
            );
        }
        if !self.command.is_empty() {
            if !self.inline.is_empty() || !self.scripts.is_empty() || !self.script.is_empty() {
                problems.add("command", TOO_MANY);
            } else {
                self.inline = vec![self.command.clone()];
            }
        }
        if !self.script.is_empty() {
            if !self.scripts.is_empty() || !self.inline.is_empty() {
                problems.add("script", TOO_MANY);
            } else {
                self.scripts = vec![self.script.clone()];
            }
        }
        if !self.scripts.is_empty() && !self.inline.is_empty() {
            problems.add("scripts", TOO_MANY);
        }
        for (i, script) in self.scripts.iter().enumerate() {
            if let Err(e) = std::fs::metadata(build.resolve(script)) {
                let key = if self.script.is_empty() {
                    format!("scripts[{i}]")
                } else {
                    "script".to_owned()
                };
                problems.add(key, format!("Bad script '{script}': {e}"));
            }
        }
        for (i, os) in self.only_on.iter().enumerate() {
            if !SUPPORTED_OS.contains(&os.as_str()) {
                problems.add(
                    format!("only_on[{i}]"),
                    format!(
                        "Invalid OS specified in only_on: '{os}'\nSupported OS names: {}",
                        SUPPORTED_OS.join(", ")
                    ),
                );
            }
        }
        if self.use_linux_pathing {
            let mut converted = Vec::new();
            for (i, script) in self.scripts.iter().enumerate() {
                let absolute = build.resolve(script).display().to_string();
                match convert_to_linux_path(&absolute) {
                    Ok(path) => converted.push(path),
                    Err(e) => problems.add(format!("scripts[{i}]"), e),
                }
            }
            self.scripts = converted;
            if !self.inline.is_empty() {
                problems.add(
                    "use_linux_pathing",
                    "Packer is unable to use the Command and Inline features with the Windows \
                     Linux Subsystem. Please use the Script or Scripts options instead",
                );
            }
        }
        if self.env_var_format.is_empty() {
            self.env_var_format = "%s='%s' ".to_owned();
        }
        self.tempfile_extension = self.tempfile_extension.trim_start_matches('.').to_owned();
        for (i, kv) in self.environment_vars.iter().enumerate() {
            if !matches!(kv.split_once('='), Some((k, _)) if !k.is_empty()) {
                problems.add(
                    format!("environment_vars[{i}]"),
                    format!("Environment variable not in format 'key=value': {kv}"),
                );
            }
        }
        problems.finish()?;
        Ok(Vec::new())
    }
}

/// `C:/path/to/file` → `/mnt/c/path/to/file`, as Packer's `ConvertToLinuxPath`.
fn convert_to_linux_path(path: &str) -> Result<String, String> {
    let path = path.replace('\\', "/");
    match path.split_once(":/") {
        Some((drive, rest)) => Ok(format!("/mnt/{}/{rest}", drive.to_lowercase())),
        None => Err(format!(
            "There was an error splitting your absolute path; expected to find a drive \
             following the format ':/' but did not: absolute path: {path}"
        )),
    }
}

/// Runs the commands. `data` is what build-time templates in `inline`, `environment_vars` and
/// `execute_command` may use: the builder's generated data (provisioner) or the artifact's
/// (post-processor).
pub fn run(config: &Config, build: &BuildInfo, data: &[(String, String)]) -> Result<(), Error> {
    if !config.only_on.is_empty() {
        let os = os::host_os()?;
        if !config.only_on.iter().any(|o| *o == os) {
            log::say("Skipping shell-local due to runtime OS");
            return Ok(());
        }
    }

    let data_refs: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let render = |text: &str| -> Result<String, Error> {
        if text.contains("{{") {
            template::render(text, &data_refs)
        } else {
            Ok(text.to_owned())
        }
    };

    let mut scripts: Vec<(String, PathBuf)> = config
        .scripts
        .iter()
        .map(|s| (s.clone(), build.resolve(s)))
        .collect();
    let mut inline_file = None;
    if scripts.is_empty() && !config.inline.is_empty() {
        let path = write_inline_script(config, build, &render)?;
        scripts.push((path.display().to_string(), path.clone()));
        inline_file = Some(path);
    }

    let result = run_scripts(config, build, data, &scripts, &render);
    if let Some(path) = inline_file {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn run_scripts(
    config: &Config,
    build: &BuildInfo,
    data: &[(String, String)],
    scripts: &[(String, PathBuf)],
    render: &dyn Fn(&str) -> Result<String, Error>,
) -> Result<(), Error> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for kv in &config.environment_vars {
        let kv = render(kv)?;
        if let Some((k, v)) = kv.split_once('=') {
            vars.push((k.to_owned(), v.to_owned()));
        }
    }
    let env = env_vars::environment(build, data, &vars);
    let flattened = flatten(&config.env_var_format, &env);

    for (shown, path) in scripts {
        let script = path.display().to_string();
        let mut command_data: Vec<(&str, &str)> =
            data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        command_data.retain(|(k, _)| !matches!(*k, "Vars" | "Script" | "Command"));
        command_data.extend([
            ("Vars", flattened.as_str()),
            ("Script", script.as_str()),
            ("Command", script.as_str()),
        ]);
        let argv = config
            .execute_command
            .iter()
            .map(|part| template::render(part, &command_data))
            .collect::<Result<Vec<_>, _>>()
            .context("Error processing command")?;
        log::say(format!("Running local shell script: {shown}"));
        log::debug(format!(
            "(shell-local): starting local command: {}",
            argv.join(" ")
        ));
        let status = local_exec::run(&local_exec::Command {
            argv,
            env: env.clone(),
            cwd: Some(build.output_dir.clone()),
        })
        .context(format!("Error executing script: {shown}"))?;
        if !config.valid_exit_codes.contains(&status) {
            return Err(Error::failed(format!(
                "Erroneous exit code {status} while executing script: {shown}\n\n\
                 Please see output above for more information."
            )));
        }
    }
    Ok(())
}

/// The inline commands as one script in the build's temp dir, headed by the shebang and made
/// executable.
fn write_inline_script(
    config: &Config,
    build: &BuildInfo,
    render: &dyn Fn(&str) -> Result<String, Error>,
) -> Result<PathBuf, Error> {
    let mut text = format!("#!{}\n", config.inline_shebang);
    for command in &config.inline {
        text.push_str(&render(command)?);
        text.push('\n');
    }
    let extension = if config.tempfile_extension.is_empty() {
        String::new()
    } else {
        format!(".{}", config.tempfile_extension)
    };
    let path = create_new(build, &extension, text.as_bytes())?;
    // WASI cannot change a file's mode: the host's chmod does it.
    let status = local_exec::run(&local_exec::Command {
        argv: vec![
            "chmod".to_owned(),
            "0700".to_owned(),
            path.display().to_string(),
        ],
        env: Vec::new(),
        cwd: None,
    })
    .context("Error preparing shell script")?;
    if status != 0 {
        log::debug(format!(
            "(shell-local): chmod of {} exited with {status}",
            path.display()
        ));
    }
    Ok(path)
}

/// A new file `packer-shell<N><extension>` in the temp dir (a component has no `mkstemp`).
fn create_new(build: &BuildInfo, extension: &str, content: &[u8]) -> Result<PathBuf, Error> {
    use std::io::Write as _;
    for n in 0u32.. {
        let path = build.temp_path(format!("packer-shell{n:09}{extension}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(content)
                    .context("Error preparing shell script")?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::failed(format!(
                    "Error preparing shell script: {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Err(Error::failed(
        "Error preparing shell script: no free file name",
    ))
}
