//! The scp protocol (Packer's default transfer), spoken to the remote `scp -t` (sink) and
//! `scp -f` (source): `C<mode> <size> <name>` for a file, `D`/`E` around a directory, `T` for
//! times, each answered by a 0 byte (or 1/2 and a message).

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use russh::ChannelMsg;
use russh::client::Msg;
use russh::{ChannelReadHalf, ChannelWriteHalf};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use crate::tree::{self, Kind, Node};
use crate::{Client, Error, Progress, quote};

/// One remote `scp` process and the bytes it sent that were not read yet.
struct Scp {
    read: ChannelReadHalf,
    write: ChannelWriteHalf<Msg>,
    buffer: Vec<u8>,
    position: usize,
    stderr: Vec<u8>,
    exit: Option<u32>,
    closed: bool,
    command: String,
}

impl Scp {
    async fn start(client: &Client, command: String) -> Result<Scp, Error> {
        let channel = client.channel().await?;
        channel.exec(true, command.as_str()).await?;
        let (read, write) = channel.split();
        Ok(Scp {
            read,
            write,
            buffer: Vec::new(),
            position: 0,
            stderr: Vec::new(),
            exit: None,
            closed: false,
            command,
        })
    }

    /// Waits for more output; false once the channel has closed.
    async fn fill(&mut self) -> Result<bool, Error> {
        while !self.closed {
            match self.read.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    self.buffer.drain(..self.position);
                    self.position = 0;
                    self.buffer.extend_from_slice(&data);
                    return Ok(true);
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => self.stderr.extend_from_slice(&data),
                Some(ChannelMsg::ExitStatus { exit_status }) => self.exit = Some(exit_status),
                Some(ChannelMsg::Failure) => {
                    return Err(self.error("the server refused to run it"));
                }
                Some(ChannelMsg::Close) | None => self.closed = true,
                Some(_) => {}
            }
        }
        Ok(false)
    }

    fn available(&self) -> &[u8] {
        &self.buffer[self.position..]
    }

    /// The next byte, or none at the end of the output.
    async fn next_byte(&mut self) -> Result<Option<u8>, Error> {
        while self.available().is_empty() {
            if !self.fill().await? {
                return Ok(None);
            }
        }
        let byte = self.buffer[self.position];
        self.position += 1;
        Ok(Some(byte))
    }

    async fn byte(&mut self) -> Result<u8, Error> {
        match self.next_byte().await? {
            Some(b) => Ok(b),
            None => Err(self.error("it ended early")),
        }
    }

    async fn line(&mut self) -> Result<String, Error> {
        let mut line = Vec::new();
        loop {
            match self.byte().await? {
                b'\n' => return Ok(String::from_utf8_lossy(&line).into_owned()),
                b => line.push(b),
            }
        }
    }

    /// Reads the 0 byte that confirms the last message, or the error that replaces it.
    async fn ack(&mut self) -> Result<(), Error> {
        match self.byte().await? {
            0 => Ok(()),
            1 | 2 => {
                let message = self.line().await?;
                Err(self.error(&message))
            }
            other => Err(self.error(&format!("unexpected reply byte {other}"))),
        }
    }

    async fn send(&self, bytes: &[u8]) -> Result<(), Error> {
        Ok(self.write.data(bytes).await?)
    }

    /// Copies `size` bytes of output into `out`.
    async fn copy_to(
        &mut self,
        mut size: u64,
        out: &mut tokio::fs::File,
        progress: Progress<'_>,
    ) -> Result<(), Error> {
        while size > 0 {
            if self.available().is_empty() && !self.fill().await? {
                return Err(self.error("it ended in the middle of a file"));
            }
            let chunk = self.available();
            let n = chunk.len().min(usize::try_from(size).unwrap_or(usize::MAX));
            out.write_all(&chunk[..n])
                .await
                .map_err(|e| Error::failed(format!("writing a downloaded file: {e}")))?;
            self.position += n;
            size -= n as u64;
            progress(n as u64);
        }
        Ok(())
    }

    /// Ends the input and waits for the remote scp to exit; an error if it did not exit 0.
    async fn finish(mut self) -> Result<(), Error> {
        let _ = self.write.eof().await;
        while self.fill().await? {}
        match self.exit {
            Some(0) => Ok(()),
            Some(code) => Err(self.error(&format!("it exited with {code}"))),
            None => Err(Error::Disconnected(format!(
                "the connection dropped during `{}`",
                self.command
            ))),
        }
    }

    fn error(&self, what: &str) -> Error {
        let stderr = String::from_utf8_lossy(&self.stderr);
        let stderr = stderr.trim();
        let hint = if stderr.contains("not found") {
            " (is scp installed on the machine? or set \"ssh_file_transfer_method\": \"sftp\")"
        } else {
            ""
        };
        Error::failed(format!(
            "scp (`{}`): {what}{}{stderr}{hint}",
            self.command,
            if stderr.is_empty() { "" } else { ": " }
        ))
    }
}

