//! Transfers over the sftp subsystem (`ssh_file_transfer_method: sftp`).
//!
//! A directory's files are uploaded [`FILES_IN_FLIGHT`] at a time: each costs four requests
//! (open, write, close, set the mode), and waiting for each reply in turn would make a tree of
//! small files as slow as the round trips.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connect::Connection;
use crate::tree::{self, Kind, Node};
use crate::{Client, Error, Progress};

/// Bytes read from a file per write request batch.
const CHUNK: usize = 256 * 1024;
/// Files of a directory upload in flight at once.
const FILES_IN_FLIGHT: usize = 32;

/// The connection's sftp session, opened on first use; it keeps the connection alive while a
/// transfer uses it.
struct Sftp {
    session: Arc<SftpSession>,
    _connection: Arc<Connection>,
}

impl std::ops::Deref for Sftp {
    type Target = SftpSession;
    fn deref(&self) -> &SftpSession {
        &self.session
    }
}

async fn session(client: &Client) -> Result<Sftp, Error> {
    let connection = client.connection().await?;
    let session = connection
        .sftp
        .get_or_try_init(|| async {
            let channel = client.channel().await?;
            channel.request_subsystem(true, "sftp").await.map_err(|e| {
                Error::failed(format!("sftp: the server refused the subsystem: {e}"))
            })?;
            let config = russh_sftp::client::Config {
                max_concurrent_writes: 64,
                max_concurrent_reads: 64,
                request_timeout_secs: 60,
                ..Default::default()
            };
            SftpSession::new_with_config(channel.into_stream(), config)
                .await
                .map(Arc::new)
                .map_err(|e| Error::failed(format!("sftp: {e}")))
        })
        .await?
        .clone();
    Ok(Sftp {
        session,
        _connection: connection,
    })
}

fn sftp_error(what: &str, path: &str) -> impl Fn(russh_sftp::client::error::Error) -> Error {
    let what = what.to_owned();
    let path = path.to_owned();
    move |e| Error::failed(format!("sftp: {what} {path}: {e}"))
}

async fn write_file(
    sftp: &SftpSession,
    node: &Node,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let mut remote_file = sftp
        .open_with_flags(
            remote,
            OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE,
        )
        .await
        .map_err(sftp_error("cannot create", remote))?;
    let mut local = tokio::fs::File::open(&node.path)
        .await
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", node.path.display())))?;
    // Sized to the file, so small files do not each clear a whole chunk.
    let size = match node.kind {
        Kind::File { size } => usize::try_from(size).unwrap_or(CHUNK),
        Kind::Dir { .. } => CHUNK,
    };
    let mut buffer = vec![0u8; size.clamp(1, CHUNK)];
    loop {
        let n = local
            .read(&mut buffer)
            .await
            .map_err(|e| Error::failed(format!("cannot read {}: {e}", node.path.display())))?;
        if n == 0 {
            break;
        }
        remote_file
            .write_all(&buffer[..n])
            .await
            .map_err(|e| Error::failed(format!("sftp: writing {remote}: {e}")))?;
        progress(n as u64);
    }
    remote_file
        .shutdown()
        .await
        .map_err(|e| Error::failed(format!("sftp: closing {remote}: {e}")))?;
    chmod(sftp, remote, node.mode).await
}

async fn chmod(sftp: &SftpSession, remote: &str, mode: u32) -> Result<(), Error> {
    let attributes = FileAttributes {
        permissions: Some(mode & 0o7777),
        ..FileAttributes::empty()
    };
    sftp.set_metadata(remote, attributes)
        .await
        .map_err(sftp_error("cannot set the mode of", remote))
}

/// `mkdir -p`, one component at a time.
async fn create_dirs(sftp: &SftpSession, remote: &str) -> Result<(), Error> {
    let mut path = String::new();
    for part in remote.split('/') {
        if part.is_empty() {
            if path.is_empty() {
                path.push('/');
            }
            continue;
        }
        if !path.is_empty() && !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(part);
        match sftp.metadata(path.as_str()).await {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::failed(format!(
                    "sftp: {path} exists and is not a directory"
                )));
            }
            Err(_) => sftp
                .create_dir(path.as_str())
                .await
                .map_err(sftp_error("cannot create the directory", &path))?,
        }
    }
    Ok(())
}

pub(crate) async fn upload_file(
    client: &Client,
    local: &Path,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let node = tree::read(local)?;
    let sftp = &session(client).await?;
    write_file(sftp, &node, remote, progress).await
}

pub(crate) async fn upload_dir(
    client: &Client,
    local: &Path,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let node = tree::read(local)?;
    let sftp = &session(client).await?;
    create_dirs(sftp, remote).await?;
    // Directories first, parents before children; then every file, several at a time; then
    // the directories' modes, children first (a read-only directory is filled before).
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    if let Kind::Dir { children } = &node.kind {
        for child in children {
            collect(child, join(remote, &child.name), &mut dirs, &mut files);
        }
    }
    for (_, path) in &dirs {
        if sftp.metadata(path.as_str()).await.is_err() {
            sftp.create_dir(path.as_str())
                .await
                .map_err(sftp_error("cannot create the directory", path))?;
        }
    }
    let uploads = files.iter().map(|(node, path)| {
        Box::pin(write_file(sftp, node, path, progress))
            as Pin<Box<dyn Future<Output = Result<(), Error>> + Send + '_>>
    });
    at_most(FILES_IN_FLIGHT, uploads).await?;
    for (node, path) in dirs.iter().rev() {
        chmod(sftp, path, node.mode).await?;
    }
    Ok(())
}

