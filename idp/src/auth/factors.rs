//! Second factors as use cases: which ones a person can use now, checking an answer, sending a
//! mailed code, enrolling an authenticator app, recovery codes, trusted devices, and the mails
//! that tell the person about each change. They are used by the sign-in (`signin/`) and the
//! account page (`account/`); the model is in docs/factors.md.

use serde::Serialize;

use super::levels::{Channel, FactorUse, Level, Method};
use super::passkeys::{self, PasskeyError};
use super::{otp, totp};
use crate::app::Deps;
use crate::audit::{Actor, Event, EventType};
use crate::clock::UnixTime;
use crate::crypto;
use crate::kv::KvError;
use crate::mail::MailError;
use crate::store::{Account, Factor, FactorKind, StoreError, TrustedDevice};
use crate::ui::Locale;

#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Mail(#[from] MailError),
}

pub type FactorResult<T> = Result<T, FactorError>;

/// How many recovery codes a person gets at a time.
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_CODE_LEN: usize = 10;

/// A way to do the second step, as the person picks it on the page (`?method=` and the form's
/// `method` field carry [`SecondStep::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecondStep {
    /// A code from an authenticator app.
    Totp,
    /// A code sent to one of the account's phones (SMS or voice).
    Phone,
    /// A login token sent by mail.
    Mail,
    Passkey,
    /// One of the printed recovery codes.
    Recovery,
}

impl SecondStep {
    /// In the order the page offers them.
    pub const ALL: [SecondStep; 5] =
        [SecondStep::Totp, SecondStep::Phone, SecondStep::Mail, SecondStep::Passkey, SecondStep::Recovery];

    pub fn as_str(self) -> &'static str {
        match self {
            SecondStep::Totp => "totp",
            SecondStep::Phone => "phone",
            SecondStep::Mail => "mail",
            SecondStep::Passkey => "passkey",
            SecondStep::Recovery => "recovery",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == value)
    }

    /// Whether the IdP sends a code for it (and the page offers "send again").
    pub fn sends_code(self) -> bool {
        matches!(self, SecondStep::Mail | SecondStep::Phone)
    }
}

/// The factors a person can use for the second step right now.
#[derive(Debug, Default, Serialize)]
pub struct Options {
    pub totp: bool,
    pub mail: bool,
    pub recovery: bool,
    pub passkey: bool,
    /// Confirmed phones: (factor id, masked number, SMS or voice).
    pub phones: Vec<PhoneOption>,
}

#[derive(Debug, Serialize)]
pub struct PhoneOption {
    pub id: String,
    pub masked: String,
    pub voice: bool,
}

impl Options {
    pub fn is_empty(&self) -> bool {
        self.available().next().is_none()
    }

    pub fn offers(&self, step: SecondStep) -> bool {
        match step {
            SecondStep::Totp => self.totp,
            SecondStep::Phone => !self.phones.is_empty(),
            SecondStep::Mail => self.mail,
            SecondStep::Passkey => self.passkey,
            SecondStep::Recovery => self.recovery,
        }
    }

    /// The ways offered, in the page's order.
    pub fn available(&self) -> impl Iterator<Item = SecondStep> + '_ {
        SecondStep::ALL.into_iter().filter(|s| self.offers(*s))
    }
}

/// Confirmed factors of the account.
pub async fn confirmed(deps: &Deps, account: &Account) -> FactorResult<Vec<Factor>> {
    Ok(deps.store.factors(&account.id).await?.into_iter().filter(|f| f.confirmed_at.is_some()).collect())
}

/// What the person may use to reach `level`. A mailed token is offered only when the
/// organisation accepts it and it adds a channel (not after a password reset by mail).
/// `factors` are the account's confirmed ones ([`confirmed`]).
pub async fn options(
    deps: &Deps,
    account: &Account,
    factors: &[Factor],
    mailed_token: bool,
    level: Level,
) -> FactorResult<Options> {
    let passkey = deps.passkeys.is_some() && factors.iter().any(|f| f.kind == FactorKind::Passkey);
    if level >= Level::PhishingResistant {
        return Ok(Options { passkey, ..Options::default() });
    }
    Ok(Options {
        totp: factors.iter().any(|f| f.kind == FactorKind::Totp),
        mail: mailed_token && account.email.is_some() && !account.password_via_mail,
        recovery: deps.store.recovery_codes_left(&account.id).await? > 0,
        passkey,
        phones: factors
            .iter()
            .filter(|f| matches!(f.kind, FactorKind::Sms | FactorKind::Voice))
            .map(|f| PhoneOption { id: f.id.clone(), masked: f.label.clone(), voice: f.kind == FactorKind::Voice })
            .collect(),
    })
}