/// Counts the bytes read through it into a progress bar.
struct Counting<'a, R> {
    inner: R,
    progress: Progress<'a>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<'_, R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            (self.progress)(read as u64);
        }
        result
    }
}

/// A name the protocol can carry: one path component, no newline.
fn check_name(name: &str) -> Result<&str, Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\n') {
        return Err(Error::failed(format!(
            "scp cannot transfer a file named {name:?}"
        )));
    }
    Ok(name)
}

/// `dir/name` of a remote path (Packer runs the sink in the parent directory).
fn split_remote(remote: &str) -> (String, String) {
    let trimmed = remote.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some(("", name)) => ("/".to_owned(), name.to_owned()),
        Some((dir, name)) => (dir.to_owned(), name.to_owned()),
        None => (".".to_owned(), trimmed.to_owned()),
    }
}

pub(crate) async fn upload_file(
    client: &Client,
    local: &Path,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let mut node = tree::read(local)?;
    let (dir, name) = split_remote(remote);
    node.name = name;
    let mut scp = Scp::start(client, format!("scp -pt -- {}", quote(&dir))).await?;
    scp.ack().await?;
    send_node(&mut scp, &node, progress).await?;
    scp.finish().await
}

pub(crate) async fn upload_dir(
    client: &Client,
    local: &Path,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let node = tree::read(local)?;
    let mut scp = Scp::start(client, format!("scp -rpt -- {}", quote(remote))).await?;
    scp.ack().await?;
    if let Kind::Dir { children } = &node.kind {
        for child in children {
            send_node(&mut scp, child, progress).await?;
        }
    }
    scp.finish().await
}

pub(crate) async fn upload_bytes(
    client: &Client,
    content: &[u8],
    remote: &str,
    mode: u32,
) -> Result<(), Error> {
    let (dir, name) = split_remote(remote);
    let mut scp = Scp::start(client, format!("scp -t -- {}", quote(&dir))).await?;
    scp.ack().await?;
    scp.send(
        format!(
            "C{:04o} {} {}\n",
            mode & 0o7777,
            content.len(),
            check_name(&name)?
        )
        .as_bytes(),
    )
    .await?;
    scp.ack().await?;
    scp.send(content).await?;
    scp.send(&[0]).await?;
    scp.ack().await?;
    scp.finish().await
}

