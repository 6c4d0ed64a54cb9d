//! The shell provisioner's options, with Packer's defaults and checks (1.6.6
//! `provisioner/shell`, `Prepare`).

use std::time::Duration;

use kiln_plugin_sdk::config::{Problems, weak};
use kiln_plugin_sdk::{BuildInfo, Error};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, deserialize_with = "weak::strings")]
    pub inline: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub script: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub scripts: Vec<String>,
    #[serde(default, deserialize_with = "weak::ints")]
    pub valid_exit_codes: Vec<i32>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub environment_vars: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub env_var_format: String,
    /// Uploads scripts as they are; otherwise CRLF line endings become LF.
    #[serde(default, deserialize_with = "weak::bool")]
    pub binary: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub remote_path: String,
    /// Rendered at run time only, with `Path`, `Vars` and `EnvVarFile`.
    #[serde(default, deserialize_with = "weak::string")]
    pub execute_command: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub inline_shebang: String,
    #[serde(default, deserialize_with = "weak::duration")]
    pub pause_after: Duration,
    #[serde(default, deserialize_with = "weak::bool")]
    pub use_env_var_file: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub remote_folder: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub remote_file: String,
    #[serde(default, deserialize_with = "weak::duration")]
    pub start_retry_timeout: Duration,
    #[serde(default, deserialize_with = "weak::bool")]
    pub skip_clean: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    pub expect_disconnect: bool,
}

impl Config {
    /// Packer's `Prepare`: defaults, then every problem at once. `exists` says whether a local
    /// script can be read (`Err` is the reason it cannot).
    pub fn prepare(
        &mut self,
        exists: impl Fn(&str) -> Result<(), String>,
        random: impl FnMut() -> u64,
    ) -> Result<Vec<String>, Error> {
        self.defaults(random);
        let mut problems = Problems::new();
        let single = !self.script.is_empty();
        if single && !self.scripts.is_empty() {
            problems.add("script", "Only one of script or scripts can be specified.");
        }
        if single {
            self.scripts = vec![self.script.clone()];
        }
        if self.scripts.is_empty() && self.inline.is_empty() {
            problems.add(
                "",
                "Either a script file or inline script must be specified.",
            );
        } else if !self.scripts.is_empty() && !self.inline.is_empty() {
            problems.add(
                "inline",
                "Only a script file or an inline script can be specified, not both.",
            );
        }
        for (i, script) in self.scripts.iter().enumerate() {
            if let Err(e) = exists(script) {
                let key = if single {
                    "script".to_owned()
                } else {
                    format!("scripts[{i}]")
                };
                problems.add(key, format!("Bad script '{script}': {e}"));
            }
        }
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

    fn defaults(&mut self, mut random: impl FnMut() -> u64) {
        if self.env_var_format.is_empty() {
            self.env_var_format = if self.use_env_var_file {
                "export %s='%s'\n"
            } else {
                "%s='%s' "
            }
            .to_owned();
        }
        if self.execute_command.is_empty() {
            self.execute_command = if self.use_env_var_file {
                "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}"
            } else {
                "chmod +x {{.Path}}; {{.Vars}} {{.Path}}"
            }
            .to_owned();
        }
        if self.inline_shebang.is_empty() {
            self.inline_shebang = "/bin/sh -e".to_owned();
        }
        if self.start_retry_timeout.is_zero() {
            self.start_retry_timeout = Duration::from_secs(5 * 60);
        }
        if self.remote_folder.is_empty() {
            self.remote_folder = "/tmp".to_owned();
        }
        if self.remote_file.is_empty() {
            self.remote_file = format!("script_{}.sh", random() % 9999);
        }
        if self.remote_path.is_empty() {
            self.remote_path = format!("{}/{}", self.remote_folder, self.remote_file);
        }
        if self.valid_exit_codes.is_empty() {
            self.valid_exit_codes = vec![0];
        }
    }
}

/// Where the env var file goes: `<remote_folder>/varfile_<n>.sh`, as Packer names it.
pub fn env_var_file_path(remote_folder: &str, random: u64) -> String {
    format!("{remote_folder}/varfile_{}.sh", random % 9999)
}

/// Whether a local script can be read, as the reason it cannot.
pub fn script_exists(build: &BuildInfo, script: &str) -> Result<(), String> {
    std::fs::metadata(build.resolve(script))
        .map(|_| ())
        .map_err(|e| kiln_plugin_sdk::io_reason(&e))
}

#[cfg(test)]
mod tests {
    use kiln_plugin_sdk::config::decode;

    use super::*;

