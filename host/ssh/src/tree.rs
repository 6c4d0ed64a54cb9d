//! A host file tree read before an upload: names, modes, sizes, in a stable order.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::Error;

/// Deeper than this is taken for a symlink loop.
const MAX_DEPTH: usize = 64;

pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    /// Permission bits (`0o755`).
    pub(crate) mode: u32,
    pub(crate) mtime: u64,
    pub(crate) kind: Kind,
}

pub(crate) enum Kind {
    File { size: u64 },
    Dir { children: Vec<Node> },
}

/// Reads `path` and, for a directory, everything under it (symlinks followed; entries sorted
/// by name).
pub(crate) fn read(path: &Path) -> Result<Node, Error> {
    read_at(path, 0)
}

fn read_at(path: &Path, depth: usize) -> Result<Node, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::failed(format!(
            "{} is nested more than {MAX_DEPTH} directories deep (a symlink loop?)",
            path.display()
        )));
    }
    let unreadable =
        |e: std::io::Error| Error::failed(format!("cannot read {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let kind = if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(unreadable)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(unreadable)?;
        entries.sort();
        let children = entries
            .iter()
            .map(|p| read_at(p, depth + 1))
            .collect::<Result<_, _>>()?;
        Kind::Dir { children }
    } else {
        Kind::File { size: meta.len() }
    };
    Ok(Node {
        name,
        path: path.to_path_buf(),
        mode: meta.permissions().mode() & 0o7777,
        mtime,
        kind,
    })
}

impl Node {
    /// Bytes in the files under this node.
    pub(crate) fn size(&self) -> u64 {
        match &self.kind {
            Kind::File { size } => *size,
            Kind::Dir { children } => children.iter().map(Node::size).sum(),
        }
    }
}

/// Bytes an upload of `path` will send (for a progress bar's total); 0 when unreadable.
pub fn local_size(path: &Path) -> u64 {
    read(path).map_or(0, |n| n.size())
}
