//! Packer's checksum forms (`iso_checksum`) and checking a file against one.
//!
//! [`Checksum::parse`] takes `none`, `<type>:<hex>` (md5, sha1, sha224, sha256, sha384,
//! sha512), `file:<url or path>` (a SUMS file, read by the caller and searched with
//! [`find_in_sums`]), or a bare hex digest whose type its length tells. Packer's legacy
//! `iso_checksum_type` is the caller's to turn into `<type>:<hex>` first.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::plugin::PluginError;

/// A digest algorithm Packer accepts in a checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha224,
        Algorithm::Sha256,
        Algorithm::Sha384,
        Algorithm::Sha512,
    ];

    /// The name [`crate::digest::file_digest`] and Packer use: `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha224 => "sha224",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The algorithm of a (case-insensitive) name.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// How many hex digits a digest has.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha1 => 40,
            Algorithm::Sha224 => 56,
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }

    /// The algorithm Packer guesses for a bare digest of `len` hex digits (sha224 and sha384
    /// are never guessed, as in Packer).
    pub fn guess(len: usize) -> Option<Algorithm> {
        match len {
            32 => Some(Algorithm::Md5),
            40 => Some(Algorithm::Sha1),
            64 => Some(Algorithm::Sha256),
            128 => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An expected digest: its algorithm and lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexDigest {
    pub algorithm: Algorithm,
    pub hex: String,
}

impl HexDigest {
    /// Checks `hex` against the algorithm (any case); the digest keeps it lowercase.
    pub fn new(algorithm: Algorithm, hex: &str) -> Result<HexDigest, String> {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{hex:?} is not a hex digest"));
        }
        if hex.len() != algorithm.hex_len() {
            return Err(format!(
                "a {algorithm} digest has {} hex digits, this one has {}",
                algorithm.hex_len(),
                hex.len()
            ));
        }
        Ok(HexDigest {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// Hashes `path` and compares.
    pub fn verify(&self, path: &Path) -> Result<(), ChecksumError> {
        let got = crate::digest::file_digest(path, self.algorithm.name())
            .map_err(|e| ChecksumError::Read(e.to_string()))?;
        if got == self.hex {
            Ok(())
        } else {
            Err(ChecksumError::Mismatch {
                file: path.to_path_buf(),
                algorithm: self.algorithm,
                expected: self.hex.clone(),
                got,
            })
        }
    }
}

impl fmt::Display for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// What a downloaded or local file is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// `none`: not checked.
    None,
    Digest(HexDigest),
    /// `file:<url or path>`: a SUMS file holding the digest under the file's name.
    File(String),
}

impl Checksum {
    pub fn parse(value: &str) -> Result<Checksum, ChecksumError> {
        let invalid = |reason: String| ChecksumError::Invalid {
            value: value.to_owned(),
            reason,
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(invalid(
                "empty; give a checksum, or \"none\" to skip verification".to_owned(),
            ));
        }
        if trimmed.eq_ignore_ascii_case("none") {
            return Ok(Checksum::None);
        }
        match trimmed.split_once(':') {
            Some((kind, location)) if kind.eq_ignore_ascii_case("file") => {
                if location.trim().is_empty() {
                    Err(invalid("file: names no SUMS file".to_owned()))
                } else {
                    Ok(Checksum::File(location.trim().to_owned()))
                }
            }
            Some((kind, hex)) => {
                let algorithm = Algorithm::from_name(kind).ok_or_else(|| {
                    let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                    invalid(format!(
                        "unknown checksum type {kind:?}; kiln knows {} and file:",
                        known.join(", ")
                    ))
                })?;
                HexDigest::new(algorithm, hex.trim())
                    .map(Checksum::Digest)
                    .map_err(invalid)
            }
            None => {
                if !trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid(
                        "not a hex digest, \"<type>:<hex>\", \"file:<url>\" or \"none\"".to_owned(),
                    ));
                }
                let algorithm = Algorithm::guess(trimmed.len()).ok_or_else(|| {
                    invalid(format!(
                        "cannot tell the type of a {}-digit digest (32 is md5, 40 sha1, 64 \
                         sha256, 128 sha512); write it as \"<type>:<hex>\"",
                        trimmed.len()
                    ))
                })?;
                HexDigest::new(algorithm, trimmed)
                    .map(Checksum::Digest)
                    .map_err(invalid)
            }
        }
    }
}

impl FromStr for Checksum {
    type Err = ChecksumError;

    fn from_str(value: &str) -> Result<Checksum, ChecksumError> {
        Checksum::parse(value)
    }
}

/// The digest a SUMS file gives for `file_name`: GNU coreutils lines (`<hex>  name`,
/// `<hex> *name`) with the type told by the length, and BSD lines (`SHA256 (name) = <hex>`).
/// A name matches as itself, with a `./` prefix, or as the last component of a path; the first
/// matching line wins. `sums` names the file in errors.
pub fn find_in_sums(text: &str, sums: &str, file_name: &str) -> Result<HexDigest, ChecksumError> {
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((algorithm, hex, name)) = sums_line(line) else {
            continue;
        };
        if !names_match(name, file_name) {
            continue;
        }
        return HexDigest::new(algorithm, hex).map_err(|reason| ChecksumError::SumsLine {
            sums: sums.to_owned(),
            line: number + 1,
            reason,
        });
    }
    Err(ChecksumError::NotInSums {
        sums: sums.to_owned(),
        file: file_name.to_owned(),
    })
}

