//! The scp protocol (Packer's default transfer), spoken to the remote `scp -t` (sink) and
//! `scp -f` (source): `C<mode> <size> <name>` for a file, `D`/`E` around a directory, `T` for
//! times, each answered by a 0 byte (or 1/2 and a message).
//!
//! Uploads are pipelined: records and file data go out in [`CHUNK`]-sized batches while the
//! replies are read concurrently and checked in order, so a directory of small files costs no
//! round trip per file and a large file goes out in full-size SSH packets. The sink reads its
//! input strictly in order, so the first reply that is not a 0 names the first failure.
//!
//! A sink that refuses a record reports it and reads on, so what follows must not be misread:
//! a directory's children go only once its `D` is confirmed (else they would land in its
//! parent), and a file's data goes before its `C` is confirmed only when its first byte cannot
//! start a record ([`RECORD_STARTS`]), so a sink that could not create the file stops there
//! ("protocol error") instead of taking the data for records.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use russh::ChannelMsg;
use russh::client::Msg;
use russh::{ChannelReadHalf, ChannelWriteHalf};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use crate::tree::{self, Kind, Node};
use crate::{Client, Error, Progress, quote};

/// One remote `scp` process: its input, and its replies (read apart, so an upload can read
/// them while it sends).
struct Scp {
    replies: Replies,
    write: ChannelWriteHalf<Msg>,
}

/// What the remote scp sent that was not read yet, its stderr and how it ended.
struct Replies {
    read: ChannelReadHalf,
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
            replies: Replies {
                read,
                buffer: Vec::new(),
                position: 0,
                stderr: Vec::new(),
                exit: None,
                closed: false,
                command,
            },
            write,
        })
    }

    async fn send(&self, bytes: &[u8]) -> Result<(), Error> {
        Ok(self.write.data(bytes).await?)
    }

    async fn ack(&mut self) -> Result<(), Error> {
        self.replies.ack().await
    }

    /// Ends the input and waits for the remote scp to exit; an error if it did not exit 0.
    async fn finish(mut self) -> Result<(), Error> {
        let _ = self.write.eof().await;
        let replies = &mut self.replies;
        while replies.fill().await? {}
        match replies.exit {
            Some(0) => Ok(()),
            Some(code) => Err(replies.error(&format!("it exited with {code}"))),
            None => Err(Error::Disconnected(format!(
                "the connection dropped during `{}`",
                replies.command
            ))),
        }
    }
}

impl Replies {
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

