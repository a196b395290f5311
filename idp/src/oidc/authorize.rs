//! The authorization endpoint: OAuth 2.0 §4.1.1 with OIDC Core §3.1.2, PKCE (RFC 7636) and
//! `iss` in every response (RFC 9207).
//!
//! Validation order matters. Until the client and the exact redirect URI are known to be
//! registered, errors go to an error page: redirecting to an unchecked URI would make us an
//! open redirector (RFC 6749 §4.1.2.1). After that, errors go back to the portal.

use serde::{Deserialize, Serialize};

use super::codes::{self, AuthorizationCode};
use super::error::{ErrorCode, OAuthError, ProtocolError};
use super::params::Params;
use super::pkce;
use crate::app::Deps;
use crate::auth::levels::{self, Requirement};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::representation::Sections;
use crate::domain::{ClientId, GrantId, Party, RedirectUri, Scopes};
use crate::store::{Client, GrantType, Session};

/// Why the request cannot even be answered at the portal; shown as a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UntrustedRequest {
    MissingClient,
    UnknownClient,
    InvalidRedirectUri,
    Malformed,
}

/// An authorization request that passed validation, as kept while the user signs in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub scope: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub acr_values: Option<String>,
    /// `acting_for`: the `sub` of the care client whose portal to open, as the portal saw it in
    /// an earlier token (docs/representation.md); the person is not asked whom they act for.
    #[serde(default)]
    pub acting_for: Option<String>,
}

/// OIDC Core §3.1.2.1 `prompt`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    /// Ask whose portal to open ("Namens wie wilt u inloggen?") even when there is one choice.
    #[serde(default)]
    pub select_account: bool,
}

/// A refusal that can be sent to the portal's redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectError {
    pub redirect_uri: RedirectUri,
    pub state: Option<String>,
    pub error: OAuthError,
}

impl RedirectError {
    /// The URL to send the browser to: `error`, `error_description`, `state` and `iss`.
    pub fn location(&self, issuer: &str) -> String {
        let mut params = vec![("error", self.error.code.as_str()), ("error_description", &*self.error.description)];
        if let Some(state) = &self.state {
            params.push(("state", state));
        }
        params.push(("iss", issuer));
        self.redirect_uri.with_params(params)
    }
}

#[derive(Debug)]
pub enum Rejection {
    Untrusted(UntrustedRequest),
    Redirect(RedirectError),
}

/// Steps 1 and 2: which client, and may we redirect to the URI it gave?
pub fn trusted_redirect(params: &Params, client: Option<&Client>) -> Result<RedirectUri, UntrustedRequest> {
    if params.is_duplicated("client_id") || params.is_duplicated("redirect_uri") {
        return Err(UntrustedRequest::Malformed);
    }
    let client = client.ok_or(if params.get("client_id").is_some() {
        UntrustedRequest::UnknownClient
    } else {
        UntrustedRequest::MissingClient
    })?;
    let given = params.get("redirect_uri").ok_or(UntrustedRequest::InvalidRedirectUri)?;
    // Exact string comparison, RFC 9700 §4.1.3: no normalisation, no prefix or pattern matching.
    client
        .redirect_uris
        .iter()
        .find(|registered| registered.as_str() == given)
        .cloned()
        .ok_or(UntrustedRequest::InvalidRedirectUri)
}

