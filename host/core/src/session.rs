//! A connection to the machine being built, as plugins see it. The host owns every transport
//! ([`ssh::SshSession`] over `kiln-ssh`); plugins only get a session handed to them.

pub mod ssh;

use std::path::Path;

use async_trait::async_trait;

use crate::plugin::PluginError;

/// A command for the remote shell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteCommand {
    pub line: String,
    pub env: Vec<(String, String)>,
    pub stdin: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Status(i32),
    /// The connection dropped while the command ran (a reboot).
    Disconnected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    pub exit: Exit,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Where a streaming exec sends each line of output (`true` for stderr).
pub type LineSink<'a> = &'a (dyn Fn(&str, bool) + Send + Sync);

#[async_trait]
pub trait Session: Send + Sync {
    /// `ssh`, `docker`, `none`.
    fn kind(&self) -> &str;
    async fn exec(
        &self,
        command: &RemoteCommand,
        output: LineSink<'_>,
    ) -> Result<Exit, PluginError>;
    async fn exec_captured(&self, command: &RemoteCommand) -> Result<Captured, PluginError>;
    async fn upload(&self, host_path: &Path, remote_path: &str) -> Result<(), PluginError>;
    async fn upload_content(
        &self,
        content: &[u8],
        remote_path: &str,
        mode: u32,
    ) -> Result<(), PluginError>;
    async fn download(&self, remote_path: &str, host_path: &Path) -> Result<(), PluginError>;
    async fn reconnect(&self) -> Result<(), PluginError>;
    /// Called once the provisioners have run (`ssh_clear_authorized_keys` removes the
    /// temporary key here, as Packer's step after provisioning does).
    async fn provisioned(&self) {}
    /// The SSH connection's settings, credentials included, for the host to hand a login to
    /// a host program (`ssh-login`); none for any other kind of session.
    fn ssh_config(&self) -> Option<&kiln_ssh::Config> {
        None
    }
}

/// `communicator: none`: no connection; anything that needs one fails saying so.
pub struct NoSession;

impl NoSession {
    fn refuse() -> PluginError {
        PluginError::failed(
            "this build has no communicator (\"communicator\": \"none\"), so nothing can run on the machine; \
             use shell-local, or set a communicator",
        )
    }
}

#[async_trait]
impl Session for NoSession {
    fn kind(&self) -> &str {
        "none"
    }
    async fn exec(&self, _: &RemoteCommand, _: LineSink<'_>) -> Result<Exit, PluginError> {
        Err(Self::refuse())
    }
    async fn exec_captured(&self, _: &RemoteCommand) -> Result<Captured, PluginError> {
        Err(Self::refuse())
    }
    async fn upload(&self, _: &Path, _: &str) -> Result<(), PluginError> {
        Err(Self::refuse())
    }
    async fn upload_content(&self, _: &[u8], _: &str, _: u32) -> Result<(), PluginError> {
        Err(Self::refuse())
    }
    async fn download(&self, _: &str, _: &Path) -> Result<(), PluginError> {
        Err(Self::refuse())
    }
    async fn reconnect(&self) -> Result<(), PluginError> {
        Err(Self::refuse())
    }
}
