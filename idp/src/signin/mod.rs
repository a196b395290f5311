//! The whole sign-in, from a portal's request (or an own page's) to the finished authentication,
//! without HTTP. The state is an [`Interaction`] at a [`Step`]; what the person does on a step's
//! page is an [`Input`]; [`advance`] is the one entry point that takes the state, the input and
//! the browser, checks the input (password, code, answer), asks the pure state machine
//! ([`machine::decide`]) what comes next, and carries that out: keeps the interaction at its next
//! step, makes the session, issues the code. [`begin`] starts one from a request.
//!
//! The handlers in `http/` only extract the input, call one of these, and render the result.
//! Each function reads the clock once.
//!
//! ```text
//!  request ──► Password ──► ChangePassword ──► SecretQuestion ──► Password(after_change)
//!     │            │                                                   │
//!     │            ├──────────────► SecondFactor / Enrol ◄─────────────┘
//!     │            ▼                      │
//!     └─(session)► session made ◄─────────┘
//!                    │
//!                    ├──► ActingFor ("Namens wie?", portals only) ──► Consent ──► code / own page
//!                    └──► code for the portal, or back to the own page
//! ```

pub mod interaction;
pub mod machine;
pub mod policy;
mod whose;

use std::net::IpAddr;

pub use interaction::{password_fingerprint, Chosen, Fresh, Interaction, LocalPath, OwnPage, Pending, Purpose, Step};
pub use machine::{AccountFacts, Decision, Event, Facts};
pub use policy::{Allowed, Governing};
pub use whose::{whose_portal_view, WhoseOption};

use crate::activation::account::Problems;
use crate::app::AppState;
use crate::auth::factors::{self, FactorError, Options, SecondStep, Sent, TotpCheck};
use crate::auth::levels::{Channel, FactorUse, Level};
use crate::auth::password_rules::PasswordRules;
use crate::auth::signin::{self as password_check, SignIn, SignInError};
use crate::auth::{otp, session};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::{AccountId, Secret};
use crate::kv::KvError;
use crate::oidc::authorize::{self, RedirectError};
use crate::oidc::error::{ErrorCode, OAuthError, ProtocolError};
use crate::store::{Account, Choice, Session, StoreError};
use crate::ui::Locale;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Factor(#[from] FactorError),
    #[error(transparent)]
    Password(#[from] SignInError),
    #[error(transparent)]
    Hash(#[from] crate::auth::password::HashError),
}

/// The browser as the sign-in sees it: its address, its cookies and its language.
#[derive(Debug, Clone, Copy)]
pub struct Browser<'a> {
    pub ip: IpAddr,
    /// The session cookie's value.
    pub session: Option<&'a str>,
    /// The known-device cookie's value (`auth::known_device`).
    pub known_device: Option<&'a str>,
    /// The trusted-device cookie's value ("Vertrouw deze computer").
    pub trusted_device: Option<&'a str>,
    pub user_agent: &'a str,
    pub locale: Locale,
}

/// What the person did on a step's page.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Password {
        username: &'a str,
        password: &'a str,
    },
    NewPassword {
        current: &'a str,
        new: &'a str,
        repeat: &'a str,
    },
    SecretQuestion {
        question: &'a str,
        answer: &'a str,
        password: &'a str,
    },
    /// A code for the second step, by the method shown; `trust`: "Vertrouw deze computer".
    Code {
        method: Option<&'a str>,
        code: &'a str,
        trust: bool,
    },
    /// "Stuur opnieuw".
    Resend {
        method: Option<&'a str>,
    },
    /// The browser's passkey answer (JSON from `passkey.js`).
    Passkey {
        response: &'a str,
    },
    /// The code of the authenticator app being enrolled.
    EnrolCode {
        code: &'a str,
    },
    Consent {
        allow: bool,
    },
    /// "Namens wie wilt u inloggen?": the option chosen (a care client's id, or `self`).
    ActingFor {
        choice: &'a str,
    },
}

/// What happened, for the handler to render.
#[derive(Debug)]
pub enum Outcome {
    /// Show the page of the next step: where it is (`Step::location`).
    Next(String),
    /// Show the same page again, with what to say.
    Stay(Stay),
    /// Done: send the browser here (the portal with a code or an error, or the own page).
    Done(String),
    /// This sign-in cannot go on: the person starts again.
    Expired,
}

/// The same page again.
#[derive(Debug)]
pub struct Stay {
    pub why: Why,
    pub say: Say,
    /// On the second step: the method the page shows.
    pub method: Option<SecondStep>,
}

/// Why the page is shown again (the handler picks the status code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Just shown again (a code was sent again).
    Shown,
    /// Something was missing or malformed.
    Invalid,
    /// A wrong password, code or answer.
    Wrong,
    /// Too many tries.
    TooMany,
    /// The server is too busy to check a password now; the page says to try again shortly.
    Busy,
}

