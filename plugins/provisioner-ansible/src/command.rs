//! Packer's command lines (1.6.6 `createCmdArgs`, `executeGalaxy`), pure, so they are tested
//! against what Packer runs for the same options.

use crate::config::Config;

/// How `ansible-playbook` proves who it is to the machine: the files the host wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A private key file: `-e ansible_ssh_private_key_file=<file>`, as Packer passes its key.
    Key(&'a str),
    /// A password file: `--connection-password-file <file>` (Ansible runs `sshpass`).
    Password(&'a str),
    /// The host's ssh-agent: nothing to pass.
    Agent,
}

/// One `ansible-playbook` run.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub build_name: &'a str,
    pub builder_type: &'a str,
    /// `PACKER_HTTP_ADDR` when the builder serves HTTP.
    pub http_addr: Option<&'a str>,
    pub credential: Credential<'a>,
    pub inventory: &'a str,
    /// Absolute, as Packer makes it.
    pub playbook: &'a str,
}

/// The arguments after the command, in Packer's order: the build's variables, the SSH options,
/// the user's `extra_arguments` (rendered), the credential unless the user gave
/// `ansible_password`, then `-i <inventory> <playbook>` last.
pub fn playbook_args(
    config: &Config,
    extra_arguments: &[String],
    env: &[(String, String)],
    run: &Run<'_>,
) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
    if !run.build_name.is_empty() {
        push(&[
            "-e",
            &format!("packer_build_name={}", go_quote(run.build_name)),
        ]);
    }
    push(&["-e", &format!("packer_builder_type={}", run.builder_type)]);
    if let Some(addr) = run.http_addr {
        push(&["-e", &format!("packer_http_addr={addr}")]);
    }
    if let Credential::Key(_) = run.credential {
        let ssh_extra = if config.ansible_ssh_extra_args.is_empty() {
            "-o IdentitiesOnly=yes".to_owned()
        } else {
            config.ansible_ssh_extra_args.concat()
        };
        push(&["--ssh-extra-args", &format!("'{ssh_extra}'")]);
    }
    args.extend(extra_arguments.iter().cloned());
    let has_password = check_arg("ansible_password", &args);
    match run.credential {
        Credential::Key(file) if !has_password => {
            args.push("-e".to_owned());
            args.push(format!("ansible_ssh_private_key_file={file}"));
        }
        Credential::Password(file) if !has_password && !asks_for_password(&args) => {
            args.push("--connection-password-file".to_owned());
            args.push(file.to_owned());
        }
        _ => {}
    }
    if has_password
        && !check_arg("ansible_host_key_checking", &args)
        && !env.iter().any(|(k, _)| k == "ANSIBLE_HOST_KEY_CHECKING")
    {
        args.push("-e".to_owned());
        args.push("ansible_host_key_checking=False".to_owned());
    }
    args.push("-i".to_owned());
    args.push(run.inventory.to_owned());
    args.push(run.playbook.to_owned());
    args
}

/// Packer's `checkArg`: whether any argument, split at `=`, has a part equal to `name`.
pub fn check_arg(name: &str, args: &[String]) -> bool {
    args.iter()
        .any(|arg| arg.split('=').any(|part| part == name))
}

/// Whether the user already tells Ansible where the connection password comes from.
fn asks_for_password(args: &[String]) -> bool {
    args.iter().any(|arg| {
        let flag = arg.split('=').next().unwrap_or_default();
        matches!(
            flag,
            "-k" | "--ask-pass" | "--connection-password-file" | "--conn-pass-file"
        )
    })
}

