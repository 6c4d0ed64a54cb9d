//! The ansible provisioner's options and Packer's checks (1.6.6 `provisioner/ansible`,
//! `Prepare`), with the filesystem and the version check passed in so the checks run in unit
//! tests.

use kiln_plugin_sdk::Error;
use kiln_plugin_sdk::config::{Problems, weak};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The program run on the host: `ansible-playbook`. A path to an executable, not a shell
    /// command, as in Packer.
    #[serde(default, deserialize_with = "weak::string")]
    pub command: String,
    #[serde(default, deserialize_with = "weak::strings")]
    pub extra_arguments: Vec<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub ansible_env_vars: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub playbook_file: String,
    /// `--ssh-extra-args`, joined without separators as Packer joins them.
    #[serde(default, deserialize_with = "weak::strings")]
    pub ansible_ssh_extra_args: Vec<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub groups: Vec<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub empty_groups: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub host_alias: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub user: String,
    /// Packer's proxy options: checked as Packer checks them, otherwise unused (kiln has no
    /// proxy adapter).
    #[serde(default, deserialize_with = "weak::int")]
    pub local_port: i64,
    #[serde(default, deserialize_with = "weak::string")]
    pub ssh_host_key_file: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub ssh_authorized_key_file: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub sftp_command: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub skip_version_check: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    pub use_sftp: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub inventory_directory: String,
    /// Rendered at provision time with `Host`, `Port`, `User`, `HostAlias` and the builder's
    /// data.
    #[serde(default, deserialize_with = "weak::string")]
    pub inventory_file_template: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub inventory_file: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub keep_inventory_file: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub galaxy_file: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub galaxy_command: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub galaxy_force_install: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub roles_path: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub collections_path: String,
    /// Packer's trilean: unset, true or false. See the crate docs for what each means here.
    #[serde(default, deserialize_with = "weak::opt_bool")]
    pub use_proxy: Option<bool>,
}

/// What a local path is, or why it cannot be used (the error's text, as `std::io` words it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    File,
    Dir,
}

/// What `prepare` needs from the world.
pub trait Checks {
    /// What `path` (from the config, relative to the working directory) is.
    fn stat(&self, path: &str) -> Result<Local, String>;
    /// Runs `<command> --version`; the reason when it cannot run or fails.
    fn version(&self, command: &str) -> Result<(), String>;
}

