//! The account page's changes, once [`super::change`] let them through. A factor just proved (by
//! confirming it) replaces the session with one that includes it, so the next change does not ask
//! for it again.

use super::{access, overview, overview_page, shown, Again, Answer, Change, Error, Page, Shown, SignedIn};
use crate::app::AppState;
use crate::auth::factors::{self, Sent};
use crate::auth::levels::FactorUse;
use crate::auth::{otp, session};
use crate::clock::UnixTime;
use crate::signin::Why;
use crate::ui::Locale;

pub(super) async fn make(
    state: &AppState,
    who: SignedIn,
    change: Change<'_>,
    locale: Locale,
    now: UnixTime,
) -> Result<Answer, Error> {
    let account = &who.account;
    let page = match change {
        Change::ConfirmApp { factor, code } => {
            let again = |say| Page::App { factor: factor.to_string(), again: Again::new(Why::Wrong, say) };
            if !factors::take_try(state, account).await? {
                again("factor_throttled")
            } else if let Some(used) = factors::confirm_totp(state, account, factor, code, locale, now).await? {
                factors::clear_tries(state, account).await?;
                return added(state, who, used, "account_app_added", now).await;
            } else {
                again("enrol_wrong")
            }
        }
        Change::AddPhone { number } => add_phone(state, account, number, locale, now).await?,
        Change::ConfirmPhone { factor, code } => {
            let Some(pending) = factors::pending_phone(state, account, factor).await? else {
                return Ok(shown(who, Page::Back("/account/telefoon")));
            };
            let again = |why, say| Page::PhoneCode {
                factor: factor.to_string(),
                masked: pending.label.clone(),
                again: Again::new(why, say),
            };
            if !factors::take_try(state, account).await? {
                again(Why::TooMany, "factor_throttled")
            } else {
                match factors::confirm_phone(state, account, factor, code, locale, now).await? {
                    Ok(used) => {
                        factors::clear_tries(state, account).await?;
                        return added(state, who, used, "phone_added", now).await;
                    }
                    Err(otp::Checked::Wrong) => again(Why::Wrong, "factor_wrong"),
                    Err(_) => again(Why::Wrong, "code_exhausted"),
                }
            }
        }
        Change::AddPasskey { response } => {
            let slot = registration_slot(&who);
            match factors::finish_passkey_registration(state, account, &slot, response, locale, now).await? {
                Ok(used) => return added(state, who, used, "account_passkey_added", now).await,
                Err(e) => Page::Passkey {
                    options: passkey_options(state, &who).await?,
                    again: Again::new(Why::Invalid, format!("passkey_error_{}", e.code())),
                },
            }
        }
        Change::RemoveFactor { factor } => match factors::remove(state, account, factor, locale, now).await? {
            true => overview_page(state, account, Some("account_removed"), Vec::new(), now).await?,
            false => Page::Back("/account"),
        },
        Change::RecoveryCodes => {
            // Recovery codes stand in for a factor: without one, they would be a way to add one.
            if factors::confirmed(state, account).await?.is_empty() {
                overview_page(state, account, Some("account_codes_need_factor"), Vec::new(), now).await?
            } else {
                let codes = factors::new_recovery_codes(state, account, locale, now).await?;
                overview_page(state, account, Some("account_codes_made"), codes, now).await?
            }
        }
        Change::RevokeDevice { device } => match factors::revoke_device(state, account, device, now).await? {
            true => overview_page(state, account, Some("account_device_revoked"), Vec::new(), now).await?,
            false => Page::Back("/account"),
        },
        Change::EndRepresentation { representation } => {
            match crate::representation::own::end(state, account, representation, now).await? {
                true => overview_page(state, account, Some("account_representation_ended"), Vec::new(), now).await?,
                false => Page::Back("/account"),
            }
        }
    };
    Ok(shown(who, page))
}

/// A phone number to add: a code goes to it, and the phone waits (pending) for that code.
async fn add_phone(
    state: &AppState,
    account: &crate::store::Account,
    number: &str,
    locale: Locale,
    now: UnixTime,
) -> Result<Page, Error> {
    let form = |why, say| Page::Phone { number: number.to_string(), again: Again::new(why, say) };
    let Ok(phone) = crate::sms::parse_phone(number) else {
        return Ok(form(Why::Invalid, "phone_invalid"));
    };
    let factor = factors::new_phone_factor(account, &phone, now);
    let slot = factors::enrol_slot(&factor.id);
    let sent = factors::send_phone_code(state, account, &factor, &slot, locale, now).await?;
    if sent == Sent::Sent {
        state.store.add_factor(&factor).await?;
    }
    Ok(match sent {
        Sent::Sent => Page::PhoneCode { factor: factor.id, masked: factor.label, again: None },
        Sent::Throttled => form(Why::TooMany, "code_send_throttled"),
        // Not the person's mistake, and a page they must see (a proxy may replace 5xx pages).
        Sent::Failed => form(Why::Shown, "code_send_failed"),
    })
}

/// After a factor was added: the session includes it, and the overview says so. The overview is
/// read first, so a failure leaves the browser's session as it was.
async fn added(
    state: &AppState,
    who: SignedIn,
    used: FactorUse,
    notice: &'static str,
    now: UnixTime,
) -> Result<Answer, Error> {
    let overview = overview(state, &who.account, now).await?;
    let mut uses = who.session.factors.clone();
    uses.push(used);
    let sign_in = session::SignedIn {
        account: &who.account,
        factors: uses,
        auth_time: who.session.auth_time,
        previous: Some(&who.session),
        portal: None,
    };
    let (token, next) = session::start(state, sign_in, now).await?;
    let who = SignedIn { csrf: access::csrf_for(&token), session: next, ..who };
    let page = Page::Overview { overview, notice: Some(notice), codes: Vec::new() };
    Ok(Answer::Shown(Box::new(Shown { who, page, session: Some(token) })))
}

/// The registration ceremony of this session waits under this slot.
fn registration_slot(who: &SignedIn) -> String {
    format!("register:{}", who.csrf)
}

/// Starts a passkey registration for the page: its options for the browser, when passkeys are on.
pub(super) async fn passkey_options(state: &AppState, who: &SignedIn) -> Result<Option<String>, Error> {
    match factors::start_passkey_registration(state, &who.account, &registration_slot(who)).await? {
        Some(Ok(options)) => Ok(Some(options.to_string())),
        Some(Err(_)) | None => Ok(None),
    }
}
