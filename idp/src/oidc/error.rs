//! OAuth 2.0 / OpenID Connect protocol errors.
//!
//! [`OAuthError`] carries the error code of RFC 6749 §4.1.2.1 (authorization endpoint),
//! §5.2 (token endpoint), RFC 6750 §3.1 (bearer tokens), RFC 7009 §2.2.1 (revocation) and
//! OIDC Core §3.1.2.6 (`login_required`, ...). Descriptions are fixed texts written here: they
//! never echo input, secrets or internal errors. How each endpoint renders an error lives in `http/`.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    InvalidToken,
    ServerError,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    /// OIDC Core §3.1.2.6: the person must choose (here: whose portal to open).
    AccountSelectionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::ServerError => "server_error",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::AccountSelectionRequired => "account_selection_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
        }
    }
}

/// A protocol error as sent to the client: a code and a fixed, safe description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self { code, description: description.into() }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }

    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "the server could not complete the request")
    }
}

/// An error in a protocol use case: either a protocol answer for the client, or an internal
/// failure that is logged in full and answered with a generic `server_error`.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// A failure of ours, with its cause kept for the one log line (`crate::error_chain`); the
    /// answer says only `server_error`.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ProtocolError {
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        ProtocolError::Internal(Box::new(cause))
    }
}

impl From<crate::store::StoreError> for ProtocolError {
    fn from(e: crate::store::StoreError) -> Self {
        ProtocolError::internal(e)
    }
}

impl From<crate::oidc::keys::KeyError> for ProtocolError {
    fn from(e: crate::oidc::keys::KeyError) -> Self {
        ProtocolError::internal(e)
    }
}

impl From<crate::kv::KvError> for ProtocolError {
    fn from(e: crate::kv::KvError) -> Self {
        ProtocolError::internal(e)
    }
}
