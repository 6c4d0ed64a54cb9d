//! Archives and compressed files for post-processors (compress, vagrant), written natively:
//! streaming, and multi-threaded where the format allows, which a component cannot be.
//!
//! [`create`] expands the request's entries into a sorted list of members (`tree`), writes
//! them as a tar or zip (`container`) or copies the one file, through the format's
//! compression stream (`codec`), into a temporary file beside the output that is renamed
//! into place only once complete. gzip runs on [`ParallelGzEncoder`], zstd and xz on their
//! libraries' multi-threaded encoders; zip deflates on one thread, one member after another.

mod codec;
mod container;
mod parallel_gzip;
#[cfg(test)]
mod tests;
mod tree;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::ops::RangeInclusive;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::plugin::PluginError;
use crate::ui::{BuildLog, Progress};

use codec::{Codec, Encoder};
pub use parallel_gzip::ParallelGzEncoder;
use tree::Entry;

/// The buffer in front of the output file, so tar's 512-byte headers are not each a write.
const WRITE_BUFFER: usize = 1 << 20;

/// The container and compression of an output file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    Tar,
    TarGz,
    TarZst,
    TarXz,
    Zip,
    /// Single-file formats: exactly one entry, a file.
    Gz,
    Zst,
    Xz,
}

impl ArchiveFormat {
    /// `tar`, `tar.gz`, `tgz`, `tar.zst`, `tar.xz`, `zip`, `gz`, `zst`, `xz`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "tar" => ArchiveFormat::Tar,
            "tar.gz" | "tgz" => ArchiveFormat::TarGz,
            "tar.zst" => ArchiveFormat::TarZst,
            "tar.xz" => ArchiveFormat::TarXz,
            "zip" => ArchiveFormat::Zip,
            "gz" => ArchiveFormat::Gz,
            "zst" => ArchiveFormat::Zst,
            "xz" => ArchiveFormat::Xz,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            ArchiveFormat::Tar => "tar",
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::TarZst => "tar.zst",
            ArchiveFormat::TarXz => "tar.xz",
            ArchiveFormat::Zip => "zip",
            ArchiveFormat::Gz => "gz",
            ArchiveFormat::Zst => "zst",
            ArchiveFormat::Xz => "xz",
        }
    }

    fn layout(self) -> Layout {
        match self {
            ArchiveFormat::Tar
            | ArchiveFormat::TarGz
            | ArchiveFormat::TarZst
            | ArchiveFormat::TarXz => Layout::Tar,
            ArchiveFormat::Zip => Layout::Zip,
            ArchiveFormat::Gz | ArchiveFormat::Zst | ArchiveFormat::Xz => Layout::SingleFile,
        }
    }

    /// The stream around the tar or the single file; zip compresses inside, per member.
    fn codec(self) -> Codec {
        match self {
            ArchiveFormat::Tar | ArchiveFormat::Zip => Codec::Plain,
            ArchiveFormat::TarGz | ArchiveFormat::Gz => Codec::Gzip,
            ArchiveFormat::TarZst | ArchiveFormat::Zst => Codec::Zstd,
            ArchiveFormat::TarXz | ArchiveFormat::Xz => Codec::Xz,
        }
    }

    /// The compression levels allowed and the default (Packer's and the tools' own): `None`
    /// for plain tar, which has nothing to set.
    fn levels(self) -> Option<(&'static str, RangeInclusive<u32>, u32)> {
        match self {
            ArchiveFormat::Tar => None,
            ArchiveFormat::Zip => Some(("zip", 0..=9, 6)),
            ArchiveFormat::TarGz | ArchiveFormat::Gz => Some(("gzip", 0..=9, 6)),
            ArchiveFormat::TarZst | ArchiveFormat::Zst => Some(("zstd", 1..=22, 3)),
            ArchiveFormat::TarXz | ArchiveFormat::Xz => Some(("xz", 0..=9, 6)),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Tar,
    Zip,
    SingleFile,
}

#[derive(Clone, Debug)]
pub struct ArchiveRequest {
    /// Host path and name inside the archive; a directory adds its tree under that name
    /// (`""` or `"."`: at the archive's root). Named symlinks are followed, symlinks inside a
    /// directory kept.
    pub entries: Vec<(PathBuf, String)>,
    pub output: PathBuf,
    pub format: ArchiveFormat,
    /// gzip, xz and zip 0–9, zstd 1–22; `None` is the format's default (6, zstd 3). Plain tar
    /// ignores it.
    pub level: Option<u32>,
}

/// Writes the archive; the number of bytes written. On failure nothing is left at `output`
/// (an earlier file there is untouched).
pub fn create(request: &ArchiveRequest, log: &BuildLog) -> Result<u64, PluginError> {
    let format = request.format;
    let output = &request.output;
    let level = compression_level(format, request.level)?;
    check_entries(request)?;
    let entries = tree::collect(&request.entries, log)?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    announce(request, threads, log);

    let failed = |e: io::Error| PluginError::failed(format!("archive {}: {e}", output.display()));
    let (parent, file_name) = match (output.parent(), output.file_name()) {
        (Some(parent), Some(name)) => (parent, name.to_string_lossy()),
        _ => {
            return Err(PluginError::failed(format!(
                "archive output {} is not a file path",
                output.display()
            )));
        }
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    fs::create_dir_all(parent).map_err(failed)?;
    // Mode 0666 less the umask, as any new file: the temporary file's usual 0600 would stick.
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".partial")
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(parent)
        .map_err(failed)?;

    let progress = log.progress(&output.display().to_string(), tree::total_size(&entries));
    let written = write(
        format,
        level,
        threads,
        &entries,
        partial.as_file(),
        &*progress,
    );
    progress.finish();
    written.map_err(failed)?;
    // Durable before it has its name, so a crash cannot leave a complete-looking, torn file.
    partial.as_file().sync_all().map_err(failed)?;
    let bytes = partial.as_file().metadata().map_err(failed)?.len();
    partial.persist(output).map_err(|e| failed(e.error))?;
    log.say(&format!("Archive {} completed", output.display()));
    Ok(bytes)
}

/// The level to use, checked against the format's range.
fn compression_level(format: ArchiveFormat, requested: Option<u32>) -> Result<u32, PluginError> {
    let Some((codec, range, default)) = format.levels() else {
        return Ok(0);
    };
    match requested {
        None => Ok(default),
        Some(level) if range.contains(&level) => Ok(level),
        Some(level) => Err(PluginError::failed(format!(
            "{codec} compression level {level} is out of range: allowed {}–{}",
            range.start(),
            range.end()
        ))),
    }
}

/// Refuses what cannot make the format, before any tree is walked.
fn check_entries(request: &ArchiveRequest) -> Result<(), PluginError> {
    let format = request.format;
    let tar_format = format!("tar.{}", format.name());
    match request.entries.as_slice() {
        [] => Err(PluginError::failed(format!(
            "nothing to archive into {}: no entries",
            request.output.display()
        ))),
        _ if format.layout() != Layout::SingleFile => Ok(()),
        [(source, _), _, ..] => Err(PluginError::failed(format!(
            "{} compresses a single file, but {} entries were given (the first {}); \
             use {tar_format} to archive several",
            format.name(),
            request.entries.len(),
            source.display()
        ))),
        // A missing file is reported when the entries are read.
        [(source, _)] => match fs::metadata(source) {
            Ok(metadata) if !metadata.is_file() => Err(PluginError::failed(format!(
                "{} compresses a single file, but {} is not a file; \
                 use {tar_format} for a directory",
                format.name(),
                source.display()
            ))),
            _ => Ok(()),
        },
    }
}

/// Says what is about to happen, in Packer's words.
fn announce(request: &ArchiveRequest, threads: usize, log: &BuildLog) {
    let output = request.output.display();
    let codec = request.format.codec();
    match codec {
        Codec::Plain => {}
        Codec::Gzip => log.say(&format!(
            "Using pgzip compression with {threads} cores for {output}"
        )),
        Codec::Zstd | Codec::Xz => log.say(&format!(
            "Using {} compression with {threads} cores for {output}",
            codec.name()
        )),
    }
    match request.format.layout() {
        Layout::Tar if codec == Codec::Plain => log.say(&format!("Tarring {output}")),
        Layout::Tar => log.say(&format!("Tarring {output} with {}", codec.name())),
        Layout::Zip => log.say(&format!("Zipping {output}")),
        Layout::SingleFile => log.say(&format!(
            "Archiving {} with {}",
            request.entries[0].0.display(),
            codec.name()
        )),
    }
}

fn write(
    format: ArchiveFormat,
    level: u32,
    threads: usize,
    entries: &[Entry],
    file: &File,
    progress: &dyn Progress,
) -> io::Result<()> {
    let out = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut out = match format.layout() {
        Layout::Zip => container::write_zip(out, entries, level, progress)?,
        Layout::Tar => {
            let encoder = Encoder::new(format.codec(), level, threads, out)?;
            container::write_tar(encoder, entries, progress)?.finish()?
        }
        Layout::SingleFile => {
            let mut encoder = Encoder::new(format.codec(), level, threads, out)?;
            for entry in entries {
                io::copy(&mut entry.open(progress)?, &mut encoder)?;
            }
            encoder.finish()?
        }
    };
    out.flush()
}