fn failures_key(account: &Account) -> String {
    crate::kv::keys::factor_failures(account.id.as_str())
}

/// Takes one of the account's tries for a second-factor answer, before the answer is compared
/// (so parallel guesses cannot exceed the limit); false when they are used up.
pub async fn take_try(deps: &Deps, account: &Account) -> FactorResult<bool> {
    let n = deps.kv.incr(&failures_key(account), deps.config.factors.failure_window_secs).await?;
    Ok(n <= u64::from(deps.config.factors.max_failures))
}

/// A right answer gives the tries back.
pub async fn clear_tries(deps: &Deps, account: &Account) -> FactorResult<()> {
    Ok(deps.kv.delete(&failures_key(account)).await?)
}

/// The outcome of a TOTP answer.
#[derive(Debug, PartialEq, Eq)]
pub enum TotpCheck {
    Right(FactorUse),
    Wrong,
    /// The code was right but was already used (or a later one was).
    Replayed,
}

/// Checks a code against the account's authenticator apps.
pub async fn check_totp(deps: &Deps, account: &Account, code: &str, now: UnixTime) -> FactorResult<TotpCheck> {
    for factor in confirmed(deps, account).await?.iter().filter(|f| f.kind == FactorKind::Totp) {
        let Some(secret) = factor.secret.as_ref().and_then(|s| deps.factor_key.open(s.expose())) else {
            tracing::error!(factor = %factor.id, "a TOTP secret does not decrypt with the configured factor key");
            continue;
        };
        if let Some(step) = totp::verify(&secret, code, now) {
            return Ok(if deps.store.use_totp_step(&factor.id, step, now).await? {
                TotpCheck::Right(FactorUse::new(Method::Otp, Channel::App, now))
            } else {
                TotpCheck::Replayed
            });
        }
    }
    Ok(TotpCheck::Wrong)
}

/// Whether a code was sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Sent,
    Throttled,
    /// The SMS gateway refused or could not be reached; nothing waits for an answer.
    Failed,
}

#[derive(Serialize)]
struct CodeMail<'a> {
    given_name: &'a str,
    code: &'a str,
    minutes: i64,
    link: String,
}

/// Mails a login token for this sign-in attempt (throttled per account).
pub async fn send_mail_code(
    deps: &Deps,
    account: &Account,
    interaction: &str,
    locale: Locale,
    now: UnixTime,
) -> FactorResult<Sent> {
    let limits = &deps.config.factors;
    if deps.kv.incr(&crate::kv::keys::otp_sends_by_account(account.id.as_str()), limits.send_window_secs).await?
        > u64::from(limits.max_sends)
    {
        return Ok(Sent::Throttled);
    }
    let code = otp::new_mail_code();
    let (id, key) = (account.id.as_str(), &deps.factor_key);
    otp::remember(deps, key, interaction, id, &code, Method::Email, Channel::Email, "", now).await?;
    let context = CodeMail {
        given_name: &account.given_name,
        code: &code,
        minutes: limits.code_ttl_secs / 60,
        link: format!("{}/wachtwoord-vergeten", deps.issuer),
    };
    let rendered = deps.mail_templates.render("login-code", locale, &context)?;
    let mail = crate::mail::for_account(deps.store.as_ref(), &deps.config.mail, account, rendered, now).await?;
    deps.store.enqueue_mail(&mail).await?;
    tracing::info!(account = %account.id, "login token mailed");
    Ok(Sent::Sent)
}

#[derive(Serialize)]
struct ChangeMail<'a> {
    given_name: &'a str,
    username: &'a str,
    change: String,
    link: String,
}

