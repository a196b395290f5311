//! Inviting a client (`idp-admin invite`): the invitation, its mail and its audit records
//! (`invitation.sent`, `admin.command`), in one transaction; a new invitation voids the earlier
//! ones for the same organisation and address.

use rand::rngs::OsRng;
use rand::Rng;
use serde::Serialize;
use time::macros::format_description;

use super::Mailing;
use super::{normalise_email, ActivationError};
use crate::admin::{self, Refusal};
use crate::audit::{Event, EventType};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::{BirthDate, Email, Secret, Username};
use crate::store::{ActivationMethod, Invitation, OrganisationPolicy, OutboxMail};
use crate::ui::Locale;

/// Letters and digits that cannot be mistaken for each other on paper or a phone (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// 10 characters of a 31-symbol alphabet: about 49 bits, with at most 5 guesses per invitation.
const CODE_LENGTH: usize = 10;

#[derive(Debug, Clone)]
pub struct InviteRequest {
    pub organisation: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<String>,
    pub client_number: Option<String>,
}

/// A sent invitation; `secret` is the code (journey A) or link token (journey B), which exists
/// nowhere else in clear text once the mail has gone.
#[derive(Debug)]
pub struct Invited {
    pub invitation: Invitation,
    pub secret: Secret<String>,
}

pub fn new_code() -> String {
    (0..CODE_LENGTH).map(|_| CODE_ALPHABET[OsRng.gen_range(0..CODE_ALPHABET.len())] as char).collect()
}

#[derive(Serialize)]
struct InvitationMail<'a> {
    given_name: &'a str,
    organisation: &'a str,
    email: &'a str,
    code: &'a str,
    link: String,
    expires: String,
}

/// Invites a client as the operator `deps.by`; a refusal is recorded as a failed `admin.command`.
pub async fn invite(
    deps: &admin::Deps<'_>,
    mailing: Mailing<'_>,
    request: InviteRequest,
    now: UnixTime,
) -> Result<Invited, ActivationError> {
    let result = invite_for(deps, mailing, request, now).await;
    deps.refused_recorded(admin::INVITE, result, now).await
}

