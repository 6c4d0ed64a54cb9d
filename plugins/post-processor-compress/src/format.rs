//! The output format, from the output's extension as Packer's `detectFromFilename` reads it.

/// One of the host's `archive.create` formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format(&'static str);

/// Extensions Packer knows but kiln cannot write.
const UNSUPPORTED: [&str; 3] = ["lz4", "bgzf", "bz2"];

impl Format {
    /// The last one or two extensions of `name` decide: `.tar`, `.zip`, `.tar.gz`/`.tgz`,
    /// `.tar.zst`, `.tar.xz`, or a single compressed file `.gz`, `.zst`, `.xz`. Without a
    /// known extension the output is a gzipped tar, as in Packer.
    pub fn detect(name: &str) -> Result<Format, String> {
        // Only the file name counts: a directory may have dots.
        let file = name.rsplit('/').next().unwrap_or(name);
        let extensions: Vec<String> = file
            .split('.')
            .skip(1)
            .map(|e| e.to_ascii_lowercase())
            .collect();
        let last = extensions.last().map(String::as_str).unwrap_or("");
        let tar = extensions.len() >= 2 && extensions[extensions.len() - 2] == "tar";
        Ok(Format(match (tar, last) {
            (_, "tar") => "tar",
            (_, "zip") => "zip",
            (_, "tgz") | (true, "gz") => "tar.gz",
            (true, "zst") => "tar.zst",
            (true, "xz") => "tar.xz",
            (false, "gz") => "gz",
            (false, "zst") => "zst",
            (false, "xz") => "xz",
            (_, ext) if UNSUPPORTED.contains(&ext) => {
                return Err(format!(
                    "unsupported format {ext:?}: kiln writes .tar, .zip, .tar.gz (.tgz), \
                     .tar.zst, .tar.xz, .gz, .zst and .xz"
                ));
            }
            _ => "tar.gz",
        }))
    }

    /// The name `archive.create` takes.
    pub fn name(self) -> &'static str {
        self.0
    }

    pub fn is_archive(self) -> bool {
        matches!(self.0, "tar" | "zip" | "tar.gz" | "tar.zst" | "tar.xz")
    }

    /// A file's name inside the output: its base name in a tar (Go's `tar.FileInfoHeader`),
    /// its path as given in a zip (without a leading `/`), its base name otherwise.
    pub fn entry_name(self, file: &str) -> String {
        if self.0 == "zip" {
            file.trim_start_matches('/').to_owned()
        } else {
            super::base_name(file)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_extension() {
        let name = |n: &str| Format::detect(n).map(Format::name);
        assert_eq!(name("out/a.tar"), Ok("tar"));
        assert_eq!(name("a.tar.gz"), Ok("tar.gz"));
        assert_eq!(name("a.tgz"), Ok("tar.gz"));
        assert_eq!(name("a.zip"), Ok("zip"));
        assert_eq!(name("a.img.gz"), Ok("gz"));
        assert_eq!(name("a.zst"), Ok("zst"));
        assert_eq!(name("a.tar.zst"), Ok("tar.zst"));
        assert_eq!(name("a.xz"), Ok("xz"));
        assert_eq!(name("a.tar.xz"), Ok("tar.xz"));
        assert_eq!(name("dir.v2/packer_{{.BuildName}}"), Ok("tar.gz"));
        assert!(
            name("a.lz4")
                .unwrap_err()
                .contains("unsupported format \"lz4\"")
        );
        assert!(name("a.tar.lz4").is_err());
    }
}