/// A line's algorithm, hex and file name; `None` for lines that are not checksums.
fn sums_line(line: &str) -> Option<(Algorithm, &str, &str)> {
    // BSD: `SHA256 (name) = hex`.
    if let Some((kind, rest)) = line.split_once(" (")
        && let Some((name, hex)) = rest.rsplit_once(") = ")
        && let Some(algorithm) = Algorithm::from_name(kind.trim())
    {
        return Some((algorithm, hex.trim(), name));
    }
    // GNU: `hex  name` (text mode) or `hex *name` (binary mode).
    let (hex, rest) = line.split_once([' ', '\t'])?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let algorithm = Algorithm::guess(hex.len()).or_else(|| {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.hex_len() == hex.len())
    })?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let name = rest.strip_prefix('*').unwrap_or(rest);
    Some((algorithm, hex, name))
}

fn names_match(listed: &str, wanted: &str) -> bool {
    let listed = listed.strip_prefix("./").unwrap_or(listed);
    listed == wanted || Path::new(listed).file_name().is_some_and(|n| n == wanted)
}

#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    #[error("checksum {value:?}: {reason}")]
    Invalid { value: String, reason: String },
    #[error("{sums}: no checksum for {file:?}")]
    NotInSums { sums: String, file: String },
    #[error("{sums}: line {line}: {reason}")]
    SumsLine {
        sums: String,
        line: usize,
        reason: String,
    },
    #[error(
        "checksum mismatch for {}: expected {algorithm} {expected}, got {got}",
        file.display()
    )]
    Mismatch {
        file: PathBuf,
        algorithm: Algorithm,
        expected: String,
        got: String,
    },
    /// The file could not be hashed.
    #[error("{0}")]
    Read(String),
}

