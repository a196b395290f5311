//! The authorization endpoint: OAuth 2.0 §4.1.1 with OIDC Core §3.1.2, PKCE (RFC 7636) and
//! `iss` in every response (RFC 9207).
//!
//! Validation order matters. Until the client and the exact redirect URI are known to be
//! registered, errors go to an error page: redirecting to an unchecked URI would make us an
//! open redirector (RFC 6749 §4.1.2.1). After that, errors go back to the portal.

use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, OAuthError, ProtocolError};
use super::params::Params;
use super::pkce;
use crate::app::AppState;
use crate::auth::levels::{self, FactorUse, Requirement};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::AccountId;
use crate::domain::{GrantId, RedirectUri, Scopes};
use crate::store::{AuthorizationCode, Client, GrantType, Session, StoreError};

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
    pub client_id: String,
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
}

/// OIDC Core §3.1.2.1 `prompt`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
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
            "select_account" => {}
            _ => return Err(fail(ErrorCode::InvalidRequest, "unknown prompt value")),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
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
    for (name, max) in [("nonce", 512), ("state", 1024), ("ui_locales", 64), ("acr_values", 256)] {
        if params.get(name).is_some_and(|v| v.len() > max) {
            return Err(fail(ErrorCode::InvalidRequest, "a parameter is too long"));
        }
    }
    Ok(AuthorizationRequest {
        client_id: client.id.0.clone(),
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
    })
}

/// What to do with a valid request, given the browser's session (if any).
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// The session suffices: issue a code.
    IssueCode,
    /// The user must sign in (again).
    SignIn,
    /// The user must confirm what the portal may see.
    Consent,
    /// The session is not strong (or recent) enough for this request: prove another factor.
    StepUp,
    /// Interaction is needed but `prompt=none` forbids it.
    Fail(ErrorCode),
}

/// OIDC Core §3.1.2.3: decides whether the session may be used, honouring `prompt` and `max_age`.
/// `signed_in_now` is true when the user has just signed in during this request's interaction.
pub fn next_step(
    request: &AuthorizationRequest,
    session: Option<&Session>,
    signed_in_now: bool,
    consented: bool,
    requirement: &Requirement,
    now: UnixTime,
) -> Next {
    let fresh_enough = |s: &Session| request.max_age.is_none_or(|max| now - s.auth_time <= max);
    let session_ok = match session {
        Some(s) if signed_in_now => s.is_active(now),
        Some(s) => s.is_active(now) && !request.prompt.login && fresh_enough(s),
        None => false,
    };
    if !session_ok {
        return if request.prompt.none { Next::Fail(ErrorCode::LoginRequired) } else { Next::SignIn };
    }
    // Never a lower level in silence: the person proves another factor, or no code is issued.
    if !session.is_some_and(|s| requirement.is_met(&s.factors, now)) {
        return if request.prompt.none { Next::Fail(ErrorCode::InteractionRequired) } else { Next::StepUp };
    }
    if request.prompt.consent && !consented {
        return Next::Consent;
    }
    Next::IssueCode
}

/// Issues an authorization code for the session and returns the redirect location.
pub async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &Session,
    requirement: &Requirement,
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
        digest: crypto::token_digest(&code),
        client_id: crate::domain::ClientId(request.client_id.clone()),
        account_id: session.account_id.clone(),
        // The session's principal; the "on whose behalf?" step (journeys C and D) will choose it.
        acting_for: session.acting_for.clone(),
        session_id: session.id.clone(),
        redirect_uri: request.redirect_uri.as_str().to_string(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: session.auth_time,
        acr,
        amr,
        grant_id: GrantId(crypto::random_token(16)),
        expires_at: now + state.config.tokens.code_ttl_secs,
        redeemed_at: None,
    };
    state.store.insert_code(&record).await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    params.push(("iss", &state.issuer));
    Ok(request.redirect_uri.with_params(params))
}

/// A sign-in in progress: the validated request, kept in the key-value store while the user
/// types. `binding` ties it to the browser that started it (login CSRF), `csrf` to the form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    pub request: AuthorizationRequest,
    pub csrf: String,
    pub binding: String,
    /// Set once the user signed in during this interaction (so `prompt=login` is satisfied).
    pub signed_in: bool,
    /// The account that proved its temporary password and must now choose its own.
    #[serde(default)]
    pub password_change_for: Option<String>,
    /// The account that must now set its secret question (when its organisation asks one).
    #[serde(default)]
    pub secret_question_for: Option<String>,
    /// A sign-in that still needs a factor (see `http/second_factor.rs`).
    #[serde(default)]
    pub pending: Option<PendingSignIn>,
    /// Set for the IdP's own pages (the account page): where to go when signed in, instead of
    /// issuing a code. Always a local path.
    #[serde(default)]
    pub return_to: Option<String>,
}

