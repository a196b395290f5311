//! Endpoints that take tokens back: userinfo (OIDC Core §5.3), introspection (RFC 7662) and
//! revocation (RFC 7009).

use serde::Serialize;
use serde_json::Value;

use super::client_auth;
use super::error::{ErrorCode, OAuthError, ProtocolError};
use super::params::Params;
use super::tokens::{self, AccessTokenClaims, TokenRejection};
use crate::app::AppState;
use crate::audit::{Actor, Event, EventType};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::{ClientId, GrantId, Principal, Subject};
use crate::representation;
use crate::store::{Client, ClientKind, Grant};

/// A verified, unrevoked access token. Answers from the node's memory when the same token was
/// checked before and nothing has been revoked since (see `app.rs`).
pub async fn check_access_token(
    state: &AppState,
    token: &str,
    now: UnixTime,
) -> Result<Option<AccessTokenClaims>, ProtocolError> {
    let digest = crypto::sha256(token.as_bytes());
    if let Some(claims) = state.verified_token(&digest, now) {
        return Ok(Some(claims));
    }
    let claims = match tokens::verify_access_token(&state.keys(), &state.issuer, token, now) {
        Ok(claims) => claims,
        Err(TokenRejection::Malformed | TokenRejection::Expired) => return Ok(None),
    };
    let generation = state.revocation_generation();
    if state.store.access_token_revoked(&claims.jti, claims.grant_id().as_ref()).await? {
        return Ok(None);
    }
    state.remember_token(digest, claims.clone(), generation);
    Ok(Some(claims))
}

/// OIDC Core §5.3: the claims of the token's account, as its scopes allow. Each answer is a read
/// of the person's data by the portal and is recorded (`userinfo.read`) before it is given: no
/// claims without their record.
pub async fn userinfo(state: &AppState, bearer: Option<&str>) -> Result<Value, ProtocolError> {
    let invalid = || OAuthError::new(ErrorCode::InvalidToken, "the access token is invalid or expired");
    let token = bearer.ok_or_else(invalid)?;
    let now = state.clock.unix();
    let claims = check_access_token(state, token, now).await?.ok_or_else(invalid)?;
    if !claims.scope.split(' ').any(|s| s == "openid") {
        return Err(
            OAuthError::new(ErrorCode::InvalidToken, "the access token was not issued for OpenID Connect").into()
        );
    }
    let grant = match claims.grant_id() {
        Some(id) => state.store.grant_by_id(&id).await?,
        None => None,
    };
    let grant: Grant = grant.ok_or_else(invalid)?;
    let principal = grant.principal().ok_or_else(invalid)?;
    let account_id = grant.account_id.clone().ok_or_else(invalid)?;
    // Whose data: the care client's (the token's `sub`), reached by the account that signed in.
    // The answer is about the account (its `sub` is the ID token's, OIDC Core §5.3.2) and names
    // the client acted for, as the ID token does; a representation that ended refuses.
    let standing = representation::standing(state.store.as_ref(), &principal, now).await?.ok_or_else(invalid)?;
    let expected = standing.subject().map(|s| Subject(s.to_string()));
    let account = state.store.account_by_id(&account_id).await?.filter(|a| !a.disabled).ok_or_else(invalid)?;
    if Subject(claims.sub.clone()) != expected.unwrap_or_else(|| account.subject.clone()) {
        return Err(invalid().into());
    }
    let scope = crate::domain::Scopes::parse(&claims.scope).unwrap_or_default();
    let mut answer = super::claims::userinfo(&account, &scope);
    if let (Some(acting_for), Some(object)) = (standing.acting_for(), answer.as_object_mut()) {
        object.insert("acting_for".into(), serde_json::to_value(acting_for).unwrap_or_default());
    }
    let released: Vec<&str> = answer.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    let event = read_by_portal(EventType::UserinfoRead, &grant.client_id, &principal, &grant.id, &claims.scope)
        .detail("claims", released);
    state.audit.record(state.store.as_ref(), &event, now).await?;
    Ok(answer)
}

/// The record of a portal reading a person's data with a token it holds (NEN 7513 counts reads):
/// the portal acts, for the token's subject (`sub`); when the account that signed in acts for
/// someone else, `detail.act` names that account (as the token's `act` does). The object is the
/// grant, which links the read to the `token.issued` record of the same tokens. A portal's
/// server-to-server request: its address is not the person's, so none is recorded. Built from
/// what the answer already read, and written with one append (docs/audit.md, "Reads by portals").
fn read_by_portal(kind: EventType, portal: &ClientId, principal: &Principal, grant: &GrantId, scope: &str) -> Event {
    let event = Event::new(kind, Actor::portal(portal.as_str()))
        .acting_for(principal.subject.audit_id())
        .object("grant", grant.as_str())
        .portal(portal.as_str())
        .detail("scope", scope)
        .back_channel();
    match principal.acts_for_self() {
        true => event,
        false => event.detail("act", principal.actor.as_str()),
    }
}