/// What the page says when shown again.
#[derive(Debug)]
pub enum Say {
    /// An error, by its text key.
    Error(String),
    /// A notice, by its text key.
    Notice(String),
    /// A new password was refused by these rules.
    Password { problems: Problems, same_as_old: bool },
}

impl Say {
    /// The text key of an error or notice; none for a refused new password (its rules say it).
    pub fn key(&self) -> Option<&str> {
        match self {
            Say::Error(key) | Say::Notice(key) => Some(key),
            Say::Password { .. } => None,
        }
    }
}

impl Stay {
    fn error(why: Why, key: impl Into<String>) -> Self {
        Stay { why, say: Say::Error(key.into()), method: None }
    }

    fn on(mut self, method: SecondStep) -> Self {
        self.method = Some(method);
        self
    }
}

/// What a call made happen: the outcome, and the cookies to set.
#[derive(Debug)]
pub struct Advanced {
    pub outcome: Outcome,
    pub cookies: Cookies,
}

/// New cookie values for the browser.
#[derive(Debug, Default)]
pub struct Cookies {
    /// The new session's cookie value.
    pub session: Option<String>,
    /// This browser now knows the account's password (`auth::known_device`).
    pub known_device: Option<String>,
    /// "Vertrouw deze computer": the value and for how many days.
    pub trusted_device: Option<(String, i64)>,
}

/// Starts a sign-in for `purpose` in this browser (`binding`: its binding cookie; `session`: its
/// session cookie): a session that suffices finishes at once (single sign-on); otherwise the
/// interaction is kept at its first step.
pub async fn begin(
    state: &AppState,
    purpose: Purpose,
    binding: &str,
    session: Option<&str>,
    locale: Locale,
) -> Result<Advanced, Error> {
    let now = state.clock.unix();
    let found = session::find(state, session, now).await?;
    let interaction = Interaction::new(purpose, binding, Step::Password { after_change: false });
    // Arriving checks no password or code: the address and device cookies play no part.
    let browser = Browser {
        ip: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        session,
        known_device: None,
        trusted_device: None,
        user_agent: "",
        locale,
    };
    let mut run =
        Run { state, id: None, interaction, browser, now, cookies: Cookies::default(), claimed: false, choices: None };
    let account = found.as_ref().map(|s| s.account_id.clone());
    let outcome = run.decide(Event::Arrived, found.as_ref(), Who::Id(account)).await?;
    Ok(Advanced { outcome, cookies: run.cookies })
}

/// The one entry point for a step's input: checks it, decides, and carries the decision out.
pub async fn advance(
    state: &AppState,
    id: &str,
    interaction: Interaction,
    input: Input<'_>,
    browser: Browser<'_>,
) -> Result<Advanced, Error> {
    let now = state.clock.unix();
    let mut run = Run {
        state,
        id: Some(id.to_string()),
        interaction,
        browser,
        now,
        cookies: Cookies::default(),
        claimed: false,
        choices: None,
    };
    let outcome = match input {
        Input::Password { username, password } => run.password(username, password).await?,
        Input::NewPassword { current, new, repeat } => run.new_password(current, new, repeat).await?,
        Input::SecretQuestion { question, answer, password } => run.secret_question(question, answer, password).await?,
        Input::Code { method, code, trust } => run.code(method, code, trust).await?,
        Input::Resend { method } => run.resend(method).await?,
        Input::Passkey { response } => run.passkey(response).await?,
        Input::EnrolCode { code } => run.enrol(code).await?,
        Input::Consent { allow } => run.consent(allow).await?,
        Input::ActingFor { choice } => run.acting_for(choice).await?,
    };
    Ok(Advanced { outcome, cookies: run.cookies })
}

/// Who the decision is about: an account to read only if the machine needs it, or one at hand.
enum Who {
    Id(Option<AccountId>),
    Account(Box<Account>),
    Known(Box<Known>),
}

/// What is known about an account for a decision.
struct Known {
    governing: Governing,
    facts: AccountFacts,
    remembered: Option<FactorUse>,
    account: Account,
}

fn facts<'a>(
    governing: Governing,
    session: Option<&'a Session>,
    known: &'a Option<Known>,
    choices: Option<&[Choice]>,
) -> Facts<'a> {
    Facts {
        governing,
        session,
        account: known.as_ref().map(|k| &k.facts),
        remembered: known.as_ref().and_then(|k| k.remembered.clone()),
        // Representing nobody at the organisation, the account opens its own portal: one choice.
        choices: choices.map(|c| c.len().max(1)),
    }
}

