//! The ansible-local provisioner's options and Packer's checks (1.6.6
//! `provisioner/ansible-local`, `Prepare`), the filesystem passed in so they run in unit tests.

use kiln_plugin_sdk::Error;
use kiln_plugin_sdk::config::{Problems, weak};
use serde::Deserialize;

/// Where Packer stages the files on the machine, under a fresh time-ordered UUID.
pub const DEFAULT_STAGING_DIR: &str = "/tmp/packer-provisioner-ansible-local";

/// Packer's default `command`: a shell prefix, run on the machine.
pub const DEFAULT_COMMAND: &str = "ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, deserialize_with = "weak::string")]
    pub command: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub extra_arguments: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub group_vars: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub host_vars: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub playbook_dir: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub playbook_file: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub playbook_files: Vec<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub playbook_paths: Vec<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub role_paths: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub staging_directory: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub clean_staging_directory: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub inventory_file: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub inventory_groups: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub galaxy_file: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub galaxy_command: String,
    /// `playbook_files` made absolute by `prepare` (host paths).
    #[serde(skip)]
    pub playbooks: Vec<String>,
}

/// What a local path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    File,
    Dir,
}

/// What `prepare` needs from the world.
pub trait Checks {
    /// What `path` (from the config, relative to the working directory) is, or why it cannot
    /// be read.
    fn stat(&self, path: &str) -> Result<Local, String>;
    /// `path` as an absolute host path (Go's `filepath.Abs`).
    fn absolute(&self, path: &str) -> String;
    /// Packer's `uuid.TimeOrderedUUID()`.
    fn uuid(&self) -> String;
}

impl Config {
    /// Packer's `Prepare`: defaults, then every problem at once.
    pub fn prepare(&mut self, checks: &dyn Checks) -> Result<Vec<String>, Error> {
        if self.command.is_empty() {
            self.command = DEFAULT_COMMAND.to_owned();
        }
        if self.galaxy_command.is_empty() {
            self.galaxy_command = "ansible-galaxy".to_owned();
        }
        if self.staging_directory.is_empty() {
            self.staging_directory = format!("{DEFAULT_STAGING_DIR}/{}", checks.uuid());
        }
        let mut problems = Problems::new();
        match (
            self.playbook_file.is_empty(),
            self.playbook_files.is_empty(),
        ) {
            (false, false) => problems.add(
                "playbook_files",
                "Either playbook_file or playbook_files can be specified, not both",
            ),
            (true, true) => problems.add(
                "playbook_file",
                "Either playbook_file or playbook_files must be specified",
            ),
            _ => {}
        }
        let file = |key: &str, name: &str, path: &str, problems: &mut Problems| -> bool {
            let bad = match checks.stat(path) {
                Ok(Local::File) => return true,
                Ok(Local::Dir) => format!("{name}: {path} must point to a file"),
                Err(e) => format!("{name}: {path} is invalid: {e}"),
            };
            problems.add(key, bad);
            false
        };
        let dir = |key: &str, name: &str, path: &str, problems: &mut Problems| {
            let bad = match checks.stat(path) {
                Ok(Local::Dir) => return,
                Ok(Local::File) => format!("{name}: {path} must point to a directory"),
                Err(e) => format!("{name}: {path} is invalid: {e}"),
            };
            problems.add(key, bad);
        };
        if !self.playbook_file.is_empty() {
            file(
                "playbook_file",
                "playbook_file",
                &self.playbook_file,
                &mut problems,
            );
        }
        self.playbooks.clear();
        for (i, playbook) in self.playbook_files.iter().enumerate() {
            let key = format!("playbook_files[{i}]");
            if file(&key, "playbook_files", playbook, &mut problems) {
                self.playbooks.push(checks.absolute(playbook));
            }
        }
        if !self.inventory_file.is_empty() {
            file(
                "inventory_file",
                "inventory_file",
                &self.inventory_file,
                &mut problems,
            );
        }
        if !self.galaxy_file.is_empty() {
            file(
                "galaxy_file",
                "galaxy_file",
                &self.galaxy_file,
                &mut problems,
            );
        }
        for (key, path) in [
            ("playbook_dir", &self.playbook_dir),
            ("group_vars", &self.group_vars),
            ("host_vars", &self.host_vars),
        ] {
            if !path.is_empty() {
                dir(key, key, path, &mut problems);
            }
        }
        for (i, path) in self.playbook_paths.iter().enumerate() {
            dir(
                &format!("playbook_paths[{i}]"),
                "playbook_paths",
                path,
                &mut problems,
            );
        }
        for (i, path) in self.role_paths.iter().enumerate() {
            dir(
                &format!("role_paths[{i}]"),
                "role_paths",
                path,
                &mut problems,
            );
        }
        problems.finish()?;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use kiln_plugin_sdk::config::decode;

    use super::*;

    /// `missing*` does not exist, `dir*` is a directory, anything else a file; the working
    /// directory is `/work`.
    struct Fake;

    impl Checks for Fake {
        fn stat(&self, path: &str) -> Result<Local, String> {
            let name = path.rsplit('/').next().unwrap_or(path);
            if name.starts_with("missing") {
                Err("No such file or directory".to_owned())
            } else if name.starts_with("dir") {
                Ok(Local::Dir)
            } else {
                Ok(Local::File)
            }
        }

        fn absolute(&self, path: &str) -> String {
            if path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/work/{path}")
            }
        }

        fn uuid(&self) -> String {
            "6b0ecd80-7215-73d0-3e82-96da7fb26b20".to_owned()
        }
    }

