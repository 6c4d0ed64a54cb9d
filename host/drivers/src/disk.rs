//! Disk images through `qemu-img`: create, overlay, resize, convert (compaction), inspect; and
//! Packer's `disk_size` syntax.
//!
//! Each operation is one `qemu-img` run; a failure carries its stderr. The `extra_args` are
//! Packer's `qemu_img_args.{create,convert,resize}`, placed where Packer places them: after the
//! subcommand's own options, before the file names.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};

/// A disk image format Packer's qemu builder produces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Qcow2,
    Raw,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Qcow2 => "qcow2",
            Format::Raw => "raw",
        }
    }
}

/// Packer's default `disk_size`.
pub const DEFAULT_DISK_SIZE: &str = "40960M";

/// Why a `disk_size` is not a size.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid disk size {0:?}: expected megabytes (40960) or a number with a unit b, K, M, G or T \
     (40960M, 40G, 40GiB)"
)]
pub struct SizeError(pub String);

/// Parses Packer's `disk_size` into bytes: a bare number is megabytes; `b` is bytes and
/// `K`/`M`/`G`/`T` are powers of 1024, as `qemu-img` reads them, in either case, optionally
/// followed by `B` or `iB` (`40GB` is 40 GiB, as `qemu-img` would make it of `40G`; Packer 1.6.6
/// accepts only the single letter). Empty and `0` mean the default, 40960M, as in Packer.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let err = || SizeError(text.to_owned());
    if text.is_empty() || text == "0" {
        return parse_size(DEFAULT_DISK_SIZE);
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(err());
    }
    let number: u64 = text[..digits].parse().map_err(|_| err())?;
    let unit = text[digits..].to_ascii_lowercase();
    let shift = match unit.as_str() {
        "" | "m" | "mb" | "mib" => 20,
        "b" => 0,
        "k" | "kb" | "kib" => 10,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(err()),
    };
    number.checked_mul(1 << shift).ok_or_else(err)
}

/// What `qemu-img info` says of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// `qcow2`, `raw`, `vmdk`…
    pub format: String,
    pub virtual_size: u64,
    pub backing_file: Option<String>,
}

/// A failed `qemu-img` run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{0} not found: install Debian's qemu-utils package (or your system's QEMU) or give its path"
    )]
    NotFound(String),
    #[error("{program} {args}: {source}", program = .program.display(), args = .args.join(" "))]
    Spawn {
        program: PathBuf,
        args: Vec<String>,
        source: std::io::Error,
    },
    #[error("{program} {args} failed ({status}): {stderr}", program = .program.display(), args = .args.join(" "), stderr = .stderr.trim_end())]
    Failed {
        program: PathBuf,
        args: Vec<String>,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("qemu-img info {}: unexpected output: {detail}", .path.display())]
    BadInfo { path: PathBuf, detail: String },
}

/// The `qemu-img` program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuImg {
    program: PathBuf,
}

impl QemuImg {
    /// `qemu-img` from `PATH`.
    pub fn find() -> Result<QemuImg, Error> {
        crate::qemu::find_program("qemu-img", None)
            .map(|program| QemuImg { program })
            .ok_or_else(|| Error::NotFound("qemu-img".to_owned()))
    }