/// One call's work: the interaction, the browser and the one `now`.
struct Run<'a> {
    state: &'a AppState,
    /// `None` until the interaction is kept.
    id: Option<String>,
    interaction: Interaction,
    browser: Browser<'a>,
    now: UnixTime,
    cookies: Cookies,
    /// This request took the interaction out of the store (it is making the session): nobody
    /// else can finish it, and it is kept again only if a step follows.
    claimed: bool,
    /// Whose portal the session's account may open at the portal's organisation, once read.
    choices: Option<Vec<Choice>>,
}

impl Run<'_> {
    fn locale(&self) -> Locale {
        self.browser.locale
    }

    async fn governing(&self, account: Option<&AccountId>) -> Result<Governing, StoreError> {
        policy::governing(self.state, &self.interaction.demands(), self.interaction.portal(), account).await
    }

    /// Everything the machine may need about `account`, read once.
    async fn know(&self, account: Account) -> Result<Known, Error> {
        let governing = self.governing(Some(&account.id)).await?;
        let facts = self.facts_of(&account, &governing).await?;
        let remembered = self.remembered(&account, &governing).await?;
        Ok(Known { governing, facts, remembered, account })
    }

    /// Decides and carries out: reads the account when the machine needs it, makes the session
    /// when enough is proved, and ends with the page or place to go.
    async fn decide(&mut self, event: Event, session: Option<&Session>, who: Who) -> Result<Outcome, Error> {
        let (governing, mut known, id) = match who {
            Who::Id(id) => (self.governing(id.as_ref()).await?, None, id),
            Who::Account(account) => {
                let known = self.know(*account).await?;
                let id = Some(known.account.id.clone());
                (known.governing, Some(known), id)
            }
            Who::Known(known) => (known.governing, Some(*known), None),
        };
        // The machine asks for what it needs, at most once each: the account, then whom it may
        // act for.
        let mut decision = self.decide_with(&event, &governing, session, &known);
        if let (Decision::NeedAccount, None, Some(id)) = (&decision, &known, &id) {
            let Some(account) = self.state.store.account_by_id(id).await? else { return Ok(Outcome::Expired) };
            known = Some(self.know(account).await?);
            decision = self.decide_with(&event, &governing, session, &known);
        }
        if let (Decision::NeedChoices, Some(session)) = (&decision, session) {
            if !self.load_choices(session).await? {
                return Ok(Outcome::Expired);
            }
            decision = self.decide_with(&event, &governing, Some(session), &known);
        }
        match decision {
            Decision::Ask(step) => self.ask(step).await,
            Decision::MakeSession(pending) => {
                let known = match known {
                    Some(known) if known.account.id == pending.account => known,
                    _ => match self.state.store.account_by_id(&pending.account).await? {
                        Some(account) => self.know(account).await?,
                        None => return Ok(Outcome::Expired),
                    },
                };
                self.make_session(pending, known).await
            }
            Decision::Finish => match session {
                Some(session) => self.finish(session, &governing).await,
                None => Ok(Outcome::Expired),
            },
            Decision::Deny => {
                self.forget().await?;
                Ok(self.refuse(ErrorCode::AccessDenied, "the user declined"))
            }
            Decision::Fail(code) => Ok(self.refuse(code, "the user must sign in")),
            Decision::NeedAccount | Decision::NeedChoices | Decision::Expired => Ok(Outcome::Expired),
        }
    }

    fn decide_with(
        &self,
        event: &Event,
        governing: &Governing,
        session: Option<&Session>,
        known: &Option<Known>,
    ) -> Decision {
        let facts = facts(*governing, session, known, self.choices.as_deref());
        machine::decide(&self.interaction, event.clone(), &facts, self.now)
    }

    async fn facts_of(&self, account: &Account, governing: &Governing) -> Result<AccountFacts, Error> {
        let state = self.state;
        // Asked after a temporary password is replaced (the machine keeps that order).
        let owes_secret_question =
            governing.secret_question && state.store.secret_question(&account.id).await?.is_none();
        let may_enrol = governing.requirement.level() >= Level::TwoFactor
            && second_step_context(state, &self.interaction, account, governing).await?.may_enrol(account);
        Ok(AccountFacts {
            id: account.id.clone(),
            disabled: account.disabled,
            must_change_password: account.must_change_password,
            owes_secret_question,
            password: password_fingerprint(account),
            password_via_mail: account.password_via_mail,
            may_enrol,
        })
    }

    /// The factor this browser's trusted-device cookie stands in for, if it is `account`'s and
    /// the organisations still trust computers.
    async fn remembered(&self, account: &Account, governing: &Governing) -> Result<Option<FactorUse>, Error> {
        let allowed = governing.allowed.trusted_device_days > 0;
        Ok(factors::remembered(self.state, self.browser.trusted_device, account, allowed, self.now).await?)
    }

    /// Keeps the interaction at `step` and shows its page.
    async fn ask(&mut self, step: Step) -> Result<Outcome, Error> {
        self.interaction.step = step;
        let id = match &self.id {
            // Held by this request (it made the session): kept under its id again.
            Some(id) if self.claimed => {
                interaction::restore(self.state, id, &self.interaction).await?;
                id.clone()
            }
            Some(id) => {
                if !interaction::save(self.state, id, &self.interaction).await? {
                    // Finished meanwhile by a concurrent request: it does not come back.
                    return Ok(Outcome::Expired);
                }
                id.clone()
            }
            None => interaction::keep(self.state, &self.interaction).await?,
        };
        let location = self.interaction.step.location(&id);
        self.id = Some(id);
        Ok(Outcome::Next(location))
    }

    /// Makes the session from the factors proved, replacing the one this browser had, and
    /// decides again with it.
    async fn make_session(&mut self, pending: Pending, known: Known) -> Result<Outcome, Error> {
        // The interaction is claimed first: of two concurrent submissions, one makes a session
        // (the other's would be a second session, with no code, that nothing ends).
        if let Some(id) = &self.id {
            if !self.claimed && !interaction::finish(self.state, id).await? {
                return Ok(Outcome::Expired);
            }
            self.claimed = true;
        }
        let account = &known.account;
        let previous = session::find(self.state, self.browser.session, self.now).await?;
        let sign_in = session::SignedIn {
            account,
            factors: pending.factors,
            auth_time: pending.auth_time,
            previous: previous.as_ref(),
            portal: self.interaction.portal(),
        };
        // A new session (and cookie value) at every sign-in or step-up.
        let (token, made) = session::start(self.state, sign_in, self.now).await?;
        tracing::info!(account = %account.id, acr = %made.acr, "signed in");
        self.cookies.session = Some(token);
        self.interaction.signed_in = Some(made.id.clone());
        Box::pin(self.decide(Event::SessionMade, Some(&made), Who::Known(Box::new(known)))).await
    }

    /// Issues the code (or goes back to the own page). The interaction is single use: of two
    /// concurrent submissions, one finishes.
    async fn finish(&mut self, session: &Session, governing: &Governing) -> Result<Outcome, Error> {
        if let Some(id) = &self.id {
            if !self.claimed && !interaction::finish(self.state, id).await? {
                return Ok(Outcome::Expired);
            }
            self.claimed = true;
        }
        match &self.interaction.purpose {
            Purpose::OwnPage(own) => Ok(Outcome::Done(own.return_to.as_str().to_string())),
            Purpose::Portal(request) => {
                let request = request.clone();
                let Some(whom) = self.whom(session).await? else { return Ok(Outcome::Expired) };
                match authorize::issue_code(self.state, &request, session, &governing.requirement, whom, self.now).await
                {
                    Ok(location) => Ok(Outcome::Done(location)),
                    Err(ProtocolError::OAuth(error)) => Ok(Outcome::Done(self.redirect_error(error))),
                    // The portal hears `server_error` (OAuth 2.0 §4.1.2.1); the cause goes to the log.
                    Err(e) => {
                        tracing::error!(cause = %crate::error_chain(&e), "issuing a code failed");
                        Ok(Outcome::Done(self.redirect_error(OAuthError::server_error())))
                    }
                }
            }
        }
    }

    fn redirect_error(&self, error: OAuthError) -> String {
        match &self.interaction.purpose {
            Purpose::Portal(request) => {
                RedirectError { redirect_uri: request.redirect_uri.clone(), state: request.state.clone(), error }
                    .location(&self.state.issuer)
            }
            Purpose::OwnPage(own) => own.return_to.as_str().to_string(),
        }
    }

    fn refuse(&self, code: ErrorCode, description: &'static str) -> Outcome {
        Outcome::Done(self.redirect_error(OAuthError::new(code, description)))
    }

    async fn forget(&self) -> Result<(), KvError> {
        match &self.id {
            Some(id) if !self.claimed => interaction::finish(self.state, id).await.map(|_| ()),
            _ => Ok(()),
        }
    }

    async fn password(&mut self, username: &str, password: &str) -> Result<Outcome, Error> {
        let username = username.trim();
        if username.is_empty() || password.is_empty() {
            return Ok(Outcome::Stay(Stay::error(Why::Invalid, "login_missing")));
        }
        let (state, browser) = (self.state, self.browser);
        let given = Secret::new(password.to_string());
        let account =
            match password_check::with_password(state, username, given, browser.ip, browser.known_device, self.now)
                .await?
            {
                SignIn::Success(account) => account,
                SignIn::Invalid => return Ok(Outcome::Stay(Stay::error(Why::Wrong, "login_invalid"))),
                SignIn::Throttled => return Ok(Outcome::Stay(Stay::error(Why::TooMany, "login_throttled"))),
                SignIn::Busy => return Ok(Outcome::Stay(Stay::error(Why::Busy, "login_busy"))),
            };
        // This browser now knows the password: its own wrong passwords no longer count against
        // the username's shared limit (see `auth::known_device`).
        let token = password_check::remember_device(state, username, &account, browser.known_device).await?;
        self.cookies.known_device = Some(token);
        if self.interaction.step.pending().is_some() {
            // Someone (perhaps someone else) signs in again with this interaction: nothing proved
            // or sent for the earlier sign-in may count for this one.
            let id = self.id.clone().unwrap_or_default();
            otp::forget(state, &id).await?;
            factors::forget_passkey_ceremony(state, &id).await?;
        }
        // The password step takes a password at any step (the person went back to it).
        self.interaction.step = Step::Password { after_change: false };
        self.decide(Event::PasswordProved, None, Who::Account(account)).await
    }

    /// The account a forced step is for, if it is still there.
    async fn account_at(&self, step_account: &AccountId) -> Result<Option<Account>, Error> {
        Ok(self.state.store.account_by_id(step_account).await?.filter(|a| !a.disabled))
    }

    /// The account's password asked again at a forced step, through the same throttled check as
    /// signing in; what to say when it is not right (`wrong`: the text key).
    async fn password_again(&self, account: &Account, given: &str, wrong: &str) -> Result<Option<Stay>, Error> {
        let (browser, given) = (self.browser, Secret::new(given.to_string()));
        let checked = password_check::with_password(
            self.state,
            &account.username,
            given,
            browser.ip,
            browser.known_device,
            self.now,
        )
        .await?;
        Ok(match checked {
            SignIn::Success(checked) if checked.id == account.id => None,
            SignIn::Throttled => Some(Stay::error(Why::TooMany, "login_throttled")),
            SignIn::Busy => Some(Stay::error(Why::Busy, "login_busy")),
            _ => Some(Stay::error(Why::Wrong, wrong)),
        })
    }

    async fn new_password(&mut self, current: &str, new: &str, repeat: &str) -> Result<Outcome, Error> {
        let Step::ChangePassword { account } = self.interaction.step.clone() else { return Ok(Outcome::Expired) };
        let Some(account) = self.account_at(&account).await? else { return Ok(Outcome::Expired) };
        let state = self.state;
        let rules = password_rules(state, &account).await?;
        if let Some(refused) = self.password_again(&account, current, "current_password_wrong").await? {
            return Ok(Outcome::Stay(refused));
        }
        let problems = Problems::of_new_password(&account, &rules, new, repeat);
        let same_as_old = crypto::constant_time_eq(new.as_bytes(), current.as_bytes());
        if !problems.is_empty() || same_as_old {
            let say = Say::Password { problems, same_as_old };
            return Ok(Outcome::Stay(Stay { why: Why::Invalid, say, method: None }));
        }
        let hash = crate::auth::password::hash(Secret::new(new.to_string())).await?;
        // The interaction moves on first: should storing the password then fail, the temporary one
        // still works and the next sign-in asks again, instead of a form that rejects it.
        let outcome = self.decide(Event::PasswordChosen, None, Who::Account(Box::new(account.clone()))).await?;
        crate::auth::recovery::set_chosen_password(state, &account, &hash, self.now).await?;
        tracing::info!(account = %account.id, "temporary password replaced");
        Ok(outcome)
    }

    async fn secret_question(&mut self, question: &str, answer: &str, password: &str) -> Result<Outcome, Error> {
        let Step::SecretQuestion { account } = self.interaction.step.clone() else { return Ok(Outcome::Expired) };
        let Some(account) = self.account_at(&account).await? else { return Ok(Outcome::Expired) };
        let question = question.trim();
        if question.is_empty() || question.chars().count() > 200 {
            return Ok(Outcome::Stay(Stay::error(Why::Invalid, "question_invalid")));
        }
        let normalised = crate::auth::secret_question::normalise_answer(answer);
        if !(3..=200).contains(&normalised.chars().count()) {
            return Ok(Outcome::Stay(Stay::error(Why::Invalid, "answer_invalid")));
        }
        if let Some(refused) = self.password_again(&account, password, "password_wrong").await? {
            return Ok(Outcome::Stay(refused));
        }
        let state = self.state;
        let hash = crate::auth::secret_question::hash_answer(answer).await?;
        state.store.set_secret_question(&account.id, question, &hash).await?;
        self.decide(Event::QuestionSet, None, Who::Account(Box::new(account))).await
    }

    /// The sign-in waiting at the second step (or enrolment), with its account, while it may go on.
    async fn waiting(&self) -> Result<Option<(Pending, Account, Governing)>, Error> {
        let Some(pending) = self.interaction.step.pending().cloned() else { return Ok(None) };
        waiting_sign_in(self.state, &self.interaction, pending).await
    }

    async fn code(&mut self, method: Option<&str>, code: &str, trust: bool) -> Result<Outcome, Error> {
        let Some((_, account, governing)) = self.waiting().await? else { return Ok(Outcome::Expired) };
        let state = self.state;
        let ctx = second_step_context(state, &self.interaction, &account, &governing).await?;
        let Some(method) = choose(&ctx.options, method) else {
            return Ok(Outcome::Stay(Stay::error(Why::Invalid, "no_factor")));
        };
        if code.trim().is_empty() {
            return Ok(Outcome::Stay(Stay::error(Why::Invalid, "factor_missing").on(method)));
        }
        // Every answer takes one of the account's tries before it is compared.
        if !factors::take_try(state, &account).await? {
            return Ok(Outcome::Stay(Stay::error(Why::TooMany, "factor_throttled").on(method)));
        }
        let id = self.id.clone().unwrap_or_default();
        let (now, locale) = (self.now, self.locale());
        let checked: Result<FactorUse, &'static str> = match method {
            SecondStep::Totp => match factors::check_totp(state, &account, code, now).await? {
                TotpCheck::Right(used) => Ok(used),
                TotpCheck::Wrong => Err("factor_wrong"),
                TotpCheck::Replayed => Err("factor_replayed"),
            },
            SecondStep::Mail | SecondStep::Phone => {
                match otp::check(state, &state.factor_key, &id, account.id.as_str(), code, now).await? {
                    // A phone code counts only for one of this account's confirmed phones.
                    otp::Checked::Right(method, channel, factor)
                        if channel != Channel::Phone || ctx.options.phones.iter().any(|p| p.id == factor) =>
                    {
                        Ok(FactorUse::new(method, channel, now))
                    }
                    otp::Checked::Right(..) | otp::Checked::NoCode => Err("code_expired"),
                    otp::Checked::Wrong => Err("factor_wrong"),
                    otp::Checked::Exhausted => Err("code_exhausted"),
                }
            }
            SecondStep::Recovery => match factors::check_recovery_code(state, &account, code, locale, now).await? {
                Some(used) => Ok(used),
                None => Err("factor_wrong"),
            },
            // A passkey answers with `Input::Passkey`, not with a typed code.
            SecondStep::Passkey => Err("factor_wrong"),
        };
        let used = match checked {
            Ok(used) => used,
            Err(key) => {
                tracing::info!(account = %account.id, method = method.as_str(), "second factor refused");
                return Ok(Outcome::Stay(Stay::error(Why::Wrong, key).on(method)));
            }
        };
        factors::clear_tries(state, &account).await?;
        let days = ctx.allowed.trusted_device_days;
        if trust && days > 0 && used.channel != Channel::Paper {
            let token = factors::trust_device(state, &account, &used, days, self.browser.user_agent, now).await?;
            self.cookies.trusted_device = Some((token, days));
        }
        self.proved(used, account).await
    }

    /// A factor was proved: the machine decides (the session, or another factor).
    async fn proved(&mut self, used: FactorUse, account: Account) -> Result<Outcome, Error> {
        self.decide(Event::FactorProved(used), None, Who::Account(Box::new(account))).await
    }

    async fn resend(&mut self, method: Option<&str>) -> Result<Outcome, Error> {
        let Some((_, account, governing)) = self.waiting().await? else { return Ok(Outcome::Expired) };
        let ctx = second_step_context(self.state, &self.interaction, &account, &governing).await?;
        let Some(method) = choose(&ctx.options, method).filter(|m| m.sends_code()) else {
            return Ok(Outcome::Stay(Stay::error(Why::Invalid, "no_factor")));
        };
        let id = self.id.clone().unwrap_or_default();
        let stay = match send_code(self.state, &account, &ctx.options, method, &id, self.locale(), self.now).await? {
            Sent::Sent => Stay { why: Why::Shown, say: Say::Notice("code_sent".into()), method: None },
            Sent::Throttled => Stay::error(Why::TooMany, "code_send_throttled"),
            Sent::Failed => Stay::error(Why::Shown, "code_send_failed"),
        };
        Ok(Outcome::Stay(stay.on(method)))
    }

    async fn passkey(&mut self, response: &str) -> Result<Outcome, Error> {
        let Some((_, account, _)) = self.waiting().await? else { return Ok(Outcome::Expired) };
        let id = self.id.clone().unwrap_or_default();
        match factors::finish_passkey_sign_in(self.state, &account, &id, response, self.now).await? {
            Ok(used) => self.proved(used, account).await,
            Err(e) => {
                let key = format!("passkey_error_{}", e.code());
                Ok(Outcome::Stay(Stay::error(Why::Wrong, key).on(SecondStep::Passkey)))
            }
        }
    }

    async fn enrol(&mut self, code: &str) -> Result<Outcome, Error> {
        if !matches!(self.interaction.step, Step::Enrol(_)) {
            return Ok(Outcome::Expired);
        }
        let Some((pending, account, governing)) = self.waiting().await? else { return Ok(Outcome::Expired) };
        let Some(factor_id) = pending.enrolling.clone() else { return Ok(Outcome::Expired) };
        let state = self.state;
        if !second_step_context(state, &self.interaction, &account, &governing).await?.may_enrol(&account) {
            return Ok(Outcome::Stay(Stay::error(Why::Invalid, "no_factor")));
        }
        if !factors::take_try(state, &account).await? {
            return Ok(Outcome::Stay(Stay::error(Why::TooMany, "factor_throttled")));
        }
        match factors::confirm_totp(state, &account, &factor_id, code, self.locale(), self.now).await? {
            Some(used) => {
                factors::clear_tries(state, &account).await?;
                self.proved(used, account).await
            }
            None => Ok(Outcome::Stay(Stay::error(Why::Wrong, "enrol_wrong"))),
        }
    }

    async fn consent(&mut self, allow: bool) -> Result<Outcome, Error> {
        if self.interaction.step != Step::Consent {
            return Ok(Outcome::Expired);
        }
        // Declining needs no session; allowing needs the one this browser signed in with.
        let session = session::find(self.state, self.browser.session, self.now).await?;
        let account = session.as_ref().map(|s| s.account_id.clone());
        self.decide(Event::Consent(allow), session.as_ref(), Who::Id(account)).await
    }
}

