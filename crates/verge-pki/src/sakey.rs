//! The key that signs service-account tokens: ECDSA P-256 (ES256), made on
//! first start as `sa.key` beside the cluster CA and kept for good, since
//! every token issued so far is only as valid as this key.

use std::path::{Path, PathBuf};

use rcgen::{KeyPair, PublicKeyData};

use crate::PkiError;
use crate::files::{self, DirLock, MODE_PRIVATE};

/// File name of the service-account signing key (PKCS#8 PEM).
pub const SA_KEY_FILE: &str = "sa.key";

/// The service-account signing key.
pub struct ServiceAccountKey {
    path: PathBuf,
    pkcs8_der: Vec<u8>,
    /// Uncompressed P-256 point: 0x04, x (32 bytes), y (32 bytes).
    public_point: Vec<u8>,
    /// SubjectPublicKeyInfo DER.
    public_der: Vec<u8>,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Loads `<pki_dir>/sa.key`, or creates it when absent. A file that is
    /// not a P-256 key is an error: replacing it would silently invalidate
    /// every token issued with it.
    pub fn load_or_create(pki_dir: &Path) -> Result<ServiceAccountKey, PkiError> {
        files::ensure_dir(pki_dir)?;
        let _lock = DirLock::acquire(pki_dir)?;
        let path = pki_dir.join(SA_KEY_FILE);
        let key = match files::read_optional(&path)? {
            Some(pem) => {
                files::warn_if_exposed(&path);
                let key = KeyPair::from_pem(&pem).map_err(|e| {
                    PkiError::bad_file(
                        &path,
                        format!("is not a private key ({e})"),
                        "Restore it from a backup; or delete it to make a new one (every service-account token issued so far then stops working)",
                    )
                })?;
                if !key.is_compatible(&rcgen::PKCS_ECDSA_P256_SHA256) {
                    return Err(PkiError::bad_file(
                        &path,
                        "is not an ECDSA P-256 key",
                        "Restore it from a backup; or delete it to make a new one (every service-account token issued so far then stops working)",
                    ));
                }
                key
            }
            None => {
                let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                    .map_err(|e| PkiError::generate("service-account signing key", e))?;
                files::write_atomic(&path, key.serialize_pem().as_bytes(), MODE_PRIVATE)?;
                tracing::info!(key = %path.display(), "created the service-account signing key");
                key
            }
        };
        Ok(ServiceAccountKey {
            path,
            pkcs8_der: key.serialize_der(),
            public_point: key.public_key_raw().to_vec(),
            public_der: key.subject_public_key_info(),
        })
    }

    /// The private key, PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    /// The public key as an uncompressed point (0x04 ‖ x ‖ y).
    pub fn public_point(&self) -> &[u8] {
        &self.public_point
    }

    /// The public key, SubjectPublicKeyInfo DER.
    pub fn public_der(&self) -> &[u8] {
        &self.public_der
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let a = ServiceAccountKey::load_or_create(dir.path())?;
        let b = ServiceAccountKey::load_or_create(dir.path())?;
        assert_eq!(a.public_point(), b.public_point());
        assert_eq!(a.public_point().len(), 65);
        assert_eq!(a.public_point()[0], 4);
        std::fs::write(dir.path().join(SA_KEY_FILE), "garbage")?;
        let err = ServiceAccountKey::load_or_create(dir.path())
            .err()
            .ok_or("a broken key must not be replaced silently")?;
        assert!(err.to_string().contains("sa.key"), "{err}");
        Ok(())
    }
}
