//! Archives and compressed files for post-processors (compress, vagrant), written natively:
//! streaming, and multi-threaded where the format allows, which a component cannot be.

use std::path::PathBuf;

use crate::plugin::PluginError;
use crate::ui::BuildLog;

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
}

#[derive(Clone, Debug)]
pub struct ArchiveRequest {
    /// Host path and name inside the archive; a directory adds its tree under that name.
    pub entries: Vec<(PathBuf, String)>,
    pub output: PathBuf,
    pub format: ArchiveFormat,
    /// 0–9 (zstd: 1–22); `None` is the format's default.
    pub level: Option<u32>,
}

/// Writes the archive; the number of bytes written.
pub fn create(request: &ArchiveRequest, log: &BuildLog) -> Result<u64, PluginError> {
    let _ = (request, log);
    Err(PluginError::not_available("archive creation"))
}
