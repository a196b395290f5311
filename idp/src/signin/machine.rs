//! The sign-in's transitions, as one pure function: from the interaction's step, what just
//! happened (an [`Event`], already checked) and what is known ([`Facts`]), to what comes next
//! ([`Decision`]). No clock, store or HTTP here: the use case in `signin/mod.rs` loads the facts,
//! checks what the person typed, asks [`decide`], and carries the decision out.
//!
//! OIDC Core §3.1.2.3 decides whether an existing session may be used (`prompt`, `max_age`);
//! the organisations' policies, `acr_values` and the scopes' levels decide how many factors the
//! session must have proved ([`crate::auth::levels::Requirement`]).

use super::interaction::{Fresh, Interaction, Pending, Purpose, Step};
use super::policy::Governing;
use crate::auth::levels::{FactorUse, Method};
use crate::clock::UnixTime;
use crate::domain::AccountId;
use crate::oidc::error::ErrorCode;
use crate::store::Session;

/// The account a step is about, as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFacts {
    pub id: AccountId,
    pub disabled: bool,
    /// It signs in with a temporary password (journey B).
    pub must_change_password: bool,
    /// Its organisation asks a secret question it has not set.
    pub owes_secret_question: bool,
    /// The fingerprint of its current password (see `interaction::password_fingerprint`).
    pub password: String,
    /// Its password was chosen through a mailed link (a reset): the mailbox, not only the
    /// person, may know it.
    pub password_via_mail: bool,
    /// It has no factor to choose from and may enrol an authenticator app now (journey A).
    /// Only worked out when the requirement asks two factors.
    pub may_enrol: bool,
}

/// What the use case knows when the machine decides.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub governing: Governing,
    /// The browser's session on arrival; the session just made after [`Event::SessionMade`].
    pub session: Option<&'a Session>,
    /// The account the step is about, when it was loaded (see [`Decision::NeedAccount`]).
    pub account: Option<&'a AccountFacts>,
    /// The factor this browser's trusted-device cookie stands in for, if it is the account's.
    pub remembered: Option<FactorUse>,
    /// How many portals' owners the session's account may choose between at the portal's
    /// organisation (itself counts as one when it represents nobody there), when counted (see
    /// [`Decision::NeedChoices`]).
    pub choices: Option<usize>,
}

/// What just happened, already checked by the use case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The request arrived (or an own page asked for a sign-in).
    Arrived,
    /// The right password for [`Facts::account`].
    PasswordProved,
    /// A temporary password was replaced by the person's own.
    PasswordChosen,
    /// The secret question was set.
    QuestionSet,
    /// A second factor was proved (or an authenticator app enrolled and its code given).
    FactorProved(FactorUse),
    /// The session was made; it is [`Facts::session`].
    SessionMade,
    /// The person allowed (or declined) what the portal may see.
    Consent(bool),
    /// The person chose whose portal to open; the use case checked the choice and set
    /// [`Interaction::acting_for`].
    Chose,
}

/// What comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Show this step.
    Ask(Step),
    /// Enough is proved: make the session (then tell the machine [`Event::SessionMade`]).
    MakeSession(Pending),
    /// The session suffices: issue the code, or go back to the own page.
    Finish,
    /// The person declined: tell the portal `access_denied`.
    Deny,
    /// Interaction is needed but `prompt=none` forbids it: tell the portal.
    Fail(ErrorCode),
    /// The decision depends on the account's state: load [`Facts::account`] and decide again.
    /// (A session that suffices needs no account read: single sign-on stays cheap.)
    NeedAccount,
    /// The decision depends on whom the account may act for at the portal's organisation: count
    /// [`Facts::choices`] and decide again (one read, made only once the session suffices).
    NeedChoices,
    /// This sign-in cannot go on (the account changed, or the step does not take this event):
    /// the person starts again.
    Expired,
}

