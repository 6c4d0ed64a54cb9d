//! The `ansible` provisioner (Packer 1.6.6 `provisioner/ansible`): runs `ansible-playbook` on
//! the host against the machine being built, with Packer's inventory, command line,
//! environment and error words.
//!
//! **How Ansible reaches the machine.** Packer starts an SSH server on 127.0.0.1 (the "proxy
//! adapter") that relays Ansible's commands and file transfers over its own communicator, and
//! points the inventory at it. kiln connects Ansible straight to the machine instead, at the
//! address and as the user kiln's own SSH session uses, with the session's credential:
//!
//! - the proxy is the part of Packer's provisioner users complain about (5-10x slower than
//!   plain SSH, EOF timeouts, failed transfers, a host key newer OpenSSH refuses); direct SSH
//!   is Ansible's normal, fast path, with its pipelining and ControlPersist;
//! - Packer's own `use_proxy: false` already does this, so the inventory, the command line and
//!   the behaviour are Packer's, only with the machine's real address;
//! - a relay would put a second SSH server and an SSH protocol implementation into the host for
//!   one plugin, and widen what a plugin can drive on the host.
//!
//! The credential never passes through this component: the host's `ssh-login` capability
//! writes it to a 0600 file in a directory of the host's own, outside this component's
//! sandbox (the key for key logins, passed as `-e ansible_ssh_private_key_file=<file>` as
//! Packer passes its key; the password for password logins, passed as
//! `--connection-password-file <file>`, which Ansible feeds to `sshpass`; nothing for agent
//! logins), and removes it when the run is over or the build ends. The same directory holds
//! Ansible's known_hosts and SSH control sockets, so the user's `~/.ssh/known_hosts` is not
//! filled with build machines, and the host stops the ControlPersist connection with the login.
//!
//! `use_proxy` is accepted: false is Packer's direct mode exactly (an explicit `user` is the
//! one Ansible logs in as); true or unset is Packer's proxy, which ran every command as the
//! communicator's user, so that user is the one Ansible logs in as and an explicit `user` is
//! ignored, saying so. The proxy's own options (`local_port`, `ssh_host_key_file`,
//! `ssh_authorized_key_file`, `sftp_command`) are checked as Packer checks them and warned
//! about. The cost: the machine must be reachable from the host at the session's address
//! (true for every builder whose communicator kiln itself reaches without a bastion), and only
//! the SSH communicator is served; anything else fails saying why and pointing at
//! `ansible-local`.

mod command;
mod config;
mod inventory;

use kiln_plugin_sdk::host::local_exec;
use kiln_plugin_sdk::host::ssh_login::{self, Method};
use kiln_plugin_sdk::{BuildInfo, Context, Error, PluginInfo, Provisioner, Session, log, template};

use crate::command::{Credential, Run};
use crate::config::{Checks, Config, Local};

struct Ansible;

impl Provisioner for Ansible {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "ansible",
            env!("CARGO_PKG_VERSION"),
            "Runs ansible-playbook on the host against the machine being built.",
        )
    }

    fn prepare(config: &mut Config, build: &BuildInfo) -> Result<Vec<String>, Error> {
        config.prepare(&Host(build))
    }

    fn provision(
        config: Config,
        build: &BuildInfo,
        session: &Session,
        data: &[(String, String)],
    ) -> Result<(), Error> {
        provision(&config, build, session, data)
    }
}

kiln_plugin_sdk::export_provisioner!(Ansible);

/// The real world `prepare` checks: files through the component's preopens, the version
/// through the host's local exec.
struct Host<'a>(&'a BuildInfo);