/// The password rules of the account's organisation.
pub async fn password_rules(state: &AppState, account: &Account) -> Result<PasswordRules, StoreError> {
    Ok(state.store.policy_for_account(&account.id).await?.map(|p| p.password_rules).unwrap_or_default())
}

/// The sign-in waiting in `pending`, with its account and rules, while it may go on: the
/// account is enabled and still has the password that was proved.
async fn waiting_sign_in(
    state: &AppState,
    interaction: &Interaction,
    pending: Pending,
) -> Result<Option<(Pending, Account, Governing)>, Error> {
    let Some(account) = state.store.account_by_id(&pending.account).await? else { return Ok(None) };
    let facts = AccountFacts {
        id: account.id.clone(),
        disabled: account.disabled,
        must_change_password: account.must_change_password,
        owes_secret_question: false,
        password: password_fingerprint(&account),
        password_via_mail: account.password_via_mail,
        may_enrol: false,
    };
    if !machine::still_waiting(&pending, Some(&facts)) {
        return Ok(None);
    }
    let governing = policy::governing(state, &interaction.demands(), interaction.portal(), Some(&account.id)).await?;
    Ok(Some((pending, account, governing)))
}

/// What the second step offers this account.
pub struct SecondStepContext {
    pub level: Level,
    pub allowed: Allowed,
    pub options: Options,
    /// The account has a confirmed factor.
    pub has_factors: bool,
}

