//! Administrative use cases, shared by `idp-admin` and the tests: organisations, clients,
//! accounts and key rotation. Each validates its input fully before writing anything, and
//! bumps the change generation so running servers reload their caches.

use crate::clock::UnixTime;
use crate::config::Config;
use crate::crypto;
use crate::domain::{
    AccountId, BirthDate, ClientId, Email, OrganisationId, RedirectUri, Scopes, Secret, Subject, Username,
};
use crate::oidc::claims::SUPPORTED_SCOPES;
use crate::oidc::client_auth;
use crate::oidc::keys::{self, KeyError};
use crate::store::{
    Account, ActivationMethod, Cached, Client, ClientKind, GrantType, Organisation, OrganisationPolicy, PkcePolicy,
    SigningAlg, SigningKey, Store, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Input that cannot be used; the text names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => AdminError::Conflict(what),
            other => AdminError::Store(other),
        }
    }
}

fn invalid(message: impl Into<String>) -> AdminError {
    AdminError::Invalid(message.into())
}

pub async fn create_organisation(
    store: &dyn Store,
    slug: &str,
    name: &str,
    now: UnixTime,
) -> Result<Organisation, AdminError> {
    let slug = slug.trim().to_ascii_lowercase();
    if slug.is_empty() || slug.len() > 40 || !slug.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(invalid("--slug: use 1-40 letters, digits or dashes"));
    }
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(invalid("--name: must be 1-200 characters"));
    }
    let org =
        Organisation { id: OrganisationId(crypto::random_token(12)), slug, name: name.to_string(), created_at: now };
    store.create_organisation(&org).await?;
    Ok(org)
}

/// What an operator asks for when registering a client.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub organisation: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub kind: ClientKind,
    /// A machine client uses client credentials only (no people sign in through it).
    pub machine: bool,
    pub scopes: String,
    pub id_token_alg: SigningAlg,
    /// Whether authorization requests must carry PKCE; `Required` unless a portal cannot yet.
    pub pkce: PkcePolicy,
}

/// A registered client and, for confidential clients, the secret — shown this once only.
#[derive(Debug)]
pub struct CreatedClient {
    pub client: Client,
    pub secret: Option<Secret<String>>,
}

pub async fn create_client(store: &dyn Store, new: NewClient, now: UnixTime) -> Result<CreatedClient, AdminError> {
    let org = store
        .organisation_by_slug(&new.organisation.to_ascii_lowercase())
        .await?
        .ok_or_else(|| invalid(format!("--org: no organisation {:?}", new.organisation)))?;
    let name = new.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(invalid("--name: must be 1-200 characters"));
    }
    let parse_all = |uris: &[String], flag: &str| -> Result<Vec<RedirectUri>, AdminError> {
        uris.iter().map(|u| RedirectUri::parse(u).map_err(|e| invalid(format!("{flag} {u}: {e}")))).collect()
    };
    let redirect_uris = parse_all(&new.redirect_uris, "--redirect-uri")?;
    let post_logout_redirect_uris = parse_all(&new.post_logout_redirect_uris, "--post-logout-uri")?;
    let scopes = Scopes::parse(&new.scopes).ok_or_else(|| invalid("--scopes: not a valid scope list"))?;
    if let Some(unknown) = scopes.iter().find(|s| !SUPPORTED_SCOPES.contains(s)) {
        return Err(invalid(format!("--scopes: unknown scope {unknown} (known: {})", SUPPORTED_SCOPES.join(" "))));
    }
    check_pkce(new.kind, new.pkce)?;
    let grant_types = if new.machine {
        if new.kind == ClientKind::Public {
            return Err(invalid("--machine: a machine client must be confidential"));
        }
        if !redirect_uris.is_empty() {
            return Err(invalid("--redirect-uri: a machine client has no redirect URIs"));
        }
        vec![GrantType::ClientCredentials]
    } else {
        if redirect_uris.is_empty() {
            return Err(invalid("--redirect-uri: at least one is required"));
        }
        if !scopes.contains("openid") {
            return Err(invalid("--scopes: a portal needs the openid scope"));
        }
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    };
    let (secret, digest) = match new.kind {
        ClientKind::Confidential => {
            let (secret, digest) = client_auth::new_secret();
            (Some(Secret::new(secret)), Some(Secret::new(digest)))
        }
        ClientKind::Public => (None, None),
    };
    let client = Client {
        id: ClientId(crypto::random_token(16)),
        organisation_id: org.id,
        name: name.to_string(),
        kind: new.kind,
        secret_digest: digest,
        redirect_uris,
        post_logout_redirect_uris,
        scopes,
        grant_types,
        id_token_alg: new.id_token_alg,
        pkce: new.pkce,
        created_at: now,
    };
    store.create_client(&client).await?;
    store.bump_generation(Cached::Clients).await?;
    Ok(CreatedClient { client, secret })
}

