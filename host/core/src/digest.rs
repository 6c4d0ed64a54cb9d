//! File digests for plugins (checksum, manifest, vagrant), computed natively.

use std::io::Read;
use std::path::Path;

use sha2::Digest;

use crate::plugin::PluginError;

/// The algorithms Packer's checksum post-processor accepts.
pub const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// The lowercase hex digest of a file.
pub fn file_digest(path: &Path, algorithm: &str) -> Result<String, PluginError> {
    let file = std::fs::File::open(path)
        .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))?;
    let read_error =
        |e: std::io::Error| PluginError::failed(format!("reading {}: {e}", path.display()));
    match algorithm {
        "md5" => hash::<md5::Md5>(file).map_err(read_error),
        "sha1" => hash::<sha1::Sha1>(file).map_err(read_error),
        "sha224" => hash::<sha2::Sha224>(file).map_err(read_error),
        "sha256" => hash::<sha2::Sha256>(file).map_err(read_error),
        "sha384" => hash::<sha2::Sha384>(file).map_err(read_error),
        "sha512" => hash::<sha2::Sha512>(file).map_err(read_error),
        other => Err(PluginError::failed(format!(
            "unknown digest algorithm {other:?}; kiln knows {}",
            ALGORITHMS.join(", ")
        ))),
    }
}

fn hash<D: Digest>(mut file: std::fs::File) -> std::io::Result<String> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            file_digest(&path, "md5").unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            file_digest(&path, "sha256").unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(file_digest(&path, "crc32").is_err());
    }
}