impl SecondStepContext {
    /// May this person enrol an authenticator app during sign-in? Only at the very first time
    /// (no factor yet), and not right after a password reset by mail: whoever holds the mailbox
    /// must not be able to add a factor of their own.
    pub fn may_enrol(&self, account: &Account) -> bool {
        self.level == Level::TwoFactor && self.options.is_empty() && !self.has_factors && !account.password_via_mail
    }
}

async fn second_step_context(
    state: &AppState,
    interaction: &Interaction,
    account: &Account,
    governing: &Governing,
) -> Result<SecondStepContext, FactorError> {
    let confirmed = factors::confirmed(state, account).await?;
    // The IdP's own pages (re-authentication for the account page) take a mailed token only
    // from an account that has no enrolled factor (then it is what guards its changes).
    let mailed_token = governing.allowed.mailed_token && (!interaction.is_own_page() || confirmed.is_empty());
    let level = governing.requirement.level();
    let options = factors::options(state, account, &confirmed, mailed_token, level).await?;
    Ok(SecondStepContext { level, allowed: governing.allowed, options, has_factors: !confirmed.is_empty() })
}

/// The method to show: the one asked for when it is available, else the first available.
pub fn choose(options: &Options, asked: Option<&str>) -> Option<SecondStep> {
    let asked = asked.and_then(SecondStep::parse).filter(|s| options.offers(*s));
    asked.or_else(|| options.available().next())
}

