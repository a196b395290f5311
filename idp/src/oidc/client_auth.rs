//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3,
//! OIDC Core §9): `client_secret_basic`, `client_secret_post`, and `none` for public clients.
//! Secrets are 256-bit random values stored as SHA-256 and compared in constant time.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::error::{OAuthError, ProtocolError};
use super::params::Params;
use crate::app::AppState;
use crate::crypto;
use crate::store::{Client, ClientKind};

/// How a request identified its client.
#[derive(Debug)]
pub struct Credentials {
    pub client_id: String,
    pub secret: Option<String>,
}

/// Reads credentials from the `Authorization: Basic` header or the form, never both (RFC 6749 §2.3).
pub fn credentials(authorization: Option<&str>, params: &Params) -> Result<Credentials, OAuthError> {
    let from_form = params.get("client_id").map(str::to_string);
    let secret_in_form = params.get("client_secret").map(str::to_string);
    if params.is_duplicated("client_id") || params.is_duplicated("client_secret") {
        return Err(OAuthError::invalid_request("a parameter was sent more than once"));
    }
    match authorization {
        Some(header) => {
            if secret_in_form.is_some() {
                return Err(OAuthError::invalid_request("use one client authentication method"));
            }
            let encoded = header
                .strip_prefix("Basic ")
                .or_else(|| header.strip_prefix("basic "))
                .ok_or_else(OAuthError::invalid_client)?;
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| OAuthError::invalid_client())?;
            let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
            let id = url_decode(id).ok_or_else(OAuthError::invalid_client)?;
            let secret = url_decode(secret).ok_or_else(OAuthError::invalid_client)?;
            if from_form.as_ref().is_some_and(|f| *f != id) {
                return Err(OAuthError::invalid_request("client_id does not match the credentials"));
            }
            Ok(Credentials { client_id: id, secret: Some(secret) })
        }
        None => {
            let client_id = from_form.ok_or_else(OAuthError::invalid_client)?;
            Ok(Credentials { client_id, secret: secret_in_form })
        }
    }
}

fn url_decode(value: &str) -> Option<String> {
    let bytes: Vec<u8> = form_urlencoded::parse(format!("x={value}").as_bytes()).next()?.1.into_owned().into_bytes();
    String::from_utf8(bytes).ok()
}

/// Authenticates the client: a confidential client must present its secret; a public client
/// must not (it has none) and is identified only.
pub async fn authenticate(state: &AppState, credentials: &Credentials) -> Result<Arc<Client>, ProtocolError> {
    let client = state.client(&credentials.client_id).await?.ok_or_else(OAuthError::invalid_client)?;
    match (client.kind, &credentials.secret, &client.secret_digest) {
        (ClientKind::Public, None, _) => Ok(client),
        (ClientKind::Confidential, Some(secret), Some(digest)) => {
            let presented = crypto::token_digest(secret);
            if crypto::constant_time_eq(presented.as_bytes(), digest.expose().as_bytes()) {
                Ok(client)
            } else {
                Err(OAuthError::invalid_client().into())
            }
        }
        _ => Err(OAuthError::invalid_client().into()),
    }
}

/// Generates a client secret: 256 random bits. Returns (secret for the operator, digest to store).
pub fn new_secret() -> (String, String) {
    let secret = crypto::random_token(32);
    let digest = crypto::token_digest(&secret);
    (secret, digest)
}
