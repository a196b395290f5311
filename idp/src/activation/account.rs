//! Journey A, on the client's side: e-mail address + validation code, then a username and a
//! password under the organisation's rules.

use super::{normalise_code, normalise_email};
use crate::auth::password;
use crate::auth::password_rules::{birth_date_forms, Rule};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::{Secret, Username, UsernameError};
use crate::store::{
    Account, ActivationMethod, Invitation, OrganisationPolicy, Store, StoreError, MAX_INVITATION_FAILURES,
    USERNAME_LOOKALIKE,
};

/// The answer to "e-mail + code". Deliberately coarse: a wrong address, a wrong code, an expired,
/// used or locked invitation all look the same to the person typing.
#[derive(Debug)]
pub enum CodeCheck {
    Valid(Box<Invitation>),
    Refused,
}

/// Checks the code against the open invitations for the address. A wrong code counts as a
/// failure against each of them, atomically; at the fifth an invitation locks.
pub async fn check_code(store: &dyn Store, email: &str, code: &str, now: UnixTime) -> Result<CodeCheck, StoreError> {
    let email = normalise_email(email);
    let code = normalise_code(code);
    if email.is_empty() || email.len() > 254 || code.is_empty() || code.len() > 64 {
        return Ok(CodeCheck::Refused);
    }
    let presented = crypto::token_digest(&code);
    let open: Vec<Invitation> = store
        .invitations_by_email(&email)
        .await?
        .into_iter()
        .filter(|i| i.method == ActivationMethod::InviteCode && i.is_open(now))
        .collect();
    // Every answer first takes one of the five attempts, atomically, and only then is compared:
    // however many guesses arrive at once, no more than five are ever checked. A right answer
    // gives its attempt back.
    let mut attempted = Vec::new();
    for invitation in open {
        if let Some(n) = store.count_invitation_failure(&invitation.id, MAX_INVITATION_FAILURES).await? {
            if n == MAX_INVITATION_FAILURES {
                tracing::warn!(invitation = %invitation.id, "invitation locked after too many wrong codes");
            }
            attempted.push(invitation);
        }
    }
    let Some(found) =
        attempted.iter().find(|i| crypto::constant_time_eq(i.secret_digest.as_bytes(), presented.as_bytes())).cloned()
    else {
        return Ok(CodeCheck::Refused);
    };
    for invitation in &attempted {
        store.release_invitation_attempt(&invitation.id).await?;
    }
    Ok(CodeCheck::Valid(Box::new(found)))
}

/// What is wrong with a chosen username and password; each names what to fix.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Problems {
    pub username: Option<&'static str>,
    pub password: Vec<Rule>,
    pub mismatch: bool,
}

impl Problems {
    pub fn is_empty(&self) -> bool {
        self.username.is_none() && self.password.is_empty() && !self.mismatch
    }

    /// What is wrong with `new` (typed again as `repeated`) as the password of an existing
    /// `account`: the organisation's `rules`, and not its name, username or birth date.
    pub fn of_new_password(
        account: &crate::store::Account,
        rules: &crate::auth::password_rules::PasswordRules,
        new: &str,
        repeated: &str,
    ) -> Self {
        let mut personal = vec![account.username.clone(), account.given_name.clone(), account.family_name.clone()];
        if let Some(date) = &account.birth_date {
            personal.extend(birth_date_forms(date));
        }
        let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
        Problems {
            username: None,
            password: rules.check(new, &personal),
            mismatch: !crate::crypto::constant_time_eq(new.as_bytes(), repeated.as_bytes()),
        }
    }
}

#[derive(Debug)]
pub enum Created {
    Account(Box<Account>),
    /// Username or password not acceptable; nothing was stored.
    Refused(Problems),
    /// The invitation was used, voided, expired or locked in the meantime.
    NoLongerOpen,
}

/// Creates the account and uses the invitation, in one transaction.
pub async fn create(
    deps: super::Deps<'_>,
    policy: &OrganisationPolicy,
    invitation: &Invitation,
    username: &str,
    new_password: Secret<String>,
    repeated: &str,
    now: UnixTime,
) -> Result<Created, StoreError> {
    let super::Deps { store, audit } = deps;
    let mut problems = Problems::default();
    let parsed = match Username::parse(username) {
        Ok(u) => Some(u),
        Err(e) => {
            problems.username = Some(username_problem(&e));
            None
        }
    };
    let mut personal: Vec<String> = vec![invitation.given_name.clone(), invitation.family_name.clone()];
    personal.push(invitation.email.split('@').next().unwrap_or_default().to_string());
    if let Some(u) = &parsed {
        personal.push(u.display().to_string());
    }
    if let Some(date) = &invitation.birth_date {
        personal.extend(birth_date_forms(date));
    }
    let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
    problems.password = policy.password_rules.check(new_password.expose(), &personal);
    problems.mismatch = !crypto::constant_time_eq(new_password.expose().as_bytes(), repeated.as_bytes());
    let Some(username) = parsed.filter(|_| problems.is_empty()) else {
        return Ok(Created::Refused(problems));
    };
    if !invitation.is_open(now) {
        return Ok(Created::NoLongerOpen);
    }
    let hash = password::hash(new_password).await.map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let account = super::account_for(invitation, &username, hash, false, now);
    let mut tx = store.begin().await?;
    match tx.activate_with_account(&invitation.id, &account, now).await {
        Ok(true) => {
            audit.commit(tx, None, &super::activated(&account, invitation), now).await?;
            Ok(Created::Account(Box::new(account)))
        }
        Ok(false) => Ok(Created::NoLongerOpen),
        Err(StoreError::Conflict("username")) => {
            Ok(Created::Refused(Problems { username: Some("username_taken"), ..Problems::default() }))
        }
        Err(StoreError::Conflict(USERNAME_LOOKALIKE)) => {
            Ok(Created::Refused(Problems { username: Some("username_lookalike"), ..Problems::default() }))
        }
        Err(e) => Err(e),
    }
}

/// The message (a locale key) that tells the person what to change in the username.
fn username_problem(error: &UsernameError) -> &'static str {
    match error {
        UsernameError::Empty | UsernameError::TooLong | UsernameError::Control => "username_invalid",
        UsernameError::Invisible(_) => "username_invisible",
        UsernameError::MixedScripts => "username_mixed_scripts",
        UsernameError::NotAllowed(_) => "username_not_allowed",
    }
}