/// A public client cannot keep a secret: PKCE is its only proof that it redeems its own code.
fn check_pkce(kind: ClientKind, pkce: PkcePolicy) -> Result<(), AdminError> {
    if kind == ClientKind::Public && pkce == PkcePolicy::Optional {
        return Err(invalid("--pkce: a public client always requires PKCE"));
    }
    Ok(())
}

/// Changes whether a registered client must send PKCE (RFC 9700 §2.1.1). Running servers pick
/// the change up with the other client changes; requests already at the sign-in page are
/// checked again when their code is redeemed.
pub async fn set_client_pkce(store: &dyn Store, client_id: &str, pkce: PkcePolicy) -> Result<Client, AdminError> {
    let id = ClientId(client_id.to_string());
    let client = store.client_by_id(&id).await?.ok_or_else(|| invalid(format!("no client {client_id:?}")))?;
    check_pkce(client.kind, pkce)?;
    store.set_client_pkce(&id, pkce).await?;
    store.bump_generation(Cached::Clients).await?;
    Ok(Client { pkce, ..client })
}

/// What an operator gives for a new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<String>,
    /// `None` creates an account that cannot sign in until it is activated.
    pub password: Option<Secret<String>>,
    /// The password is temporary: the first sign-in asks for a new one.
    pub temporary_password: bool,
}

/// The foundation's password rule; organisation policies (length, classes, blocklist) refine it.
pub fn check_password(password: &str) -> Result<(), AdminError> {
    let length = password.chars().count();
    if length < 8 {
        return Err(invalid("password: must be at least 8 characters"));
    }
    if length > 1024 {
        return Err(invalid("password: must be at most 1024 characters"));
    }
    Ok(())
}