/// The directories under `node` (itself included) in pre-order, and its files, with their
/// remote paths.
fn collect<'a>(
    node: &'a Node,
    remote: String,
    dirs: &mut Vec<(&'a Node, String)>,
    files: &mut Vec<(&'a Node, String)>,
) {
    match &node.kind {
        Kind::File { .. } => files.push((node, remote)),
        Kind::Dir { children } => {
            let paths: Vec<String> = children.iter().map(|c| join(&remote, &c.name)).collect();
            dirs.push((node, remote));
            for (child, path) in children.iter().zip(paths) {
                collect(child, path, dirs, files);
            }
        }
    }
}

/// Runs `jobs` with at most `limit` of them in flight, in this task; the first error ends
/// them all.
async fn at_most<'a>(
    limit: usize,
    jobs: impl Iterator<Item = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>>,
) -> Result<(), Error> {
    let mut jobs = jobs.fuse();
    let mut running = Vec::with_capacity(limit);
    std::future::poll_fn(|cx| {
        loop {
            while running.len() < limit {
                match jobs.next() {
                    Some(job) => running.push(job),
                    None => break,
                }
            }
            if running.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let before = running.len();
            let mut i = 0;
            while i < running.len() {
                match running[i].as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => {
                        drop(running.swap_remove(i));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => i += 1,
                }
            }
            if running.len() == before {
                return Poll::Pending;
            }
        }
    })
    .await
}

pub(crate) async fn upload_bytes(
    client: &Client,
    content: &[u8],
    remote: &str,
    mode: u32,
) -> Result<(), Error> {
    let sftp = &session(client).await?;
    let mut file = sftp
        .open_with_flags(
            remote,
            OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE,
        )
        .await
        .map_err(sftp_error("cannot create", remote))?;
    file.write_all(content)
        .await
        .map_err(|e| Error::failed(format!("sftp: writing {remote}: {e}")))?;
    file.shutdown()
        .await
        .map_err(|e| Error::failed(format!("sftp: closing {remote}: {e}")))?;
    chmod(sftp, remote, mode).await
}

pub(crate) async fn download(
    client: &Client,
    remote: &str,
    local: &Path,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let sftp = &session(client).await?;
    let meta = sftp
        .metadata(remote)
        .await
        .map_err(sftp_error("cannot read", remote))?;
    if meta.is_dir() {
        download_dir(sftp, remote, local, meta.permissions, progress).await
    } else {
        let target = match local.is_dir() {
            true => local.join(basename(remote)?),
            false => local.to_path_buf(),
        };
        download_file(sftp, remote, &target, meta.permissions, progress).await
    }
}

async fn download_dir(
    sftp: &SftpSession,
    remote: &str,
    local: &Path,
    mode: Option<u32>,
    progress: Progress<'_>,
) -> Result<(), Error> {
    std::fs::create_dir_all(local)
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", local.display())))?;
    let entries = sftp
        .read_dir(remote)
        .await
        .map_err(sftp_error("cannot list", remote))?;
    for entry in entries {
        let name = entry.file_name();
        if name == "." || name == ".." || name.contains('/') {
            continue;
        }
        let remote_child = join(remote, &name);
        let local_child = local.join(&name);
        let meta = entry.metadata();
        if meta.is_dir() {
            Box::pin(download_dir(
                sftp,
                &remote_child,
                &local_child,
                meta.permissions,
                progress,
            ))
            .await?;
        } else {
            download_file(
                sftp,
                &remote_child,
                &local_child,
                meta.permissions,
                progress,
            )
            .await?;
        }
    }
    set_mode(local, mode)
}

fn set_mode(local: &Path, mode: Option<u32>) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    match mode {
        Some(mode) => {
            std::fs::set_permissions(local, std::fs::Permissions::from_mode(mode & 0o7777)).map_err(
                |e| Error::failed(format!("cannot set the mode of {}: {e}", local.display())),
            )
        }
        None => Ok(()),
    }
}

async fn download_file(
    sftp: &SftpSession,
    remote: &str,
    local: &Path,
    mode: Option<u32>,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let local_err =
        |e: std::io::Error| Error::failed(format!("cannot write {}: {e}", local.display()));
    let mut remote_file = sftp
        .open(remote)
        .await
        .map_err(sftp_error("cannot open", remote))?;
    let mut out = tokio::fs::File::create(local).await.map_err(local_err)?;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = remote_file
            .read(&mut buffer)
            .await
            .map_err(|e| Error::failed(format!("sftp: reading {remote}: {e}")))?;
        if n == 0 {
            break;
        }
        out.write_all(&buffer[..n]).await.map_err(local_err)?;
        progress(n as u64);
    }
    out.flush().await.map_err(local_err)?;
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(local, std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(local_err)?;
    }
    Ok(())
}

fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

fn basename(remote: &str) -> Result<&str, Error> {
    match remote.trim_end_matches('/').rsplit('/').next() {
        Some(name) if !name.is_empty() && name != ".." && name != "." => Ok(name),
        _ => Err(Error::failed(format!("sftp: {remote:?} names no file"))),
    }
}