/// RFC 7662 §2.2 response; inactive tokens get only `{"active": false}`.
#[derive(Debug, Serialize, Default)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<UnixTime>,
    /// RFC 8693 §4.1, when someone acts for another (the `act` of the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<tokens::ActClaim>,
    /// The representation that lets `act` act for `sub` (docs/tokens.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub representation: Option<tokens::RepresentationClaim>,
}

/// RFC 7662: only confidential clients (resource servers) may introspect, and a token is
/// described only to the client it was issued to (or the audience it was issued for). Any other
/// client learns exactly `{"active": false}`, as for an unknown token (§2.2 lets the server
/// refuse to disclose): a portal must not read another portal's `sub`, `scope` or `acr`.
pub async fn introspect(
    state: &AppState,
    params: &Params,
    authorization: Option<&str>,
) -> Result<Introspection, ProtocolError> {
    let credentials = client_auth::credentials(authorization, params)?;
    params.reject_duplicates()?;
    let client = client_auth::authenticate(state, &credentials).await?;
    if client.kind != ClientKind::Confidential {
        return Err(OAuthError::invalid_client().into());
    }
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let now = state.clock.unix();
    // RFC 7662 §2.1: the hint only says where to look first.
    let refresh_first = params.get("token_type_hint") == Some("refresh_token");
    if !refresh_first {
        if let Some(answer) = introspect_access_token(state, &client, token, now).await? {
            return Ok(answer);
        }
    }
    let Some(row) = state.store.refresh_token_by_digest(&crypto::token_digest(token)).await? else {
        let access = if refresh_first { introspect_access_token(state, &client, token, now).await? } else { None };
        return Ok(access.unwrap_or_default());
    };
    let Some(grant) = state.store.grant_by_id(&row.grant_id).await? else {
        return Ok(Introspection::default());
    };
    if grant.client_id != client.id || row.used_at.is_some() || !grant.is_active(now) {
        return Ok(Introspection::default());
    }
    // The grant's principal: `sub` is whose data it reaches, `act` the account acting for them.
    let (mut subject, mut act, mut representation, mut scope) = (None, None, None, row.scope.clone());
    if let Some(principal) = grant.principal() {
        let Some(standing) = representation::standing(state.store.as_ref(), &principal, now).await? else {
            return Ok(Introspection::default());
        };
        let actor = state.store.account_by_id(&principal.actor).await?.map(|a| a.subject.0);
        subject = standing.subject().map(str::to_string).or(actor.clone());
        act = actor.filter(|_| standing.is_representative()).map(|sub| tokens::ActClaim { sub });
        representation = standing.claim();
        scope = standing.narrow(&row.scope);
        let event = read_by_portal(EventType::TokenIntrospected, &client.id, &principal, &grant.id, &scope.to_string())
            .detail("token_type", "refresh_token");
        state.audit.record(state.store.as_ref(), &event, now).await?;
    }
    Ok(Introspection {
        act,
        representation,
        active: true,
        scope: Some(scope.to_string()),
        client_id: Some(grant.client_id.0.clone()),
        token_type: Some("refresh_token"),
        exp: Some(grant.expires_at),
        iat: Some(row.created_at),
        sub: subject,
        iss: Some(state.issuer.clone()),
        acr: grant.acr.clone(),
        auth_time: grant.auth_time,
        ..Introspection::default()
    })
}

