//! Key files and the build's temporary key pair.

use std::path::Path;
use std::sync::Arc;

use russh::keys::ssh_key::private::{KeypairData, RsaKeypair};
use russh::keys::{Algorithm, Certificate, EcdsaCurve, PrivateKey};

use crate::Error;

/// A key pair made for one build, used when the template gives no password or key
/// (`{{ .SSHPublicKey }}` puts its public half into a preseed or cloud-init file). It lives in
/// memory only and is gone when the build ends.
#[derive(Clone)]
pub struct TemporaryKey {
    private: Arc<PrivateKey>,
    public: String,
}

impl std::fmt::Debug for TemporaryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl TemporaryKey {
    /// A new key pair: `kind` is Packer's `temporary_key_pair_type` (`ed25519`, the default
    /// here, `rsa` with `bits` (4096 when 0), `ecdsa` (P-256, or P-384/P-521 by `bits`));
    /// `comment` ends the public key line (Packer names it `packer_<uuid>`), so
    /// `ssh_clear_authorized_keys` can find it again.
    pub fn generate(kind: &str, bits: u32, comment: &str) -> Result<Self, Error> {
        let mut rng = rand::rng();
        let bad = |e: russh::keys::ssh_key::Error| {
            Error::Config(format!("cannot create a temporary {kind} key pair: {e}"))
        };
        let key = match kind {
            "" | "ed25519" => PrivateKey::random(&mut rng, Algorithm::Ed25519).map_err(bad)?,
            "rsa" => {
                let bits = if bits == 0 { 4096 } else { bits as usize };
                let pair = RsaKeypair::random(&mut rng, bits).map_err(bad)?;
                PrivateKey::new(KeypairData::from(pair), comment).map_err(bad)?
            }
            "ecdsa" => {
                let curve = match bits {
                    0 | 256 => EcdsaCurve::NistP256,
                    384 => EcdsaCurve::NistP384,
                    521 => EcdsaCurve::NistP521,
                    other => {
                        return Err(Error::Config(format!(
                            "temporary_key_pair_bits {other} is invalid for ecdsa: use 256, 384 or 521"
                        )));
                    }
                };
                PrivateKey::random(&mut rng, Algorithm::Ecdsa { curve }).map_err(bad)?
            }
            other => {
                return Err(Error::Config(format!(
                    "temporary_key_pair_type {other:?} is invalid: use ed25519, rsa or ecdsa"
                )));
            }
        };
        let mut key = key;
        key.set_comment(comment);
        let public = key.public_key().to_openssh().map_err(bad)?;
        Ok(TemporaryKey {
            private: Arc::new(key),
            public,
        })
    }

    /// The `authorized_keys` line: `ssh-ed25519 AAAA... <comment>`.
    pub fn public_openssh(&self) -> &str {
        &self.public
    }

    /// The comment the public key line ends with.
    pub fn comment(&self) -> &str {
        self.private.comment().as_str_lossy()
    }

    pub(crate) fn private(&self) -> Arc<PrivateKey> {
        Arc::clone(&self.private)
    }
}

/// Reads an OpenSSH (or PEM) private key file, and its certificate when one is given.
pub(crate) fn load(
    key: &Path,
    certificate: Option<&Path>,
) -> Result<(Arc<PrivateKey>, Option<Certificate>), Error> {
    let text = std::fs::read_to_string(key)
        .map_err(|e| Error::Config(format!("cannot read the key file {}: {e}", key.display())))?;
    let private = russh::keys::decode_secret_key(&text, None).map_err(|e| {
        let hint = if text.contains("ENCRYPTED") || matches!(e, russh::keys::Error::KeyIsEncrypted)
        {
            " (it is protected by a passphrase: load it into ssh-agent and set ssh_agent_auth)"
        } else {
            ""
        };
        Error::Config(format!(
            "cannot use the key file {}: {e}{hint}",
            key.display()
        ))
    })?;
    let certificate = match certificate {
        Some(path) => Some(russh::keys::load_openssh_certificate(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the certificate file {}: {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    Ok((Arc::new(private), certificate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_key_carries_its_comment() {
        let key = TemporaryKey::generate("ed25519", 0, "kiln_build-1").unwrap_or_else(|e| {
            panic!("{e}");
        });
        assert!(key.public_openssh().starts_with("ssh-ed25519 AAAA"));
        assert!(key.public_openssh().ends_with(" kiln_build-1"));
        assert_eq!(key.comment(), "kiln_build-1");
    }

    #[test]
    fn an_unknown_key_type_is_named() {
        let err = TemporaryKey::generate("dsa", 0, "c").err();
        assert!(matches!(err, Some(Error::Config(t)) if t.contains("\"dsa\" is invalid")));
    }
}
