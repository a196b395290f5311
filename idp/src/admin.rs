//! Administrative use cases, shared by `idp-admin` and the tests: organisations, clients,
//! accounts, policies, key rotation and an operator's reset of someone's factors.
//!
//! Each validates its input fully before writing anything, then makes its writes in one
//! transaction together with the bump of the change generation (so running servers reload their
//! caches) and its `admin.command` audit record naming the operator, the object changed and the
//! command: if the record cannot be written, nothing changes. A refused command (bad input, a
//! conflict, a failing database) changes nothing and is recorded as a failed `admin.command` in
//! a transaction of its own, like a refused sign-in (docs/audit.md).

use crate::audit::retention::{self, Pruned};
use crate::audit::{Actor, Auditor, Event, EventType};
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
    /// The command was refused, and the audit record of that could not be written either.
    #[error("{error} (and its audit record could not be written: {audit})")]
    Unrecorded { error: Box<AdminError>, audit: StoreError },
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => AdminError::Conflict(what),
            other => AdminError::Store(other),
        }
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> AdminError {
    AdminError::Invalid(message.into())
}

// The commands as `idp-admin` names them, for their records (`detail.command`).
pub const ORG_CREATE: &str = "org create";
pub const ORG_POLICY: &str = "org policy";
pub const CLIENT_CREATE: &str = "client create";
pub const CLIENT_UPDATE: &str = "client update";
pub const USER_CREATE: &str = "user create";
pub const USER_RESET_FACTORS: &str = "user reset-factors";
pub const KEYS_ROTATE: &str = "keys rotate";
pub const INVITE: &str = "invite";
pub const AUDIT_PRUNE: &str = "audit prune";

/// What the administrative use cases work with: storage, the audit log, and the operator they
/// act for (the actor of their records).
#[derive(Clone)]
pub struct Deps<'a> {
    pub store: &'a dyn Store,
    pub audit: &'a Auditor,
    pub by: Actor,
}

/// An error of a refused command, as its audit record and the operator see it.
pub trait Refusal: Sized {
    /// Why, in one word (`invalid`, `conflict`, `error`): never the message, which may repeat
    /// the arguments (a name, an address).
    fn reason(&self) -> &'static str;
    /// This error, with the note that its audit record could not be written.
    fn unrecorded(self, audit: StoreError) -> Self;
}

impl Refusal for AdminError {
    fn reason(&self) -> &'static str {
        match self {
            AdminError::Invalid(_) => "invalid",
            AdminError::Conflict(_) => "conflict",
            AdminError::Store(_) | AdminError::Keys(_) => "error",
            AdminError::Unrecorded { error, .. } => error.reason(),
        }
    }

    fn unrecorded(self, audit: StoreError) -> Self {
        AdminError::Unrecorded { error: Box::new(self), audit }
    }
}

impl Deps<'_> {
    /// The record of `command` (as `idp-admin` names it: `client create`) having changed `object`.
    pub fn command(&self, command: &'static str, object: (&'static str, &str)) -> Event {
        Event::new(EventType::AdminCommand, self.by.clone()).object(object.0, object.1).detail("command", command)
    }

    /// Passes a use case's result on; a refusal is first recorded as a failed `admin.command` in
    /// its own transaction (the use case's own transaction, if it began one, rolled back). Its
    /// object is the command: nothing was changed, and the arguments are not recorded.
    pub async fn refused_recorded<T, E: Refusal>(
        &self,
        command: &'static str,
        result: Result<T, E>,
        now: UnixTime,
    ) -> Result<T, E> {
        let Err(error) = result else { return result };
        let event = Event::new(EventType::AdminCommand, self.by.clone())
            .failed()
            .object("command", command)
            .detail("command", command)
            .detail("reason", error.reason());
        match self.audit.record(self.store, &event, now).await {
            Ok(_) => Err(error),
            Err(audit) => Err(error.unrecorded(audit)),
        }
    }
}

/// `idp-admin org create`: a care organisation.
pub async fn create_organisation(
    deps: &Deps<'_>,
    slug: &str,
    name: &str,
    now: UnixTime,
) -> Result<Organisation, AdminError> {
    let result = async {
        let org = new_organisation(slug, name, now)?;
        let mut tx = deps.store.begin().await?;
        tx.create_organisation(&org).await?;
        let event = deps.command(ORG_CREATE, ("organisation", org.id.as_str())).organisation(org.id.as_str());
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(org)
    }
    .await;
    deps.refused_recorded(ORG_CREATE, result, now).await
}

