//! The token endpoint (RFC 6749 §3.2): authorization code (§4.1.3, with PKCE RFC 7636 §4.5),
//! refresh token (§6, rotated with reuse detection per RFC 9700 §4.14.2) and client credentials
//! (§4.4).

use serde::Serialize;

use super::client_auth::{self, Credentials};
use super::codes;
use super::error::{ErrorCode, OAuthError, ProtocolError};
use super::params::Params;
use super::pkce;
use super::tokens::{self, AccessTokenClaims, IdTokenClaims};
use crate::app::AppState;
use crate::audit::{Actor, Event, EventType};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::{GrantId, Principal, Scopes};
use crate::representation;
use crate::store::{self, Account, Client, CodeGrant, Grant, GrantType, RefreshToken, SigningAlg, StoreError};

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Handles one token request, already parsed; `authorization` is the raw `Authorization` header.
pub async fn exchange(
    state: &AppState,
    params: &Params,
    authorization: Option<&str>,
) -> Result<TokenResponse, ProtocolError> {
    let credentials: Credentials = client_auth::credentials(authorization, params)?;
    params.reject_duplicates()?;
    let client = client_auth::authenticate(state, &credentials).await?;
    let now = state.clock.unix();
    match params.get("grant_type") {
        Some("authorization_code") => authorization_code(state, &client, params, now).await,
        Some("refresh_token") => refresh_token(state, &client, params, now).await,
        Some("client_credentials") => client_credentials(state, &client, params, now).await,
        Some(_) => Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "grant_type is not supported").into()),
        None => Err(OAuthError::invalid_request("grant_type is required").into()),
    }
}

fn require_grant_type(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if client.allows(grant) {
        Ok(())
    } else {
        Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use this grant type"))
    }
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    params: &Params,
    now: UnixTime,
) -> Result<TokenResponse, ProtocolError> {
    require_grant_type(client, GrantType::AuthorizationCode)?;
    let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let digest = crypto::token_digest(code);
    let invalid = || OAuthError::invalid_grant("the code is invalid, expired or already used");
    // A code of another client is refused without acting on it: that client cannot spend it,
    // nor revoke what it was redeemed for.
    let record = match codes::find(state.kv.as_ref(), &digest).await?.ok_or_else(invalid)? {
        codes::Found::Issued(record) if record.client_id == client.id => record,
        codes::Found::Redeemed { client_id, grant_id } if client_id == client.id => {
            return Err(code_reuse(state, client, &grant_id, now).await)
        }
        _ => return Err(invalid().into()),
    };
    if now >= record.expires_at {
        return Err(invalid().into());
    }
    if params.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request").into());
    }
    match (&record.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
        // A code asked for without PKCE while the client was still allowed to; since then the
        // operator may have required it, and then the code no longer counts.
        (None, None) if !client.requires_pkce() => {}
        _ => return Err(OAuthError::invalid_grant("PKCE verification failed").into()),
    }
    let account = state.store.account_by_id(&record.account_id).await?.filter(|a| !a.disabled).ok_or_else(invalid)?;
    let grant = Grant {
        id: record.grant_id.clone(),
        client_id: client.id.clone(),
        account_id: Some(account.id.clone()),
        acting_for: record.acting_for.clone(),
        session_id: Some(record.session_id.clone()),
        scope: record.scope.clone(),
        auth_time: Some(record.auth_time),
        acr: Some(record.acr.clone()),
        amr: record.amr.clone(),
        created_at: now,
        expires_at: now + state.config.tokens.refresh_token_ttl_secs,
        revoked_at: None,
    };
    let refresh = client.allows(GrantType::RefreshToken).then(|| new_refresh_token(&grant.id, &grant.scope, now));
    // The tokens are made before anything is written: if making them fails, the code is not
    // spent and no record says they were issued.
    let (refresh_token, refresh_row) = refresh.map_or((None, None), |(t, row)| (Some(t), Some(row)));
    let minted =
        user_tokens(state, client, &account, &grant, &grant.scope, record.nonce.clone(), refresh_token, now).await?;
    let event = token_event(EventType::TokensIssued, &account, &grant, &minted);
    let response = minted.response;
    let grant_id = grant.id.clone();
    let audit = state.audit.clone();
    let made = store::write(&state.store, move |mut tx| async move {
        let made = tx.grant_for_code(&grant, refresh_row.as_ref()).await?;
        if made == CodeGrant::Created {
            audit.append(tx.as_mut(), &event, now).await?;
            tx.commit().await?;
        }
        Ok::<_, StoreError>(made)
    })
    .await?;
    match made {
        CodeGrant::Created => {}
        CodeGrant::Exists => return Err(code_reuse(state, client, &grant_id, now).await),
        CodeGrant::SessionEnded => return Err(invalid().into()),
    }
    // What comes back from now on is a reuse; if this fails, the grant's id still says so.
    let ttl = state.config.tokens.code_ttl_secs;
    if let Err(e) = codes::mark_redeemed(state.kv.as_ref(), &digest, &record, ttl).await {
        tracing::warn!(error = %e, grant = %grant_id, "could not mark a redeemed code");
    }
    Ok(response)
}