/// An active access token described to `client`, or `None` when it is not active or not the
/// client's to know about. A person's token is described only with its record
/// (`token.introspected`); a machine client's token (no grant, no person) reveals no personal
/// data and is not recorded.
async fn introspect_access_token(
    state: &AppState,
    client: &Client,
    token: &str,
    now: UnixTime,
) -> Result<Option<Introspection>, ProtocolError> {
    let claims = check_access_token(state, token, now).await?.filter(|claims| may_introspect(client, claims));
    let Some(claims) = claims else {
        return Ok(None);
    };
    if let Some(grant_id) = claims.grant_id() {
        // The token names its subject by `sub` only; the record names the account, so this one
        // read of the grant (by its key) is the price of knowing whose data this was.
        let principal = state.store.grant_by_id(&grant_id).await?.and_then(|g| g.principal());
        if let Some(principal) = principal {
            // A representation that ended since the token was made (its end date, the age
            // rules) ends the token too: nothing revoked the grant for those.
            if representation::standing(state.store.as_ref(), &principal, now).await?.is_none() {
                return Ok(None);
            }
            let event = read_by_portal(EventType::TokenIntrospected, &client.id, &principal, &grant_id, &claims.scope)
                .detail("token_type", "access_token")
                .detail("jti", claims.jti.as_str());
            state.audit.record(state.store.as_ref(), &event, now).await?;
        }
    }
    Ok(Some(Introspection {
        active: true,
        scope: Some(claims.scope),
        client_id: Some(claims.client_id),
        token_type: Some("Bearer"),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
        acr: claims.acr,
        auth_time: claims.auth_time,
        act: claims.act,
        representation: claims.representation,
    }))
}

/// May `client` read this access token's claims? Only the client it was issued to, or the one
/// named as its audience (RFC 9068 §2.2 `aud`; today always the same client).
fn may_introspect(client: &Client, claims: &AccessTokenClaims) -> bool {
    claims.client_id == client.id.0 || claims.aud == client.id.0
}

/// The record of a portal revoking tokens (RFC 7009) it holds for a person: the portal acts, for
/// the person whose data the tokens reached; the address is the portal's server, not the person's.
fn revoked(portal: &ClientId, principal: Option<&Principal>, object: &'static str, id: &str) -> Event {
    let event = Event::new(EventType::TokensRevoked, Actor::portal(portal.as_str()))
        .portal(portal.as_str())
        .object(object, id)
        .back_channel();
    match principal {
        Some(p) => event.acting_for(p.subject.audit_id()),
        None => event,
    }
}

/// RFC 7009 §2.1: revokes a refresh token (with its whole grant) or an access token.
/// Unknown or foreign tokens are answered the same as revoked ones (§2.2). Only a revocation
/// that changed something is recorded: a token revoked before (itself or with its grant), unknown
/// or foreign adds no `token.revoked` record, so the log says when access really ended.
pub async fn revoke(state: &AppState, params: &Params, authorization: Option<&str>) -> Result<(), ProtocolError> {
    let credentials = client_auth::credentials(authorization, params)?;
    params.reject_duplicates()?;
    let client = client_auth::authenticate(state, &credentials).await?;
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    match params.get("token_type_hint") {
        None | Some("access_token") | Some("refresh_token") => {}
        Some(_) => {
            return Err(OAuthError::new(ErrorCode::UnsupportedTokenType, "token_type_hint is not supported").into())
        }
    }
    let now = state.clock.unix();
    if let Some(row) = state.store.refresh_token_by_digest(&crypto::token_digest(token)).await? {
        let grant = state.store.grant_by_id(&row.grant_id).await?;
        if let Some(grant) = grant.filter(|g| g.client_id == client.id && g.revoked_at.is_none()) {
            let mut tx = state.store.begin().await?;
            if !tx.revoke_grant(&grant.id, now).await? {
                // Revoked meanwhile, by a sign-out or another revocation: that one is recorded.
                return Ok(());
            }
            let event = revoked(&client.id, grant.principal().as_ref(), "grant", grant.id.as_str());
            state.audit.commit(tx, None, &event, now).await?;
            state.note_revocations().await?;
        }
        return Ok(());
    }
    if let Ok(claims) = tokens::verify_access_token(&state.keys(), &state.issuer, token, now) {
        if claims.client_id == client.id.0 {
            // Read before the transaction: a read on another connection inside it could wait for
            // a connection the transaction itself holds.
            let grant = match claims.grant_id() {
                Some(id) => state.store.grant_by_id(&id).await?,
                None => None,
            };
            // Its grant revoked (the portal revoked the refresh token, or the person signed out):
            // the token is dead already and there is nothing to record.
            if grant.as_ref().is_some_and(|g| g.revoked_at.is_some()) {
                return Ok(());
            }
            let person = grant.and_then(|g| g.principal());
            let mut tx = state.store.begin().await?;
            if !tx.revoke_access_token(&claims.jti, claims.exp).await? {
                return Ok(());
            }
            let event = revoked(&client.id, person.as_ref(), "access_token", &claims.jti);
            state.audit.commit(tx, None, &event, now).await?;
            state.note_revocations().await?;
        }
    }
    Ok(())
}