    fn prepared(json: &str) -> Result<Config, Vec<(String, String)>> {
        let pairs = |e: Vec<kiln_plugin_sdk::ConfigError>| {
            e.into_iter()
                .map(|e| (e.key, e.message))
                .collect::<Vec<_>>()
        };
        let mut config: Config = decode(json).map_err(pairs)?;
        match config.prepare(&Fake) {
            Ok(_) => Ok(config),
            Err(Error::InvalidConfig(list)) => Err(pairs(list)),
            Err(other) => Err(vec![(String::new(), other.message())]),
        }
    }

    fn errors(json: &str) -> Vec<(String, String)> {
        prepared(json).err().unwrap_or_default()
    }

    fn pair(key: &str, message: &str) -> (String, String) {
        (key.to_owned(), message.to_owned())
    }

    #[test]
    fn defaults_are_packers() {
        let config = prepared(r#"{"playbook_file": "site.yml"}"#).unwrap_or_default();
        assert_eq!(
            config.command,
            "ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook"
        );
        assert_eq!(config.galaxy_command, "ansible-galaxy");
        assert_eq!(
            config.staging_directory,
            "/tmp/packer-provisioner-ansible-local/6b0ecd80-7215-73d0-3e82-96da7fb26b20"
        );
        assert!(!config.clean_staging_directory);
    }

    #[test]
    fn one_of_playbook_file_and_playbook_files() {
        assert_eq!(
            errors("{}"),
            [pair(
                "playbook_file",
                "Either playbook_file or playbook_files must be specified"
            )]
        );
        assert_eq!(
            errors(r#"{"playbook_file": "a.yml", "playbook_files": ["b.yml"]}"#),
            [pair(
                "playbook_files",
                "Either playbook_file or playbook_files can be specified, not both"
            )]
        );
        let config = prepared(r#"{"playbook_files": ["a.yml", "/abs/b.yml"]}"#).unwrap_or_default();
        assert_eq!(config.playbooks, ["/work/a.yml", "/abs/b.yml"]);
    }

    #[test]
    fn every_missing_path_is_named_at_once() {
        assert_eq!(
            errors(
                r#"{"playbook_files": ["missing.yml", "dir-plays"], "inventory_file": "missing-hosts",
                    "galaxy_file": "missing-req.yml", "playbook_dir": "playbook.yml",
                    "group_vars": "missing-gv", "host_vars": "hv.yml",
                    "playbook_paths": ["dir-ok", "missing-more"], "role_paths": ["role.tar"]}"#
            ),
            [
                pair(
                    "playbook_files[0]",
                    "playbook_files: missing.yml is invalid: No such file or directory"
                ),
                pair(
                    "playbook_files[1]",
                    "playbook_files: dir-plays must point to a file"
                ),
                pair(
                    "inventory_file",
                    "inventory_file: missing-hosts is invalid: No such file or directory"
                ),
                pair(
                    "galaxy_file",
                    "galaxy_file: missing-req.yml is invalid: No such file or directory"
                ),
                pair(
                    "playbook_dir",
                    "playbook_dir: playbook.yml must point to a directory"
                ),
                pair(
                    "group_vars",
                    "group_vars: missing-gv is invalid: No such file or directory"
                ),
                pair("host_vars", "host_vars: hv.yml must point to a directory"),
                pair(
                    "playbook_paths[1]",
                    "playbook_paths: missing-more is invalid: No such file or directory"
                ),
                pair(
                    "role_paths[0]",
                    "role_paths: role.tar must point to a directory"
                ),
            ]
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = errors(r#"{"playbook_file": "site.yml", "staging_dir": "/tmp/x"}"#);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "staging_dir");
        assert!(e[0].1.contains("unknown configuration key"), "{e:?}");
    }
}
