//! The account page, "Privacy en beveiliging", without HTTP: what the person sees (the sign-in
//! methods, the recovery codes left, trusted computers, their own activity) and the changes they
//! make (an authenticator app, a phone or a passkey added, a factor removed, new recovery codes, a
//! computer no longer trusted). Every page is reached through [`open`] and every form through
//! [`change`]; each reads the clock once, checks who is signed in and how recently (`access`),
//! and answers what to show. Every change needs a sign-in at most `factors.reauth_secs` old (else
//! the password or a factor is asked again) and mails the person (see `auth::factors`).

mod access;
mod changes;

use crate::app::AppState;
use crate::auth::factors::{self, FactorError};
use crate::clock::UnixTime;
use crate::crypto;
use crate::signin::{Fresh, Why};
use crate::store::{Account, Factor, Session, StoreError, TrustedDevice};
use crate::ui::Locale;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Factor(#[from] FactorError),
}

/// The signed-in person: the account, the session and the forms' CSRF token (derived from the
/// session cookie).
#[derive(Debug)]
pub struct SignedIn {
    pub account: Account,
    pub session: Session,
    pub csrf: String,
}

/// What to do with the request.
#[derive(Debug)]
pub enum Answer {
    /// Sign in first, or again (`Fresh` says how), then come back to the page.
    SignIn(Fresh),
    Refused(Refusal),
    Shown(Box<Shown>),
}

/// Why the page is not for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The session's account is disabled or gone.
    Disabled,
    /// The password was chosen through a mailed reset link and no factor guards the account: the
    /// mailbox alone cannot change the sign-in methods.
    MailResetLocked,
    /// The body was not a form.
    Unreadable,
    /// The form's CSRF token is not this session's.
    Forged,
}

/// A page to show the signed-in person.
#[derive(Debug)]
pub struct Shown {
    /// After a factor was proved, `who` has the new session (and its CSRF token).
    pub who: SignedIn,
    pub page: Page,
    /// The new session's cookie value, when the session was replaced.
    pub session: Option<String>,
}

#[derive(Debug)]
pub enum Page {
    /// The overview, with a notice (a text key) and recovery codes just made (shown once).
    Overview { overview: Overview, notice: Option<&'static str>, codes: Vec<String> },
    /// "Activiteit", newest first.
    Activity(Vec<Activity>),
    /// Enrolling an authenticator app: the pending factor.
    App { factor: String, again: Option<Again> },
    /// The phone number form; `number` as typed.
    Phone { number: String, again: Option<Again> },
    /// A code went to the phone being added (`masked`): the form for it.
    PhoneCode { factor: String, masked: String, again: Option<Again> },
    /// Adding a passkey: the ceremony's options for the browser (`None` when passkeys are off or
    /// could not start).
    Passkey { options: Option<String>, again: Option<Again> },
    /// "Weet u het zeker?" before a representation ends: the one to end, and whether it is
    /// someone acting for the person (else the person acts for them).
    ConfirmEnd { listed: Box<crate::representation::own::Listed>, for_me: bool },
    /// Nothing to change: back to this path.
    Back(&'static str),
}

/// Why a page is shown again, and what it says (a text key).
#[derive(Debug)]
pub struct Again {
    pub why: Why,
    pub say: String,
}

impl Again {
    fn new(why: Why, say: impl Into<String>) -> Option<Self> {
        Some(Again { why, say: say.into() })
    }
}

/// What the overview lists.
#[derive(Debug)]
pub struct Overview {
    pub factors: Vec<Factor>,
    pub recovery_left: i64,
    pub devices: Vec<TrustedDevice>,
    /// Who may act for the person, and whom they may act for.
    pub representation: crate::representation::own::Mine,
}

/// One line of "Activiteit".
#[derive(Debug)]
pub struct Activity {
    pub time: UnixTime,
    pub event_type: String,
    /// Who acted, when it was someone acting for the person (a representative).
    pub by: Option<String>,
    /// The portal, by name, when the event happened through one.
    pub portal: Option<String>,
    pub address: Option<String>,
    pub failed: bool,
}

/// The pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Overview,
    Activity,
    App,
    Phone,
    Passkey,
}

/// What the person asks on one of the page's forms.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// The first code of the authenticator app being enrolled.
    ConfirmApp {
        factor: &'a str,
        code: &'a str,
    },
    AddPhone {
        number: &'a str,
    },
    /// The code sent to the phone being added.
    ConfirmPhone {
        factor: &'a str,
        code: &'a str,
    },
    /// The browser's answer to the passkey registration (JSON from `passkey.js`).
    AddPasskey {
        response: &'a str,
    },
    RemoveFactor {
        factor: &'a str,
    },
    RecoveryCodes,
    RevokeDevice {
        device: &'a str,
    },
    /// Revoke someone's representation of oneself, or end one's own representation of someone.
    EndRepresentation {
        representation: &'a str,
    },
}