/// The mail that tells the person about a change to their factors (`change` names a text).
pub async fn change_mail(
    deps: &Deps,
    account: &Account,
    change: &str,
    locale: Locale,
    now: UnixTime,
) -> FactorResult<crate::store::OutboxMail> {
    let context = ChangeMail {
        given_name: &account.given_name,
        username: &account.username,
        change: deps.templates.text(locale, change),
        link: format!("{}/account", deps.issuer),
    };
    let rendered = deps.mail_templates.render("factor-changed", locale, &context)?;
    Ok(crate::mail::for_account(deps.store.as_ref(), &deps.config.mail, account, rendered, now).await?)
}

/// Uses one of the account's recovery codes; mails the person that it was used.
pub async fn check_recovery_code(
    deps: &Deps,
    account: &Account,
    code: &str,
    locale: Locale,
    now: UnixTime,
) -> FactorResult<Option<FactorUse>> {
    let digest = recovery_digest(deps, account, code);
    let notice = change_mail(deps, account, "change_recovery_used", locale, now).await?;
    let mut tx = deps.store.begin().await?;
    if !tx.use_recovery_code(&account.id, &digest, now).await? {
        return Ok(None);
    }
    let event = factor_event(EventType::SecondFactorUsed, account, "recovery_codes", &account.id.0, "recovery_code");
    deps.audit.commit(tx, Some(&notice), &event, now).await?;
    Ok(Some(FactorUse::new(Method::Rec, Channel::Paper, now)))
}

/// A record of a change to (or use of) one of the account's factors, by the person themself.
fn factor_event(kind: EventType, account: &Account, object: &'static str, id: &str, method: &str) -> Event {
    Event::new(kind, Actor::account(account)).object(object, id).detail("method", method)
}

fn recovery_digest(deps: &Deps, account: &Account, code: &str) -> String {
    deps.factor_key.digest("recovery", &format!("{}:{}", account.id, otp::normalise(code)))
}

/// Ten new recovery codes (the old ones stop working); shown once, stored as keyed digests.
pub async fn new_recovery_codes(
    deps: &Deps,
    account: &Account,
    locale: Locale,
    now: UnixTime,
) -> FactorResult<Vec<String>> {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let c = crypto::random_code(otp::MAIL_ALPHABET, RECOVERY_CODE_LEN);
            format!("{}-{}", &c[..5], &c[5..])
        })
        .collect();
    let digests: Vec<String> = codes.iter().map(|c| recovery_digest(deps, account, c)).collect();
    let notice = change_mail(deps, account, "change_recovery_created", locale, now).await?;
    let mut tx = deps.store.begin().await?;
    tx.replace_recovery_codes(&account.id, &digests, now).await?;
    let event = factor_event(EventType::RecoveryCodesIssued, account, "recovery_codes", &account.id.0, "recovery_code");
    deps.audit.commit(tx, Some(&notice), &event, now).await?;
    Ok(codes)
}

/// Starts enrolling an authenticator app: a pending factor with a new secret. Never an earlier
/// pending one: whoever started that one has seen its secret.
pub async fn start_totp(deps: &Deps, account: &Account, now: UnixTime) -> FactorResult<Factor> {
    let secret = totp::new_secret();
    let factor = Factor {
        id: crypto::random_token(12),
        account_id: account.id.clone(),
        kind: FactorKind::Totp,
        label: String::new(),
        secret: Some(crate::domain::Secret::new(deps.factor_key.seal(&secret))),
        phone: None,
        credential_id: None,
        last_used_step: None,
        created_at: now,
        confirmed_at: None,
        last_used_at: None,
    };
    deps.store.add_factor(&factor).await?;
    Ok(factor)
}

/// The QR code and text of a pending TOTP factor of this account.
pub async fn totp_enrolment(deps: &Deps, account: &Account, factor_id: &str) -> FactorResult<Option<totp::Enrolment>> {
    let Some(factor) = pending(deps, account, factor_id, &[FactorKind::Totp]).await? else {
        return Ok(None);
    };
    let secret = factor.secret.as_ref().and_then(|s| deps.factor_key.open(s.expose()));
    Ok(secret.map(|s| totp::enrolment(&s, &deps.config.mail.from_name, &account.username)))
}