fn new_organisation(slug: &str, name: &str, now: UnixTime) -> Result<Organisation, AdminError> {
    let slug = slug.trim().to_ascii_lowercase();
    if slug.is_empty() || slug.len() > 40 || !slug.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(invalid("--slug: use 1-40 letters, digits or dashes"));
    }
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(invalid("--name: must be 1-200 characters"));
    }
    Ok(Organisation { id: OrganisationId(crypto::random_token(12)), slug, name: name.to_string(), created_at: now })
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
    /// Where the portal hears that a session ended (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
}

/// A registered client and, for confidential clients, the secret — shown this once only.
#[derive(Debug)]
pub struct CreatedClient {
    pub client: Client,
    pub secret: Option<Secret<String>>,
}

/// `idp-admin client create`: a portal or machine client. The secret is returned this once; only
/// its digest is stored.
pub async fn create_client(deps: &Deps<'_>, new: NewClient, now: UnixTime) -> Result<CreatedClient, AdminError> {
    let result = async {
        let created = new_client(deps.store, new, now).await?;
        let client = &created.client;
        let mut tx = deps.store.begin().await?;
        tx.create_client(client).await?;
        tx.bump_generation(Cached::Clients).await?;
        let event =
            deps.command(CLIENT_CREATE, ("client", client.id.as_str())).organisation(client.organisation_id.as_str());
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(created)
    }
    .await;
    deps.refused_recorded(CLIENT_CREATE, result, now).await
}

