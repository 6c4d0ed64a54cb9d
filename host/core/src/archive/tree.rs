//! What goes into an archive: the request's entries expanded into a flat, sorted list of
//! files, directories and symlinks with their archive names, and the reader that streams one
//! file's bytes while advancing the progress bar.

use std::fs::{self, File, Metadata};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::plugin::PluginError;
use crate::ui::{BuildLog, Progress};

/// The read buffer per file: large enough that a multi-GiB disk is read in few system calls.
const READ_BUFFER: usize = 1 << 20;

/// One member of the archive.
pub(super) struct Entry {
    pub source: PathBuf,
    /// `/`-separated, relative, without `.` or `..`; directories without a trailing `/`.
    pub name: String,
    pub kind: Kind,
    pub metadata: Metadata,
}

pub(super) enum Kind {
    File,
    Dir,
    Symlink(PathBuf),
}

impl Entry {
    /// The file's contents, exactly `metadata.len()` bytes: a file that shrinks while being
    /// read is an error rather than a short member, and bytes appended to it are left out,
    /// so the size already written in a tar or zip header stays true.
    pub fn open<'a>(&'a self, progress: &'a dyn Progress) -> io::Result<impl Read + 'a> {
        let file =
            File::open(&self.source).map_err(|e| with_path(e, "cannot read", &self.source))?;
        let size = self.metadata.len();
        Ok(BufReader::with_capacity(
            READ_BUFFER,
            SizedReader {
                file: file.take(size),
                remaining: size,
                path: &self.source,
                progress,
            },
        ))
    }
}

/// Reads exactly `remaining` bytes, reporting each read to the progress bar.
struct SizedReader<'a> {
    file: io::Take<File>,
    remaining: u64,
    path: &'a Path,
    progress: &'a dyn Progress,
}

impl Read for SizedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .file
            .read(buf)
            .map_err(|e| with_path(e, "reading", self.path))?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} shrank by {} bytes while being archived",
                    self.path.display(),
                    self.remaining
                ),
            ));
        }
        self.remaining -= n as u64;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Expands the request's `(host path, archive name)` pairs. A named path that is a symlink is
/// followed (the caller asked for what it points at); symlinks inside a directory are kept as
/// symlinks. A directory named `""` or `"."` puts its contents at the archive's root.
/// Sockets, fifos and devices are skipped with a message: no format here carries them.
pub(super) fn collect(
    requested: &[(PathBuf, String)],
    log: &BuildLog,
) -> Result<Vec<Entry>, PluginError> {
    let mut entries = Vec::new();
    for (source, name) in requested {
        let metadata = fs::metadata(source).map_err(|e| {
            PluginError::failed(format!("cannot archive {}: {e}", source.display()))
        })?;
        let name = archive_name(name)
            .map_err(|why| PluginError::failed(format!("archive name {name:?} {why}")))?;
        if name.is_empty() && !metadata.is_dir() {
            return Err(PluginError::failed(format!(
                "archive name for {} is empty",
                source.display()
            )));
        }
        add(source.clone(), name, metadata, &mut entries, log)?;
    }
    Ok(entries)
}

/// The sum of the sizes of the regular files: the progress bar's total.
pub(super) fn total_size(entries: &[Entry]) -> u64 {
    entries
        .iter()
        .filter(|e| matches!(e.kind, Kind::File))
        .map(|e| e.metadata.len())
        .sum()
}

fn add(
    source: PathBuf,
    name: String,
    metadata: Metadata,
    entries: &mut Vec<Entry>,
    log: &BuildLog,
) -> Result<(), PluginError> {
    let read_error = |e: io::Error, path: &Path| {
        PluginError::failed(format!("cannot read {}: {e}", path.display()))
    };
    let file_type = metadata.file_type();
    if file_type.is_file() {
        entries.push(Entry {
            source,
            name,
            kind: Kind::File,
            metadata,
        });
    } else if file_type.is_symlink() {
        let target = fs::read_link(&source).map_err(|e| read_error(e, &source))?;
        entries.push(Entry {
            source,
            name,
            kind: Kind::Symlink(target),
            metadata,
        });
    } else if file_type.is_dir() {
        let mut children = fs::read_dir(&source)
            .and_then(|dir| dir.collect::<io::Result<Vec<_>>>())
            .map_err(|e| read_error(e, &source))?;
        // Sorted, so the same tree always makes the same archive.
        children.sort_by_key(|child| child.file_name());
        let dir_name = name.clone();
        if !name.is_empty() {
            entries.push(Entry {
                source,
                name,
                kind: Kind::Dir,
                metadata,
            });
        }
        for child in children {
            let path = child.path();
            let Some(file_name) = child.file_name().to_str().map(str::to_owned) else {
                return Err(PluginError::failed(format!(
                    "cannot archive {}: the name is not UTF-8",
                    path.display()
                )));
            };
            let metadata = fs::symlink_metadata(&path).map_err(|e| read_error(e, &path))?;
            let name = if dir_name.is_empty() {
                file_name
            } else {
                format!("{dir_name}/{file_name}")
            };
            add(path, name, metadata, entries, log)?;
        }
    } else {
        log.message(&format!(
            "Skipping {}: not a file, directory or symlink",
            source.display()
        ));
    }
    Ok(())
}

/// Normalises a requested archive name: `/`-separated and relative; `.` and empty components
/// dropped; `..` refused, since it would make the archive write outside where it is unpacked.
fn archive_name(name: &str) -> Result<String, &'static str> {
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("must not contain `..`"),
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::archive_name;

    #[test]
    fn archive_names_are_relative_and_stay_inside() {
        assert_eq!(archive_name("box.img").unwrap(), "box.img");
        assert_eq!(archive_name("/a/./b/").unwrap(), "a/b");
        assert_eq!(archive_name(".").unwrap(), "");
        assert!(archive_name("a/../../etc").is_err());
    }
}
