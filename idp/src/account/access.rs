//! Who may use the account page, and for what: any session may look; a change needs what the
//! account can prove, proved recently.

use super::{Answer, Error, Refusal, SignedIn};
use crate::app::AppState;
use crate::auth::levels::{self, Channel, Level};
use crate::auth::{factors, session};
use crate::clock::UnixTime;
use crate::crypto;
use crate::signin::{policy, Fresh};

/// What a page needs of the sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    /// Looking: any session.
    View,
    /// Adding, removing or replacing factors: see [`signed_in`].
    Change,
    /// Taking trust away (revoking a computer): recent, but allowed after a reset by mail too.
    Protect,
}

/// The forms' CSRF token: derived from the session cookie value, which only this browser and
/// we know (the cookie is HttpOnly and SameSite=Lax).
pub(super) fn csrf_for(cookie: &str) -> String {
    crypto::token_digest(&format!("account-csrf:{cookie}"))
}

/// The person the session cookie `cookie` signs in, when the session suffices for `need`; else
/// what to answer instead (sign in first or again, or a refusal).
pub(super) async fn signed_in(
    state: &AppState,
    cookie: Option<&str>,
    need: Need,
    now: UnixTime,
) -> Result<Result<SignedIn, Answer>, Error> {
    let Some(session) = session::find(state, cookie, now).await? else {
        return Ok(Err(Answer::SignIn(Fresh::First)));
    };
    let account = match state.store.account_by_id(&session.account_id).await? {
        Some(a) if !a.disabled => a,
        _ => return Ok(Err(Answer::Refused(Refusal::Disabled))),
    };
    if need != Need::View {
        // A change needs what the account can prove: with a second factor, that factor, proved
        // within `reauth_secs` (so a password alone cannot add, remove or replace factors);
        // without one, a recent password, and not one that the mailbox chose.
        let has_factors = !factors::confirmed(state, &account).await?.is_empty();
        // Without an enrolled factor, the account's organisation may still sign it in with a
        // mailed token: then that token, not the password alone, guards changes.
        let mail_guards =
            !has_factors && policy::mailed_token_accepted(&policy::policies(state, None, Some(&account.id)).await?);
        let window = state.config.factors.reauth_secs;
        let recent = |proves: &dyn Fn(&levels::FactorUse) -> bool| {
            session.factors.iter().filter(|f| proves(f)).map(|f| f.at).max().is_some_and(|t| now - t <= window)
        };
        let fresh = if has_factors {
            // One of the enrolled kinds (app, phone, passkey, recovery code): a mailed token
            // proves only the mailbox, which may be how someone got the password.
            recent(&|f| !matches!(f.channel, Channel::Knowledge | Channel::Email))
        } else if mail_guards {
            recent(&|f| f.method == levels::Method::Email)
        } else {
            now - session.auth_time <= window
        };
        if !fresh {
            let needs_factor = has_factors || mail_guards;
            let how = if needs_factor && now - session.auth_time <= window {
                Fresh::Factor
            } else {
                Fresh::Again(needs_factor.then_some(Level::TwoFactor))
            };
            return Ok(Err(Answer::SignIn(how)));
        }
        if need == Need::Change && !has_factors && account.password_via_mail {
            return Ok(Err(Answer::Refused(Refusal::MailResetLocked)));
        }
    }
    Ok(Ok(SignedIn { account, session, csrf: csrf_for(cookie.unwrap_or_default()) }))
}
