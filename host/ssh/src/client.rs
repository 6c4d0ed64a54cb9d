//! A connection to the machine: commands and file transfers, re-opened after a drop.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::Msg;

use crate::connect::{Connection, Observer, wait_for_ssh};
use crate::{Config, Error, Progress, TransferMethod, quote};

/// Which stream a chunk of command output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Its exit status; 128 + the signal's number when a signal ended it (as Go's ssh
    /// package reports it, so Packer scripts' expectations hold).
    Code(i32),
    /// The connection dropped before the command reported an exit status (a reboot).
    Disconnected,
}

/// An SSH connection to one machine. Calls may run concurrently; each opens its own channel.
pub struct Client {
    config: Config,
    observer: Arc<dyn Observer>,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

impl Client {
    /// Waits for the machine's sshd and connects (see [`Config::timeout`]).
    pub async fn connect(config: Config, observer: Arc<dyn Observer>) -> Result<Client, Error> {
        let connection = wait_for_ssh(&config, &*observer).await?;
        Ok(Client {
            config,
            observer,
            connection: tokio::sync::Mutex::new(Some(Arc::new(connection))),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Drops the connection and opens a new one (after a reboot).
    pub async fn reconnect(&self) -> Result<(), Error> {
        let mut slot = self.connection.lock().await;
        if let Some(old) = slot.take() {
            let _ = old
                .handle
                .disconnect(russh::Disconnect::ByApplication, "reconnecting", "en")
                .await;
        }
        *slot = Some(Arc::new(wait_for_ssh(&self.config, &*self.observer).await?));
        Ok(())
    }

    /// Closes the connection; a later call opens a new one.
    pub async fn close(&self) {
        if let Some(old) = self.connection.lock().await.take() {
            let _ = old
                .handle
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }

    /// The open connection, or a new one when it dropped.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>, Error> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| !c.handle.is_closed()) {
            return Ok(Arc::clone(connection));
        }
        if slot.is_some() {
            self.observer
                .message("The SSH connection was lost; reconnecting...");
        }
        let connection = Arc::new(wait_for_ssh(&self.config, &*self.observer).await?);
        *slot = Some(Arc::clone(&connection));
        Ok(connection)
    }

    /// A new session channel, reconnecting once if the connection turns out to be gone.
    pub(crate) async fn channel(&self) -> Result<russh::Channel<Msg>, Error> {
        let connection = self.connection().await?;
        match connection.handle.channel_open_session().await {
            Ok(channel) => Ok(channel),
            Err(_) if connection.handle.is_closed() => {
                let connection = self.connection().await?;
                Ok(connection.handle.channel_open_session().await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `command` with the remote user's shell, sending `stdin` (then end of file) and each
    /// chunk of output to `output` as it arrives.
    pub async fn exec(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> Result<ExitStatus, Error> {
        let mut channel = self.channel().await?;
        if self.config.pty {
            channel
                .request_pty(true, "vt100", 80, 40, 0, 0, &[])
                .await?;
        }
        channel.exec(true, command).await?;
        if let Some(bytes) = stdin {
            channel.data(bytes).await?;
        }
        channel.eof().await?;
        let mut status = None;
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { data } => output(Stream::Stdout, &data),
                ChannelMsg::ExtendedData { data, ext: 1 } => output(Stream::Stderr, &data),
                ChannelMsg::ExitStatus { exit_status } => {
                    status = Some(i32::try_from(exit_status).unwrap_or(i32::MAX));
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    status = Some(128 + signal_number(&signal_name));
                }
                ChannelMsg::Failure => {
                    return Err(Error::failed(format!(
                        "{} refused to run the command",
                        self.config.target()
                    )));
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        Ok(status.map_or(ExitStatus::Disconnected, ExitStatus::Code))
    }

    /// Runs `command` and returns its status and output.
    pub async fn exec_captured(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), Error> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let status = self
            .exec(command, stdin, &mut |stream, bytes| match stream {
                Stream::Stdout => stdout.extend_from_slice(bytes),
                Stream::Stderr => stderr.extend_from_slice(bytes),
            })
            .await?;
        Ok((status, stdout, stderr))
    }

    /// Runs a command that must succeed (mkdir, chmod), with its stderr in the error.
    pub(crate) async fn run_checked(&self, command: &str) -> Result<(), Error> {
        match self.exec_captured(command, None).await? {
            (ExitStatus::Code(0), _, _) => Ok(()),
            (ExitStatus::Code(code), _, stderr) => Err(Error::failed(format!(
                "`{command}` exited with {code}: {}",
                String::from_utf8_lossy(&stderr).trim()
            ))),
            (ExitStatus::Disconnected, _, _) => Err(Error::Disconnected(format!(
                "the connection dropped while running `{command}`"
            ))),
        }
    }

    /// Copies a host file to `remote` exactly, or a host directory's contents (recursively,
    /// modes kept) into `remote`, which is created.
    pub async fn upload(
        &self,
        local: &Path,
        remote: &str,
        progress: Progress<'_>,
    ) -> Result<(), Error> {
        let meta = std::fs::metadata(local)
            .map_err(|e| Error::failed(format!("cannot read {}: {e}", local.display())))?;
        match (self.config.transfer, meta.is_dir()) {
            (TransferMethod::Scp, false) => {
                crate::scp::upload_file(self, local, remote, progress).await
            }
            (TransferMethod::Scp, true) => {
                self.run_checked(&format!("mkdir -p {}", quote(remote)))
                    .await?;
                crate::scp::upload_dir(self, local, remote, progress).await
            }
            (TransferMethod::Sftp, false) => {
                crate::sftp::upload_file(self, local, remote, progress).await
            }
            (TransferMethod::Sftp, true) => {
                crate::sftp::upload_dir(self, local, remote, progress).await
            }
        }
    }

    /// Writes `content` to the remote file `remote` with `mode`.
    pub async fn upload_bytes(&self, content: &[u8], remote: &str, mode: u32) -> Result<(), Error> {
        match self.config.transfer {
            TransferMethod::Scp => crate::scp::upload_bytes(self, content, remote, mode).await,
            TransferMethod::Sftp => crate::sftp::upload_bytes(self, content, remote, mode).await,
        }
    }

    /// Copies a remote file to `local` (into it, when `local` is a directory), or a remote
    /// directory's contents into `local`, which is created.
    pub async fn download(
        &self,
        remote: &str,
        local: &Path,
        progress: Progress<'_>,
    ) -> Result<(), Error> {
        match self.config.transfer {
            TransferMethod::Scp => crate::scp::download(self, remote, local, progress).await,
            TransferMethod::Sftp => crate::sftp::download(self, remote, local, progress).await,
        }
    }
}

/// `export K='v'; line`: the environment for one command, set by the remote shell (sshd
/// refuses most `env` requests unless its `AcceptEnv` names them).
pub fn with_environment(line: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    for (key, value) in env {
        out.push_str(&format!("export {key}={}; ", quote(value)));
    }
    out.push_str(line);
    out
}

fn signal_number(signal: &russh::Sig) -> i32 {
    use russh::Sig;
    match signal {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(_) => 0,
    }
}

/// `5m0s`, `12s`, `250ms`: a duration as Go prints it, which Packer users know.
pub(crate) fn humanize(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_exported_quoted() {
        let env = vec![("A".to_owned(), "it's a b".to_owned())];
        assert_eq!(
            with_environment("echo $A", &env),
            r#"export A='it'"'"'s a b'; echo $A"#
        );
    }

    #[test]
    fn durations_read_as_go_prints_them() {
        assert_eq!(humanize(Duration::from_secs(300)), "5m0s");
        assert_eq!(humanize(Duration::from_millis(250)), "250ms");
        assert_eq!(humanize(Duration::from_secs(3723)), "1h2m3s");
    }
}