impl From<ChecksumError> for PluginError {
    fn from(e: ChecksumError) -> Self {
        PluginError::failed(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5_ABC: &str = "900150983cd24fb0d6963f7d28e17f72";
    const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn digest(algorithm: Algorithm, hex: &str) -> Checksum {
        Checksum::Digest(HexDigest {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    fn error(value: &str) -> String {
        match Checksum::parse(value) {
            Ok(checksum) => panic!("{value:?} parsed as {checksum:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn none_in_any_case() {
        assert_eq!(Checksum::parse("none").unwrap(), Checksum::None);
        assert_eq!(Checksum::parse(" NONE ").unwrap(), Checksum::None);
    }

    #[test]
    fn typed_digests_of_every_algorithm() {
        for algorithm in Algorithm::ALL {
            let hex = "Ab".repeat(algorithm.hex_len() / 2);
            let parsed = Checksum::parse(&format!("{}:{hex}", algorithm.name().to_uppercase()));
            assert_eq!(
                parsed.unwrap(),
                digest(algorithm, &hex.to_lowercase()),
                "{algorithm}"
            );
        }
        assert_eq!(
            Checksum::parse(&format!("sha256:{}", SHA256_ABC.to_uppercase())).unwrap(),
            digest(Algorithm::Sha256, SHA256_ABC)
        );
    }

    #[test]
    fn bare_digests_are_typed_by_length() {
        assert_eq!(
            Checksum::parse(MD5_ABC).unwrap(),
            digest(Algorithm::Md5, MD5_ABC)
        );
        assert_eq!(
            Checksum::parse(&"a".repeat(40)).unwrap(),
            digest(Algorithm::Sha1, &"a".repeat(40))
        );
        assert_eq!(
            Checksum::parse(SHA256_ABC).unwrap(),
            digest(Algorithm::Sha256, SHA256_ABC)
        );
        assert_eq!(
            Checksum::parse(&"F".repeat(128)).unwrap(),
            digest(Algorithm::Sha512, &"f".repeat(128))
        );
        let text = error(&"a".repeat(56));
        assert!(
            text.contains("cannot tell the type of a 56-digit digest"),
            "{text}"
        );
    }

    #[test]
    fn file_checksums_keep_their_location() {
        assert_eq!(
            Checksum::parse("file:https://example.com/SHA256SUMS").unwrap(),
            Checksum::File("https://example.com/SHA256SUMS".to_owned())
        );
        assert_eq!(
            Checksum::parse("file:./SHA256SUMS").unwrap(),
            Checksum::File("./SHA256SUMS".to_owned())
        );
        assert_eq!(
            Checksum::parse("file:file:///srv/SUMS").unwrap(),
            Checksum::File("file:///srv/SUMS".to_owned())
        );
        assert!(error("file:").contains("names no SUMS file"));
    }

    #[test]
    fn errors_name_the_value() {
        assert_eq!(
            error("sha256:abc"),
            "checksum \"sha256:abc\": a sha256 digest has 64 hex digits, this one has 3"
        );
        assert_eq!(
            error("crc32:abcd"),
            "checksum \"crc32:abcd\": unknown checksum type \"crc32\"; kiln knows md5, sha1, \
             sha224, sha256, sha384, sha512 and file:"
        );
        assert_eq!(
            error("md5:zz0150983cd24fb0d6963f7d28e17f72"),
            "checksum \"md5:zz0150983cd24fb0d6963f7d28e17f72\": \
             \"zz0150983cd24fb0d6963f7d28e17f72\" is not a hex digest"
        );
        assert!(error("").contains("\"none\" to skip verification"));
        assert!(error("not-hex").starts_with("checksum \"not-hex\": not a hex digest"));
    }

    #[test]
    fn gnu_sums() {
        let sha = "a".repeat(64);
        let text = format!(
            "# SHA256SUMS\n{}  other.iso\n{sha} *ubuntu-20.04-live-server-amd64.iso\n{}  ./tiny.iso\n",
            "b".repeat(64),
            "c".repeat(64)
        );
        assert_eq!(
            find_in_sums(&text, "SHA256SUMS", "ubuntu-20.04-live-server-amd64.iso").unwrap(),
            HexDigest::new(Algorithm::Sha256, &sha).unwrap()
        );
        assert_eq!(
            find_in_sums(&text, "SHA256SUMS", "tiny.iso").unwrap().hex,
            "c".repeat(64)
        );
        assert_eq!(
            find_in_sums(&format!("{MD5_ABC}  a b.iso\n"), "MD5SUMS", "a b.iso")
                .unwrap()
                .algorithm,
            Algorithm::Md5
        );
        let missing = find_in_sums(&text, "SHA256SUMS", "debian.iso").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "SHA256SUMS: no checksum for \"debian.iso\""
        );
    }

    #[test]
    fn bsd_sums() {
        let text = format!(
            "SHA256 (FreeBSD-13.0-RELEASE-amd64-disc1.iso) = {SHA256_ABC}\n\
             SHA512 (FreeBSD-13.0-RELEASE-amd64-dvd1.iso) = {}\n",
            "d".repeat(128)
        );
        assert_eq!(
            find_in_sums(
                &text,
                "CHECKSUM.SHA256",
                "FreeBSD-13.0-RELEASE-amd64-disc1.iso"
            )
            .unwrap(),
            HexDigest::new(Algorithm::Sha256, SHA256_ABC).unwrap()
        );
        assert_eq!(
            find_in_sums(&text, "CHECKSUM", "FreeBSD-13.0-RELEASE-amd64-dvd1.iso")
                .unwrap()
                .algorithm,
            Algorithm::Sha512
        );
        let bad = find_in_sums("SHA256 (x.iso) = abc\n", "SUMS", "x.iso").unwrap_err();
        assert_eq!(
            bad.to_string(),
            "SUMS: line 1: a sha256 digest has 64 hex digits, this one has 3"
        );
    }

    #[test]
    fn verify_reports_expected_and_got() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.iso");
        std::fs::write(&path, b"abc").unwrap();
        HexDigest::new(Algorithm::Md5, MD5_ABC)
            .unwrap()
            .verify(&path)
            .unwrap();
        HexDigest::new(Algorithm::Sha256, &SHA256_ABC.to_uppercase())
            .unwrap()
            .verify(&path)
            .unwrap();
        let wrong = HexDigest::new(Algorithm::Md5, &"0".repeat(32)).unwrap();
        let text = wrong.verify(&path).unwrap_err().to_string();
        assert_eq!(
            text,
            format!(
                "checksum mismatch for {}: expected md5 {}, got {MD5_ABC}",
                path.display(),
                "0".repeat(32)
            )
        );
        let missing = wrong.verify(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
    }
}