/// A posted form.
#[derive(Debug, Clone, Copy)]
pub struct Posted<'a> {
    /// Whether the body was a form at all.
    pub readable: bool,
    pub csrf: &'a str,
    pub change: Change<'a>,
}

/// One of the pages, for the browser with this session cookie.
pub async fn open(state: &AppState, session: Option<&str>, view: View) -> Result<Answer, Error> {
    let now = state.clock.unix();
    let need = match view {
        View::Overview | View::Activity => access::Need::View,
        View::App | View::Phone | View::Passkey => access::Need::Change,
    };
    let who = match access::signed_in(state, session, need, now).await? {
        Ok(who) => who,
        Err(answer) => return Ok(answer),
    };
    let page = match view {
        View::Overview => overview_page(state, &who.account, None, Vec::new(), now).await?,
        View::Activity => Page::Activity(activity(state, &who.account, now).await?),
        View::App => Page::App { factor: factors::start_totp(state, &who.account, now).await?.id, again: None },
        View::Phone => Page::Phone { number: String::new(), again: None },
        View::Passkey => Page::Passkey { options: changes::passkey_options(state, &who).await?, again: None },
    };
    Ok(shown(who, page))
}

/// "Weet u het zeker?" before ending representation `id`: shown only for one the person may end
/// (their own representation of someone, or a contact or portal manager acting for them).
pub async fn confirm_end(state: &AppState, session: Option<&str>, id: &str) -> Result<Answer, Error> {
    let now = state.clock.unix();
    let who = match access::signed_in(state, session, access::Need::View, now).await? {
        Ok(who) => who,
        Err(answer) => return Ok(answer),
    };
    let mine = crate::representation::own::mine(state, &who.account, now).await?;
    let is = |l: &&crate::representation::own::Listed| l.representation.id.as_str() == id;
    let page = match (mine.for_me.iter().find(is), mine.by_me.iter().find(is)) {
        (Some(l), _) if l.revocable_by_client() => Page::ConfirmEnd { listed: Box::new(l.clone()), for_me: true },
        (_, Some(l)) => Page::ConfirmEnd { listed: Box::new(l.clone()), for_me: false },
        _ => Page::Back("/account"),
    };
    Ok(shown(who, page))
}

/// A form posted by the browser with this session cookie; `locale` is for the mails a change sends.
pub async fn change(
    state: &AppState,
    session: Option<&str>,
    locale: Locale,
    posted: Posted<'_>,
) -> Result<Answer, Error> {
    let now = state.clock.unix();
    let need = match posted.change {
        Change::RevokeDevice { .. } | Change::EndRepresentation { .. } => access::Need::Protect,
        _ => access::Need::Change,
    };
    let who = match access::signed_in(state, session, need, now).await? {
        Ok(who) => who,
        Err(answer) => return Ok(answer),
    };
    if !posted.readable {
        return Ok(Answer::Refused(Refusal::Unreadable));
    }
    if !crypto::constant_time_eq(posted.csrf.as_bytes(), who.csrf.as_bytes()) {
        return Ok(Answer::Refused(Refusal::Forged));
    }
    changes::make(state, who, posted.change, locale, now).await
}

fn shown(who: SignedIn, page: Page) -> Answer {
    Answer::Shown(Box::new(Shown { who, page, session: None }))
}

async fn overview(state: &AppState, account: &Account, now: UnixTime) -> Result<Overview, Error> {
    Ok(Overview {
        factors: factors::confirmed(state, account).await?,
        recovery_left: state.store.recovery_codes_left(&account.id).await?,
        devices: state.store.trusted_devices(&account.id, now).await?,
        representation: crate::representation::own::mine(state, account, now).await?,
    })
}

async fn overview_page(
    state: &AppState,
    account: &Account,
    notice: Option<&'static str>,
    codes: Vec<String>,
    now: UnixTime,
) -> Result<Page, Error> {
    Ok(Page::Overview { overview: overview(state, account, now).await?, notice, codes })
}

/// How many events "Activiteit" shows.
const ACTIVITY_ROWS: i64 = 50;

/// The person's own sign-ins, factor changes and the portals that received tokens (the look is
/// recorded in the audit log too).
async fn activity(state: &AppState, account: &Account, now: UnixTime) -> Result<Vec<Activity>, Error> {
    let records = state.audit.own_activity(state.store.as_ref(), account, ACTIVITY_ROWS, now).await?;
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        let portal = match &record.client_id {
            Some(id) => Some(state.client(id).await?.map(|c| c.name.clone()).unwrap_or_else(|| id.clone())),
            None => None,
        };
        let by = (record.actor_role == "representative" && record.actor_id.as_deref() != Some(account.id.as_str()))
            .then(|| record.actor_name.clone().unwrap_or_default());
        // Where a representative acted, their address is theirs, not the client's to see.
        let address = if by.is_some() { None } else { record.client_address };
        rows.push(Activity {
            by,
            time: record.time,
            failed: record.outcome != "success",
            event_type: record.event_type,
            portal,
            address,
        });
    }
    Ok(rows)
}