/// Sends the mailed token, or a code to the first phone.
async fn send_code(
    state: &AppState,
    account: &Account,
    options: &Options,
    method: SecondStep,
    slot: &str,
    locale: Locale,
    now: UnixTime,
) -> Result<Sent, FactorError> {
    if method == SecondStep::Mail {
        return factors::send_mail_code(state, account, slot, locale, now).await;
    }
    let Some(phone) = options.phones.first() else {
        return Ok(Sent::Throttled);
    };
    match state.store.factor(&phone.id).await? {
        Some(factor) => factors::send_phone_code(state, account, &factor, slot, locale, now).await,
        None => Ok(Sent::Throttled),
    }
}

/// What the second step's page shows.
pub struct SecondStepView {
    pub account: Account,
    pub context: SecondStepContext,
    pub method: SecondStep,
    /// The browser's passkey options (JSON), when the method is a passkey.
    pub passkey_options: Option<String>,
    /// Set when the page was opened and a code went out by itself.
    pub sent: Option<Stay>,
}

/// What the second step's page can show.
pub enum SecondView {
    Show(Box<SecondStepView>),
    /// Nothing to choose from, and this person may enrol an app now (the factors changed while
    /// the step waited): the interaction moved to enrolment, at this location.
    Enrol(String),
    /// Nothing to choose from, and nothing to enrol here.
    NoFactor,
}

