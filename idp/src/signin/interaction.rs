//! The state of one sign-in while the person types: what it is for, which step it is at, and
//! what has been proved so far. Kept in the key-value store under `kv::keys::interaction`,
//! bound to the browser that started it.

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::levels::{self, FactorUse, Level};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::{AccountId, ClientId, Party, Scopes, SessionId};
use crate::kv::{keys, KvError};
use crate::oidc::authorize::{AuthorizationRequest, Prompt};
use crate::store::Account;

/// A sign-in in progress. `binding` ties it to the browser that started it (login CSRF),
/// `csrf` to its forms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    pub purpose: Purpose,
    pub csrf: String,
    pub binding: String,
    /// The session made during this interaction, once the person signed in: it (and only it)
    /// satisfies `prompt=login` and `max_age` at the steps after (consent).
    pub signed_in: Option<SessionId>,
    pub step: Step,
    /// Whose portal the code will open, once settled: chosen at the `ActingFor` step, or named by
    /// the request (`acting_for`). Holds only for the account that chose (see [`Interaction::chosen`]).
    #[serde(default)]
    pub acting_for: Option<Chosen>,
    /// The request named a client this account may not act for: the person chooses instead, and
    /// the page says why.
    #[serde(default)]
    pub named_refused: bool,
}

/// A settled answer to "Namens wie wilt u inloggen?".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Chosen {
    /// The account whose session chose: another person signing in on this browser meanwhile
    /// is asked again.
    pub by: AccountId,
    /// Whose portal: a care client, or `Party::Account` of `by` itself (its own, without a record).
    pub party: Party,
}

/// What the sign-in is for, and so how it ends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Purpose {
    /// A portal's authorization request: ends with a code for the portal.
    Portal(Box<AuthorizationRequest>),
    /// One of the IdP's own pages (the account page): ends by going back there.
    OwnPage(OwnPage),
}

/// A sign-in for one of the IdP's own pages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OwnPage {
    pub return_to: LocalPath,
    pub how: Fresh,
    /// The page's language (`nl` or `en`).
    pub locale: String,
}

/// How fresh a sign-in an own page asks for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Fresh {
    /// A first sign-in (there is no session).
    First,
    /// The password again (and the factor the level asks), even with a session.
    Again(Option<Level>),
    /// Keep the session's recent password; prove a fresh second factor.
    Factor,
}

/// A path on this server (`/account`): never another origin, so going back is no open redirect.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String", into = "String")]
pub struct LocalPath(String);

impl LocalPath {
    pub fn parse(path: &str) -> Option<Self> {
        // No control characters or white space either: browsers drop tabs and line breaks from
        // a URL, which would turn `/\t/evil.example` into `//evil.example`.
        let local = path.starts_with('/')
            && !path.starts_with("//")
            && !path.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace());
        local.then(|| LocalPath(path.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LocalPath {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        LocalPath::parse(&value).ok_or("not a local path")
    }
}

impl From<LocalPath> for String {
    fn from(path: LocalPath) -> String {
        path.0
    }
}

/// Where a sign-in stands: the page the person sees next.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Username and password. `after_change`: the person just chose a new password (or secret
    /// question) and signs in with it ("Log in om verder te gaan").
    Password { after_change: bool },
    /// A temporary password was proved: choose your own first (journey B).
    ChangePassword { account: AccountId },
    /// The organisation asks a secret question that the account has not set yet.
    SecretQuestion { account: AccountId },
    /// Some factors are proved and the request asks more: choose and enter a second factor.
    SecondFactor(Pending),
    /// Two factors are required and the account has none yet: enrol an authenticator app
    /// (journey A).
    Enrol(Pending),
    /// "Namens wie wilt u inloggen?": the person chooses whose portal to open, their own or a
    /// client's they represent (docs/representation.md).
    ActingFor,
    /// The person confirms what the portal may see.
    Consent,
}

impl Step {
    /// The page that shows this step.
    pub fn page(&self) -> &'static str {
        match self {
            Step::Password { .. } => "/login",
            Step::ChangePassword { .. } => "/wachtwoord-wijzigen",
            Step::SecretQuestion { .. } => "/geheime-vraag",
            Step::SecondFactor(_) => "/tweede-stap",
            Step::Enrol(_) => "/tweede-stap/app",
            Step::ActingFor => "/namens",
            Step::Consent => "/consent",
        }
    }

    /// Where the browser goes to show this step of interaction `id`.
    pub fn location(&self, id: &str) -> String {
        match self {
            // The page says "Log in om verder te gaan" (and the address shows why).
            Step::Password { after_change: true } => format!("/login?interaction={id}&changed=1"),
            _ => format!("{}?interaction={id}", self.page()),
        }
    }

    /// The sign-in waiting for more factors, at the steps that have one.
    pub fn pending(&self) -> Option<&Pending> {
        match self {
            Step::SecondFactor(p) | Step::Enrol(p) => Some(p),
            _ => None,
        }
    }
}

