//! Password hashing with Argon2id (RFC 9106), always on the blocking pool: a hash takes tens of
//! milliseconds of CPU and must not stall the async workers. Unknown users are checked against
//! a dummy hash, so the answer takes as long whether or not the account exists.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::rngs::OsRng;

use crate::domain::Secret;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

/// Argon2id with the argon2 crate's defaults (m = 19 MiB, t = 2, p = 1: OWASP's recommendation).
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        hasher().hash_password(b"poortwachter-dummy-password", &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

/// Hashes a password into a PHC string, on the blocking pool.
pub async fn hash(password: Secret<String>) -> Result<Secret<String>, HashError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| Secret::new(h.to_string()))
            .map_err(|_| HashError)
    })
    .await
    .map_err(|_| HashError)?
}

/// Verifies a password against a stored hash, or against the dummy hash when there is none
/// (unknown user, account not activated), in which case the answer is always false.
pub async fn verify(password: Secret<String>, stored: Option<Secret<String>>) -> bool {
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match &stored {
            Some(hash) => (hash.expose().as_str(), true),
            None => (dummy_hash(), false),
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let ok = hasher().verify_password(password.expose().as_bytes(), &parsed).is_ok();
        ok && real
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
        assert!(h.expose().starts_with("$argon2id$"));
        assert!(verify(Secret::new("Correct horse 1".into()), Some(h.clone())).await);
        assert!(!verify(Secret::new("correct horse 1".into()), Some(h)).await);
        assert!(!verify(Secret::new("poortwachter-dummy-password".into()), None).await);
    }
}
