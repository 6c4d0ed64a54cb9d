//! The `ssh` communicator as a [`Session`]: a [`kiln_ssh::Client`] whose output goes to the
//! build's UI line by line and whose large transfers show a progress bar.

use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;
use kiln_ssh::{Client, ExitStatus, Stream};

use super::{Captured, Exit, LineSink, RemoteCommand, Session};
use crate::plugin::PluginError;
use crate::ui::BuildLog;

/// Transfers at least this large get a progress bar.
const PROGRESS_THRESHOLD: u64 = 8 * 1024 * 1024;

pub struct SshSession {
    client: Client,
    log: BuildLog,
    /// The temporary key's comment, when `ssh_clear_authorized_keys` asks to remove it from
    /// the machine once provisioning is done.
    clear_key: Option<String>,
}

impl SshSession {
    pub fn new(client: Client, log: BuildLog, clear_key: Option<String>) -> Self {
        SshSession {
            client,
            log,
            clear_key,
        }
    }
}

/// Where kiln-ssh's progress notes go: the build's UI.
pub struct LogObserver(pub BuildLog);

impl kiln_ssh::Observer for LogObserver {
    fn say(&self, text: &str) {
        self.0.say(text);
    }
    fn message(&self, text: &str) {
        self.0.message(text);
    }
    fn debug(&self, text: &str) {
        self.0.debug(text);
    }
}

pub(crate) fn plugin_error(e: kiln_ssh::Error) -> PluginError {
    match e {
        kiln_ssh::Error::Timeout(t) => PluginError::Timeout(t),
        kiln_ssh::Error::Config(t) => PluginError::failed(format!("communicator: {t}")),
        kiln_ssh::Error::Disconnected(t) | kiln_ssh::Error::Failed(t) => PluginError::Failed(t),
    }
}

/// Splits a stream of output chunks into lines.
#[derive(Default)]
struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Lines {
    fn push(&mut self, stream: Stream, bytes: &[u8], sink: LineSink<'_>) {
        let (buffer, is_err) = match stream {
            Stream::Stdout => (&mut self.stdout, false),
            Stream::Stderr => (&mut self.stderr, true),
        };
        buffer.extend_from_slice(bytes);
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            sink(text.trim_end_matches('\r'), is_err);
        }
    }

    fn finish(&mut self, sink: LineSink<'_>) {
        for (buffer, is_err) in [(&mut self.stdout, false), (&mut self.stderr, true)] {
            if !buffer.is_empty() {
                sink(
                    String::from_utf8_lossy(buffer).trim_end_matches('\r'),
                    is_err,
                );
                buffer.clear();
            }
        }
    }
}

fn exit(status: ExitStatus) -> Exit {
    match status {
        ExitStatus::Code(code) => Exit::Status(code),
        ExitStatus::Disconnected => Exit::Disconnected,
    }
}

impl SshSession {
    fn command_line(command: &RemoteCommand) -> String {
        kiln_ssh::with_environment(&command.line, &command.env)
    }
}

#[async_trait]
impl Session for SshSession {
    fn kind(&self) -> &str {
        "ssh"
    }

    async fn exec(
        &self,
        command: &RemoteCommand,
        output: LineSink<'_>,
    ) -> Result<Exit, PluginError> {
        let line = Self::command_line(command);
        self.log.debug(&format!("ssh: running {line:?}"));
        let lines = Mutex::new(Lines::default());
        let status = self
            .client
            .exec(&line, command.stdin.as_deref(), &mut |stream, bytes| {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(stream, bytes, output);
                }
            })
            .await
            .map_err(plugin_error)?;
        if let Ok(mut lines) = lines.lock() {
            lines.finish(output);
        }
        Ok(exit(status))
    }

    async fn exec_captured(&self, command: &RemoteCommand) -> Result<Captured, PluginError> {
        let (status, stdout, stderr) = self
            .client
            .exec_captured(&Self::command_line(command), command.stdin.as_deref())
            .await
            .map_err(plugin_error)?;
        Ok(Captured {
            exit: exit(status),
            stdout,
            stderr,
        })
    }

    async fn upload(&self, host_path: &Path, remote_path: &str) -> Result<(), PluginError> {
        let total = kiln_ssh::local_size(host_path);
        let bar = (total >= PROGRESS_THRESHOLD).then(|| {
            Mutex::new(
                self.log
                    .progress(&format!("Uploading {}", host_path.display()), total),
            )
        });
        let advance = |n: u64| {
            if let Some(Ok(bar)) = bar.as_ref().map(Mutex::lock) {
                bar.advance(n);
            }
        };
        let result = self.client.upload(host_path, remote_path, &advance).await;
        if let Some(Ok(bar)) = bar.as_ref().map(Mutex::lock) {
            bar.finish();
        }
        result.map_err(plugin_error)
    }

    async fn upload_content(
        &self,
        content: &[u8],
        remote_path: &str,
        mode: u32,
    ) -> Result<(), PluginError> {
        self.client
            .upload_bytes(content, remote_path, mode)
            .await
            .map_err(plugin_error)
    }

    async fn download(&self, remote_path: &str, host_path: &Path) -> Result<(), PluginError> {
        // The size is unknown until the transfer starts; downloads show no bar.
        self.client
            .download(remote_path, host_path, &|_| {})
            .await
            .map_err(plugin_error)
    }

    async fn reconnect(&self) -> Result<(), PluginError> {
        self.client.reconnect().await.map_err(plugin_error)
    }

    fn ssh_config(&self) -> Option<&kiln_ssh::Config> {
        Some(self.client.config())
    }

    async fn provisioned(&self) {
        let Some(comment) = &self.clear_key else {
            return;
        };
        self.log
            .say("Trying to remove ephemeral keys from authorized_keys files");
        // Packer's commands; a failure is only logged, as Packer does.
        let pattern = kiln_ssh::quote(&format!("/ {comment}$/d"));
        for line in [
            format!(
                "sed -i.bak {pattern} ~/.ssh/authorized_keys; rm -f ~/.ssh/authorized_keys.bak"
            ),
            format!(
                "sudo -n sed -i.bak {pattern} /root/.ssh/authorized_keys; sudo -n rm -f /root/.ssh/authorized_keys.bak"
            ),
        ] {
            match self.client.exec_captured(&line, None).await {
                Ok((ExitStatus::Code(0), _, _)) => {}
                Ok((status, _, stderr)) => self.log.debug(&format!(
                    "removing the temporary key ({line}): {status:?}: {}",
                    String::from_utf8_lossy(&stderr).trim()
                )),
                Err(e) => self.log.debug(&format!("removing the temporary key: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_split_into_lines_per_stream() {
        let seen = Mutex::new(Vec::new());
        let sink = |line: &str, err: bool| {
            if let Ok(mut seen) = seen.lock() {
                seen.push((line.to_owned(), err));
            }
        };
        let mut lines = Lines::default();
        lines.push(Stream::Stdout, b"a\r\nb", &sink);
        lines.push(Stream::Stderr, b"oops\n", &sink);
        lines.push(Stream::Stdout, b"c\n", &sink);
        lines.push(Stream::Stdout, b"tail", &sink);
        lines.finish(&sink);
        let seen = seen.into_inner().unwrap_or_default();
        let expected: Vec<(String, bool)> =
            [("a", false), ("oops", true), ("bc", false), ("tail", false)]
                .into_iter()
                .map(|(l, e)| (l.to_owned(), e))
                .collect();
        assert_eq!(seen, expected);
    }
}