/// What the second step's page shows: the method asked (or the first one offered). The first
/// time a sent-code method is shown, the code goes out by itself (`first_show`). `None` when
/// the sign-in cannot go on.
pub async fn second_step_view(
    state: &AppState,
    id: &str,
    interaction: &mut Interaction,
    asked: Option<&str>,
    locale: Locale,
    first_show: bool,
) -> Result<Option<SecondView>, Error> {
    let now = state.clock.unix();
    let Some(pending) = interaction.step.pending().cloned() else { return Ok(None) };
    let Some((pending, account, governing)) = waiting_sign_in(state, interaction, pending).await? else {
        return Ok(None);
    };
    let context = second_step_context(state, interaction, &account, &governing).await?;
    let Some(method) = choose(&context.options, asked) else {
        if !context.may_enrol(&account) {
            return Ok(Some(SecondView::NoFactor));
        }
        interaction.step = Step::Enrol(pending);
        if !interaction::save(state, id, interaction).await? {
            return Ok(None);
        }
        return Ok(Some(SecondView::Enrol(interaction.step.location(id))));
    };
    let mut sent = None;
    if first_show && method.sends_code() && otp::waiting(state, id, account.id.as_str(), now).await?.is_none() {
        sent = Some(match send_code(state, &account, &context.options, method, id, locale, now).await? {
            Sent::Sent => Stay { why: Why::Shown, say: Say::Notice("code_sent".into()), method: Some(method) },
            Sent::Throttled => {
                Stay { why: Why::Shown, say: Say::Notice("code_send_throttled".into()), method: Some(method) }
            }
            Sent::Failed => Stay::error(Why::Shown, "code_send_failed").on(method),
        });
    }
    // A new ceremony each time the page is shown; the last one shown is the one that counts.
    let passkey_options = if method == SecondStep::Passkey {
        factors::start_passkey_sign_in(state, &account, id).await?.map(|o| o.to_string())
    } else {
        None
    };
    Ok(Some(SecondView::Show(Box::new(SecondStepView { account, context, method, passkey_options, sent }))))
}