/// Someone who proved some factors and must prove more before the session is made (or, for a
/// step-up, before the session is replaced by a stronger one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub account_id: String,
    pub auth_time: UnixTime,
    pub factors: Vec<FactorUse>,
    /// The authenticator app being enrolled during this sign-in (journey A).
    #[serde(default)]
    pub enrolling: Option<String>,
    /// A fingerprint of the password hash that was proved: when the password changes (a reset,
    /// an operator's reset) while this sign-in waits, it cannot go on.
    #[serde(default)]
    pub password: String,
}

/// The fingerprint of an account's current password (a digest of its Argon2id hash).
pub fn password_fingerprint(account: &crate::store::Account) -> String {
    account.password_hash.as_ref().map(|h| crypto::token_digest(h.expose())).unwrap_or_default()
}

/// What this request demands of the sign-in: the minimum of the portal's organisation and of
/// the account's own organisation, the `acr_values`, and every requested scope's level.
pub async fn requirement(
    state: &AppState,
    request: &AuthorizationRequest,
    account: Option<&AccountId>,
) -> Result<Requirement, StoreError> {
    let policies = policies(state, &request.client_id, account).await?;
    Ok(requirement_for(&state.config, request, &policies))
}

/// [`requirement`] for policies already loaded.
pub fn requirement_for(
    config: &crate::config::Config,
    request: &AuthorizationRequest,
    policies: &[crate::store::OrganisationPolicy],
) -> Requirement {
    let mut requirement = Requirement {
        level: levels::from_acr_values(request.acr_values.as_deref()),
        // A mailed token is a second factor only where every organisation involved accepts it.
        ignore_mail: !mailed_token_accepted(policies),
        ..Requirement::default()
    };
    for policy in policies {
        requirement = requirement.and(Requirement { level: Some(policy.min_level), ..Requirement::default() });
    }
    for scope in request.scope.iter() {
        if let Some(demand) = config.scope_levels.get(scope) {
            let demand = Requirement { level: Some(demand.level), max_age: demand.max_age_secs, ignore_mail: false };
            requirement = requirement.and(demand);
        }
    }
    requirement
}

/// The policies that govern a sign-in: the portal's organisation's and the account's own.
pub async fn policies(
    state: &AppState,
    client_id: &str,
    account: Option<&AccountId>,
) -> Result<Vec<crate::store::OrganisationPolicy>, StoreError> {
    let mut policies: Vec<_> = client_policy(state, client_id).await?.into_iter().collect();
    if let Some(account) = account {
        policies.extend(state.store.policy_for_account(account).await?);
    }
    Ok(policies)
}

/// True when the organisations involved accept a mailed token as a second factor: at least one
/// is involved, and none refuses (the stricter one wins).
pub fn mailed_token_accepted(policies: &[crate::store::OrganisationPolicy]) -> bool {
    !policies.is_empty() && policies.iter().all(|p| p.mailed_token)
}

/// The policy of the organisation the portal belongs to.
pub async fn client_policy(
    state: &AppState,
    client_id: &str,
) -> Result<Option<crate::store::OrganisationPolicy>, StoreError> {
    let Some(client) = state.client(client_id).await? else {
        return Ok(None);
    };
    state.store.policy(&client.organisation_id).await
}

pub fn interaction_key(id: &str) -> String {
    format!("interaction:{id}")
}

#[cfg(test)]
mod tests {
    use super::mailed_token_accepted;
    use crate::domain::OrganisationId;
    use crate::store::OrganisationPolicy;

    #[test]
    fn the_stricter_organisation_decides_about_mailed_tokens() {
        let policy = |accepts| OrganisationPolicy {
            mailed_token: accepts,
            ..OrganisationPolicy::default_for(OrganisationId("o".into()))
        };
        assert!(!mailed_token_accepted(&[]), "no organisation, no mailed tokens");
        assert!(mailed_token_accepted(&[policy(true)]));
        assert!(!mailed_token_accepted(&[policy(true), policy(false)]));
    }
}