    /// A given `qemu-img` binary.
    pub fn at(program: impl Into<PathBuf>) -> QemuImg {
        QemuImg {
            program: program.into(),
        }
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// `qemu-img create -f <format> <extra_args> <path> <size>`.
    pub async fn create(
        &self,
        path: &Path,
        format: Format,
        size_bytes: u64,
        extra_args: &[String],
    ) -> Result<(), Error> {
        let mut args = strings(["create", "-f", format.as_str()]);
        args.extend_from_slice(extra_args);
        args.push(path_arg(path));
        args.push(size_bytes.to_string());
        self.run(args).await.map(drop)
    }

    /// A qcow2 overlay at `path` whose backing file is `backing` (made absolute, since a relative
    /// backing name is read relative to the overlay), in the format `qemu-img info` finds:
    /// `qemu-img create -f qcow2 -b <backing> -F <format> <path>`.
    pub async fn create_overlay(&self, backing: &Path, path: &Path) -> Result<(), Error> {
        let backing = std::path::absolute(backing).unwrap_or_else(|_| backing.to_owned());
        let info = self.info(&backing).await?;
        let args = vec![
            "create".to_owned(),
            "-f".to_owned(),
            "qcow2".to_owned(),
            "-b".to_owned(),
            path_arg(&backing),
            "-F".to_owned(),
            info.format,
            path_arg(path),
        ];
        self.run(args).await.map(drop)
    }

    /// `qemu-img resize -f <format> <extra_args> <path> <size>`.
    pub async fn resize(
        &self,
        path: &Path,
        format: Format,
        size_bytes: u64,
        extra_args: &[String],
    ) -> Result<(), Error> {
        let mut args = strings(["resize", "-f", format.as_str()]);
        args.extend_from_slice(extra_args);
        args.push(path_arg(path));
        args.push(size_bytes.to_string());
        self.run(args).await.map(drop)
    }

    /// `qemu-img convert [-c] -O <format> <extra_args> <source> <target>`: Packer's compaction
    /// (unused clusters are not copied) and `disk_compression`.
    pub async fn convert(
        &self,
        source: &Path,
        target: &Path,
        format: Format,
        compress: bool,
        extra_args: &[String],
    ) -> Result<(), Error> {
        let mut args = vec!["convert".to_owned()];
        if compress {
            args.push("-c".to_owned());
        }
        args.extend(strings(["-O", format.as_str()]));
        args.extend_from_slice(extra_args);
        args.push(path_arg(source));
        args.push(path_arg(target));
        self.run(args).await.map(drop)
    }

    /// `qemu-img info --output=json -U <path>` (`-U`: readable while a VM has it open).
    pub async fn info(&self, path: &Path) -> Result<Info, Error> {
        let stdout = self
            .run(vec![
                "info".to_owned(),
                "--output=json".to_owned(),
                "-U".to_owned(),
                path_arg(path),
            ])
            .await?;
        let bad = |detail: String| Error::BadInfo {
            path: path.to_owned(),
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&stdout).map_err(|e| bad(e.to_string()))?;
        let format = value
            .get("format")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| bad("no \"format\"".to_owned()))?
            .to_owned();
        let virtual_size = value
            .get("virtual-size")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad("no \"virtual-size\"".to_owned()))?;
        let backing_file = value
            .get("backing-filename")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        Ok(Info {
            format,
            virtual_size,
            backing_file,
        })
    }

    async fn run(&self, args: Vec<String>) -> Result<Vec<u8>, Error> {
        tracing::debug!("Executing {}: {:?}", self.program.display(), args);
        let output = tokio::process::Command::new(&self.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| Error::Spawn {
                program: self.program.clone(),
                args: args.clone(),
                source,
            })?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(Error::Failed {
                program: self.program.clone(),
                args,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }
}

fn strings<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_sizes() {
        const M: u64 = 1 << 20;
        let cases: &[(&str, u64)] = &[
            ("", 40960 * M),
            ("0", 40960 * M),
            ("40960M", 40960 * M),
            ("5000", 5000 * M),
            ("40G", 40 << 30),
            ("40g", 40 << 30),
            ("40GB", 40 << 30),
            ("40GiB", 40 << 30),
            ("1t", 1 << 40),
            ("1TiB", 1 << 40),
            ("512K", 512 << 10),
            ("512kb", 512 << 10),
            ("1048576b", 1 << 20),
            ("100MiB", 100 * M),
        ];
        for &(text, bytes) in cases {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in [
            "40 G",
            "-1",
            "G",
            "1.5G",
            "40X",
            "40Gb ",
            "99999999999999999999",
            "9999999999999T",
        ] {
            assert_eq!(parse_size(bad), Err(SizeError(bad.into())), "{bad}");
        }
        assert_eq!(
            parse_size("40 G").unwrap_err().to_string(),
            "invalid disk size \"40 G\": expected megabytes (40960) or a number with a unit b, K, M, \
             G or T (40960M, 40G, 40GiB)"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(serde_json::to_string(&Format::Qcow2).unwrap(), "\"qcow2\"");
        assert_eq!(
            serde_json::from_str::<Format>("\"raw\"").unwrap(),
            Format::Raw
        );
    }
}
