//! The tokens a portal receives: ID tokens (OIDC Core §2), JWT access tokens (RFC 9068) and
//! opaque refresh tokens. `docs/tokens.md` lists every claim and why it is there.

use serde::{Deserialize, Serialize};

use super::keys::{KeyError, KeyRing};
use crate::clock::UnixTime;
use crate::crypto;
pub use crate::representation::{ActingForClaim, RepresentationClaim};
use crate::store::SigningAlg;

/// The `typ` header of access tokens, RFC 9068 §2.1.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// ID token claims, OIDC Core §2 and §3.1.3.6.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub auth_time: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: String,
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub azp: String,
    /// OIDC Core §3.1.3.6: left half of SHA-256 of the access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The care client whose portal was opened (docs/tokens.md); `sub` stays who signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_for: Option<ActingForClaim>,
}

/// JWT access token claims, RFC 9068 §2.2.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    /// `<grant id>.<random>` for tokens from a grant, so revoking the grant revokes them.
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// RFC 8693 §4.1: who acts, when it is not the subject (`sub`) themself. Absent for someone
    /// acting for themself, so their tokens are exactly as before (docs/tokens.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<ActClaim>,
    /// The kind and role of the representation that lets `act` act for `sub` (docs/tokens.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representation: Option<RepresentationClaim>,
}

/// The `act` claim (RFC 8693 §4.1): the acting party's subject identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActClaim {
    pub sub: String,
}

impl AccessTokenClaims {
    /// The grant this token belongs to, read from its `jti`.
    pub fn grant_id(&self) -> Option<crate::domain::GrantId> {
        self.jti.split_once('.').map(|(grant, _)| crate::domain::GrantId(grant.to_string()))
    }
}

/// A new `jti` for an access token of `grant`.
pub fn new_jti(grant: Option<&crate::domain::GrantId>) -> String {
    match grant {
        Some(g) => format!("{}.{}", g.as_str(), crypto::random_token(12)),
        None => crypto::random_token(16),
    }
}

pub fn sign_id_token(
    keys: &KeyRing,
    alg: SigningAlg,
    claims: &IdTokenClaims,
    now: UnixTime,
) -> Result<String, KeyError> {
    let payload = serde_json::to_vec(claims).expect("claims serialise");
    keys.sign(alg, "JWT", &payload, now)
}

/// Access tokens are always ES256: resource servers need only one algorithm.
pub fn sign_access_token(keys: &KeyRing, claims: &AccessTokenClaims, now: UnixTime) -> Result<String, KeyError> {
    let payload = serde_json::to_vec(claims).expect("claims serialise");
    keys.sign(SigningAlg::ES256, ACCESS_TOKEN_TYP, &payload, now)
}

/// OIDC Core §3.1.3.6 `at_hash` for SHA-256 based algorithms.
pub fn at_hash(access_token: &str) -> String {
    let digest = crypto::sha256(access_token.as_bytes());
    crypto::b64url(&digest[..16])
}

/// Why a presented access token is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed,
    Expired,
}

/// Verifies signature, `typ`, issuer and expiry of an access token (RFC 9068 §4).
/// Revocation is checked by the caller, against the store.
pub fn verify_access_token(
    keys: &KeyRing,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<AccessTokenClaims, TokenRejection> {
    if token.len() > 8192 {
        return Err(TokenRejection::Malformed);
    }
    let (payload, header) = keys.verify(token, now).ok_or(TokenRejection::Malformed)?;
    if header.token_type() != Some(ACCESS_TOKEN_TYP) {
        return Err(TokenRejection::Malformed);
    }
    let claims: AccessTokenClaims = serde_json::from_slice(&payload).map_err(|_| TokenRejection::Malformed)?;
    if claims.iss != issuer {
        return Err(TokenRejection::Malformed);
    }
    if claims.exp <= now {
        return Err(TokenRejection::Expired);
    }
    Ok(claims)
}

/// Reads an ID token that we issued, as sent back in `id_token_hint` (RP-Initiated Logout §2):
/// the signature must be ours, but an expired token is still a valid hint.
pub fn read_id_token_hint(keys: &KeyRing, issuer: &str, token: &str, now: UnixTime) -> Option<IdTokenClaims> {
    if token.len() > 8192 {
        return None;
    }
    let (payload, header) = keys.verify(token, now)?;
    if header.token_type() == Some(ACCESS_TOKEN_TYP) {
        return None;
    }
    let claims: IdTokenClaims = serde_json::from_slice(&payload).ok()?;
    (claims.iss == issuer).then_some(claims)
}
