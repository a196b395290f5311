//! Password sign-in with throttling.
//!
//! Every attempt first takes a slot from two counters — per normalised username and per client
//! address — and only then checks the password. Taking the slot first keeps the limit exact under
//! concurrency: of N parallel guesses, no more than the limit are ever checked. A success clears
//! the username counter and gives its slot back to the address counter, so both count failures. Unknown user and wrong password give the same answer after the same work.

use std::net::IpAddr;

use crate::app::AppState;
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

pub async fn with_password(
    state: &AppState,
    username: &str,
    pass: Secret<String>,
    client_ip: IpAddr,
) -> Result<SignIn, SignInError> {
    let limits = &state.config.signin;
    let normalised = Username::normalise(username);
    let user_key = format!("signin-fail:user:{}", crate::crypto::token_digest(&normalised));
    let ip_key = format!("signin-fail:ip:{client_ip}");
    let by_user = state.kv.incr(&user_key, limits.window_secs).await?;
    let by_ip = state.kv.incr(&ip_key, limits.window_secs).await?;
    if by_user > u64::from(limits.max_failures_per_username) || by_ip > u64::from(limits.max_failures_per_ip) {
        tracing::warn!(ip = %client_ip, "sign-in throttled");
        return Ok(SignIn::Throttled);
    }
    let account = state.store.account_by_username(&normalised).await?.filter(|a| !a.disabled);
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    if !password::verify(pass, stored).await {
        tracing::info!(ip = %client_ip, "sign-in failed");
        return Ok(SignIn::Invalid);
    }
    let Some(account) = account else {
        return Ok(SignIn::Invalid);
    };
    state.kv.delete(&user_key).await?;
    state.kv.decr(&ip_key).await?;
    tracing::info!(account = %account.id, "signed in with password");
    Ok(SignIn::Success(Box::new(account)))
}