/// A factor of this account, of one of `kinds`, still waiting for its confirming code.
async fn pending(
    deps: &Deps,
    account: &Account,
    factor_id: &str,
    kinds: &[FactorKind],
) -> FactorResult<Option<Factor>> {
    let factor = deps.store.factor(factor_id).await?;
    Ok(factor.filter(|f| f.account_id == account.id && kinds.contains(&f.kind) && f.confirmed_at.is_none()))
}

/// Confirms a pending authenticator app with its first code; mails the person.
pub async fn confirm_totp(
    deps: &Deps,
    account: &Account,
    factor_id: &str,
    code: &str,
    locale: Locale,
    now: UnixTime,
) -> FactorResult<Option<FactorUse>> {
    let Some(factor) = pending(deps, account, factor_id, &[FactorKind::Totp]).await? else {
        return Ok(None);
    };
    let Some(secret) = factor.secret.as_ref().and_then(|s| deps.factor_key.open(s.expose())) else {
        return Ok(None);
    };
    let Some(step) = totp::verify(&secret, code, now) else {
        return Ok(None);
    };
    // The confirming code counts as used: it cannot sign anyone in afterwards.
    if !deps.store.use_totp_step(&factor.id, step, now).await? {
        return Ok(None);
    }
    let notice = change_mail(deps, account, "change_totp_added", locale, now).await?;
    let mut tx = deps.store.begin().await?;
    if !tx.confirm_factor(&factor.id, now).await? {
        return Ok(None);
    }
    let event = factor_event(EventType::FactorAdded, account, "factor", &factor.id, factor.kind.as_str());
    deps.audit.commit(tx, Some(&notice), &event, now).await?;
    tracing::info!(account = %account.id, "authenticator app enrolled");
    Ok(Some(FactorUse::new(Method::Otp, Channel::App, now)))
}

/// Removes one of the account's factors; mails the person.
pub async fn remove(
    deps: &Deps,
    account: &Account,
    factor_id: &str,
    locale: Locale,
    now: UnixTime,
) -> FactorResult<bool> {
    let Some(factor) = deps.store.factor(factor_id).await?.filter(|f| f.account_id == account.id) else {
        return Ok(false);
    };
    let change = match factor.kind {
        FactorKind::Totp => "change_totp_removed",
        FactorKind::Sms | FactorKind::Voice => "change_phone_removed",
        FactorKind::Passkey => "change_passkey_removed",
    };
    let notice = change_mail(deps, account, change, locale, now).await?;
    let mut tx = deps.store.begin().await?;
    if !tx.remove_factor(factor_id, &account.id, now).await? {
        return Ok(false);
    }
    let event = factor_event(EventType::FactorRemoved, account, "factor", factor_id, factor.kind.as_str());
    deps.audit.commit(tx, Some(&notice), &event, now).await?;
    tracing::info!(account = %account.id, kind = factor.kind.as_str(), "factor removed");
    Ok(true)
}

/// Sends a code by SMS (mobile) or a voice call (landline) to a phone factor, kept under the
/// code slot `slot` (an interaction, or an enrolment). Throttled per account and per number.
pub async fn send_phone_code(
    deps: &Deps,
    account: &Account,
    factor: &Factor,
    slot: &str,
    locale: Locale,
    now: UnixTime,
) -> FactorResult<Sent> {
    let limits = &deps.config.factors;
    let phone = factor.phone.clone().unwrap_or_default();
    let by_account =
        deps.kv.incr(&crate::kv::keys::otp_sends_by_account(account.id.as_str()), limits.send_window_secs).await?;
    let by_number = deps.kv.incr(&crate::kv::keys::otp_sends_by_phone(&phone), limits.send_window_secs).await?;
    if by_account > u64::from(limits.max_sends) || by_number > u64::from(limits.max_sends) {
        return Ok(Sent::Throttled);
    }
    let code = otp::new_phone_code();
    let (method, channel, text) = if factor.kind == FactorKind::Voice {
        // Read out digit by digit, twice.
        let spoken = code.chars().map(String::from).collect::<Vec<_>>().join(", ");
        let text = deps.templates.text(locale, "voice_code").replace("{code}", &spoken);
        (Method::Tel, crate::sms::Channel::Voice, text)
    } else {
        (Method::Sms, crate::sms::Channel::Sms, deps.templates.text(locale, "sms_code").replace("{code}", &code))
    };
    // Sent first, kept after: a code that never left is not waiting for an answer.
    if let Err(e) = deps.sms.send(&crate::sms::OutgoingMessage { to: phone, channel, text }).await {
        tracing::error!(account = %account.id, error = %e, "sending a phone code failed");
        return Ok(Sent::Failed);
    }
    let (id, key) = (account.id.as_str(), &deps.factor_key);
    otp::remember(deps, key, slot, id, &code, method, Channel::Phone, &factor.id, now).await?;
    tracing::info!(account = %account.id, kind = factor.kind.as_str(), "phone code sent");
    Ok(Sent::Sent)
}