    /// Reads `count` confirmations, publishing how many arrived to `counted`; the first error
    /// ends it.
    async fn acks(
        &mut self,
        count: usize,
        counted: Option<&watch::Sender<usize>>,
    ) -> Result<(), Error> {
        for n in 1..=count {
            self.ack().await?;
            if let Some(counted) = counted {
                counted.send_replace(n);
            }
        }
        Ok(())
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

/// The first bytes of a line a sink acts on: the records `C`, `D`, `T`, `E`, and 1 and 2, which
/// start the error lines it skips or stops at. Any other byte where it expects a record ends it.
const RECORD_STARTS: &[u8] = b"CDTE\x01\x02";

/// How much is read from files and handed to the channel at once: russh cuts it into packets
/// of the server's maximum size without copying (many small files share one batch).
const CHUNK: usize = 256 * 1024;

pub(crate) async fn upload_file(
    client: &Client,
    local: &Path,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let mut node = tree::read(local)?;
    let (dir, name) = split_remote(remote);
    node.name = name;
    let scp = Scp::start(client, format!("scp -pt -- {}", quote(&dir))).await?;
    send_pipelined(scp, std::slice::from_ref(&node), progress).await
}

pub(crate) async fn upload_dir(
    client: &Client,
    local: &Path,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let node = tree::read(local)?;
    // One command, not a `mkdir` first: each command the machine's shell starts costs time.
    let remote = quote(remote);
    let scp = Scp::start(
        client,
        format!("mkdir -p -- {remote} && scp -rpt -- {remote}"),
    )
    .await?;
    let children = match &node.kind {
        Kind::Dir { children } => children.as_slice(),
        Kind::File { .. } => &[],
    };
    send_pipelined(scp, children, progress).await
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
    let record = format!(
        "C{:04o} {} {}\n",
        mode & 0o7777,
        content.len(),
        check_name(&name)?
    );
    let mut batch = record.into_bytes();
    // As in [`Batch::node`]: content that could read as a record waits for the file.
    let wait = content.first().is_some_and(|b| RECORD_STARTS.contains(b));
    if wait {
        scp.send(&batch).await?;
        scp.ack().await?;
        batch.clear();
    }
    batch.extend_from_slice(content);
    batch.push(0);
    let replies = if wait { 1 } else { 2 };
    tokio::try_join!(send(&scp.write, batch), scp.replies.acks(replies, None))?;
    scp.finish().await
}

async fn send(write: &ChannelWriteHalf<Msg>, bytes: Vec<u8>) -> Result<(), Error> {
    Ok(write.data_bytes(bytes).await?)
}

/// Sends `nodes` to a sink that has not answered yet, reading its replies as they come.
async fn send_pipelined(mut scp: Scp, nodes: &[Node], progress: Progress<'_>) -> Result<(), Error> {
    scp.ack().await?;
    let replies = nodes.iter().map(replies).sum();
    let (counted, acked) = watch::channel(0);
    let mut batch = Batch {
        write: &scp.write,
        buffer: Vec::with_capacity(CHUNK),
        progress,
        expected: 0,
        acked,
    };
    let sending = async {
        for node in nodes {
            batch.node(node).await?;
        }
        batch.flush().await
    };
    // The first error wins: a refusal from the sink, or a local file that cannot be read.
    tokio::try_join!(sending, scp.replies.acks(replies, Some(&counted)))?;
    scp.finish().await
}

/// The replies a node's records get: the `T`, the `C` and the data for a file; the `T`, `D`
/// and `E` for a directory, and its children's.
fn replies(node: &Node) -> usize {
    match &node.kind {
        Kind::File { .. } => 3,
        Kind::Dir { children } => 3 + children.iter().map(replies).sum::<usize>(),
    }
}

/// Records and file data on their way to the channel, sent [`CHUNK`] bytes at a time.
struct Batch<'a> {
    write: &'a ChannelWriteHalf<Msg>,
    buffer: Vec<u8>,
    progress: Progress<'a>,
    /// Replies the records put so far will get.
    expected: usize,
    /// Replies read so far.
    acked: watch::Receiver<usize>,
}

impl Batch<'_> {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    /// [`Batch::put`] without a copy when nothing is batched.
    async fn put_owned(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        if self.buffer.is_empty() {
            self.buffer = bytes;
            if self.buffer.len() >= CHUNK {
                self.flush().await?;
            }
            Ok(())
        } else {
            self.put(&bytes).await
        }
    }

    async fn flush(&mut self) -> Result<(), Error> {
        if !self.buffer.is_empty() {
            let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
            send(self.write, full).await?;
        }
        Ok(())
    }

    /// Sends what is batched and waits until the sink has confirmed every record so far. An
    /// error reply ends the upload before the wait is over.
    async fn confirmed(&mut self) -> Result<(), Error> {
        self.flush().await?;
        let expected = self.expected;
        self.acked
            .wait_for(|n| *n >= expected)
            .await
            .map_err(|_| Error::failed("scp: the sink stopped replying"))?;
        Ok(())
    }