/// `ansible_env_vars` entries as pairs; one without `=` is not a variable and is skipped.
pub fn env_pairs(vars: &[String]) -> Vec<(String, String)> {
    vars.iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Go's `%q` of a string: double-quoted, with Go's escapes.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `ansible-galaxy` runs for a requirements file with `content`: roles unless the file
/// lists only collections, collections when it lists them (Packer's `executeGalaxy`).
pub fn galaxy_runs(config: &Config, content: &str) -> Vec<Vec<String>> {
    let starts_line = |key: &str| content.lines().any(|line| line.starts_with(key));
    let has_roles = starts_line("roles:");
    let has_collections = starts_line("collections:");
    let file = config.galaxy_file.as_str();
    let mut runs = Vec::new();
    let mut with = |argv: &[&str], path: &str| {
        let mut run = vec![config.galaxy_command.clone()];
        run.extend(argv.iter().map(|s| (*s).to_owned()));
        if config.galaxy_force_install {
            run.push("-f".to_owned());
        }
        if !path.is_empty() {
            run.extend(["-p".to_owned(), path.to_owned()]);
        }
        runs.push(run);
    };
    if has_roles || !has_collections {
        with(&["install", "-r", file], &config.roles_path);
    }
    if has_collections {
        with(
            &["collection", "install", "-r", file],
            &config.collections_path,
        );
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        let mut config: Config = kiln_plugin_sdk::config::decode(json).unwrap_or_default();
        if config.galaxy_command.is_empty() {
            config.galaxy_command = "ansible-galaxy".to_owned();
        }
        config
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn run<'a>(credential: Credential<'a>) -> Run<'a> {
        Run {
            build_name: "null",
            builder_type: "null",
            http_addr: None,
            credential,
            inventory: "/tmp/packer-provisioner-ansible3211282037",
            playbook: "/tmp/pk/pb.yml",
        }
    }

    /// Recorded from Packer 1.6.6 (`ansible-playbook` replaced by a script printing its
    /// arguments) for the same options.
    #[test]
    fn the_arguments_are_packers() {
        let c = config(r#"{"extra_arguments": ["-e", "s=x", "-v"]}"#);
        let args = playbook_args(
            &c,
            &c.extra_arguments,
            &[],
            &run(Credential::Key("/tmp/ansible-key3955720062")),
        );
        assert_eq!(
            args,
            strings(&[
                "-e",
                "packer_build_name=\"null\"",
                "-e",
                "packer_builder_type=null",
                "--ssh-extra-args",
                "'-o IdentitiesOnly=yes'",
                "-e",
                "s=x",
                "-v",
                "-e",
                "ansible_ssh_private_key_file=/tmp/ansible-key3955720062",
                "-i",
                "/tmp/packer-provisioner-ansible3211282037",
                "/tmp/pk/pb.yml",
            ])
        );
    }

    #[test]
    fn ssh_extra_args_are_joined_as_packer_joins_them_and_the_http_address_is_passed() {
        let c = config(r#"{"ansible_ssh_extra_args": ["-o ForwardAgent=yes", " -4"]}"#);
        let mut r = run(Credential::Key("/k"));
        r.http_addr = Some("10.0.2.2:8100");
        r.build_name = "web \"one\"";
        let args = playbook_args(&c, &[], &[], &r);
        assert_eq!(
            &args[..8],
            strings(&[
                "-e",
                "packer_build_name=\"web \\\"one\\\"\"",
                "-e",
                "packer_builder_type=null",
                "-e",
                "packer_http_addr=10.0.2.2:8100",
                "--ssh-extra-args",
                "'-o ForwardAgent=yes -4'",
            ])
        );
    }

    #[test]
    fn a_users_password_replaces_the_key_and_turns_host_key_checking_off() {
        let c = config("{}");
        let extra = strings(&["-e", "ansible_password=Long-And-Unusual-Passw0rd"]);
        let args = playbook_args(&c, &extra, &[], &run(Credential::Key("/k")));
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("ansible_ssh_private_key_file"))
        );
        assert_eq!(
            args[args.len() - 5..],
            strings(&[
                "-e",
                "ansible_host_key_checking=False",
                "-i",
                "/tmp/packer-provisioner-ansible3211282037",
                "/tmp/pk/pb.yml",
            ])
        );
        let env = [("ANSIBLE_HOST_KEY_CHECKING".to_owned(), "False".to_owned())];
        let args = playbook_args(&c, &extra, &env, &run(Credential::Key("/k")));
        assert!(!args.contains(&"ansible_host_key_checking=False".to_owned()));
    }

    #[test]
    fn a_password_login_passes_the_password_file_and_an_agent_nothing() {
        let c = config("{}");
        let args = playbook_args(
            &c,
            &[],
            &[],
            &run(Credential::Password("/login/credential")),
        );
        assert_eq!(
            args,
            strings(&[
                "-e",
                "packer_build_name=\"null\"",
                "-e",
                "packer_builder_type=null",
                "--connection-password-file",
                "/login/credential",
                "-i",
                "/tmp/packer-provisioner-ansible3211282037",
                "/tmp/pk/pb.yml",
            ])
        );
        let own = strings(&["--conn-pass-file", "/mine"]);
        let args = playbook_args(
            &c,
            &own,
            &[],
            &run(Credential::Password("/login/credential")),
        );
        assert!(!args.contains(&"/login/credential".to_owned()), "{args:?}");
        let args = playbook_args(&c, &[], &[], &run(Credential::Agent));
        assert_eq!(args.len(), 7, "{args:?}");
        assert!(!args.iter().any(|a| a.contains("IdentitiesOnly")));
    }

    #[test]
    fn check_arg_splits_at_equals_signs_only() {
        assert!(check_arg(
            "ansible_password",
            &strings(&["ansible_password=x"])
        ));
        assert!(check_arg(
            "ansible_password",
            &strings(&["a=1", "ansible_password"])
        ));
        assert!(!check_arg(
            "ansible_password",
            &strings(&["ansible_password_file=x"])
        ));
        assert!(!check_arg(
            "ansible_password",
            &strings(&["x ansible_password=y"])
        ));
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("null"), "\"null\"");
        assert_eq!(go_quote("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\x01é\"");
    }

    #[test]
    fn galaxy_installs_roles_collections_or_both() {
        let c = config(
            r#"{"galaxy_file": "requirements.yml", "galaxy_force_install": true,
                "roles_path": "roles", "collections_path": "collections"}"#,
        );
        assert_eq!(
            galaxy_runs(&c, "- src: geerlingguy.java\n"),
            [strings(&[
                "ansible-galaxy",
                "install",
                "-r",
                "requirements.yml",
                "-f",
                "-p",
                "roles"
            ])]
        );
        assert_eq!(
            galaxy_runs(&c, "collections:\n  - community.general\n"),
            [strings(&[
                "ansible-galaxy",
                "collection",
                "install",
                "-r",
                "requirements.yml",
                "-f",
                "-p",
                "collections"
            ])]
        );
        let plain = config(r#"{"galaxy_file": "req.yml"}"#);
        assert_eq!(
            galaxy_runs(&plain, "roles:\n  - x\ncollections:\n  - y\n"),
            [
                strings(&["ansible-galaxy", "install", "-r", "req.yml"]),
                strings(&["ansible-galaxy", "collection", "install", "-r", "req.yml"]),
            ]
        );
    }

    #[test]
    fn env_vars_without_an_equals_sign_are_skipped() {
        assert_eq!(
            env_pairs(&strings(&["A=1", "B", "C=x=y"])),
            [
                ("A".to_owned(), "1".to_owned()),
                ("C".to_owned(), "x=y".to_owned())
            ]
        );
    }
}
