//! Small wrappers over well-kept crates (rand, sha2, subtle, base64) for the few primitives
//! the IdP needs everywhere: random tokens, token digests and constant-time comparison.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A URL-safe random token of `bytes` bytes from the operating system's CSPRNG.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The SHA-256 digest of a high-entropy token, base64url; what the database stores instead of the token.
pub fn token_digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets without leaking, through timing, where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Whether a presented secret (a cookie's value) is the one whose [`token_digest`] was stored.
pub fn digest_matches(presented: Option<&str>, stored_digest: &str) -> bool {
    let presented = presented.map(token_digest).unwrap_or_default();
    constant_time_eq(presented.as_bytes(), stored_digest.as_bytes())
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A random code of `len` characters drawn uniformly from `alphabet` (ASCII).
pub fn random_code(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..len).map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())])).collect()
}

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    buf
}