async fn send_node(scp: &mut Scp, node: &Node, progress: Progress<'_>) -> Result<(), Error> {
    let name = check_name(&node.name)?;
    scp.send(format!("T{} 0 {} 0\n", node.mtime, node.mtime).as_bytes())
        .await?;
    scp.ack().await?;
    match &node.kind {
        Kind::File { size } => {
            scp.send(format!("C{:04o} {size} {name}\n", node.mode).as_bytes())
                .await?;
            scp.ack().await?;
            let file = tokio::fs::File::open(&node.path)
                .await
                .map_err(|e| Error::failed(format!("cannot read {}: {e}", node.path.display())))?;
            // Exactly `size` bytes, even if the file grows meanwhile.
            let reader = Counting {
                inner: tokio::io::AsyncReadExt::take(file, *size),
                progress,
            };
            scp.write.data(reader).await?;
            scp.send(&[0]).await?;
            scp.ack().await
        }
        Kind::Dir { children } => {
            scp.send(format!("D{:04o} 0 {name}\n", node.mode).as_bytes())
                .await?;
            scp.ack().await?;
            for child in children {
                Box::pin(send_node(scp, child, progress)).await?;
            }
            scp.send(b"E\n").await?;
            scp.ack().await
        }
    }
}

pub(crate) async fn download(
    client: &Client,
    remote: &str,
    local: &Path,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let mut scp = Scp::start(client, format!("scp -rpf -- {}", quote(remote))).await?;
    scp.send(&[0]).await?;
    let mut dirs: Vec<(PathBuf, u32)> = Vec::new();
    let mut top = true;
    let local_err = |path: &Path, e: std::io::Error| {
        Error::failed(format!("cannot write {}: {e}", path.display()))
    };
    while let Some(kind) = scp.next_byte().await? {
        let line = scp.line().await?;
        match kind {
            b'T' => {}
            b'C' => {
                let (mode, size, name) =
                    parse_entry(&line).ok_or_else(|| scp.error(&format!("bad line {line:?}")))?;
                let name = check_name(name)?;
                let path = match dirs.last() {
                    Some((dir, _)) => dir.join(name),
                    None if local.is_dir() => local.join(name),
                    None => local.to_path_buf(),
                };
                scp.send(&[0]).await?;
                let mut file = tokio::fs::File::create(&path)
                    .await
                    .map_err(|e| local_err(&path, e))?;
                scp.copy_to(size, &mut file, progress).await?;
                file.flush().await.map_err(|e| local_err(&path, e))?;
                set_mode(&path, mode)?;
                scp.ack().await?;
                top = false;
            }
            b'D' => {
                let (mode, _, name) =
                    parse_entry(&line).ok_or_else(|| scp.error(&format!("bad line {line:?}")))?;
                let path = match dirs.last() {
                    Some((dir, _)) => dir.join(check_name(name)?),
                    None if top => local.to_path_buf(),
                    None => return Err(scp.error("a second top-level directory")),
                };
                std::fs::create_dir_all(&path).map_err(|e| local_err(&path, e))?;
                dirs.push((path, mode));
                top = false;
            }
            b'E' => {
                if let Some((dir, mode)) = dirs.pop() {
                    set_mode(&dir, mode)?;
                }
            }
            1 | 2 => return Err(scp.error(&line)),
            other => return Err(scp.error(&format!("unexpected message {:?}", other as char))),
        }
        scp.send(&[0]).await?;
    }
    scp.finish().await
}

/// `0644 1234 name` (after the `C` or `D`).
fn parse_entry(line: &str) -> Option<(u32, u64, &str)> {
    let mut parts = line.splitn(3, ' ');
    let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
    let size = parts.next()?.parse().ok()?;
    Some((mode, size, parts.next()?))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| Error::failed(format!("cannot set the mode of {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_split_like_packer() {
        assert_eq!(split_remote("/tmp/x.sh"), ("/tmp".into(), "x.sh".into()));
        assert_eq!(split_remote("/x"), ("/".into(), "x".into()));
        assert_eq!(split_remote("x"), (".".into(), "x".into()));
    }

    #[test]
    fn entries_parse_and_hostile_names_are_refused() {
        assert_eq!(parse_entry("0644 12 a b"), Some((0o644, 12, "a b")));
        assert!(check_name("../etc").is_err());
        assert!(check_name("..").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("ok.txt").is_ok());
    }
}