/// The enrolment page (journey A): the account and the authenticator app being enrolled,
/// started on the first visit. `None` when the sign-in cannot go on; `Some(Err(()))` when this
/// account may not enrol here.
pub async fn enrolment(
    state: &AppState,
    id: &str,
    interaction: &mut Interaction,
) -> Result<Option<Result<(Account, String), ()>>, Error> {
    let Step::Enrol(pending) = &interaction.step else { return Ok(None) };
    let Some((mut pending, account, governing)) = waiting_sign_in(state, interaction, pending.clone()).await? else {
        return Ok(None);
    };
    if !second_step_context(state, interaction, &account, &governing).await?.may_enrol(&account) {
        return Ok(Some(Err(())));
    }
    let factor_id = match pending.enrolling.clone() {
        Some(f) => f,
        None => {
            let factor = factors::start_totp(state, &account, state.clock.unix()).await?;
            pending.enrolling = Some(factor.id.clone());
            interaction.step = Step::Enrol(pending);
            if !interaction::save(state, id, interaction).await? {
                return Ok(None);
            }
            factor.id
        }
    };
    Ok(Some(Ok((account, factor_id))))
}

/// The account a forced step (new password, secret question) is for, while it may go on.
pub async fn forced_step_account(state: &AppState, interaction: &Interaction) -> Result<Option<Account>, StoreError> {
    let account = match &interaction.step {
        Step::ChangePassword { account } | Step::SecretQuestion { account } => account,
        _ => return Ok(None),
    };
    Ok(state.store.account_by_id(account).await?.filter(|a| !a.disabled))
}