/// A phone to add (SMS for mobiles, voice for landlines), not stored yet: it is stored, pending,
/// once its code went out.
pub fn new_phone_factor(account: &Account, phone: &crate::sms::PhoneNumber, now: UnixTime) -> Factor {
    Factor {
        id: crypto::random_token(12),
        account_id: account.id.clone(),
        kind: match phone.kind() {
            crate::sms::PhoneKind::Mobile => FactorKind::Sms,
            crate::sms::PhoneKind::Landline => FactorKind::Voice,
        },
        label: phone.masked(),
        secret: None,
        phone: Some(phone.e164().to_string()),
        credential_id: None,
        last_used_step: None,
        created_at: now,
        confirmed_at: None,
        last_used_at: None,
    }
}

/// The pending phone factor of this account.
pub async fn pending_phone(deps: &Deps, account: &Account, factor_id: &str) -> FactorResult<Option<Factor>> {
    pending(deps, account, factor_id, &[FactorKind::Sms, FactorKind::Voice]).await
}

/// Confirms a pending phone with the code sent to it; mails the person.
pub async fn confirm_phone(
    deps: &Deps,
    account: &Account,
    factor_id: &str,
    code: &str,
    locale: Locale,
    now: UnixTime,
) -> FactorResult<Result<FactorUse, otp::Checked>> {
    let Some(phone) = pending_phone(deps, account, factor_id).await? else {
        return Ok(Err(otp::Checked::NoCode));
    };
    match otp::check(deps, &deps.factor_key, &enrol_slot(factor_id), account.id.as_str(), code, now).await? {
        otp::Checked::Right(method, channel, id) if id == factor_id => {
            let notice = change_mail(deps, account, "change_phone_added", locale, now).await?;
            let mut tx = deps.store.begin().await?;
            if !tx.confirm_factor(factor_id, now).await? {
                return Ok(Err(otp::Checked::NoCode));
            }
            let event = factor_event(EventType::FactorAdded, account, "factor", factor_id, phone.kind.as_str());
            deps.audit.commit(tx, Some(&notice), &event, now).await?;
            Ok(Ok(FactorUse::new(method, channel, now)))
        }
        otp::Checked::Right(..) => Ok(Err(otp::Checked::Wrong)),
        other => Ok(Err(other)),
    }
}

/// The code slot of a phone being added.
pub fn enrol_slot(factor_id: &str) -> String {
    format!("enrol-phone:{factor_id}")
}

fn passkey_state_key(slot: &str) -> String {
    crate::kv::keys::passkey_ceremony(slot)
}

/// Drops a passkey ceremony waiting under `slot`.
pub async fn forget_passkey_ceremony(deps: &Deps, slot: &str) -> FactorResult<()> {
    Ok(deps.kv.delete(&passkey_state_key(slot)).await?)
}

/// The account's passkeys, parsed, with their rows.
async fn passkeys_of(deps: &Deps, account: &Account) -> FactorResult<Vec<(Factor, passkeys::Passkey)>> {
    Ok(confirmed(deps, account)
        .await?
        .into_iter()
        .filter(|f| f.kind == FactorKind::Passkey)
        .filter_map(|f| {
            let parsed = f.secret.as_ref().and_then(|s| passkeys::passkey_from_json(s.expose()).ok());
            parsed.map(|p| (f, p))
        })
        .collect())
}

