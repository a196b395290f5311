//! The key that protects second-factor secrets at rest: TOTP secrets are stored as JWE
//! (`dir`, A256GCM, josekit) and recovery codes as HMAC-SHA-256 digests under it, so a copy of
//! the database alone yields neither. It comes from `factors.encryption_key` (or its `_FILE`);
//! without one, a single development node keeps a generated key in `factors.key_path`.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use josekit::jwe::{self, JweHeader};
use sha2::Sha256;

/// Why the factor key could not be had; names the setting or file to fix, never the key.
#[derive(Debug, thiserror::Error)]
pub enum FactorKeyError {
    #[error("factors.encryption_key is not 32 bytes of base64url")]
    Malformed,
    #[error("{0} does not hold a factor key")]
    NotAKeyFile(std::path::PathBuf),
    #[error("{path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub struct FactorKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for FactorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FactorKey(…)")
    }
}

/// An I/O error on `path`, for `map_err`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FactorKeyError + '_ {
    move |source| FactorKeyError::Io { path: path.to_path_buf(), source }
}

impl FactorKey {
    /// 32 bytes in base64url (padding optional).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim().trim_end_matches('=')).ok()?;
        Some(Self { bytes: bytes.try_into().ok()? })
    }

    pub fn generate() -> Self {
        let bytes = crate::crypto::random_bytes(32);
        Self { bytes: bytes.try_into().expect("32 bytes") }
    }

    /// The configured key, or the development key file (created, mode 0600, when missing).
    pub fn load(config: &crate::config::FactorConfig) -> Result<Self, FactorKeyError> {
        if let Some(key) = &config.encryption_key {
            return Self::parse(key.expose()).ok_or(FactorKeyError::Malformed);
        }
        Self::from_file(&config.key_path)
    }

    fn from_file(path: &Path) -> Result<Self, FactorKeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                tracing::warn!(path = %path.display(), "factor secrets use the development key file: set factors.encryption_key in production");
                Self::parse(&text).ok_or_else(|| FactorKeyError::NotAKeyFile(path.to_path_buf()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %path.display(), "no factors.encryption_key configured: generating a key file (fine for one development node only)");
                let key = Self::generate();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io(dir))?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io(path))?;
                std::io::Write::write_all(&mut file, URL_SAFE_NO_PAD.encode(key.bytes).as_bytes()).map_err(io(path))?;
                Ok(key)
            }
            Err(e) => Err(io(path)(e)),
        }
    }

    /// Encrypts a secret for storage (JWE compact serialisation).
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        let encrypter = jwe::Dir.encrypter_from_bytes(self.bytes).expect("a 32-byte key suits A256GCM");
        jwe::serialize_compact(plaintext, &header, &encrypter).expect("encryption with a valid key")
    }

    /// Decrypts what [`FactorKey::seal`] made; `None` when it was made with another key or altered.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let decrypter = jwe::Dir.decrypter_from_bytes(self.bytes).ok()?;
        jwe::deserialize_compact(sealed, &decrypter).ok().map(|(plaintext, _)| plaintext)
    }

    /// A keyed digest (HMAC-SHA-256, base64url) of `value` for `purpose`.
    pub fn digest(&self, purpose: &str, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.bytes).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::FactorKey;

    #[test]
    fn seal_and_open_round_trip_and_refuse_other_keys() {
        let key = FactorKey::generate();
        let sealed = key.seal(b"twenty bytes secret!");
        assert!(!sealed.contains("twenty"));
        assert_eq!(key.open(&sealed).as_deref(), Some(&b"twenty bytes secret!"[..]));
        assert_eq!(FactorKey::generate().open(&sealed), None);
        assert_eq!(key.open("not.a.jwe.at.all"), None);
    }

    #[test]
    fn digests_depend_on_key_and_purpose() {
        let key = FactorKey::generate();
        assert_eq!(key.digest("recovery", "ABCD"), key.digest("recovery", "ABCD"));
        assert_ne!(key.digest("recovery", "ABCD"), key.digest("other", "ABCD"));
        assert_ne!(key.digest("recovery", "ABCD"), FactorKey::generate().digest("recovery", "ABCD"));
        assert!(FactorKey::parse("short").is_none());
    }
}