async fn new_client(store: &dyn Store, new: NewClient, now: UnixTime) -> Result<CreatedClient, AdminError> {
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
    let backchannel_logout_uri = match &new.backchannel_logout_uri {
        Some(_) if new.machine => return Err(invalid("--backchannel-logout-uri: a machine client has no sessions")),
        Some(uri) => Some(parse_all(std::slice::from_ref(uri), "--backchannel-logout-uri")?.remove(0)),
        None => None,
    };
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
        backchannel_logout_uri,
        created_at: now,
    };
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
/// `idp-admin client update --pkce`.
pub async fn set_client_pkce(
    deps: &Deps<'_>,
    client_id: &str,
    pkce: PkcePolicy,
    now: UnixTime,
) -> Result<Client, AdminError> {
    let result = async {
        let unknown = || invalid(format!("no client {client_id:?}"));
        let id = ClientId(client_id.to_string());
        let client = deps.store.client_by_id(&id).await?.ok_or_else(unknown)?;
        check_pkce(client.kind, pkce)?;
        let mut tx = deps.store.begin().await?;
        // Removed since it was read: nothing to change.
        if !tx.set_client_pkce(&id, pkce).await? {
            return Err(unknown());
        }
        tx.bump_generation(Cached::Clients).await?;
        let event = deps.command(CLIENT_UPDATE, ("client", id.as_str())).organisation(client.organisation_id.as_str());
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(Client { pkce, ..client })
    }
    .await;
    deps.refused_recorded(CLIENT_UPDATE, result, now).await
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

/// `idp-admin user create`. The record names the account as the person acted for: it is their
/// data, and no other record of its making does.
pub async fn create_user(deps: &Deps<'_>, new: NewUser, now: UnixTime) -> Result<Account, AdminError> {
    let result = async {
        let account = new_account(new, now).await?;
        let mut tx = deps.store.begin().await?;
        match tx.create_account(&account).await {
            Ok(()) => {}
            Err(StoreError::Conflict(crate::store::USERNAME_LOOKALIKE)) => {
                return Err(invalid("--username: looks too much like an existing username; choose another"))
            }
            Err(e) => return Err(e.into()),
        }
        let event = deps.command(USER_CREATE, ("account", account.id.as_str())).acting_for(account.id.as_str());
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(account)
    }
    .await;
    deps.refused_recorded(USER_CREATE, result, now).await
}

/// The account an operator asks for, its password hashed (before any transaction begins: hashing
/// takes a while, and SQLite's write lock would be held meanwhile).
async fn new_account(new: NewUser, now: UnixTime) -> Result<Account, AdminError> {
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
    Ok(Account {
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
    })
}

/// `idp-admin keys rotate`: new signing keys (see `oidc::keys` for the timing), and running
/// servers told. The record names the new keys' ids, space-separated.
pub async fn rotate_keys(deps: &Deps<'_>, config: &Config, now: UnixTime) -> Result<Vec<SigningKey>, AdminError> {
    let result = async {
        let stored = deps.store.list_keys().await?;
        let rotation =
            keys::rotation(&stored, now, config.keys.publish_delay_secs, config.max_signed_token_ttl()).await?;
        let mut tx = deps.store.begin().await?;
        rotation.write(tx.as_mut()).await?;
        tx.bump_generation(Cached::Keys).await?;
        let kids: Vec<&str> = rotation.created.iter().map(|k| k.kid.as_str()).collect();
        let event = deps.command(KEYS_ROTATE, ("key", &kids.join(" ")));
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(rotation.created)
    }
    .await;
    deps.refused_recorded(KEYS_ROTATE, result, now).await
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

/// `idp-admin org policy`: applies a policy change after checking the whole resulting policy.
/// The record's object is the policy, by its organisation's id.
pub async fn set_policy(
    deps: &Deps<'_>,
    slug: &str,
    change: PolicyChange,
    now: UnixTime,
) -> Result<OrganisationPolicy, AdminError> {
    let result = async {
        let policy = changed_policy(deps.store, slug, change, now).await?;
        let org = policy.organisation_id.as_str();
        let mut tx = deps.store.begin().await?;
        tx.set_policy(&policy).await?;
        let event = deps.command(ORG_POLICY, ("policy", org)).organisation(org);
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(policy)
    }
    .await;
    deps.refused_recorded(ORG_POLICY, result, now).await
}

async fn changed_policy(
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
    Ok(policy)
}

/// `idp-admin audit prune`: removes whole months of audit records older than `months`
/// (`audit::retention`). The command's record joins the `audit.pruned` record in the transaction
/// of the removal; when nothing is old enough, nothing changes and its object is the command.
pub async fn prune_audit(deps: &Deps<'_>, months: u32, now: UnixTime) -> Result<Pruned, AdminError> {
    let result = async {
        let plan = retention::plan(deps.store, months, now).await?;
        let Some(removed_records) = plan.object_id() else {
            let event = deps.command(AUDIT_PRUNE, ("command", AUDIT_PRUNE));
            deps.audit.record(deps.store, &event, now).await?;
            return Ok(Pruned { cutoff: plan.cutoff, removed: 0 });
        };
        let mut tx = deps.store.begin().await?;
        let removed = plan.apply(tx.as_mut(), deps.audit, deps.by.clone(), now).await?;
        let event = deps.command(AUDIT_PRUNE, ("audit", &removed_records));
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(Pruned { cutoff: plan.cutoff, removed })
    }
    .await;
    deps.refused_recorded(AUDIT_PRUNE, result, now).await
}

/// An account's factors, for the operator who helps someone (`idp-admin user factors`).
pub async fn factors_of(store: &dyn Store, username: &str) -> Result<(Account, Vec<crate::store::Factor>), AdminError> {
    let account = account_named(store, username).await?;
    let factors = store.factors(&account.id).await?.into_iter().filter(|f| f.confirmed_at.is_some()).collect();
    Ok((account, factors))
}

pub(crate) async fn account_named(store: &dyn Store, username: &str) -> Result<Account, AdminError> {
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
///
/// `idp-admin user reset-factors`: besides its `admin.command` record (object: the account), the
/// transaction holds a `factor.reset` record that names the person acted for.
pub async fn reset_factors(
    deps: &Deps<'_>,
    mailing: crate::activation::Mailing<'_>,
    username: &str,
    temporary_password: Option<Secret<String>>,
    now: UnixTime,
) -> Result<Account, AdminError> {
    let result = reset_factors_of(deps, mailing, username, temporary_password, now).await;
    deps.refused_recorded(USER_RESET_FACTORS, result, now).await
}

async fn reset_factors_of(
    deps: &Deps<'_>,
    mailing: crate::activation::Mailing<'_>,
    username: &str,
    temporary_password: Option<Secret<String>>,
    now: UnixTime,
) -> Result<Account, AdminError> {
    let &Deps { store, audit, ref by } = deps;
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
    let on_behalf = Actor { is_requester: false, ..by.clone() };
    let reset = Event::new(EventType::FactorsReset, on_behalf)
        .acting_for(account.id.as_str())
        .object("account", account.id.as_str())
        .detail("temporary_password", temporary.is_some());
    audit.append(tx.as_mut(), &reset, now).await?;
    let event = deps.command(USER_RESET_FACTORS, ("account", account.id.as_str()));
    audit.commit(tx, Some(&notice), &event, now).await?;
    Ok(account)
}