/// Starts registering a passkey; the ceremony state waits in the key-value store under `slot`
/// (taken when the answer comes, so it works once). `None` when passkeys are off.
pub async fn start_passkey_registration(
    deps: &Deps,
    account: &Account,
    slot: &str,
) -> FactorResult<Option<Result<serde_json::Value, PasskeyError>>> {
    let Some(rp) = &deps.passkeys else {
        return Ok(None);
    };
    let existing: Vec<passkeys::Passkey> = passkeys_of(deps, account).await?.into_iter().map(|(_, p)| p).collect();
    let display = format!("{} {}", account.given_name, account.family_name);
    let started =
        rp.start_registration(passkeys::user_handle(account.subject.as_str()), &account.username, &display, &existing);
    let (options, ceremony) = match started {
        Ok(s) => s,
        Err(e) => return Ok(Some(Err(e))),
    };
    let ttl = passkeys::CEREMONY_TIMEOUT.as_secs() as i64;
    deps.kv.put(&passkey_state_key(slot), &ceremony, ttl).await?;
    Ok(Some(Ok(options)))
}

/// Finishes a registration: a new passkey on the account (a credential that any account already
/// has is refused); mails the person.
pub async fn finish_passkey_registration(
    deps: &Deps,
    account: &Account,
    slot: &str,
    response: &str,
    locale: Locale,
    now: UnixTime,
) -> FactorResult<Result<FactorUse, PasskeyError>> {
    let (Some(rp), Some(ceremony)) = (&deps.passkeys, deps.kv.take(&passkey_state_key(slot)).await?) else {
        return Ok(Err(PasskeyError::Expired));
    };
    let passkey = match rp.finish_registration(&ceremony, response) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let Ok(json) = passkeys::passkey_to_json(&passkey) else {
        return Ok(Err(PasskeyError::Internal));
    };
    let factor = Factor {
        id: crypto::random_token(12),
        account_id: account.id.clone(),
        kind: FactorKind::Passkey,
        label: String::new(),
        secret: Some(crate::domain::Secret::new(json)),
        phone: None,
        credential_id: Some(passkeys::credential_id(&passkey)),
        last_used_step: None,
        created_at: now,
        confirmed_at: None,
        last_used_at: None,
    };
    let notice = change_mail(deps, account, "change_passkey_added", locale, now).await?;
    // Confirmed at once (the ceremony was the confirmation), with its notice, in one transaction.
    let factor = Factor { confirmed_at: Some(now), ..factor };
    let mut tx = deps.store.begin().await?;
    match tx.add_confirmed_factor(&factor).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(Err(PasskeyError::AlreadyRegistered)),
        Err(e) => return Err(e.into()),
    }
    let event = factor_event(EventType::FactorAdded, account, "factor", &factor.id, factor.kind.as_str());
    deps.audit.commit(tx, Some(&notice), &event, now).await?;
    tracing::info!(account = %account.id, "passkey registered");
    Ok(Ok(FactorUse::new(Method::Hwk, Channel::Passkey, now)))
}

/// Starts a passkey sign-in for the account's passkeys; `None` when it has none (or they are off).
pub async fn start_passkey_sign_in(
    deps: &Deps,
    account: &Account,
    slot: &str,
) -> FactorResult<Option<serde_json::Value>> {
    let Some(rp) = &deps.passkeys else {
        return Ok(None);
    };
    let keys: Vec<passkeys::Passkey> = passkeys_of(deps, account).await?.into_iter().map(|(_, p)| p).collect();
    let Ok((options, ceremony)) = rp.start_authentication(&keys) else {
        return Ok(None);
    };
    deps.kv.put(&passkey_state_key(slot), &ceremony, passkeys::CEREMONY_TIMEOUT.as_secs() as i64).await?;
    Ok(Some(options))
}