async fn refresh_token(
    state: &AppState,
    client: &Client,
    params: &Params,
    now: UnixTime,
) -> Result<TokenResponse, ProtocolError> {
    require_grant_type(client, GrantType::RefreshToken)?;
    let token = params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let digest = crypto::token_digest(token);
    let row = state.store.refresh_token_by_digest(&digest).await?.ok_or_else(invalid)?;
    let grant = state.store.grant_by_id(&row.grant_id).await?.ok_or_else(invalid)?;
    if grant.client_id != client.id {
        return Err(invalid().into());
    }
    if row.used_at.is_some() {
        return Err(reuse(state, &grant, now).await);
    }
    if !grant.is_active(now) {
        return Err(invalid().into());
    }
    let scope = match params.get("scope") {
        None => row.scope.clone(),
        Some(s) => Scopes::parse(s)
            .filter(|s| s.is_subset_of(&row.scope) && !s.is_empty())
            .ok_or_else(|| OAuthError::new(ErrorCode::InvalidScope, "scope exceeds the original grant"))?,
    };
    // RFC 6749 §6: the new refresh token carries the original scope; only this response narrows.
    let (new_token, new_row) = new_refresh_token(&grant.id, &row.scope, now);
    let account_id = grant.account_id.clone().ok_or_else(invalid)?;
    let account = state.store.account_by_id(&account_id).await?.filter(|a| !a.disabled).ok_or_else(invalid)?;
    // Made first, as for a code: a failure here leaves the old refresh token unspent.
    let minted = user_tokens(state, client, &account, &grant, &scope, None, Some(new_token), now).await?;
    let event = token_event(EventType::TokensRefreshed, &account, &grant, &minted);
    let response = minted.response;
    let audit = state.audit.clone();
    let rotated = store::write(&state.store, move |mut tx| async move {
        if !tx.rotate_refresh_token(&digest, &new_row, now).await? {
            return Ok::<_, StoreError>(false);
        }
        audit.append(tx.as_mut(), &event, now).await?;
        tx.commit().await?;
        Ok(true)
    })
    .await?;
    if !rotated {
        // Lost a race with another use of the same token: that is reuse too.
        return Err(reuse(state, &grant, now).await);
    }
    Ok(response)
}

/// The record of tokens handed to a portal for a person: the person acted (they signed in at the
/// portal, as themself or as a representative), the portal received the tokens.
fn token_event(kind: EventType, account: &Account, grant: &Grant, minted: &Minted) -> Event {
    let subject = grant.principal().map(|p| p.subject.audit_id().to_string());
    let actor = if minted.representative { Actor::representative(account) } else { Actor::account(account) };
    let scope = &minted.scope;
    Event::new(kind, actor)
        .acting_for(subject.unwrap_or_else(|| account.id.0.clone()))
        .object("grant", grant.id.as_str())
        .portal(grant.client_id.as_str())
        .detail("scope", scope.to_string())
        .back_channel()
}

