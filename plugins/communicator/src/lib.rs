//! Packer's communicator settings (`communicator`, `ssh_*`, `winrm_*`), validated and given
//! Packer's defaults as its `communicator.Config.Prepare` does, then handed to the host's
//! connector as JSON: ports as numbers even when the template gave strings.

use kiln_plugin_sdk::config::{Problems, weak};
use kiln_plugin_sdk::{Endpoint, duration};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Communicator {
    #[serde(default, deserialize_with = "weak::string")]
    pub communicator: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub pause_before_connecting: String,

    #[serde(default, deserialize_with = "weak::string")]
    pub ssh_host: String,
    #[serde(default, deserialize_with = "weak::int")]
    pub ssh_port: u16,
    #[serde(default, deserialize_with = "weak::string")]
    pub ssh_username: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub ssh_password: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_keypair_name: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub temporary_key_pair_name: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub temporary_key_pair_type: String,
    #[serde(
        default,
        deserialize_with = "weak::int",
        skip_serializing_if = "is_zero"
    )]
    pub temporary_key_pair_bits: u32,
    #[serde(
        default,
        deserialize_with = "weak::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ssh_ciphers: Vec<String>,
    #[serde(default, deserialize_with = "weak::bool")]
    pub ssh_clear_authorized_keys: bool,
    #[serde(
        default,
        deserialize_with = "weak::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ssh_key_exchange_algorithms: Vec<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub ssh_private_key_file: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_certificate_file: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub ssh_pty: bool,
    #[serde(default, deserialize_with = "weak::string")]
    pub ssh_timeout: String,
    /// Deprecated alias of `ssh_timeout`; it wins when set, as in Packer.
    #[serde(default, deserialize_with = "weak::string", skip_serializing)]
    pub ssh_wait_timeout: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub ssh_agent_auth: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    pub ssh_disable_agent_forwarding: bool,
    #[serde(default, deserialize_with = "weak::int")]
    pub ssh_handshake_attempts: u32,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_bastion_host: String,
    #[serde(
        default,
        deserialize_with = "weak::int",
        skip_serializing_if = "is_zero"
    )]
    pub ssh_bastion_port: u16,
    #[serde(default, deserialize_with = "weak::bool")]
    pub ssh_bastion_agent_auth: bool,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_bastion_username: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_bastion_password: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub ssh_bastion_interactive: bool,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_bastion_private_key_file: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_bastion_certificate_file: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub ssh_file_transfer_method: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_proxy_host: String,
    #[serde(
        default,
        deserialize_with = "weak::int",
        skip_serializing_if = "is_zero"
    )]
    pub ssh_proxy_port: u16,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_proxy_username: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_proxy_password: String,
    #[serde(default, deserialize_with = "weak::string")]
    pub ssh_keep_alive_interval: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ssh_read_write_timeout: String,
    #[serde(
        default,
        deserialize_with = "weak::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ssh_remote_tunnels: Vec<String>,
    #[serde(
        default,
        deserialize_with = "weak::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ssh_local_tunnels: Vec<String>,

    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub winrm_username: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub winrm_password: String,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub winrm_host: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub winrm_no_proxy: bool,
    #[serde(
        default,
        deserialize_with = "weak::int",
        skip_serializing_if = "is_zero"
    )]
    pub winrm_port: u16,
    #[serde(
        default,
        deserialize_with = "weak::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub winrm_timeout: String,
    #[serde(default, deserialize_with = "weak::bool")]
    pub winrm_use_ssl: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    pub winrm_insecure: bool,
    #[serde(default, deserialize_with = "weak::bool")]
    pub winrm_use_ntlm: bool,
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

impl Communicator {
    pub fn kind(&self) -> &str {
        &self.communicator
    }

    pub fn host(&self) -> &str {
        match self.kind() {
            "ssh" => &self.ssh_host,
            "winrm" => &self.winrm_host,
            _ => "",
        }
    }

    pub fn user(&self) -> &str {
        match self.kind() {
            "ssh" => &self.ssh_username,
            "winrm" => &self.winrm_username,
            _ => "",
        }
    }

    pub fn password(&self) -> &str {
        match self.kind() {
            "ssh" => &self.ssh_password,
            "winrm" => &self.winrm_password,
            _ => "",
        }
    }

    pub fn endpoint(&self) -> Endpoint {
        let port = match self.kind() {
            "ssh" => self.ssh_port,
            "winrm" => self.winrm_port,
            _ => 0,
        };
        Endpoint {
            host: self.host().to_owned(),
            port,
        }
    }

    /// Defaults and checks, as Packer's `communicator.Config.Prepare`.
    pub fn prepare(&mut self, problems: &mut Problems) {
        if self.communicator.is_empty() {
            self.communicator = "ssh".to_owned();
        }
        check_duration(
            problems,
            "pause_before_connecting",
            &self.pause_before_connecting,
        );
        match self.communicator.as_str() {
            "ssh" => self.prepare_ssh(problems),
            "winrm" => self.prepare_winrm(problems),
            "docker" | "dockerWindowsContainer" | "none" => {}
            other => problems.add(
                "communicator",
                format!("Communicator type {other} is invalid"),
            ),
        }
    }