/// Finishes a passkey sign-in: signature, challenge, origin, user verification and counter are
/// checked by webauthn-rs; the credential must be one of this account's.
pub async fn finish_passkey_sign_in(
    deps: &Deps,
    account: &Account,
    slot: &str,
    response: &str,
    now: UnixTime,
) -> FactorResult<Result<FactorUse, PasskeyError>> {
    let (Some(rp), Some(ceremony)) = (&deps.passkeys, deps.kv.take(&passkey_state_key(slot)).await?) else {
        return Ok(Err(PasskeyError::Expired));
    };
    let outcome = match rp.finish_authentication(&ceremony, response) {
        Ok(o) => o,
        Err(e) => return Ok(Err(e)),
    };
    let mut keys = passkeys_of(deps, account).await?;
    let Some((factor, passkey)) =
        keys.iter_mut().find(|(f, _)| f.credential_id.as_deref() == Some(&outcome.credential_id))
    else {
        return Ok(Err(PasskeyError::UnknownCredential));
    };
    let updated = match outcome.apply_to(passkey) {
        Some(true) => passkeys::passkey_to_json(passkey).ok().map(crate::domain::Secret::new),
        _ => None,
    };
    deps.store.touch_factor(&factor.id, updated.as_ref(), now).await?;
    tracing::info!(account = %account.id, "signed in with a passkey");
    Ok(Ok(FactorUse::new(Method::Hwk, Channel::Passkey, now)))
}

/// The trusted-device cookie's name (`__Host-` over https).
pub fn device_cookie_name(deps: &Deps) -> &'static str {
    if deps.is_https() {
        "__Host-pw_device"
    } else {
        "pw_device"
    }
}

/// The factor a trusted-device cookie stands in for, when it is this account's, still active,
/// and the organisation still allows trusted devices.
pub async fn remembered(
    deps: &Deps,
    cookie: Option<&str>,
    account: &Account,
    allowed: bool,
    now: UnixTime,
) -> FactorResult<Option<FactorUse>> {
    let Some(token) = cookie.filter(|t| allowed && t.len() <= 128) else {
        return Ok(None);
    };
    let device = deps.store.trusted_device_by_digest(&crypto::token_digest(token)).await?;
    Ok(device.filter(|d| d.account_id == account.id && d.is_active(now)).map(|d| d.factor))
}

/// Trusts this browser for `days`, remembering `factor`; returns the cookie value.
pub async fn trust_device(
    deps: &Deps,
    account: &Account,
    factor: &FactorUse,
    days: i64,
    user_agent: &str,
    now: UnixTime,
) -> FactorResult<String> {
    let token = crypto::random_token(32);
    let device = TrustedDevice {
        id: crypto::random_token(12),
        account_id: account.id.clone(),
        token_digest: crypto::token_digest(&token),
        label: device_label(user_agent),
        factor: factor.clone(),
        created_at: now,
        expires_at: now + days * 86_400,
        last_used_at: None,
        revoked_at: None,
    };
    let mut tx = deps.store.begin().await?;
    tx.add_trusted_device(&device).await?;
    let event = Event::new(EventType::DeviceTrusted, Actor::account(account))
        .object("trusted_device", device.id.as_str())
        .detail("label", device.label.clone())
        .detail("days", days)
        .detail("method", factor.method.amr());
    deps.audit.commit(tx, None, &event, now).await?;
    Ok(token)
}

/// The person stops trusting one of their computers (account page).
pub async fn revoke_device(deps: &Deps, account: &Account, device_id: &str, now: UnixTime) -> FactorResult<bool> {
    let mut tx = deps.store.begin().await?;
    if !tx.revoke_trusted_device(device_id, &account.id, now).await? {
        return Ok(false);
    }
    let event = Event::new(EventType::DeviceRevoked, Actor::account(account)).object("trusted_device", device_id);
    deps.audit.commit(tx, None, &event, now).await?;
    Ok(true)
}

/// "Firefox op Windows": enough to recognise a device in the list, no more.
pub fn device_label(user_agent: &str) -> String {
    let browser = [("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
        .into_iter()
        .find(|(needle, _)| user_agent.contains(needle))
        .map_or("Browser", |(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS", "macOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(needle, _)| user_agent.contains(needle))
    .map_or("", |(_, name)| name);
    if system.is_empty() {
        browser.to_string()
    } else {
        format!("{browser} · {system}")
    }
}

#[cfg(test)]
mod tests {
    use super::device_label;

    #[test]
    fn device_labels_name_browser_and_system() {
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(device_label(ua), "Chrome · Windows");
        assert_eq!(device_label(""), "Browser");
    }
}