/// The one transition function.
pub fn decide(interaction: &Interaction, event: Event, facts: &Facts<'_>, now: UnixTime) -> Decision {
    match (&interaction.step, event) {
        (_, Event::Arrived) => arrived(interaction, facts, now),
        (Step::Password { .. }, Event::PasswordProved) => match facts.account {
            Some(account) if !account.disabled => after_password(interaction, account, facts, now),
            _ => Decision::Expired,
        },
        (Step::ChangePassword { account }, Event::PasswordChosen) => match facts.account {
            Some(a) if &a.id == account && !a.disabled && a.owes_secret_question => {
                Decision::Ask(Step::SecretQuestion { account: account.clone() })
            }
            Some(a) if &a.id == account && !a.disabled => Decision::Ask(Step::Password { after_change: true }),
            _ => Decision::Expired,
        },
        (Step::SecretQuestion { account }, Event::QuestionSet) => match facts.account {
            Some(a) if &a.id == account && !a.disabled => Decision::Ask(Step::Password { after_change: true }),
            _ => Decision::Expired,
        },
        (Step::SecondFactor(pending) | Step::Enrol(pending), Event::FactorProved(used)) => {
            if !still_waiting(pending, facts.account) {
                return Decision::Expired;
            }
            let mut pending = pending.clone();
            pending.factors.push(used);
            pending.enrolling = None;
            after_factors(interaction, pending, facts, now)
        }
        (_, Event::SessionMade) => match facts.session {
            Some(session) => with_session(interaction, session, true, false, facts, now),
            None => Decision::Expired,
        },
        (Step::ActingFor, Event::Chose) => match facts.session {
            Some(session) if interaction.chosen(&session.account_id).is_some() => {
                let made_here = interaction.signed_in.as_ref() == Some(&session.id);
                with_session(interaction, session, made_here, false, facts, now)
            }
            _ => Decision::Expired,
        },
        (Step::Consent, Event::Consent(false)) => Decision::Deny,
        (Step::Consent, Event::Consent(true)) => match facts.session {
            Some(session) => {
                let made_here = interaction.signed_in.as_ref() == Some(&session.id);
                with_session(interaction, session, made_here, true, facts, now)
            }
            None => Decision::Expired,
        },
        _ => Decision::Expired,
    }
}

/// A sign-in that waits for more factors may go on only while its account is enabled and still
/// has the password that was proved: a reset meanwhile ends it.
pub fn still_waiting(pending: &Pending, account: Option<&AccountFacts>) -> bool {
    account.is_some_and(|a| {
        a.id == pending.account
            && !a.disabled
            && crate::crypto::constant_time_eq(a.password.as_bytes(), pending.password.as_bytes())
    })
}

fn arrived(interaction: &Interaction, facts: &Facts<'_>, now: UnixTime) -> Decision {
    if let Purpose::OwnPage(own) = &interaction.purpose {
        match (own.how, facts.session) {
            // Only the password carries over: the second factor must be proved now (an older
            // one in the session would meet the level and end the step-up at once).
            (Fresh::Factor, Some(session)) if session.is_active(now) => {
                return match step_up_of(session, facts.account) {
                    Ok(mut pending) => {
                        pending.factors.retain(|f| f.method == Method::Pwd);
                        Decision::Ask(Step::SecondFactor(pending))
                    }
                    Err(decision) => decision,
                };
            }
            (Fresh::Factor, _) => return Decision::Ask(Step::Password { after_change: false }),
            (Fresh::First | Fresh::Again(_), _) => {}
        }
    }
    match facts.session {
        Some(session) => with_session(interaction, session, false, false, facts, now),
        None => sign_in(interaction),
    }
}

fn sign_in(interaction: &Interaction) -> Decision {
    if interaction.demands().prompt.none {
        Decision::Fail(ErrorCode::LoginRequired)
    } else {
        Decision::Ask(Step::Password { after_change: false })
    }
}

/// OIDC Core §3.1.2.3: may this session be used, honouring `prompt` and `max_age`? Then: is it
/// strong (and recent) enough, and has the person consented when asked to?
fn with_session(
    interaction: &Interaction,
    session: &Session,
    signed_in_now: bool,
    consented: bool,
    facts: &Facts<'_>,
    now: UnixTime,
) -> Decision {
    let demands = interaction.demands();
    let fresh_enough = demands.max_age.is_none_or(|max| now - session.auth_time <= max);
    // The session made during this interaction satisfies `prompt=login` and `max_age`; another
    // one (someone else signed in on this browser meanwhile) is judged like any other.
    let usable = if signed_in_now {
        session.is_active(now)
    } else {
        session.is_active(now) && !demands.prompt.login && fresh_enough
    };
    if !usable {
        // A session just made that cannot be used: something is off; start again.
        return if signed_in_now { Decision::Expired } else { sign_in(interaction) };
    }
    // Never a lower level in silence: the person proves another factor, or no code is issued.
    if !facts.governing.requirement.is_met(&session.factors, now) {
        if demands.prompt.none {
            return Decision::Fail(ErrorCode::InteractionRequired);
        }
        return match step_up_of(session, facts.account) {
            Ok(pending) => second_or_enrol(pending, facts.account),
            Err(decision) => decision,
        };
    }
    if let Some(decision) = whose_portal(interaction, session, facts) {
        return decision;
    }
    if demands.prompt.consent && !consented {
        return Decision::Ask(Step::Consent);
    }
    Decision::Finish
}

