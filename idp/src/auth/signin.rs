//! Password sign-in with throttling.
//!
//! Per normalised username, every attempt first takes a slot from a counter and only then checks
//! the password: that keeps the limit exact under concurrency (of N parallel guesses against one
//! account, no more than the limit are ever checked); a success clears the counter.
//! A browser that gave this username's password before (a device cookie, `known_device`) takes its
//! slot from a counter of its own instead, with the same limit: a stranger who pauses the username
//! does not pause its owner's browsers, and a known browser that guesses is paused by itself.
//! Its success clears only its own counter, so the owner signing in gives a stranger no new tries.
//! Per client address only failures count (checked before, counted after): many people behind
//! one care organisation's NAT signing in at nine o'clock must not lock each other out, at the
//! price of a few extra guesses in flight when an address is already at its limit.
//! Unknown user and wrong password give the same answer after the same work.

use std::net::IpAddr;

use crate::app::Deps;
use crate::audit::{Actor, Event, EventType};
use crate::auth::{known_device, password};
use crate::clock::UnixTime;
use crate::domain::{Secret, Username};
use crate::kv::{keys, KvError};
use crate::store::{Account, StoreError};

#[derive(Debug)]
pub enum SignIn {
    Success(Box<Account>),
    Invalid,
    Throttled,
    /// Too many sign-ins are waiting for their password to be checked: try again in a moment.
    /// Nothing was counted against the username or the address.
    Busy,
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
async fn record(
    deps: &Deps,
    kind: EventType,
    account: Option<&Account>,
    reason: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    let actor = account.map(Actor::account).unwrap_or_else(Actor::unknown);
    let mut event = Event::new(kind, actor).failed().detail("reason", reason);
    if let Some(a) = account {
        event = event.object("account", a.id.as_str());
    }
    deps.audit.record(deps.store.as_ref(), &event, now).await?;
    Ok(())
}

/// Checks `pass` for `username`. `device` is the browser's device cookie, if it sent one.
pub async fn with_password(
    deps: &Deps,
    username: &str,
    pass: Secret<String>,
    client_ip: IpAddr,
    device: Option<&str>,
    now: UnixTime,
) -> Result<SignIn, SignInError> {
    let limits = &deps.config.signin;
    let normalised = Username::normalise(username);
    let ip_key = keys::signin_failures_by_address(client_ip);
    let ip_failures = deps.kv.get(&ip_key).await?.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    if ip_failures >= u64::from(limits.max_failures_per_ip) {
        tracing::warn!(ip = %client_ip, "sign-in throttled");
        // Recorded once per address and window: a refused attempt is cheap, and a record for
        // each would let one client fill the log and queue every node's audited writes.
        if deps.kv.incr(&keys::signin_throttle_recorded(client_ip), limits.window_secs).await? == 1 {
            record(deps, EventType::SigninThrottled, None, "address", now).await?;
        }
        return Ok(SignIn::Throttled);
    }
    // A place in the hashing queue before anything is counted: a refused attempt costs nobody a try.
    let Some(admitted) = deps.password_checks.try_admit() else {
        tracing::debug!(ip = %client_ip, "sign-in refused: every password check is taken");
        return Ok(SignIn::Busy);
    };
    let found = deps.store.account_by_username(&normalised).await?;
    let enabled = found.as_ref().filter(|a| !a.disabled);
    let known = known_device::recognise(deps, &normalised, enabled, device).await?;
    let counter = match &known {
        Some(device) => device.failure_key(),
        None => keys::signin_failures_by_username(&normalised),
    };
    let attempts = deps.kv.incr(&counter, limits.window_secs).await?;
    if attempts > u64::from(limits.max_failures_per_username) {
        tracing::warn!(ip = %client_ip, known_device = known.is_some(), "sign-in throttled");
        let reason = if known.is_some() { "device" } else { "username" };
        // Once per counter and window: exactly one attempt sees the count pass the limit.
        if attempts == u64::from(limits.max_failures_per_username) + 1 {
            record(deps, EventType::SigninThrottled, found.as_ref(), reason, now).await?;
        }
        return Ok(SignIn::Throttled);
    }
    let account = found.clone().filter(|a| !a.disabled);
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    if !password::verify_admitted(admitted, pass, stored).await {
        deps.kv.incr(&ip_key, limits.window_secs).await?;
        tracing::info!(ip = %client_ip, known_device = known.is_some(), "sign-in failed");
        // A disabled account is named too: its owner (and the organisation) should see attempts.
        record(deps, EventType::SigninFailed, found.as_ref(), "password", now).await?;
        return Ok(SignIn::Invalid);
    }
    let Some(account) = account else {
        return Ok(SignIn::Invalid);
    };
    deps.kv.delete(&counter).await?;
    tracing::info!(account = %account.id, known_device = known.is_some(), "signed in with password");
    Ok(SignIn::Success(Box::new(account)))
}

/// After the right password: makes this browser known for `username` (see `known_device`) and
/// returns the device cookie's value.
pub async fn remember_device(
    deps: &Deps,
    username: &str,
    account: &Account,
    device: Option<&str>,
) -> Result<String, KvError> {
    known_device::remember(deps, &Username::normalise(username), account, device).await
}