impl Checks for Host<'_> {
    fn stat(&self, path: &str) -> Result<Local, String> {
        match std::fs::metadata(self.0.resolve(path)) {
            Ok(meta) if meta.is_dir() => Ok(Local::Dir),
            Ok(_) => Ok(Local::File),
            Err(e) => Err(kiln_plugin_sdk::io_reason(&e)),
        }
    }

    /// `<command> --version` with its output discarded (Packer reads it only for Ansible 1's
    /// inventory format): a shell runs it, so that only the exit status comes back.
    fn version(&self, command: &str) -> Result<(), String> {
        let status = local_exec::run(&local_exec::Command {
            argv: vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                "exec \"$0\" --version >/dev/null 2>&1".to_owned(),
                command.to_owned(),
            ],
            env: Vec::new(),
            cwd: Some(self.0.output_dir.clone()),
        })
        .map_err(|e| e.message())?;
        match status {
            0 => Ok(()),
            // Go's words for a program that is not there.
            127 => Err(format!(
                "exec: {}: executable file not found in $PATH",
                command::go_quote(command)
            )),
            n => Err(format!("exit status {n}")),
        }
    }
}

fn provision(
    config: &Config,
    build: &BuildInfo,
    session: &Session,
    data: &[(String, String)],
) -> Result<(), Error> {
    log::say("Provisioning with Ansible...");
    // Generated values (`{{ .HTTPIP }}`, `{{ .SSHPublicKey }}`) in the env vars and arguments.
    let env_vars = render_all(&config.ansible_env_vars, data)
        .context("Could not interpolate ansible env vars")?;
    let extra_arguments = render_all(&config.extra_arguments, data)
        .context("Could not interpolate ansible env vars")?;

    let kind = session.kind();
    if kind != "ssh" {
        return Err(Error::failed(format!(
            "the ansible provisioner connects Ansible to the machine over SSH, and this build's \
             communicator is {kind:?}: kiln has no proxy adapter (Packer's use_proxy) for other \
             communicators; run Ansible on the machine with ansible-local instead"
        )));
    }
    let login = ssh_login::open(session).context("Error connecting Ansible to the machine")?;
    let address = login.address();
    let session_user = login.user();
    let method = login.method();
    let credential_file = login.credential_file().unwrap_or_default();
    let state_dir = login.state_dir();
    let using = match method {
        Method::Key => "Using ssh keys from Packer communicator...",
        Method::Password => "Using the password from Packer communicator...",
        Method::Agent => "Using the ssh agent from Packer communicator...",
    };
    if config.use_proxy == Some(false) {
        log::message("Not using Proxy adapter for Ansible run:");
    } else {
        log::message(format!(
            "Connecting Ansible straight to {}:{} (kiln has no proxy adapter):",
            address.host, address.port
        ));
    }
    log::message(format!("\t{using}"));
    let user = if config.user.is_empty() {
        session_user
    } else if config.use_proxy == Some(false) {
        config.user.clone()
    } else {
        if config.user != session_user {
            log::message(format!(
                "user {:?} is not used: Ansible logs in as the communicator's user {session_user:?}, \
                 as whom Packer's proxy ran every command too; set \"use_proxy\": false to log in \
                 as {:?}",
                config.user, config.user
            ));
        }
        session_user
    };

    let generated = if config.inventory_file.is_empty() {
        Some(generate_inventory(
            config,
            build,
            data,
            &[
                ("HostAlias", &config.host_alias),
                ("User", &user),
                ("Host", &address.host),
                ("Port", &address.port.to_string()),
            ],
        )?)
    } else {
        None
    };
    let inventory = match &generated {
        Some(g) => g.path.display().to_string(),
        None => config.inventory_file.clone(),
    };

    if !config.galaxy_file.is_empty() {
        galaxy(config, build).context("Error executing Ansible: Error executing Ansible Galaxy")?;
    }

    let http = kiln_shell_local::env_vars::environment(build, data, &[])
        .into_iter()
        .find(|(k, _)| k == "PACKER_HTTP_ADDR")
        .map(|(_, v)| v);
    let credential = match method {
        Method::Key => Credential::Key(&credential_file),
        Method::Password => Credential::Password(&credential_file),
        Method::Agent => Credential::Agent,
    };
    let playbook = build.resolve(&config.playbook_file).display().to_string();
    // kiln's own settings first, so the user's ansible_env_vars override them: Ansible's SSH
    // state beside the login, where the host cleans it up.
    let mut env = vec![
        (
            "ANSIBLE_SSH_CONTROL_PATH_DIR".to_owned(),
            format!("{state_dir}/cp"),
        ),
        (
            "ANSIBLE_SSH_COMMON_ARGS".to_owned(),
            format!(
                "-o {}",
                shell_word(&format!("UserKnownHostsFile={state_dir}/known_hosts"))
            ),
        ),
    ];
    let user_env = command::env_pairs(&env_vars);
    let args = command::playbook_args(
        config,
        &extra_arguments,
        &user_env,
        &Run {
            build_name: &build.name,
            builder_type: &build.builder_type,
            http_addr: http.as_deref(),
            credential,
            inventory: &inventory,
            playbook: &playbook,
        },
    );
    env.extend(user_env);
    let mut argv = vec![config.command.clone()];
    argv.extend(args);
    log::say(format!("Executing Ansible: {}", argv.join(" ")));
    let status = local_exec::run(&local_exec::Command {
        argv,
        env,
        cwd: Some(build.output_dir.clone()),
    })
    .context("Error executing Ansible")?;
    drop(login);
    drop(generated);
    if status != 0 {
        return Err(Error::failed(format!(
            "Error executing Ansible: Non-zero exit status: exit status {status}"
        )));
    }
    Ok(())
}