/// "Namens wie wilt u inloggen?" — asked for a portal when the account may open more than one
/// person's portal there (or the portal asked with `prompt=select_account`, or named someone the
/// account may not act for), unless the session's account settled it already. `None`: nothing
/// to ask.
fn whose_portal(interaction: &Interaction, session: &Session, facts: &Facts<'_>) -> Option<Decision> {
    if !matches!(interaction.purpose, Purpose::Portal(_)) || interaction.chosen(&session.account_id).is_some() {
        return None;
    }
    let Some(choices) = facts.choices else { return Some(Decision::NeedChoices) };
    let demands = interaction.demands();
    let select = matches!(&interaction.purpose, Purpose::Portal(r) if r.prompt.select_account);
    if choices <= 1 && !select && !interaction.named_refused {
        return None;
    }
    if demands.prompt.none {
        return Some(Decision::Fail(ErrorCode::AccountSelectionRequired));
    }
    Some(Decision::Ask(Step::ActingFor))
}

/// A step-up starts from what the session already proved. Sessions made before factors were
/// recorded proved a password (that was all there was). Needs the account's password
/// fingerprint: without it the second step could not notice a reset.
fn step_up_of(session: &Session, account: Option<&AccountFacts>) -> Result<Pending, Decision> {
    let account = match account {
        None => return Err(Decision::NeedAccount),
        Some(a) if a.id == session.account_id && !a.disabled => a,
        Some(_) => return Err(Decision::Expired),
    };
    let factors = if session.factors.is_empty() {
        vec![FactorUse::password(false, session.auth_time)]
    } else {
        session.factors.clone()
    };
    Ok(Pending {
        account: session.account_id.clone(),
        auth_time: session.auth_time,
        factors,
        enrolling: None,
        password: account.password.clone(),
    })
}

fn after_password(interaction: &Interaction, account: &AccountFacts, facts: &Facts<'_>, now: UnixTime) -> Decision {
    if account.must_change_password {
        // A temporary password (journey B): choose your own first, then sign in with it.
        return Decision::Ask(Step::ChangePassword { account: account.id.clone() });
    }
    if account.owes_secret_question {
        return Decision::Ask(Step::SecretQuestion { account: account.id.clone() });
    }
    let pending = Pending {
        account: account.id.clone(),
        auth_time: now,
        factors: vec![FactorUse::password(account.password_via_mail, now)],
        enrolling: None,
        password: account.password.clone(),
    };
    after_factors(interaction, pending, facts, now)
}

/// A trusted computer may stand in for the second factor; when the requirement is met the
/// session is made, else the person proves another factor (or enrols one: journey A).
fn after_factors(interaction: &Interaction, mut pending: Pending, facts: &Facts<'_>, now: UnixTime) -> Decision {
    let demands = interaction.demands();
    // A portal that asks for a fresh sign-in (prompt=login, max_age) gets one: a remembered
    // factor is not fresh. Nor does it count once its method is no longer accepted.
    let own_factor = matches!(&interaction.purpose, Purpose::OwnPage(own) if own.how == Fresh::Factor);
    let fresh_asked = demands.prompt.login || demands.max_age.is_some() || own_factor;
    let allowed = facts.governing.allowed;
    if let Some(remembered) = facts.remembered.clone().filter(|f| {
        allowed.trusted_device_days > 0 && !fresh_asked && (f.method != Method::Email || allowed.mailed_token)
    }) {
        if !pending.factors.contains(&remembered) {
            pending.factors.push(remembered);
        }
    }
    if facts.governing.requirement.is_met(&pending.factors, now) {
        return Decision::MakeSession(pending);
    }
    second_or_enrol(pending, facts.account)
}