pub async fn create_user(store: &dyn Store, new: NewUser, now: UnixTime) -> Result<Account, AdminError> {
    let username = Username::parse(&new.username).map_err(|e| invalid(format!("--username: {e}")))?;
    let email = match &new.email {
        Some(e) => Some(Email::parse(e).ok_or_else(|| invalid(format!("--email {e}: not an e-mail address")))?),
        None => None,
    };
    let birth_date = match &new.birth_date {
        Some(d) => Some(
            BirthDate::parse(d).ok_or_else(|| invalid(format!("--birth-date {d}: use JJJJ-MM-DD or DD-MM-JJJJ")))?,
        ),
        None => None,
    };
    for (flag, value) in [("--given-name", &new.given_name), ("--family-name", &new.family_name)] {
        if value.trim().is_empty() || value.len() > 200 {
            return Err(invalid(format!("{flag}: must be 1-200 characters")));
        }
    }
    let password_hash = match new.password {
        Some(password) => {
            check_password(password.expose())?;
            Some(crate::auth::password::hash(password).await.map_err(|e| invalid(e.to_string()))?)
        }
        None => None,
    };
    let account = Account {
        id: AccountId(uuid::Uuid::new_v4().to_string()),
        subject: Subject(crypto::random_token(16)),
        username: username.display().to_string(),
        username_normalised: username.normalised().to_string(),
        username_skeleton: username.skeleton().to_string(),
        email: email.map(|e| e.as_str().to_string()),
        email_verified: false,
        given_name: new.given_name.trim().to_string(),
        family_name: new.family_name.trim().to_string(),
        birth_date: birth_date.map(|d| d.iso()),
        password_hash,
        created_at: now,
        disabled: false,
        must_change_password: new.temporary_password,
        password_via_mail: false,
    };
    match store.create_account(&account).await {
        Ok(()) => Ok(account),
        Err(StoreError::Conflict(crate::store::USERNAME_LOOKALIKE)) => {
            Err(invalid("--username: looks too much like an existing username; choose another"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Rotates the signing keys (see `oidc::keys` for the timing) and tells running servers.
pub async fn rotate_keys(store: &dyn Store, config: &Config, now: UnixTime) -> Result<Vec<SigningKey>, AdminError> {
    let created = keys::rotate(store, now, config.keys.publish_delay_secs, config.max_signed_token_ttl()).await?;
    store.bump_generation(Cached::Keys).await?;
    Ok(created)
}

/// Changes to an organisation's policy; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    pub activation_method: Option<String>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub require_upper: Option<bool>,
    pub require_lower: Option<bool>,
    pub require_digit: Option<bool>,
    /// `Some("")` removes the special-character rule.
    pub required_specials: Option<String>,
    pub blocklist: Option<bool>,
    pub forbid_personal_data: Option<bool>,
    pub secret_question: Option<bool>,
    pub mail_from_name: Option<String>,
    pub mail_from_address: Option<String>,
    pub portal_url: Option<String>,
    pub invitation_days: Option<i64>,
    /// `password`, `two-factor` or `phishing-resistant`.
    pub min_level: Option<String>,
    pub mailed_token: Option<bool>,
    /// 0 turns "trust this computer" off.
    pub trusted_device_days: Option<i64>,
}

/// Applies a policy change after checking the whole resulting policy.
pub async fn set_policy(
    store: &dyn Store,
    slug: &str,
    change: PolicyChange,
    now: UnixTime,
) -> Result<OrganisationPolicy, AdminError> {
    let org = store
        .organisation_by_slug(&slug.to_ascii_lowercase())
        .await?
        .ok_or_else(|| invalid(format!("--org: no organisation {slug:?}")))?;
    let mut policy = store.policy(&org.id).await?.unwrap_or_else(|| OrganisationPolicy::default_for(org.id.clone()));
    if let Some(method) = change.activation_method {
        policy.activation_method = ActivationMethod::parse(&method)
            .ok_or_else(|| invalid("--activation: use invite-code or link-birthdate-temporary-password"))?;
    }
    let rules = &mut policy.password_rules;
    if let Some(v) = change.min_length {
        rules.min_length = v;
    }
    if let Some(v) = change.max_length {
        rules.max_length = v;
    }
    if let Some(v) = change.require_upper {
        rules.require_upper = v;
    }
    if let Some(v) = change.require_lower {
        rules.require_lower = v;
    }
    if let Some(v) = change.require_digit {
        rules.require_digit = v;
    }
    if let Some(v) = change.required_specials {
        rules.required_specials = Some(v).filter(|s| !s.is_empty());
    }
    if let Some(v) = change.blocklist {
        rules.blocklist = v;
    }
    if let Some(v) = change.forbid_personal_data {
        rules.forbid_personal_data = v;
    }
    rules.validate().map_err(|e| invalid(format!("password rules: {e}")))?;
    if let Some(v) = change.secret_question {
        policy.secret_question = v;
    }
    if let Some(name) = change.mail_from_name {
        policy.mail_from_name = Some(name.trim().to_string()).filter(|n| !n.is_empty());
    }
    if let Some(address) = change.mail_from_address {
        if Email::parse(&address).is_none() {
            return Err(invalid(format!("--mail-from-address {address}: not an e-mail address")));
        }
        policy.mail_from_address = Some(address);
    }
    if let Some(url) = change.portal_url {
        let parsed = url::Url::parse(&url).map_err(|_| invalid(format!("--portal-url {url}: not an absolute URL")))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(invalid(format!("--portal-url {url}: must be http(s)")));
        }
        policy.portal_url = Some(url);
    }
    if let Some(days) = change.invitation_days {
        if !(1..=90).contains(&days) {
            return Err(invalid("--invitation-days: between 1 and 90"));
        }
        policy.invitation_ttl_secs = days * 86_400;
    }
    if let Some(level) = change.min_level {
        policy.min_level = crate::auth::levels::Level::parse(&level)
            .ok_or_else(|| invalid("--min-level: use password, two-factor or phishing-resistant"))?;
    }
    if let Some(v) = change.mailed_token {
        policy.mailed_token = v;
    }
    if let Some(days) = change.trusted_device_days {
        if !(0..=90).contains(&days) {
            return Err(invalid("--trusted-device-days: between 0 and 90"));
        }
        policy.trusted_device_days = days;
    }
    policy.updated_at = now;
    store.set_policy(&policy).await?;
    Ok(policy)
}

/// An account's factors, for the operator who helps someone (`idp-admin user factors`).
pub async fn factors_of(store: &dyn Store, username: &str) -> Result<(Account, Vec<crate::store::Factor>), AdminError> {
    let account = account_named(store, username).await?;
    let factors = store.factors(&account.id).await?.into_iter().filter(|f| f.confirmed_at.is_some()).collect();
    Ok((account, factors))
}

async fn account_named(store: &dyn Store, username: &str) -> Result<Account, AdminError> {
    store
        .account_by_username(&crate::domain::Username::normalise(username))
        .await?
        .ok_or_else(|| invalid(format!("--username: no account {username:?}")))
}

#[derive(serde::Serialize)]
struct ResetMail<'a> {
    given_name: &'a str,
    username: &'a str,
    link: String,
    temporary: bool,
}

/// Removes every second factor of an account after the organisation has checked who is asking
/// (a lost phone, or locked out after a password reset by mail): factors, recovery codes and
/// trusted devices go, sessions end, and the person is mailed. The next sign-in to a portal that
/// needs two factors enrols a new authenticator app.
///
/// When someone else may know the password (it was reset by mail, perhaps not by the person),
/// pass `temporary_password`: the organisation hands it over (by phone, by letter), the old
/// password stops working, and the person chooses their own at the next sign-in.
pub async fn reset_factors(
    deps: crate::activation::Deps<'_>,
    by: crate::audit::Actor,
    mailing: crate::activation::Mailing<'_>,
    username: &str,
    temporary_password: Option<Secret<String>>,
    now: UnixTime,
) -> Result<Account, AdminError> {
    let crate::activation::Deps { store, audit } = deps;
    let crate::activation::Mailing { templates, config, issuer } = mailing;
    let account = account_named(store, username).await?;
    let temporary = match temporary_password {
        Some(password) => {
            check_password(password.expose())?;
            Some(crate::auth::password::hash(password).await.map_err(|e| invalid(e.to_string()))?)
        }
        None => None,
    };
    let context = ResetMail {
        given_name: &account.given_name,
        username: &account.username,
        link: format!("{issuer}/account"),
        temporary: temporary.is_some(),
    };
    let rendered = templates
        .render("factors-reset", crate::ui::Locale::Nl, &context)
        .map_err(|e| invalid(format!("mail template: {e}")))?;
    let notice = crate::mail::for_account(store, &config.mail, &account, rendered, now).await?;
    let mut tx = store.begin().await?;
    tx.reset_factors(&account.id, temporary.as_ref(), now).await?;
    // The operator acts at the person's request by phone or at the desk, but the person did not
    // make this change themself (NEN 7513 / FHIR `requestor`).
    let by = crate::audit::Actor { is_requester: false, ..by };
    let event = crate::audit::Event::new(crate::audit::EventType::FactorsReset, by)
        .acting_for(account.id.as_str())
        .object("account", account.id.as_str())
        .detail("temporary_password", temporary.is_some());
    audit.commit(tx, Some(&notice), &event, now).await?;
    Ok(account)
}