    fn prepare_ssh(&mut self, problems: &mut Problems) {
        if self.ssh_port == 0 {
            self.ssh_port = 22;
        }
        for (key, value) in [
            ("ssh_timeout", &self.ssh_timeout),
            ("ssh_wait_timeout", &self.ssh_wait_timeout),
            ("ssh_keep_alive_interval", &self.ssh_keep_alive_interval),
            ("ssh_read_write_timeout", &self.ssh_read_write_timeout),
        ] {
            check_duration(problems, key, value);
        }
        if self.ssh_timeout.is_empty() && self.ssh_handshake_attempts == 0 {
            self.ssh_timeout = "5m".to_owned();
            self.ssh_handshake_attempts = 10;
        }
        if self.ssh_keep_alive_interval.is_empty() {
            self.ssh_keep_alive_interval = "5s".to_owned();
        }
        if self.ssh_private_key_file.is_empty() && !self.ssh_certificate_file.is_empty() {
            problems.add(
                "ssh_private_key_file",
                "ssh_private_key_file must be specified if ssh_certificate_file is specified",
            );
        }
        if self.ssh_bastion_private_key_file.is_empty()
            && !self.ssh_bastion_certificate_file.is_empty()
        {
            problems.add(
                "ssh_bastion_private_key_file",
                "ssh_bastion_private_key_file must be specified if ssh_bastion_certificate_file is specified",
            );
        }
        if !self.ssh_bastion_host.is_empty() {
            if self.ssh_bastion_port == 0 {
                self.ssh_bastion_port = 22;
            }
            if self.ssh_bastion_private_key_file.is_empty() && !self.ssh_private_key_file.is_empty()
            {
                self.ssh_bastion_private_key_file = self.ssh_private_key_file.clone();
                self.ssh_bastion_certificate_file = self.ssh_certificate_file.clone();
            }
        }
        if !self.ssh_proxy_host.is_empty() && self.ssh_proxy_port == 0 {
            self.ssh_proxy_port = 1080;
        }
        if self.ssh_file_transfer_method.is_empty() {
            self.ssh_file_transfer_method = "scp".to_owned();
        }
        if !self.ssh_wait_timeout.is_empty() {
            self.ssh_timeout = self.ssh_wait_timeout.clone();
        }
        if self.ssh_username.is_empty() {
            problems.add(
                "ssh_username",
                "An ssh_username must be specified\n  Note: some builders used to default ssh_username to \"root\".",
            );
        }
        if !self.ssh_bastion_host.is_empty()
            && self.ssh_bastion_password.is_empty()
            && self.ssh_bastion_private_key_file.is_empty()
            && !self.ssh_bastion_agent_auth
        {
            problems.add(
                "ssh_bastion_host",
                "ssh_bastion_password, ssh_bastion_private_key_file or ssh_bastion_agent_auth must be specified",
            );
        }
        if self.ssh_file_transfer_method != "scp" && self.ssh_file_transfer_method != "sftp" {
            problems.add(
                "ssh_file_transfer_method",
                format!(
                    "ssh_file_transfer_method ('{}') is invalid, valid methods: sftp, scp",
                    self.ssh_file_transfer_method
                ),
            );
        }
        if !self.ssh_bastion_host.is_empty() && !self.ssh_proxy_host.is_empty() {
            problems.add(
                "ssh_bastion_host",
                "please specify either ssh_bastion_host or ssh_proxy_host, not both",
            );
        }
        for (key, tunnels) in [
            ("ssh_local_tunnels", &self.ssh_local_tunnels),
            ("ssh_remote_tunnels", &self.ssh_remote_tunnels),
        ] {
            for (i, tunnel) in tunnels.iter().enumerate() {
                if let Err(e) = check_tunnel(tunnel) {
                    problems.add(
                        format!("{key}[{i}]"),
                        format!("{key} ('{tunnel}') is invalid: {e}"),
                    );
                }
            }
        }
    }

    fn prepare_winrm(&mut self, problems: &mut Problems) {
        if self.winrm_port == 0 {
            self.winrm_port = if self.winrm_use_ssl { 5986 } else { 5985 };
        }
        check_duration(problems, "winrm_timeout", &self.winrm_timeout);
        if self.winrm_timeout.is_empty() {
            self.winrm_timeout = "30m".to_owned();
        }
        if self.winrm_username.is_empty() {
            problems.add("winrm_username", "winrm_username must be specified.");
        }
    }
}

fn check_duration(problems: &mut Problems, key: &str, value: &str) {
    if !value.is_empty()
        && let Err(e) = duration::parse(value)
    {
        problems.add(key, e);
    }
}

// Key files are checked by the host, which reads them: this plugin never sees the user's keys.

/// `[bind_address:]port:host:hostport`, as Packer's `ParseTunnelArgument`.
fn check_tunnel(tunnel: &str) -> Result<(), String> {
    let parts: Vec<&str> = tunnel.split(':').collect();
    let (port, host_port) = match parts.as_slice() {
        [port, host, host_port] | [_, port, host, host_port] if !host.is_empty() => {
            (*port, *host_port)
        }
        _ => return Err("tunnel arguments should be of the form 'port:host:port' or 'bind_address:port:host:port'".to_owned()),
    };
    for p in [port, host_port] {
        if p.parse::<u16>().is_err() {
            return Err(format!("invalid port {p:?}"));
        }
    }
    Ok(())
}
