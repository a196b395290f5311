//! Password hashing with Argon2id (RFC 9106), always on the blocking pool: a hash takes tens of
//! milliseconds of CPU and must not stall the async workers. Unknown users are checked against
//! a dummy hash, so the answer takes as long whether or not the account exists.
//!
//! Each hash needs 19 MiB of working memory. Allocating it per call let the C allocator keep
//! every burst's peak (over a GiB after a few hundred sign-ins), so the memory lives in a small
//! pool instead, and no more hashes run at once than there are cores: memory stays at
//! cores × 19 MiB however many people sign in, and queued sign-ins wait their turn.
//!
//! Passwords are normalised with Unicode NFKC before they are hashed or checked (NIST SP 800-63B
//! §5.1.1.2), so `é` typed as one code point or as `e` + U+0301 is the same password, whatever
//! the keyboard or phone produced. Hashes made before that, from the password as typed, keep
//! working: when the normalised form does not match and differs from the typed one, the typed
//! one is tried too.

use std::borrow::Cow;
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::{Output, PasswordHash, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version, ARGON2ID_IDENT};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;
use unicode_normalization::{is_nfkc, UnicodeNormalization};

use crate::crypto::constant_time_eq;
use crate::domain::Secret;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)))
}

fn memory_pool() -> &'static Mutex<Vec<Vec<Block>>> {
    static POOL: OnceLock<Mutex<Vec<Vec<Block>>>> = OnceLock::new();
    POOL.get_or_init(|| Mutex::new(Vec::new()))
}

/// Runs `work` on the blocking pool with pooled working memory, at most one per core at a time.
async fn with_memory<R: Send + 'static>(work: impl FnOnce(&mut Vec<Block>) -> R + Send + 'static) -> Option<R> {
    let _permit = permits().acquire().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let pooled = memory_pool().lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut memory = pooled.unwrap_or_default();
        let result = work(&mut memory);
        memory_pool().lock().unwrap_or_else(|p| p.into_inner()).push(memory);
        result
    })
    .await
    .ok()
}

/// Argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1), the argon2 crate's defaults.
fn hash_with(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, HashError> {
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).map_err(|_| HashError)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    memory.resize(params.block_count(), Block::default());
    argon
        .hash_password_into_with_memory(password, salt_bytes, &mut out, memory.as_mut_slice())
        .map_err(|_| HashError)?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|_| HashError)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|_| HashError)?),
    };
    Ok(phc.to_string())
}

fn verify_with(memory: &mut Vec<Block>, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    if parsed.algorithm != ARGON2ID_IDENT {
        // Hashes from elsewhere (other Argon2 variants) take the library's own path.
        return Argon2::default().verify_password(password, &parsed).is_ok();
    }
    let (Ok(params), Some(salt), Some(expected)) = (Params::try_from(&parsed), parsed.salt, parsed.hash) else {
        return false;
    };
    let version = parsed.version.and_then(|v| Version::try_from(v).ok()).unwrap_or(Version::V0x13);
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = vec![0u8; expected.len()];
    memory.resize(params.block_count(), Block::default());
    let argon = Argon2::new(Algorithm::Argon2id, version, params);
    argon.hash_password_into_with_memory(password, salt_bytes, &mut out, memory.as_mut_slice()).is_ok()
        && constant_time_eq(&out, expected.as_bytes())
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_with(&mut Vec::new(), b"poortwachter-dummy-password").unwrap_or_default())
}

/// The form of a password that is hashed: NFKC (see the module doc).
fn normalise(password: &str) -> Cow<'_, str> {
    if is_nfkc(password) {
        Cow::Borrowed(password)
    } else {
        Cow::Owned(password.nfkc().collect())
    }
}

/// Hashes a password, normalised, into a PHC string.
pub async fn hash(password: Secret<String>) -> Result<Secret<String>, HashError> {
    with_memory(move |memory| hash_with(memory, normalise(password.expose()).as_bytes()).map(Secret::new))
        .await
        .ok_or(HashError)?
}

/// Verifies a password against a stored hash, or against the dummy hash when there is none
/// (unknown user, account not activated), in which case the answer is always false. The
/// normalised form is tried first, then the typed form if it differs (a hash from before
/// normalisation). Whether a second try happens depends on the typed text only, never on the
/// account, so the timing still says nothing about whether the account exists.
pub async fn verify(password: Secret<String>, stored: Option<Secret<String>>) -> bool {
    with_memory(move |memory| {
        let typed = password.expose();
        let normalised = normalise(typed);
        let differs = normalised != typed.as_str();
        match &stored {
            Some(hash) => {
                verify_with(memory, normalised.as_bytes(), hash.expose())
                    || (differs && verify_with(memory, typed.as_bytes(), hash.expose()))
            }
            None => {
                verify_with(memory, normalised.as_bytes(), dummy_hash());
                if differs {
                    verify_with(memory, typed.as_bytes(), dummy_hash());
                }
                false
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// Computes the dummy hash ahead of the first sign-in, so that one is not slower.
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(dummy_hash).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hash(Secret::new("Correct horse 1".into())).await.unwrap();
        assert!(h.expose().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", h.expose());
        assert!(verify(Secret::new("Correct horse 1".into()), Some(h.clone())).await);
        assert!(!verify(Secret::new("correct horse 1".into()), Some(h)).await);
        assert!(!verify(Secret::new("poortwachter-dummy-password".into()), None).await);
    }

    #[tokio::test]
    async fn composed_and_decomposed_accents_are_the_same_password() {
        let composed = "Caf\u{e9} au lait 1";
        let decomposed = "Cafe\u{301} au lait 1";
        let h = hash(Secret::new(composed.into())).await.unwrap();
        assert!(verify(Secret::new(decomposed.into()), Some(h.clone())).await);
        assert!(verify(Secret::new(composed.into()), Some(h.clone())).await);
        // Set decomposed, typed composed later (another phone).
        let h = hash(Secret::new(decomposed.into())).await.unwrap();
        assert!(verify(Secret::new(composed.into()), Some(h)).await);
        // NFKC also folds compatibility forms: the ligature ﬁ and full-width letters.
        let h = hash(Secret::new("\u{FB01}ets ＡＢＣ 12".into())).await.unwrap();
        assert!(verify(Secret::new("fiets ABC 12".into()), Some(h.clone())).await);
        assert!(!verify(Secret::new("fiets abc 12".into()), Some(h)).await);
    }

    #[tokio::test]
    async fn hashes_of_the_typed_form_from_before_normalisation_keep_verifying() {
        let decomposed = "Cafe\u{301} au lait 1";
        let old = hash_with(&mut Vec::new(), decomposed.as_bytes()).unwrap();
        assert!(verify(Secret::new(decomposed.into()), Some(Secret::new(old.clone()))).await);
        assert!(!verify(Secret::new("Cafe au lait 1".into()), Some(Secret::new(old))).await);
        assert_eq!(normalise("plain ascii"), Cow::Borrowed("plain ascii"));
    }

    #[tokio::test]
    async fn hashes_from_the_library_itself_verify() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"Correct horse 1", &salt).unwrap().to_string();
        assert!(verify(Secret::new("Correct horse 1".into()), Some(Secret::new(theirs.clone()))).await);
        assert!(!verify(Secret::new("wrong".into()), Some(Secret::new(theirs))).await);
    }
}