    fn prepared(json: &str) -> Result<Config, Vec<(String, String)>> {
        let mut config: Config = decode(json).map_err(|e| {
            e.into_iter()
                .map(|e| (e.key, e.message))
                .collect::<Vec<_>>()
        })?;
        let exists = |s: &str| {
            if s.starts_with("missing") {
                Err("No such file or directory".to_owned())
            } else {
                Ok(())
            }
        };
        match config.prepare(exists, || 12_345) {
            Ok(_) => Ok(config),
            Err(Error::InvalidConfig(errors)) => {
                Err(errors.into_iter().map(|e| (e.key, e.message)).collect())
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    fn errors(json: &str) -> Vec<(String, String)> {
        prepared(json).unwrap_err()
    }

    fn pair(key: &str, message: &str) -> (String, String) {
        (key.to_owned(), message.to_owned())
    }

    #[test]
    fn packers_defaults() {
        let c = prepared(r#"{"inline": ["echo hi"]}"#).unwrap();
        assert_eq!(c.env_var_format, "%s='%s' ");
        assert_eq!(c.execute_command, "chmod +x {{.Path}}; {{.Vars}} {{.Path}}");
        assert_eq!(c.inline_shebang, "/bin/sh -e");
        assert_eq!(c.start_retry_timeout, Duration::from_secs(300));
        assert_eq!(c.remote_folder, "/tmp");
        assert_eq!(c.remote_file, "script_2346.sh");
        assert_eq!(c.remote_path, "/tmp/script_2346.sh");
        assert_eq!(c.valid_exit_codes, [0]);
        assert!(!c.binary && !c.skip_clean && !c.expect_disconnect);
    }

    #[test]
    fn env_var_file_changes_the_defaults() {
        let c = prepared(r#"{"inline": ["x"], "use_env_var_file": true}"#).unwrap();
        assert_eq!(c.env_var_format, "export %s='%s'\n");
        assert_eq!(
            c.execute_command,
            "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}"
        );
        assert_eq!(
            env_var_file_path("/var/tmp", 10_000),
            "/var/tmp/varfile_1.sh"
        );
    }

    #[test]
    fn given_values_are_kept() {
        let c = prepared(
            r#"{"script": "a.sh", "remote_folder": "/var/tmp", "remote_file": "x.sh",
                "execute_command": "sudo {{.Path}}", "valid_exit_codes": "0,2",
                "start_retry_timeout": "10s", "pause_after": "1m"}"#,
        )
        .unwrap();
        assert_eq!(c.scripts, ["a.sh"]);
        assert_eq!(c.remote_path, "/var/tmp/x.sh");
        assert_eq!(c.execute_command, "sudo {{.Path}}");
        assert_eq!(c.valid_exit_codes, [0, 2]);
        assert_eq!(c.start_retry_timeout, Duration::from_secs(10));
        assert_eq!(c.pause_after, Duration::from_secs(60));
        let c =
            prepared(r#"{"inline": ["x"], "remote_folder": "/a", "remote_path": "/b/c"}"#).unwrap();
        assert_eq!(c.remote_path, "/b/c");
    }

    #[test]
    fn nothing_to_run() {
        assert_eq!(
            errors("{}"),
            [pair(
                "",
                "Either a script file or inline script must be specified."
            )]
        );
        assert_eq!(
            errors(r#"{"inline": []}"#),
            [pair(
                "",
                "Either a script file or inline script must be specified."
            )]
        );
    }

    #[test]
    fn too_many_kinds_of_script() {
        assert_eq!(
            errors(r#"{"script": "a.sh", "scripts": ["b.sh"]}"#),
            [pair(
                "script",
                "Only one of script or scripts can be specified."
            )]
        );
        assert_eq!(
            errors(r#"{"script": "a.sh", "inline": ["x"]}"#),
            [pair(
                "inline",
                "Only a script file or an inline script can be specified, not both."
            )]
        );
    }

    #[test]
    fn bad_scripts_and_variables_are_reported_together() {
        assert_eq!(
            errors(
                r#"{"scripts": ["ok.sh", "missing.sh"],
                    "environment_vars": ["A=1", "=x", "novalue", "B="]}"#
            ),
            [
                pair(
                    "scripts[1]",
                    "Bad script 'missing.sh': No such file or directory"
                ),
                pair(
                    "environment_vars[1]",
                    "Environment variable not in format 'key=value': =x"
                ),
                pair(
                    "environment_vars[2]",
                    "Environment variable not in format 'key=value': novalue"
                ),
            ]
        );
        assert_eq!(
            errors(r#"{"script": "missing.sh"}"#)[0].0,
            "script",
            "a single script is named as such"
        );
    }

    #[test]
    fn io_errors_lose_their_errno() {
        let e = std::io::Error::from_raw_os_error(2);
        assert!(e.to_string().contains("(os error 2)"));
        assert!(!kiln_plugin_sdk::io_reason(&e).contains("os error"));
        assert_eq!(
            kiln_plugin_sdk::io_reason(&std::io::Error::other("gone")),
            "gone"
        );
    }

    #[test]
    fn execute_command_must_be_one_string() {
        let e = errors(r#"{"inline": ["x"], "execute_command": ["a", "b"]}"#);
        assert_eq!(e[0].0, "execute_command");
    }
}