async fn invite_for(
    deps: &admin::Deps<'_>,
    mailing: Mailing<'_>,
    request: InviteRequest,
    now: UnixTime,
) -> Result<Invited, ActivationError> {
    let &admin::Deps { store, audit, ref by } = deps;
    let Mailing { templates, config, issuer } = mailing;
    let invalid = |m: String| ActivationError::Invalid(m);
    let org = store
        .organisation_by_slug(&request.organisation.to_ascii_lowercase())
        .await?
        .ok_or_else(|| invalid(format!("--org: no organisation {:?}", request.organisation)))?;
    let email = Email::parse(&request.email)
        .ok_or_else(|| invalid(format!("--email {}: not an e-mail address", request.email)))?;
    for (flag, value) in [("--given-name", &request.given_name), ("--family-name", &request.family_name)] {
        if value.trim().is_empty() || value.len() > 200 {
            return Err(invalid(format!("{flag}: must be 1-200 characters")));
        }
    }
    let birth_date = match &request.birth_date {
        Some(d) => Some(
            BirthDate::parse(d).ok_or_else(|| invalid(format!("--birth-date {d}: use JJJJ-MM-DD or DD-MM-JJJJ")))?,
        ),
        None => None,
    };
    let policy = store.policy(&org.id).await?.unwrap_or_else(|| OrganisationPolicy::default_for(org.id.clone()));
    // Journey B makes the address the login name (with "-NN" when it is taken): it must fit one.
    if policy.activation_method == ActivationMethod::LinkBirthdateTemporaryPassword
        && email.as_str().chars().count() > 60
    {
        return Err(invalid(format!(
            "--email {}: at most 60 characters for this organisation's activation",
            request.email
        )));
    }
    // ... and pass the username rules (no invisible characters or mixed scripts), or the
    // activation could not make an account.
    if policy.activation_method == ActivationMethod::LinkBirthdateTemporaryPassword {
        if let Err(e) = Username::parse(email.as_str()) {
            return Err(invalid(format!("--email {}: cannot be a login name: it {e}", request.email)));
        }
    }
    if policy.activation_method == ActivationMethod::LinkBirthdateTemporaryPassword && birth_date.is_none() {
        return Err(invalid("--birth-date: this organisation activates with the birth date, so it is required".into()));
    }
    // Journey A mails a code to type; journey B a link that carries a longer token.
    let code = match policy.activation_method {
        ActivationMethod::InviteCode => new_code(),
        ActivationMethod::LinkBirthdateTemporaryPassword => crypto::random_token(32),
    };
    let expires_at = now + policy.invitation_ttl_secs;
    let invitation = Invitation {
        id: crypto::random_token(12),
        organisation_id: org.id.clone(),
        method: policy.activation_method,
        email: email.as_str().to_string(),
        email_normalised: normalise_email(email.as_str()),
        given_name: request.given_name.trim().to_string(),
        family_name: request.family_name.trim().to_string(),
        birth_date: birth_date.map(|d| d.iso()),
        client_number: request.client_number.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
        secret_digest: crypto::token_digest(&code),
        created_at: now,
        expires_at,
        used_at: None,
        voided_at: None,
        failures: 0,
        account_id: None,
    };
    let expires = time::OffsetDateTime::from_unix_timestamp(expires_at)
        .ok()
        .and_then(|t| t.format(format_description!("[day]-[month]-[year]")).ok())
        .unwrap_or_default();
    // Links come from the configured public URL, never from a request's Host header.
    let (message, link) = match policy.activation_method {
        ActivationMethod::InviteCode => ("invitation-code", format!("{issuer}/activeren")),
        ActivationMethod::LinkBirthdateTemporaryPassword => {
            ("invitation-link", format!("{issuer}/activeren/link?token={code}"))
        }
    };
    let context = InvitationMail {
        given_name: &invitation.given_name,
        organisation: &org.name,
        email: &invitation.email,
        code: &code,
        link,
        expires,
    };
    let sender = (
        policy.mail_from_name.clone().unwrap_or_else(|| org.name.clone()),
        policy.mail_from_address.clone().unwrap_or_else(|| config.mail.from_address.clone()),
    );
    let rendered = templates.render(message, Locale::Nl, &context)?;
    let mail = OutboxMail::queued(Some(org.id.clone()), invitation.email.clone(), sender, rendered, now);
    let mut tx = store.begin().await?;
    tx.create_invitation(&invitation, now).await?;
    let sent = Event::new(EventType::InvitationSent, by.clone())
        .object("invitation", invitation.id.as_str())
        .organisation(org.id.as_str())
        .detail("method", invitation.method.as_str());
    audit.append(tx.as_mut(), &sent, now).await?;
    let event = deps.command(admin::INVITE, ("invitation", invitation.id.as_str())).organisation(org.id.as_str());
    audit.commit(tx, Some(&mail), &event, now).await?;
    Ok(Invited { invitation, secret: Secret::new(code) })
}

impl Refusal for ActivationError {
    fn reason(&self) -> &'static str {
        match self {
            ActivationError::Invalid(_) => "invalid",
            ActivationError::Store(crate::store::StoreError::Conflict(_)) => "conflict",
            ActivationError::Store(_) | ActivationError::Mail(_) | ActivationError::Kv(_) => "error",
            ActivationError::Unrecorded { error, .. } => error.reason(),
        }
    }

    fn unrecorded(self, audit: crate::store::StoreError) -> Self {
        ActivationError::Unrecorded { error: Box::new(self), audit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(code.len(), CODE_LENGTH);
            assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        }
        assert_ne!(new_code(), new_code());
    }
}
