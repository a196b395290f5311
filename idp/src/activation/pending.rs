//! Journey A between its two pages: the e-mail address and validation code ([`start`]), then a
//! username and password ([`open`], [`finish`]). Between the two, the invitation whose code was
//! right is kept in `kv` (`kv::keys::activation`, `session.interaction_ttl_secs`), bound to the
//! browser that proved it and to the form by a CSRF token, like a sign-in.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::account::{self, CodeCheck, Created, Problems};
use super::ActivationError;
use crate::app;
use crate::crypto;
use crate::domain::Secret;
use crate::kv::keys;
use crate::store::{Invitation, OrganisationPolicy};

/// A validated invitation, waiting for the person to choose a username and password.
#[derive(Serialize, Deserialize)]
struct Kept {
    invitation_id: String,
    csrf: String,
    /// Digest of the browser's binding cookie.
    binding: String,
}

/// What the e-mail address and code came to.
#[derive(Debug)]
pub enum Started {
    /// The address or the code is empty.
    Missing,
    /// Not an e-mail address.
    BadEmail,
    /// Too many wrong answers from this address: nothing was checked.
    Paused,
    /// Wrong address or code, or the invitation is no longer open (counted).
    Refused,
    /// Right: the activation is kept under this id, for the next page.
    Kept(String),
}

/// The address and code typed on `/activeren`, from `ip`, in the browser whose binding cookie
/// has the value `binding` (the kept activation is bound to it).
pub async fn start(
    deps: &app::Deps,
    ip: IpAddr,
    email: &str,
    code: &str,
    binding: &str,
) -> Result<Started, ActivationError> {
    if email.is_empty() || code.trim().is_empty() {
        return Ok(Started::Missing);
    }
    if super::parse_email(email).is_none() {
        return Ok(Started::BadEmail);
    }
    if super::paused(deps, ip).await? {
        return Ok(Started::Paused);
    }
    let invitation = match account::check_code(deps.store.as_ref(), email, code, deps.clock.unix()).await? {
        CodeCheck::Valid(invitation) => invitation,
        CodeCheck::Refused => {
            super::count_failure(deps, ip).await;
            return Ok(Started::Refused);
        }
    };
    let id = crypto::random_token(16);
    let kept =
        Kept { invitation_id: invitation.id, csrf: crypto::random_token(32), binding: crypto::token_digest(binding) };
    let json = serde_json::to_string(&kept).expect("pending activation serialises");
    deps.kv.put(&keys::activation(&id), &json, deps.config.session.interaction_ttl_secs).await?;
    Ok(Started::Kept(id))
}

/// A kept activation the browser may continue: its form's CSRF token, the invitation and the
/// organisation's policy (whose password rules the page shows).
#[derive(Debug)]
pub struct Opened {
    pub csrf: String,
    pub invitation: Invitation,
    pub policy: OrganisationPolicy,
}

/// The activation kept under `id`, if it exists and belongs to the browser whose binding cookie
/// is `binding`.
pub async fn open(deps: &app::Deps, id: &str, binding: Option<&str>) -> Result<Option<Opened>, ActivationError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let Some(json) = deps.kv.get(&keys::activation(id)).await? else { return Ok(None) };
    let Ok(kept) = serde_json::from_str::<Kept>(&json) else { return Ok(None) };
    if !crypto::digest_matches(binding, &kept.binding) {
        return Ok(None);
    }
    let Some(invitation) = deps.store.invitation_by_id(&kept.invitation_id).await? else {
        return Ok(None);
    };
    let policy = deps
        .store
        .policy(&invitation.organisation_id)
        .await?
        .unwrap_or_else(|| OrganisationPolicy::default_for(invitation.organisation_id.clone()));
    Ok(Some(Opened { csrf: kept.csrf, invitation, policy }))
}

/// What choosing a username and password came to.
#[derive(Debug)]
pub enum Finished {
    /// The account exists; `portal_url` is where the person goes next (the organisation's portal).
    Activated { username: String, portal_url: Option<String> },
    /// Not acceptable: the page again, saying why.
    Refused(Box<Opened>, Problems),
    /// No such activation for this browser and form, or its invitation is no longer open.
    Expired,
}

/// What the person typed on `/activeren/account`.
pub struct Choice<'a> {
    /// The kept activation the form names, and the form's CSRF token.
    pub id: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub password: Secret<String>,
    pub repeated: &'a str,
}

/// The username and password chosen for the activation kept under `choice.id`: the account is
/// made and the invitation used (`account::create`), and the kept activation is forgotten.
pub async fn finish(deps: &app::Deps, binding: Option<&str>, choice: Choice<'_>) -> Result<Finished, ActivationError> {
    let Some(opened) = open(deps, choice.id, binding).await? else { return Ok(Finished::Expired) };
    if !crypto::constant_time_eq(choice.csrf.as_bytes(), opened.csrf.as_bytes()) {
        return Ok(Finished::Expired);
    }
    let Opened { invitation, policy, .. } = &opened;
    let now = deps.clock.unix();
    let created =
        account::create(deps.activation(), policy, invitation, choice.username, choice.password, choice.repeated, now)
            .await?;
    match created {
        Created::Account(account) => {
            // Should the delete fail, the kept activation expires by itself; its invitation is used.
            let _ = deps.kv.delete(&keys::activation(choice.id)).await;
            tracing::info!(account = %account.id, invitation = %invitation.id, "account activated");
            Ok(Finished::Activated { username: account.username, portal_url: opened.policy.portal_url })
        }
        Created::Refused(problems) => Ok(Finished::Refused(Box::new(opened), problems)),
        Created::NoLongerOpen => Ok(Finished::Expired),
    }
}