impl Config {
    /// Packer's `Prepare`: defaults, then every problem at once; the warnings name the proxy
    /// options kiln does not use.
    pub fn prepare(&mut self, checks: &dyn Checks) -> Result<Vec<String>, Error> {
        if self.command.is_empty() {
            self.command = "ansible-playbook".to_owned();
        }
        if self.galaxy_command.is_empty() {
            self.galaxy_command = "ansible-galaxy".to_owned();
        }
        if self.host_alias.is_empty() {
            self.host_alias = "default".to_owned();
        }
        let mut problems = Problems::new();
        let mut file = |key: &str, path: &str| {
            if let Err(message) = file_config(checks, key, path) {
                problems.add(key, message);
            }
        };
        file("playbook_file", &self.playbook_file);
        if !self.galaxy_file.is_empty() {
            file("galaxy_file", &self.galaxy_file);
        }
        if !self.ssh_authorized_key_file.is_empty() {
            file("ssh_authorized_key_file", &self.ssh_authorized_key_file);
        }
        if !self.ssh_host_key_file.is_empty() {
            file("ssh_host_key_file", &self.ssh_host_key_file);
        } else {
            self.ansible_env_vars
                .push("ANSIBLE_HOST_KEY_CHECKING=False".to_owned());
        }
        if !self.use_sftp {
            self.ansible_env_vars
                .push("ANSIBLE_SCP_IF_SSH=True".to_owned());
        }
        if self.local_port > 65535 {
            problems.add(
                "local_port",
                format!("local_port: {} must be a valid port", self.local_port),
            );
        }
        if !self.inventory_directory.is_empty() {
            let dir = &self.inventory_directory;
            match checks.stat(dir) {
                Ok(Local::Dir) => {}
                Ok(Local::File) => problems.add(
                    "inventory_directory",
                    format!("inventory_directory: {dir} must point to a directory"),
                ),
                Err(e) => problems.add(
                    "inventory_directory",
                    format!("inventory_directory: {dir} is invalid: {e}"),
                ),
            }
        }
        if !self.skip_version_check
            && let Err(e) = checks.version(&self.command)
        {
            problems.add(
                "command",
                format!("Error running \"{} --version\": {e}", self.command),
            );
        }
        problems.finish()?;

        let proxy_only: Vec<&str> = [
            ("local_port", self.local_port != 0),
            ("ssh_host_key_file", !self.ssh_host_key_file.is_empty()),
            (
                "ssh_authorized_key_file",
                !self.ssh_authorized_key_file.is_empty(),
            ),
            ("sftp_command", !self.sftp_command.is_empty()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        let mut warnings = Vec::new();
        if !proxy_only.is_empty() {
            warnings.push(format!(
                "{} configure Packer's SSH proxy adapter, which kiln does not have: kiln \
                 connects Ansible straight to the machine, so they are not used",
                proxy_only.join(", ")
            ));
        }
        Ok(warnings)
    }
}

/// Packer's `validateFileConfig` for a required file.
fn file_config(checks: &dyn Checks, key: &str, path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err(format!("{key} must be specified."));
    }
    match checks.stat(path) {
        Ok(Local::File) => Ok(()),
        Ok(Local::Dir) => Err(format!("{key}: {path} must point to a file")),
        Err(e) => Err(format!("{key}: {path} is invalid: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use kiln_plugin_sdk::config::decode;

    use super::*;

    /// Files whose name starts with `dir` are directories, `missing` do not exist; the
    /// version check fails for `no-such-ansible`.
    #[derive(Default)]
    struct Fake {
        versions: RefCell<Vec<String>>,
    }

    impl Checks for Fake {
        fn stat(&self, path: &str) -> Result<Local, String> {
            if path.starts_with("missing") {
                Err("No such file or directory".to_owned())
            } else if path.starts_with("dir") {
                Ok(Local::Dir)
            } else {
                Ok(Local::File)
            }
        }

        fn version(&self, command: &str) -> Result<(), String> {
            self.versions.borrow_mut().push(command.to_owned());
            if command == "no-such-ansible" {
                Err(format!(
                    "exec: \"{command}\": executable file not found in $PATH"
                ))
            } else {
                Ok(())
            }
        }
    }

    /// Each problem as `(key, message)`.
    type Found = Vec<(String, String)>;

    fn prepared(json: &str, fake: &Fake) -> Result<(Config, Vec<String>), Found> {
        let pairs = |e: Vec<kiln_plugin_sdk::ConfigError>| {
            e.into_iter()
                .map(|e| (e.key, e.message))
                .collect::<Vec<_>>()
        };
        let mut config: Config = decode(json).map_err(pairs)?;
        match config.prepare(fake) {
            Ok(warnings) => Ok((config, warnings)),
            Err(Error::InvalidConfig(list)) => Err(pairs(list)),
            Err(other) => Err(vec![(String::new(), other.message())]),
        }
    }

    fn errors(json: &str) -> Vec<(String, String)> {
        match prepared(json, &Fake::default()) {
            Ok(_) => Vec::new(),
            Err(e) => e,
        }
    }

    fn pair(key: &str, message: &str) -> (String, String) {
        (key.to_owned(), message.to_owned())
    }

    #[test]
    fn defaults_are_packers() {
        let fake = Fake::default();
        let (config, warnings) =
            prepared(r#"{"playbook_file": "site.yml"}"#, &fake).unwrap_or_default();
        assert_eq!(config.command, "ansible-playbook");
        assert_eq!(config.galaxy_command, "ansible-galaxy");
        assert_eq!(config.host_alias, "default");
        assert_eq!(
            config.ansible_env_vars,
            ["ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_SCP_IF_SSH=True"]
        );
        assert_eq!(config.use_proxy, None);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(*fake.versions.borrow(), ["ansible-playbook"]);
    }

    #[test]
    fn the_users_env_vars_come_first_and_use_sftp_drops_scp() {
        let (config, _) = prepared(
            r#"{"playbook_file": "site.yml", "ansible_env_vars": ["ANSIBLE_NOCOLOR=True"],
                "use_sftp": true, "ssh_host_key_file": "host_key"}"#,
            &Fake::default(),
        )
        .unwrap_or_default();
        assert_eq!(config.ansible_env_vars, ["ANSIBLE_NOCOLOR=True"]);
    }

    #[test]
    fn a_missing_playbook_is_named_as_packer_names_it() {
        assert_eq!(
            errors("{}"),
            [pair("playbook_file", "playbook_file must be specified.")]
        );
        assert_eq!(
            errors(r#"{"playbook_file": "missing.yml"}"#),
            [pair(
                "playbook_file",
                "playbook_file: missing.yml is invalid: No such file or directory"
            )]
        );
        assert_eq!(
            errors(r#"{"playbook_file": "dir-of-plays"}"#),
            [pair(
                "playbook_file",
                "playbook_file: dir-of-plays must point to a file"
            )]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        assert_eq!(
            errors(
                r#"{"playbook_file": "missing.yml", "galaxy_file": "missing-req.yml",
                    "ssh_authorized_key_file": "dir-keys", "local_port": 70000,
                    "inventory_directory": "inventory.ini",
                    "command": "no-such-ansible"}"#
            ),
            [
                pair(
                    "playbook_file",
                    "playbook_file: missing.yml is invalid: No such file or directory"
                ),
                pair(
                    "galaxy_file",
                    "galaxy_file: missing-req.yml is invalid: No such file or directory"
                ),
                pair(
                    "ssh_authorized_key_file",
                    "ssh_authorized_key_file: dir-keys must point to a file"
                ),
                pair("local_port", "local_port: 70000 must be a valid port"),
                pair(
                    "inventory_directory",
                    "inventory_directory: inventory.ini must point to a directory"
                ),
                pair(
                    "command",
                    "Error running \"no-such-ansible --version\": exec: \"no-such-ansible\": executable file not found in $PATH"
                ),
            ]
        );
        assert_eq!(
            errors(r#"{"playbook_file": "site.yml", "inventory_directory": "missing-inv"}"#),
            [pair(
                "inventory_directory",
                "inventory_directory: missing-inv is invalid: No such file or directory"
            )]
        );
    }

    #[test]
    fn skip_version_check_runs_nothing() {
        let fake = Fake::default();
        let result = prepared(
            r#"{"playbook_file": "site.yml", "skip_version_check": true, "command": "no-such-ansible"}"#,
            &fake,
        );
        assert!(result.is_ok(), "{result:?}");
        assert!(fake.versions.borrow().is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_types_are_named() {
        let e = errors(r#"{"playbook_file": "site.yml", "playbok_dir": "x"}"#);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "playbok_dir");
        assert!(e[0].1.contains("unknown configuration key"), "{e:?}");
        let e = errors(r#"{"playbook_file": "site.yml", "use_proxy": "perhaps"}"#);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "use_proxy");
    }

    #[test]
    fn use_proxy_is_a_trilean_and_proxy_options_are_warned_about() {
        let (config, warnings) = prepared(
            r#"{"playbook_file": "site.yml", "use_proxy": "false", "local_port": "2200",
                "sftp_command": "/usr/lib/sftp-server -e"}"#,
            &Fake::default(),
        )
        .unwrap_or_default();
        assert_eq!(config.use_proxy, Some(false));
        assert_eq!(
            warnings,
            [
                "local_port, sftp_command configure Packer's SSH proxy adapter, which kiln does not \
              have: kiln connects Ansible straight to the machine, so they are not used"
            ]
        );
    }
}
