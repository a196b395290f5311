//! Password sign-in with throttling.
//!
//! Per normalised username, every attempt first takes a slot from a counter and only then checks
//! the password: that keeps the limit exact under concurrency (of N parallel guesses against one
//! account, no more than the limit are ever checked); a success clears the counter.
//! Per client address only failures count (checked before, counted after): many people behind
//! one care organisation's NAT signing in at nine o'clock must not lock each other out, at the
//! price of a few extra guesses in flight when an address is already at its limit.
//! Unknown user and wrong password give the same answer after the same work.

use std::net::IpAddr;

use crate::app::AppState;
use crate::audit::{Actor, Event, EventType};
use crate::auth::password;
use crate::domain::{Secret, Username};
use crate::kv::KvError;
use crate::store::{Account, StoreError};

#[derive(Debug)]
pub enum SignIn {
    Success(Box<Account>),
    Invalid,
    Throttled,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
}

/// Records a refused attempt. An unknown name is not stored (people type passwords into the name
/// field); the client address is, by the request's origin.
async fn record(state: &AppState, kind: EventType, account: Option<&Account>, reason: &str) -> Result<(), StoreError> {
    let actor = account.map(Actor::account).unwrap_or_else(Actor::unknown);
    let mut event = Event::new(kind, actor).failed().detail("reason", reason);
    if let Some(a) = account {
        event = event.object("account", a.id.as_str());
    }
    state.audit.record(state.store.as_ref(), &event, state.clock.unix()).await?;
    Ok(())
}

pub async fn with_password(
    state: &AppState,
    username: &str,
    pass: Secret<String>,
    client_ip: IpAddr,
) -> Result<SignIn, SignInError> {
    let limits = &state.config.signin;
    let normalised = Username::normalise(username);
    let user_key = format!("signin-fail:user:{}", crate::crypto::token_digest(&normalised));
    let ip_key = format!("signin-fail:ip:{}", crate::auth::address_key(client_ip));
    let ip_failures = state.kv.get(&ip_key).await?.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    if ip_failures >= u64::from(limits.max_failures_per_ip) {
        tracing::warn!(ip = %client_ip, "sign-in throttled");
        record(state, EventType::SigninThrottled, None, "address").await?;
        return Ok(SignIn::Throttled);
    }
    let by_user = state.kv.incr(&user_key, limits.window_secs).await?;
    if by_user > u64::from(limits.max_failures_per_username) {
        tracing::warn!(ip = %client_ip, "sign-in throttled");
        let account = state.store.account_by_username(&normalised).await?;
        record(state, EventType::SigninThrottled, account.as_ref(), "username").await?;
        return Ok(SignIn::Throttled);
    }
    let account = state.store.account_by_username(&normalised).await?.filter(|a| !a.disabled);
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    if !password::verify(pass, stored).await {
        state.kv.incr(&ip_key, limits.window_secs).await?;
        tracing::info!(ip = %client_ip, "sign-in failed");
        record(state, EventType::SigninFailed, account.as_ref(), "password").await?;
        return Ok(SignIn::Invalid);
    }
    let Some(account) = account else {
        return Ok(SignIn::Invalid);
    };
    state.kv.delete(&user_key).await?;
    tracing::info!(account = %account.id, "signed in with password");
    Ok(SignIn::Success(Box::new(account)))
}