/// Someone who proved some factors and must prove more before the session is made (or, for a
/// step-up, before the session is replaced by a stronger one).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    pub account: AccountId,
    pub auth_time: UnixTime,
    pub factors: Vec<FactorUse>,
    /// The authenticator app being enrolled during this sign-in (journey A).
    #[serde(default)]
    pub enrolling: Option<String>,
    /// A fingerprint of the password hash that was proved: when the password changes (a reset,
    /// an operator's reset) while this sign-in waits, it cannot go on.
    pub password: String,
}

/// The fingerprint of an account's current password (a digest of its Argon2id hash).
pub fn password_fingerprint(account: &Account) -> String {
    account.password_hash.as_ref().map(|h| crypto::token_digest(h.expose())).unwrap_or_default()
}

/// What a sign-in is asked to prove, whatever it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demands<'a> {
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// The level asked by `acr_values` (portals) or by the own page.
    pub level: Option<Level>,
    /// The requested scopes (their levels count too); none for own pages.
    pub scope: Option<&'a Scopes>,
}

impl Interaction {
    pub fn new(purpose: Purpose, binding: &str, step: Step) -> Self {
        Interaction {
            purpose,
            csrf: crypto::random_token(32),
            binding: crypto::token_digest(binding),
            signed_in: None,
            step,
            acting_for: None,
            named_refused: false,
        }
    }

    /// Whose portal `account` chose (or the request named) in this sign-in, if it did.
    pub fn chosen(&self, account: &AccountId) -> Option<&Party> {
        self.acting_for.as_ref().filter(|c| &c.by == account).map(|c| &c.party)
    }

    /// The portal the sign-in is for; `None` for own pages.
    pub fn portal(&self) -> Option<&ClientId> {
        match &self.purpose {
            Purpose::Portal(request) => Some(&request.client_id),
            Purpose::OwnPage(_) => None,
        }
    }

    pub fn request(&self) -> Option<&AuthorizationRequest> {
        match &self.purpose {
            Purpose::Portal(request) => Some(request),
            Purpose::OwnPage(_) => None,
        }
    }

    pub fn is_own_page(&self) -> bool {
        matches!(self.purpose, Purpose::OwnPage(_))
    }

    /// The languages asked for (`ui_locales`, or the own page's language).
    pub fn ui_locales(&self) -> Option<&str> {
        match &self.purpose {
            Purpose::Portal(request) => request.ui_locales.as_deref(),
            Purpose::OwnPage(own) => Some(&own.locale),
        }
    }

    /// The username the portal suggested (`login_hint`).
    pub fn login_hint(&self) -> Option<&str> {
        self.request().and_then(|r| r.login_hint.as_deref())
    }

    pub fn demands(&self) -> Demands<'_> {
        match &self.purpose {
            Purpose::Portal(request) => Demands {
                prompt: request.prompt,
                max_age: request.max_age,
                level: levels::from_acr_values(request.acr_values.as_deref()),
                scope: Some(&request.scope),
            },
            Purpose::OwnPage(own) => {
                let (login, level) = match own.how {
                    Fresh::First => (false, None),
                    Fresh::Again(level) => (true, level),
                    Fresh::Factor => (false, Some(Level::TwoFactor)),
                };
                Demands { prompt: Prompt { login, ..Prompt::default() }, max_age: None, level, scope: None }
            }
        }
    }
}

/// Keeps a new interaction and returns its id.
pub async fn keep(state: &AppState, interaction: &Interaction) -> Result<String, KvError> {
    let id = crypto::random_token(16);
    restore(state, &id, interaction).await?;
    Ok(id)
}

/// Keeps the interaction at its new state; false when it was finished meanwhile (a concurrent
/// request took it): it does not come back.
pub async fn save(state: &AppState, id: &str, interaction: &Interaction) -> Result<bool, KvError> {
    let json = serde_json::to_string(interaction).expect("an interaction serialises");
    state.kv.replace(&keys::interaction(id), &json, state.config.session.interaction_ttl_secs).await
}

/// Keeps an interaction this request holds (it took it, see [`finish`]) under its id again.
pub async fn restore(state: &AppState, id: &str, interaction: &Interaction) -> Result<(), KvError> {
    let json = serde_json::to_string(interaction).expect("an interaction serialises");
    state.kv.put(&keys::interaction(id), &json, state.config.session.interaction_ttl_secs).await
}

/// The interaction `id`, if it exists. An interaction kept by an older version that no longer
/// reads is treated as expired: the person starts again.
pub async fn load(state: &AppState, id: &str) -> Result<Option<Interaction>, KvError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let Some(json) = state.kv.get(&keys::interaction(id)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&json).ok())
}

/// Ends the interaction: true for the one caller that ended it (single use under concurrency).
pub async fn finish(state: &AppState, id: &str) -> Result<bool, KvError> {
    Ok(state.kv.take(&keys::interaction(id)).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_return_targets() {
        assert!(LocalPath::parse("/account").is_some());
        assert!(LocalPath::parse("/account/activiteit?x=1").is_some());
        for bad in [
            "//evil.example",
            "https://evil.example",
            "",
            "account",
            "/\\evil",
            "/a\r\nSet-Cookie: x",
            "/\t/evil.example",
        ] {
            assert!(LocalPath::parse(bad).is_none(), "{bad:?}");
        }
        assert!(serde_json::from_str::<LocalPath>("\"//evil.example\"").is_err(), "checked when read back too");
    }
}