/// Another factor is needed: the second step, or enrolment when there is nothing to choose.
fn second_or_enrol(pending: Pending, account: Option<&AccountFacts>) -> Decision {
    match account {
        None => Decision::NeedAccount,
        Some(a) if a.may_enrol => Decision::Ask(Step::Enrol(pending)),
        Some(_) => Decision::Ask(Step::SecondFactor(pending)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::levels::{Channel, Level, Requirement};
    use crate::config::ScopeLevel;
    use crate::domain::{ClientId, RedirectUri, Scopes, SessionId};
    use crate::oidc::authorize::{AuthorizationRequest, Prompt};
    use crate::signin::interaction::{LocalPath, OwnPage};
    use crate::signin::policy::governing_for;
    use crate::store::OrganisationPolicy;

    const NOW: UnixTime = 1_800_000_000;

    fn request(prompt: &str, max_age: Option<i64>, acr: Option<&str>, scope: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: ClientId("portal".into()),
            redirect_uri: RedirectUri::parse("https://portal.example/cb").unwrap(),
            scope: Scopes::parse(scope).unwrap(),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: Prompt {
                none: prompt == "none",
                login: prompt.contains("login"),
                consent: prompt.contains("consent"),
                select_account: prompt.contains("select_account"),
            },
            max_age,
            login_hint: None,
            ui_locales: None,
            acr_values: acr.map(str::to_string),
            acting_for: None,
        }
    }

    fn at(step: Step, request: AuthorizationRequest) -> Interaction {
        Interaction::new(Purpose::Portal(Box::new(request)), "binding", step)
    }

    fn account() -> AccountFacts {
        AccountFacts {
            id: AccountId("acc".into()),
            disabled: false,
            must_change_password: false,
            owes_secret_question: false,
            password: "fingerprint-1".into(),
            password_via_mail: false,
            may_enrol: false,
        }
    }

    fn pwd(at: UnixTime) -> FactorUse {
        FactorUse::password(false, at)
    }

    fn app(at: UnixTime) -> FactorUse {
        FactorUse::new(Method::Otp, Channel::App, at)
    }

    fn session(auth_age: i64, factors: Vec<FactorUse>) -> Session {
        Session {
            id: SessionId("s".into()),
            token_digest: String::new(),
            account_id: AccountId("acc".into()),
            acting_for: None,
            auth_time: NOW - auth_age,
            acr: String::new(),
            amr: Vec::new(),
            factors,
            created_at: NOW - auth_age,
            expires_at: NOW + 3600,
            ended_at: None,
            might_represent: false,
        }
    }

    /// The organisation's minimum level, and the configured scope levels (`care` asks two factors).
    fn governing(interaction: &Interaction, min: Level, trusted_days: i64) -> Governing {
        let mut config = crate::config::Config::default();
        config.scope_levels.insert("care".into(), ScopeLevel { level: Level::TwoFactor, max_age_secs: Some(600) });
        let policy = OrganisationPolicy {
            min_level: min,
            trusted_device_days: trusted_days,
            ..OrganisationPolicy::default_for(crate::domain::OrganisationId("org".into()))
        };
        governing_for(&config, &interaction.demands(), &[policy])
    }

    fn facts<'a>(governing: Governing, session: Option<&'a Session>, account: Option<&'a AccountFacts>) -> Facts<'a> {
        Facts { governing, session, account, remembered: None, choices: Some(1) }
    }

    fn pending(factors: Vec<FactorUse>) -> Pending {
        Pending {
            account: AccountId("acc".into()),
            auth_time: NOW - 5,
            factors,
            enrolling: None,
            password: "fingerprint-1".into(),
        }
    }

    fn asks_password(d: &Decision) -> bool {
        matches!(d, Decision::Ask(Step::Password { after_change: false }))
    }

    fn asks_second(d: &Decision) -> bool {
        matches!(d, Decision::Ask(Step::SecondFactor(_)))
    }

    #[test]
    fn arriving_with_or_without_a_session() {
        let one = vec![pwd(NOW - 100)];
        let two = vec![pwd(NOW - 100), app(NOW - 100)];
        let old_two = vec![pwd(NOW - 4000), app(NOW - 4000)];
        type Check = fn(&Decision) -> bool;
        // (what the case shows, prompt, max_age, acr_values, scope, organisation minimum,
        //  the session's age and factors, the decision expected)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            &str,
            Option<i64>,
            Option<&str>,
            &str,
            Level,
            Option<(i64, Vec<FactorUse>)>,
            Check,
        )> = vec![
            ("no session: sign in", "", None, None, "openid", Level::Password, None, asks_password),
            ("no session, prompt=none: login_required", "none", None, None, "openid", Level::Password, None, |d| {
                *d == Decision::Fail(ErrorCode::LoginRequired)
            }),
            ("a session: a code", "", None, None, "openid", Level::Password, Some((100, one.clone())), |d| {
                *d == Decision::Finish
            }),
            (
                "prompt=none with a session: a code",
                "none",
                None,
                None,
                "openid",
                Level::Password,
                Some((100, one.clone())),
                |d| *d == Decision::Finish,
            ),
            (
                "prompt=login: sign in again",
                "login",
                None,
                None,
                "openid",
                Level::Password,
                Some((100, one.clone())),
                asks_password,
            ),
            ("prompt=consent: ask", "consent", None, None, "openid", Level::Password, Some((100, one.clone())), |d| {
                *d == Decision::Ask(Step::Consent)
            }),
            (
                "max_age passed: sign in again",
                "",
                Some(60),
                None,
                "openid",
                Level::Password,
                Some((100, one.clone())),
                asks_password,
            ),
            (
                "max_age not passed: a code",
                "",
                Some(600),
                None,
                "openid",
                Level::Password,
                Some((100, one.clone())),
                |d| *d == Decision::Finish,
            ),
            (
                "acr_values asks two factors: step up",
                "",
                None,
                Some("urn:poortwachter:acr:mfa"),
                "openid",
                Level::Password,
                Some((100, one.clone())),
                asks_second,
            ),
            (
                "acr_values asks two, prompt=none: interaction_required",
                "none",
                None,
                Some("urn:poortwachter:acr:mfa"),
                "openid",
                Level::Password,
                Some((100, one.clone())),
                |d| *d == Decision::Fail(ErrorCode::InteractionRequired),
            ),
            (
                "organisation asks two factors: step up",
                "",
                None,
                None,
                "openid",
                Level::TwoFactor,
                Some((100, one.clone())),
                asks_second,
            ),
            ("two factors proved: a code", "", None, None, "openid", Level::TwoFactor, Some((100, two.clone())), |d| {
                *d == Decision::Finish
            }),
            (
                "a scope that asks two factors: step up",
                "",
                None,
                None,
                "openid care",
                Level::Password,
                Some((100, one.clone())),
                asks_second,
            ),
            (
                "a scope's max age of the second factor passed: step up",
                "",
                None,
                None,
                "openid care",
                Level::Password,
                Some((4000, old_two)),
                asks_second,
            ),
            (
                "a scope's level met recently: a code",
                "",
                None,
                None,
                "openid care",
                Level::Password,
                Some((100, two)),
                |d| *d == Decision::Finish,
            ),
        ];
        for (what, prompt, max_age, acr, scope, min, with_session, expected) in cases {
            let interaction = at(Step::Password { after_change: false }, request(prompt, max_age, acr, scope));
            let session = with_session.map(|(age, factors)| session(age, factors));
            let account = account();
            let governing = governing(&interaction, min, 7);
            let decision =
                decide(&interaction, Event::Arrived, &facts(governing, session.as_ref(), Some(&account)), NOW);
            assert!(expected(&decision), "{what}: got {decision:?}");
        }
    }

    #[test]
    fn single_sign_on_needs_no_account_read() {
        let interaction = at(Step::Password { after_change: false }, request("", None, None, "openid"));
        let session = session(100, vec![pwd(NOW - 100)]);
        let g = governing(&interaction, Level::Password, 7);
        assert_eq!(decide(&interaction, Event::Arrived, &facts(g, Some(&session), None), NOW), Decision::Finish);
        // A step-up does: it must know the password that was proved.
        let g = governing(&interaction, Level::TwoFactor, 7);
        assert_eq!(decide(&interaction, Event::Arrived, &facts(g, Some(&session), None), NOW), Decision::NeedAccount);
        // And a session of an account that was disabled meanwhile is not stepped up.
        let disabled = AccountFacts { disabled: true, ..account() };
        assert_eq!(
            decide(&interaction, Event::Arrived, &facts(g, Some(&session), Some(&disabled)), NOW),
            Decision::Expired
        );
    }

    #[test]
    fn a_step_up_keeps_what_the_session_proved() {
        let interaction = at(Step::Password { after_change: false }, request("", None, None, "openid"));
        let session = session(100, vec![pwd(NOW - 100)]);
        let account = account();
        let decision = decide(
            &interaction,
            Event::Arrived,
            &facts(governing(&interaction, Level::TwoFactor, 7), Some(&session), Some(&account)),
            NOW,
        );
        let Decision::Ask(Step::SecondFactor(p)) = decision else { panic!("{decision:?}") };
        assert_eq!((p.factors, p.auth_time, p.password), (vec![pwd(NOW - 100)], NOW - 100, account.password));
    }

    #[test]
    fn after_the_password() {
        type Check = fn(&Decision) -> bool;
        // (what, the account's state, organisation minimum, trusted-device days, a remembered
        //  factor, prompt, the decision expected)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, fn(&mut AccountFacts), Level, i64, Option<FactorUse>, &str, Check)> = vec![
            (
                "one factor asked: the session",
                |_| {},
                Level::Password,
                7,
                None,
                "",
                |d| matches!(d, Decision::MakeSession(p) if p.factors == vec![pwd(NOW)]),
            ),
            (
                "a temporary password: change it first",
                |a| a.must_change_password = true,
                Level::TwoFactor,
                7,
                None,
                "",
                |d| matches!(d, Decision::Ask(Step::ChangePassword { .. })),
            ),
            (
                "a secret question owed: set it first",
                |a| a.owes_secret_question = true,
                Level::Password,
                7,
                None,
                "",
                |d| matches!(d, Decision::Ask(Step::SecretQuestion { .. })),
            ),
            ("two factors asked: the second step", |_| {}, Level::TwoFactor, 7, None, "", asks_second),
            (
                "two factors asked, none enrolled: enrol now",
                |a| a.may_enrol = true,
                Level::TwoFactor,
                7,
                None,
                "",
                |d| matches!(d, Decision::Ask(Step::Enrol(_))),
            ),
            (
                "a trusted computer stands in",
                |_| {},
                Level::TwoFactor,
                7,
                Some(app(NOW - 86_400)),
                "",
                |d| matches!(d, Decision::MakeSession(p) if p.factors.len() == 2),
            ),
            (
                "not when the organisation no longer trusts computers",
                |_| {},
                Level::TwoFactor,
                0,
                Some(app(NOW - 86_400)),
                "",
                asks_second,
            ),
            (
                "not when the portal asks a fresh sign-in",
                |_| {},
                Level::TwoFactor,
                7,
                Some(app(NOW - 86_400)),
                "login",
                asks_second,
            ),
            (
                "a password set by a mailed link counts as one",
                |a| a.password_via_mail = true,
                Level::Password,
                7,
                None,
                "",
                |d| matches!(d, Decision::MakeSession(p) if p.factors == vec![FactorUse::password(true, NOW)]),
            ),
            (
                "a disabled account goes no further",
                |a| a.disabled = true,
                Level::Password,
                7,
                None,
                "",
                |d| *d == Decision::Expired,
            ),
        ];
        for (what, change, min, days, remembered, prompt, expected) in cases {
            let interaction = at(Step::Password { after_change: false }, request(prompt, None, None, "openid"));
            let mut account = account();
            change(&mut account);
            let mut facts = facts(governing(&interaction, min, days), None, Some(&account));
            facts.remembered = remembered;
            let decision = decide(&interaction, Event::PasswordProved, &facts, NOW);
            assert!(expected(&decision), "{what}: got {decision:?}");
        }
    }

    #[test]
    fn proving_factors() {
        let interaction = |step| at(step, request("", None, None, "openid"));
        let two_needed = |i: &Interaction| governing(i, Level::TwoFactor, 7);
        let account = account();
        // The second factor meets the requirement: the session.
        let waiting = interaction(Step::SecondFactor(pending(vec![pwd(NOW - 5)])));
        let decision =
            decide(&waiting, Event::FactorProved(app(NOW)), &facts(two_needed(&waiting), None, Some(&account)), NOW);
        assert_eq!(decision, Decision::MakeSession(pending(vec![pwd(NOW - 5), app(NOW)])));
        // Enrolment ends the same way, and what was being enrolled is done.
        let mut enrolling = pending(vec![pwd(NOW - 5)]);
        enrolling.enrolling = Some("factor".into());
        let at_enrol = interaction(Step::Enrol(enrolling));
        let decision =
            decide(&at_enrol, Event::FactorProved(app(NOW)), &facts(two_needed(&at_enrol), None, Some(&account)), NOW);
        assert_eq!(decision, Decision::MakeSession(pending(vec![pwd(NOW - 5), app(NOW)])));
        // A password changed while the sign-in waited (a reset): it cannot go on.
        let reset = AccountFacts { password: "fingerprint-2".into(), ..account.clone() };
        let decision =
            decide(&waiting, Event::FactorProved(app(NOW)), &facts(two_needed(&waiting), None, Some(&reset)), NOW);
        assert_eq!(decision, Decision::Expired);
        // Nor when the account was disabled meanwhile, or is another one.
        let disabled = AccountFacts { disabled: true, ..account.clone() };
        let other = AccountFacts { id: AccountId("other".into()), ..account.clone() };
        for who in [&disabled, &other] {
            let decision =
                decide(&waiting, Event::FactorProved(app(NOW)), &facts(two_needed(&waiting), None, Some(who)), NOW);
            assert_eq!(decision, Decision::Expired);
        }
        // A factor at the password step is not taken.
        let at_password = interaction(Step::Password { after_change: false });
        let decision = decide(
            &at_password,
            Event::FactorProved(app(NOW)),
            &facts(two_needed(&at_password), None, Some(&account)),
            NOW,
        );
        assert_eq!(decision, Decision::Expired);
    }

    #[test]
    fn forced_steps_lead_back_to_the_password() {
        let account = AccountFacts { owes_secret_question: true, ..account() };
        let changing = at(Step::ChangePassword { account: account.id.clone() }, request("", None, None, "openid"));
        let g = governing(&changing, Level::Password, 7);
        assert_eq!(
            decide(&changing, Event::PasswordChosen, &facts(g, None, Some(&account)), NOW),
            Decision::Ask(Step::SecretQuestion { account: account.id.clone() })
        );
        let no_question = AccountFacts { owes_secret_question: false, ..account.clone() };
        assert_eq!(
            decide(&changing, Event::PasswordChosen, &facts(g, None, Some(&no_question)), NOW),
            Decision::Ask(Step::Password { after_change: true })
        );
        let asking = at(Step::SecretQuestion { account: account.id.clone() }, request("", None, None, "openid"));
        assert_eq!(
            decide(&asking, Event::QuestionSet, &facts(g, None, Some(&account)), NOW),
            Decision::Ask(Step::Password { after_change: true })
        );
        let other = AccountFacts { id: AccountId("other".into()), ..account.clone() };
        assert_eq!(decide(&asking, Event::QuestionSet, &facts(g, None, Some(&other)), NOW), Decision::Expired);
    }

    #[test]
    fn after_the_session_is_made() {
        let account = account();
        let made = session(0, vec![pwd(NOW), app(NOW)]);
        // prompt=login is satisfied by the sign-in just made.
        let login = at(Step::SecondFactor(pending(vec![])), request("login", Some(0), None, "openid"));
        let g = governing(&login, Level::TwoFactor, 7);
        assert_eq!(decide(&login, Event::SessionMade, &facts(g, Some(&made), Some(&account)), NOW), Decision::Finish);
        // prompt=consent: ask, then the answer decides.
        let consent = at(Step::SecondFactor(pending(vec![])), request("consent", None, None, "openid"));
        let g = governing(&consent, Level::Password, 7);
        assert_eq!(
            decide(&consent, Event::SessionMade, &facts(g, Some(&made), Some(&account)), NOW),
            Decision::Ask(Step::Consent)
        );
        let mut asked = at(Step::Consent, request("consent", None, None, "openid"));
        asked.signed_in = Some(made.id.clone());
        assert_eq!(decide(&asked, Event::Consent(false), &facts(g, Some(&made), Some(&account)), NOW), Decision::Deny);
        assert_eq!(decide(&asked, Event::Consent(true), &facts(g, Some(&made), Some(&account)), NOW), Decision::Finish);
        // A session other than the one made here (someone else signed in on this browser since)
        // does not carry the fresh sign-in that prompt=login asked.
        let mut login_consent = at(Step::Consent, request("login consent", None, None, "openid"));
        login_consent.signed_in = Some(SessionId("made-here".into()));
        assert!(asks_password(&decide(
            &login_consent,
            Event::Consent(true),
            &facts(g, Some(&made), Some(&account)),
            NOW
        )));
        login_consent.signed_in = Some(made.id.clone());
        assert_eq!(
            decide(&login_consent, Event::Consent(true), &facts(g, Some(&made), Some(&account)), NOW),
            Decision::Finish
        );
        // Consent is only taken at the consent step.
        let elsewhere = at(Step::Password { after_change: false }, request("consent", None, None, "openid"));
        assert_eq!(
            decide(&elsewhere, Event::Consent(true), &facts(g, Some(&made), Some(&account)), NOW),
            Decision::Expired
        );
    }

    #[test]
    fn own_pages() {
        let own = |how| {
            Interaction::new(
                Purpose::OwnPage(OwnPage {
                    return_to: LocalPath::parse("/account").unwrap(),
                    how,
                    locale: "nl".into(),
                }),
                "binding",
                Step::Password { after_change: false },
            )
        };
        let account = account();
        let recent = session(100, vec![pwd(NOW - 100), app(NOW - 100)]);
        // A fresh factor: the session's second factor does not count, its password does.
        let factor = own(Fresh::Factor);
        let g = governing(&factor, Level::Password, 7);
        let decision = decide(&factor, Event::Arrived, &facts(g, Some(&recent), Some(&account)), NOW);
        assert_eq!(
            decision,
            Decision::Ask(Step::SecondFactor(Pending { auth_time: NOW - 100, ..pending(vec![pwd(NOW - 100)]) }))
        );
        // The password again: even with a session.
        let again = own(Fresh::Again(None));
        let g = governing(&again, Level::Password, 7);
        assert!(asks_password(&decide(&again, Event::Arrived, &facts(g, Some(&recent), Some(&account)), NOW)));
        // Both end by going back to the page once the session is made.
        let made = session(0, vec![pwd(NOW), app(NOW)]);
        assert_eq!(decide(&again, Event::SessionMade, &facts(g, Some(&made), Some(&account)), NOW), Decision::Finish);
        assert_eq!(Requirement::default().level(), Level::Password);
    }

    fn chosen_by(account: &str) -> super::super::interaction::Chosen {
        super::super::interaction::Chosen {
            by: AccountId(account.into()),
            party: crate::domain::Party::CareClient(crate::domain::CareClientId("c".into())),
        }
    }

    #[test]
    fn whose_portal_is_asked_only_when_there_is_a_choice() {
        let made = session(0, vec![pwd(NOW)]);
        let with = |interaction: &Interaction, choices: Option<usize>| {
            let g = governing(interaction, Level::Password, 7);
            let facts = Facts { choices, ..facts(g, Some(&made), None) };
            decide(interaction, Event::Arrived, &facts, NOW)
        };
        let plain = at(Step::Password { after_change: false }, request("", None, None, "openid"));
        // The choices are read only once the session suffices, and only for a portal.
        assert_eq!(with(&plain, None), Decision::NeedChoices);
        assert_eq!(with(&plain, Some(1)), Decision::Finish, "one choice: no question");
        assert_eq!(with(&plain, Some(2)), Decision::Ask(Step::ActingFor));
        let select = at(Step::Password { after_change: false }, request("select_account", None, None, "openid"));
        assert_eq!(with(&select, Some(1)), Decision::Ask(Step::ActingFor), "prompt=select_account asks anyway");
        let none = at(Step::Password { after_change: false }, request("none", None, None, "openid"));
        assert_eq!(with(&none, Some(2)), Decision::Fail(ErrorCode::AccountSelectionRequired));
        let mut named = plain.clone();
        named.acting_for = Some(chosen_by("acc"));
        assert_eq!(with(&named, None), Decision::Finish, "settled (chosen or named): nothing to read or ask");
        // Settled by someone else (another person signed in on this browser meanwhile): ask again.
        named.acting_for = Some(chosen_by("someone-else"));
        assert_eq!(with(&named, Some(2)), Decision::Ask(Step::ActingFor));
        let mut refused = plain.clone();
        refused.named_refused = true;
        assert_eq!(with(&refused, Some(1)), Decision::Ask(Step::ActingFor), "a wrong name: the person chooses");
        // A session too weak for the portal steps up first; the question comes after.
        let g = governing(&plain, Level::TwoFactor, 7);
        let account = account();
        let weak = Facts { choices: Some(2), ..facts(g, Some(&made), Some(&account)) };
        assert!(asks_second(&decide(&plain, Event::Arrived, &weak, NOW)));
    }

    #[test]
    fn a_choice_leads_on_to_consent_or_the_code() {
        let made = session(0, vec![pwd(NOW)]);
        let chosen = |prompt: &str| {
            let mut i = at(Step::ActingFor, request(prompt, None, None, "openid"));
            i.signed_in = Some(made.id.clone());
            i.acting_for = Some(chosen_by("acc"));
            i
        };
        let g = governing(&chosen(""), Level::Password, 7);
        let f = Facts { choices: Some(2), ..facts(g, Some(&made), None) };
        assert_eq!(decide(&chosen(""), Event::Chose, &f, NOW), Decision::Finish);
        assert_eq!(decide(&chosen("consent"), Event::Chose, &f, NOW), Decision::Ask(Step::Consent));
        // No choice recorded, or not at this step: start again.
        let unchosen = at(Step::ActingFor, request("", None, None, "openid"));
        assert_eq!(decide(&unchosen, Event::Chose, &f, NOW), Decision::Expired);
        let mut elsewhere = chosen("");
        elsewhere.step = Step::Consent;
        assert_eq!(decide(&elsewhere, Event::Chose, &f, NOW), Decision::Expired);
        // Own pages never ask.
        let own = Interaction::new(
            Purpose::OwnPage(OwnPage {
                return_to: LocalPath::parse("/account").unwrap(),
                how: Fresh::First,
                locale: "nl".into(),
            }),
            "binding",
            Step::Password { after_change: false },
        );
        let g = governing(&own, Level::Password, 7);
        let f = Facts { choices: None, ..facts(g, Some(&made), None) };
        assert_eq!(decide(&own, Event::SessionMade, &f, NOW), Decision::Finish);
    }
}