    async fn node(&mut self, node: &Node) -> Result<(), Error> {
        let name = check_name(&node.name)?;
        self.put(format!("T{} 0 {} 0\n", node.mtime, node.mtime).as_bytes())
            .await?;
        match &node.kind {
            Kind::File { size } => {
                let first = usize::try_from(*size).map_or(CHUNK, |size| size.min(CHUNK));
                let (file, first) = read_chunk(&node.path, None, first, *size).await?;
                self.put(format!("C{:04o} {size} {name}\n", node.mode).as_bytes())
                    .await?;
                self.expected += 2;
                // A sink that cannot create the file reads on as if its data were records; it
                // exits at the first byte that cannot start one. Data whose first byte can
                // waits for the sink to confirm the file.
                if first.first().is_some_and(|b| RECORD_STARTS.contains(b)) {
                    self.confirmed().await?;
                }
                self.file_rest(&node.path, *size, file, first).await?;
                self.expected += 1;
                self.put(&[0]).await
            }
            Kind::Dir { children } => {
                self.put(format!("D{:04o} 0 {name}\n", node.mode).as_bytes())
                    .await?;
                self.expected += 2;
                self.confirmed().await?;
                for child in children {
                    Box::pin(self.node(child)).await?;
                }
                self.expected += 1;
                self.put(b"E\n").await
            }
        }
    }

    /// Appends exactly `size` bytes of the file at `path`, starting with `first` (its first
    /// bytes, already read) and reading the rest from `file`.
    async fn file_rest(
        &mut self,
        path: &Path,
        size: u64,
        mut file: std::fs::File,
        first: Vec<u8>,
    ) -> Result<(), Error> {
        let mut left = size - first.len() as u64;
        (self.progress)(first.len() as u64);
        self.put_owned(first).await?;
        while left > 0 {
            let n = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
            let (opened, chunk) = read_chunk(path, Some(file), n, size).await?;
            file = opened;
            left -= n as u64;
            (self.progress)(n as u64);
            self.put_owned(chunk).await?;
        }
        Ok(())
    }
}

/// The next `n` bytes of the file at `path` (opened when `file` is none), read on the blocking
/// pool. The sink expects exactly what the `C` record announced (`size`), so a file that shrank
/// meanwhile is an error.
async fn read_chunk(
    path: &Path,
    file: Option<std::fs::File>,
    n: usize,
    size: u64,
) -> Result<(std::fs::File, Vec<u8>), Error> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || {
        let mut file = match file {
            Some(file) => file,
            None => std::fs::File::open(&owned)?,
        };
        let mut buffer = vec![0; n];
        file.read_exact(&mut buffer)?;
        Ok::<_, std::io::Error>((file, buffer))
    })
    .await
    .map_err(|e| Error::failed(format!("reading {}: {e}", path.display())))?;
    read.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::failed(format!(
            "{} became shorter than {size} bytes while it was sent",
            path.display()
        )),
        _ => Error::failed(format!("cannot read {}: {e}", path.display())),
    })
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
    while let Some(kind) = scp.replies.next_byte().await? {
        let line = scp.replies.line().await?;
        match kind {
            b'T' => {}
            b'C' => {
                let (mode, size, name) = parse_entry(&line)
                    .ok_or_else(|| scp.replies.error(&format!("bad line {line:?}")))?;
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
                scp.replies.copy_to(size, &mut file, progress).await?;
                file.flush().await.map_err(|e| local_err(&path, e))?;
                set_mode(&path, mode)?;
                scp.ack().await?;
                top = false;
            }
            b'D' => {
                let (mode, _, name) = parse_entry(&line)
                    .ok_or_else(|| scp.replies.error(&format!("bad line {line:?}")))?;
                let path = match dirs.last() {
                    Some((dir, _)) => dir.join(check_name(name)?),
                    None if top => local.to_path_buf(),
                    None => return Err(scp.replies.error("a second top-level directory")),
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
            1 | 2 => return Err(scp.replies.error(&line)),
            other => {
                return Err(scp
                    .replies
                    .error(&format!("unexpected message {:?}", other as char)));
            }
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