/// Revokes a grant (a code or refresh token used twice: RFC 6749 §4.1.2, RFC 9700 §4.14.2) with
/// its audit record, and makes this node forget its remembered token checks at once. A grant that
/// was revoked before is left alone and recorded nowhere; then false.
async fn revoke_now(state: &AppState, grant: &GrantId, now: UnixTime) -> Result<bool, crate::store::StoreError> {
    let owner = state.store.grant_by_id(grant).await?;
    let mut tx = state.store.begin().await?;
    if !tx.revoke_grant(grant, now).await? {
        return Ok(false);
    }
    let mut event = Event::new(EventType::TokensRevoked, Actor::system())
        .object("grant", grant.as_str())
        .detail("reason", "reuse")
        .back_channel();
    if let Some(g) = owner {
        event = event.portal(g.client_id.as_str());
        if let Some(principal) = g.principal() {
            event = event.acting_for(principal.subject.audit_id());
        }
    }
    state.audit.commit(tx, None, &event, now).await?;
    state.note_revocations().await?;
    Ok(true)
}

/// RFC 6749 §4.1.2: a second redemption revokes what the first one issued.
async fn code_reuse(state: &AppState, client: &Client, grant: &GrantId, now: UnixTime) -> ProtocolError {
    match revoke_now(state, grant, now).await {
        Ok(revoked) => {
            if revoked {
                tracing::warn!(client = %client.id, grant = %grant, "authorization code reused; grant revoked");
            }
            OAuthError::invalid_grant("the code is invalid, expired or already used").into()
        }
        Err(e) => e.into(),
    }
}

/// RFC 9700 §4.14.2: a used refresh token came back, so one copy is in the wrong hands.
/// Revoke the whole family; the legitimate client signs in again.
async fn reuse(state: &AppState, grant: &Grant, now: UnixTime) -> ProtocolError {
    match revoke_now(state, &grant.id, now).await {
        Ok(revoked) => {
            if revoked {
                tracing::warn!(client = %grant.client_id, grant = %grant.id, "refresh token reused; grant revoked");
            }
            OAuthError::invalid_grant("the refresh token is invalid, expired or revoked").into()
        }
        Err(e) => e.into(),
    }
}

/// RFC 6749 §4.4: a token for a machine client itself. No person is involved, but the token is
/// recorded like a person's (`token.issued`, the portal acting for nobody, with the `jti`): who
/// held access, and when, is what an inspector asks first. No transaction writes anything else,
/// so the record is written on its own, after the token is made and before it is handed out.
/// A machine client's tokens are recorded once per this window (its first token in it).
const MACHINE_TOKEN_WINDOW_SECS: i64 = 3600;

async fn client_credentials(
    state: &AppState,
    client: &Client,
    params: &Params,
    now: UnixTime,
) -> Result<TokenResponse, ProtocolError> {
    require_grant_type(client, GrantType::ClientCredentials)?;
    let scope = match params.get("scope") {
        None => client.scopes.clone(),
        Some(s) => Scopes::parse(s).filter(|s| s.is_subset_of(&client.scopes)).ok_or_else(|| {
            OAuthError::new(ErrorCode::InvalidScope, "a requested scope is not allowed for this client")
        })?,
    };
    let ttl = state.config.tokens.access_token_ttl_secs;
    let claims = AccessTokenClaims {
        iss: state.issuer.clone(),
        sub: client.id.0.clone(),
        aud: client.id.0.clone(),
        exp: now + ttl,
        iat: now,
        jti: tokens::new_jti(None),
        client_id: client.id.0.clone(),
        scope: scope.to_string(),
        auth_time: None,
        acr: None,
        amr: Vec::new(),
        sid: None,
        act: None,
        representation: None,
    };
    let access_token = tokens::sign_access_token(&state.keys(), &claims, now)?;
    // A machine's token names no person, and a machine may ask one per call: its first token of
    // each hour, per scope, is recorded (with the token's `jti`), not every one (docs/audit.md).
    // The hour is marked only once the record is written: concurrent first tokens may each be
    // recorded, but none goes unrecorded.
    let key = crate::kv::keys::machine_tokens_recorded(client.id.as_str(), &scope.to_string());
    if state.kv.get(&key).await.map_err(ProtocolError::internal)?.is_none() {
        let event = Event::new(EventType::TokensIssued, Actor::portal(client.id.as_str()))
            .object("access_token", claims.jti.as_str())
            .portal(client.id.as_str())
            .organisation(client.organisation_id.as_str())
            .detail("grant_type", "client_credentials")
            .detail("scope", scope.to_string())
            .detail("recorded", "first_of_hour")
            .back_channel();
        state.audit.record(state.store.as_ref(), &event, now).await?;
        if let Err(e) = state.kv.put(&key, "1", MACHINE_TOKEN_WINDOW_SECS).await {
            // The token is recorded; the next one is recorded too.
            tracing::warn!(cause = %crate::error_chain(&e), "could not mark a machine token as recorded");
        }
    }
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: scope.to_string(),
        refresh_token: None,
        id_token: None,
    })
}