/// Validates the whole request for a known client and trusted redirect URI.
pub fn validate(
    params: &Params,
    client: &Client,
    redirect_uri: RedirectUri,
) -> Result<AuthorizationRequest, RedirectError> {
    let state = if params.is_duplicated("state") { None } else { params.get("state").map(str::to_string) };
    let fail = |code: ErrorCode, description: &'static str| RedirectError {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error: OAuthError::new(code, description),
    };
    if params.reject_duplicates().is_err() {
        return Err(fail(ErrorCode::InvalidRequest, "a parameter was sent more than once"));
    }
    if params.get("request").is_some() {
        return Err(fail(ErrorCode::RequestNotSupported, "request objects are not supported"));
    }
    if params.get("request_uri").is_some() {
        return Err(fail(ErrorCode::RequestUriNotSupported, "request_uri is not supported"));
    }
    match params.get("response_type") {
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
        Some("code") => {}
        Some(_) => return Err(fail(ErrorCode::UnsupportedResponseType, "only response_type=code is supported")),
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(fail(ErrorCode::UnauthorizedClient, "this client may not use the authorization code flow"));
    }
    if !matches!(params.get("response_mode"), None | Some("query")) {
        return Err(fail(ErrorCode::InvalidRequest, "only response_mode=query is supported"));
    }
    let scope = params
        .get("scope")
        .and_then(Scopes::parse)
        .ok_or_else(|| fail(ErrorCode::InvalidScope, "scope is missing or malformed"))?;
    if !scope.contains("openid") {
        return Err(fail(ErrorCode::InvalidScope, "scope must include openid"));
    }
    if !scope.is_subset_of(&client.scopes) {
        return Err(fail(ErrorCode::InvalidScope, "a requested scope is not allowed for this client"));
    }
    let code_challenge = match (params.get("code_challenge"), params.get("code_challenge_method")) {
        // RFC 9700 §2.1.1: every client sends PKCE unless it was registered with `--pkce optional`.
        (None, None) if client.requires_pkce() => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "PKCE is required for this client: send code_challenge with code_challenge_method=S256",
            ))
        }
        (None, None) => None,
        (Some(_), Some("plain")) | (None, Some("plain")) => {
            return Err(fail(ErrorCode::InvalidRequest, "code_challenge_method plain is not allowed; use S256"))
        }
        (Some(challenge), Some("S256")) if pkce::is_valid_challenge(challenge) => Some(challenge.to_string()),
        // RFC 7636 §4.3 defaults a missing method to plain, which we do not accept.
        (Some(_), None) => return Err(fail(ErrorCode::InvalidRequest, "code_challenge_method S256 is required")),
        _ => return Err(fail(ErrorCode::InvalidRequest, "code_challenge or code_challenge_method is invalid")),
    };
    let mut prompt = Prompt::default();
    for value in params.get("prompt").unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => prompt.select_account = true,
            _ => return Err(fail(ErrorCode::InvalidRequest, "unknown prompt value")),
        }
    }
    if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
        return Err(fail(ErrorCode::InvalidRequest, "prompt=none cannot be combined with other values"));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| (0..=10 * 365 * 86_400).contains(n))
                .ok_or_else(|| fail(ErrorCode::InvalidRequest, "max_age must be a non-negative number of seconds"))?,
        ),
    };
    let nonce = params.get("nonce").map(str::to_string);
    // The request is kept while the person signs in: its free-text parts are kept small.
    for (name, max) in [("nonce", 512), ("state", 1024), ("ui_locales", 64), ("acr_values", 256), ("acting_for", 64)] {
        if params.get(name).is_some_and(|v| v.len() > max) {
            return Err(fail(ErrorCode::InvalidRequest, "a parameter is too long"));
        }
    }
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri,
        scope,
        state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(|h| h.chars().take(64).collect()),
        ui_locales: params.get("ui_locales").map(str::to_string),
        acr_values: params.get("acr_values").map(str::to_string),
        acting_for: params.get("acting_for").map(str::to_string),
    })
}

/// Issues an authorization code for the session and returns the redirect location.
/// Whose portal a code opens: `acting_for` names a care client (`None`: the account's own), and
/// `sections` are a representative's, which narrow the scopes asked.
#[derive(Debug, Clone, Default)]
pub struct Whom {
    pub acting_for: Option<Party>,
    pub sections: Option<Sections>,
}

pub async fn issue_code(
    deps: &Deps,
    request: &AuthorizationRequest,
    session: &Session,
    requirement: &Requirement,
    whom: Whom,
    now: UnixTime,
) -> Result<String, ProtocolError> {
    // The tokens say what counts for this portal: where a mailed token is not accepted, it is
    // not counted in `acr` or listed in `amr` either.
    let (acr, amr) = if requirement.ignore_mail && !session.factors.is_empty() {
        let counted = requirement.counted(&session.factors);
        (levels::level(&counted).acr().to_string(), levels::amr(&counted))
    } else {
        (session.acr.clone(), session.amr.clone())
    };
    let code = crypto::random_token(32);
    let record = AuthorizationCode {
        client_id: request.client_id.clone(),
        account_id: session.account_id.clone(),
        // Chosen at "Namens wie wilt u inloggen?" (or the only choice there was).
        acting_for: whom.acting_for,
        session_id: session.id.clone(),
        redirect_uri: request.redirect_uri.as_str().to_string(),
        // A section outside a representative's grant is dropped, never granted; the token
        // response's `scope` says what was given.
        scope: match &whom.sections {
            Some(granted) => granted.narrow(&request.scope),
            None => request.scope.clone(),
        },
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: session.auth_time,
        acr,
        amr,
        grant_id: GrantId(crypto::random_token(16)),
        expires_at: now + deps.config.tokens.code_ttl_secs,
    };
    codes::put(deps.kv.as_ref(), &crypto::token_digest(&code), &record, now).await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    params.push(("iss", &deps.issuer));
    Ok(request.redirect_uri.with_params(params))
}