/// Packer's `createInventoryFile`, in `inventory_directory` or else the build's temp dir.
fn generate_inventory(
    config: &Config,
    build: &BuildInfo,
    data: &[(String, String)],
    fields: &[(&str, &str)],
) -> Result<inventory::Generated, Error> {
    let line_template = if config.inventory_file_template.is_empty() {
        inventory::DEFAULT_TEMPLATE
    } else {
        &config.inventory_file_template
    };
    let mut all: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(fields);
    let host = template::render(line_template, &all)
        .context("Error generating inventory file from template")?;
    let dir = if config.inventory_directory.is_empty() {
        std::path::PathBuf::from(&build.temp_dir)
    } else {
        build.resolve(&config.inventory_directory)
    };
    let text = inventory::text(&host, &config.groups, &config.empty_groups);
    let path = inventory::create(&dir, &text, kiln_plugin_sdk::random_u64).map_err(|e| {
        Error::failed(format!(
            "Error preparing inventory file: {}",
            kiln_plugin_sdk::io_reason(&e)
        ))
    })?;
    log::debug(format!("ansible: inventory {}:\n{text}", path.display()));
    Ok(inventory::Generated {
        path,
        keep: config.keep_inventory_file,
    })
}

/// Packer's `executeGalaxy`: roles and/or collections from `galaxy_file`, on the host.
fn galaxy(config: &Config, build: &BuildInfo) -> Result<(), Error> {
    let content = std::fs::read_to_string(build.resolve(&config.galaxy_file))
        .map_err(|e| Error::failed(kiln_plugin_sdk::io_reason(&e)))?;
    for argv in command::galaxy_runs(config, &content) {
        log::message("Executing Ansible Galaxy");
        let status = local_exec::run(&local_exec::Command {
            argv,
            env: Vec::new(),
            cwd: Some(build.output_dir.clone()),
        })?;
        if status != 0 {
            return Err(Error::failed(format!(
                "Non-zero exit status: exit status {status}"
            )));
        }
    }
    Ok(())
}

fn render_all(items: &[String], data: &[(String, String)]) -> Result<Vec<String>, Error> {
    let refs: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    items
        .iter()
        .map(|item| {
            if item.contains("{{") {
                template::render(item, &refs)
            } else {
                Ok(item.clone())
            }
        })
        .collect()
}

/// One word for Ansible's shell-like split of SSH arguments.
fn shell_word(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-=+:,@%".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", kiln_shell_local::quote_value(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_spaces_stay_one_ssh_argument() {
        assert_eq!(
            shell_word("UserKnownHostsFile=/tmp/kiln-login-x/state/known_hosts"),
            "UserKnownHostsFile=/tmp/kiln-login-x/state/known_hosts"
        );
        assert_eq!(
            shell_word("UserKnownHostsFile=/my tmp/it's/known_hosts"),
            "'UserKnownHostsFile=/my tmp/it'\"'\"'s/known_hosts'"
        );
    }
}