fn new_refresh_token(grant: &GrantId, scope: &Scopes, now: UnixTime) -> (String, RefreshToken) {
    let token = crypto::random_token(32);
    let row = RefreshToken {
        digest: crypto::token_digest(&token),
        grant_id: grant.clone(),
        scope: scope.clone(),
        created_at: now,
        used_at: None,
    };
    (token, row)
}

/// What [`user_tokens`] made: the response, the scope it gives (narrowed to a representative's
/// sections) and whether someone acts for another.
struct Minted {
    response: TokenResponse,
    scope: Scopes,
    representative: bool,
}

/// Mints the access token and ID token for a person's grant.
#[allow(clippy::too_many_arguments)]
async fn user_tokens(
    state: &AppState,
    client: &Client,
    account: &Account,
    grant: &Grant,
    scope: &Scopes,
    nonce: Option<String>,
    refresh_token: Option<String>,
    now: UnixTime,
) -> Result<Minted, ProtocolError> {
    let keys = state.key_ring();
    let ttl = state.config.tokens.access_token_ttl_secs;
    // The access token reaches the subject's data: a care client's `sub` when a care client's
    // portal was opened, and `act` naming the account when someone acts for another (RFC 8693
    // §4.1). The standing is read now, so a representation that ended or lost a section since the
    // sign-in gives no token, or a narrower one (docs/representation.md).
    let principal = grant.principal().unwrap_or_else(|| Principal::for_self(&account.id));
    let standing = representation::standing(state.store.as_ref(), &principal, now)
        .await?
        .filter(|s| s.organisation().is_none_or(|org| *org == client.organisation_id))
        .ok_or_else(|| OAuthError::invalid_grant("the person acted for can no longer be acted for"))?;
    let scope = &standing.narrow(scope);
    let sub = standing.subject().unwrap_or(account.subject.as_str()).to_string();
    let act = standing.is_representative().then(|| tokens::ActClaim { sub: account.subject.0.clone() });
    let claims = AccessTokenClaims {
        iss: state.issuer.clone(),
        sub,
        aud: client.id.0.clone(),
        exp: now + ttl,
        iat: now,
        jti: tokens::new_jti(Some(&grant.id)),
        client_id: client.id.0.clone(),
        scope: scope.to_string(),
        auth_time: grant.auth_time,
        acr: grant.acr.clone(),
        amr: grant.amr.clone(),
        sid: grant.session_id.as_ref().map(|s| s.0.clone()),
        act,
        representation: standing.claim(),
    };
    let access_token = tokens::sign_access_token(&keys, &claims, now)?;
    let id_claims = IdTokenClaims {
        iss: state.issuer.clone(),
        sub: account.subject.0.clone(),
        aud: client.id.0.clone(),
        exp: now + state.config.tokens.id_token_ttl_secs,
        iat: now,
        auth_time: grant.auth_time.unwrap_or(now),
        nonce,
        acr: grant.acr.clone().unwrap_or_default(),
        amr: grant.amr.clone(),
        sid: grant.session_id.as_ref().map(|s| s.0.clone()),
        azp: client.id.0.clone(),
        at_hash: Some(tokens::at_hash(&access_token)),
        acting_for: standing.acting_for(),
    };
    let alg = client.id_token_alg;
    // An ID token only while the (possibly narrowed) scope still asks for OpenID Connect.
    let id_token = match (scope.contains("openid"), alg) {
        (false, _) => None,
        // ES256 takes microseconds; RSA signing takes about a millisecond, so off the async workers.
        (true, SigningAlg::ES256) => Some(tokens::sign_id_token(&keys, alg, &id_claims, now)?),
        (true, SigningAlg::RS256) => Some(
            tokio::task::spawn_blocking(move || tokens::sign_id_token(&keys, alg, &id_claims, now))
                .await
                .map_err(ProtocolError::internal)??,
        ),
    };
    let response = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: scope.to_string(),
        refresh_token,
        id_token,
    };
    Ok(Minted { response, scope: scope.clone(), representative: standing.is_representative() })
}
