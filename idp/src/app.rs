//! The application state every handler receives: the [`Deps`] use cases work with (configuration,
//! store, key-value store, clock, templates, mail, SMS, the audit log) and the [`Caches`] that
//! spare the database on hot paths. `AppState` dereferences to `Deps`, so a use case that needs no
//! cache takes `&Deps` and is called with `&state`; one that reads a cache takes `&AppState`.
//!
//! Clients, their organisations' policies and keys are read on nearly every protocol request, so
//! they are held in memory.
//! A change by `idp-admin` (another process, perhaps another node) bumps a generation counter in
//! the database; [`AppState::refresh_caches`] runs every `cache.poll_interval_ms` and reloads
//! what changed. A client unknown to the cache is looked up in the database once before it is
//! declared unknown, so a portal registered a moment ago works at once.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{ClientId, OrganisationId};
use crate::kv::Kv;
use crate::mail::{deliver_due, Delivery, MailError, MailTemplates, Mailer};
use crate::oidc::keys::{Jwks, KeyError, KeyRing};
use crate::oidc::tokens::AccessTokenClaims;
use crate::store::{Cached, Client, OrganisationPolicy, Store, StoreError};
use crate::ui::Templates;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts an [`AppState`] is made of, as `startup` (or a test) assembles them.
pub struct Parts {
    pub config: Config,
    pub issuer: String,
    pub store: Arc<dyn Store>,
    pub kv: Arc<dyn Kv>,
    pub clock: Arc<dyn Clock>,
    pub templates: Templates,
    pub mail_templates: MailTemplates,
    pub mailer: Arc<dyn Mailer>,
}

/// What use cases work with: fixed for the life of the process.
pub struct Deps {
    pub config: Config,
    /// The issuer identifier (OIDC Discovery §3): the public URL without a trailing slash.
    pub issuer: String,
    pub store: Arc<dyn Store>,
    pub kv: Arc<dyn Kv>,
    pub clock: Arc<dyn Clock>,
    pub templates: Templates,
    pub mail_templates: MailTemplates,
    pub mailer: Arc<dyn Mailer>,
    /// Protects second-factor secrets at rest (see `auth::factor_key`).
    pub factor_key: crate::auth::factor_key::FactorKey,
    /// Appends audit records (docs/audit.md); keyed with the factor key.
    pub audit: crate::audit::Auditor,
    /// Sends SMS and voice codes.
    pub sms: Arc<dyn crate::sms::CodeSender>,
    /// WebAuthn for this issuer; `None` when its host is not a domain name.
    pub passkeys: Option<crate::auth::passkeys::Passkeys>,
    /// Room for sign-ins waiting for their password to be checked (`signin.max_waiting_password_checks`).
    pub password_checks: crate::auth::password::Admission,
    /// Posts back-channel logouts to portals (`oidc::backchannel`).
    pub portals_http: reqwest::Client,
}

impl Deps {
    /// Whether cookies must carry `Secure` and the `__Host-` prefix.
    pub fn is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// What the activation use cases need.
    pub fn activation(&self) -> crate::activation::Deps<'_> {
        crate::activation::Deps { store: self.store.as_ref(), audit: &self.audit }
    }
}

/// What this node keeps in memory to spare the database, and how it knows when to reload it.
/// Another process (idp-admin, another node) changes the database; see the module documentation.
pub struct Caches {
    /// The discovery document, serialised once.
    discovery: axum::body::Bytes,
    keys: ArcSwap<KeyRing>,
    jwks: ArcSwap<Jwks>,
    clients: ArcSwap<HashMap<ClientId, Arc<Client>>>,
    /// Organisation policies read so far; emptied whenever the clients are reloaded (a policy
    /// change bumps the clients' generation).
    policies: ArcSwap<HashMap<OrganisationId, Arc<OrganisationPolicy>>>,
    /// Counts the emptyings of `policies`: a policy read before one is not kept after it.
    policies_emptied: AtomicU64,
    /// The change generations of clients and keys this node last loaded.
    generations: [AtomicI64; 2],
    /// The revocation generation this node last saw (see [`AppState::verified_token`]).
    revocations: AtomicI64,
    /// Access tokens already verified and found unrevoked, by SHA-256 of the token.
    verified: Mutex<HashMap<[u8; 32], (AccessTokenClaims, i64)>>,
}

pub struct Inner {
    deps: Deps,
    caches: Caches,
    /// Work done after the answer was sent (so its duration reveals nothing); shutdown waits for it.
    background: tokio_util::task::TaskTracker,
}

impl Deref for AppState {
    type Target = Deps;

    fn deref(&self) -> &Deps {
        &self.0.deps
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("factor key")]
    FactorKey(#[from] crate::auth::factor_key::FactorKeyError),
    #[error("sms.http")]
    Sms(#[from] crate::sms::GatewayConfigError),
}

impl AppState {
    pub async fn new(parts: Parts) -> Result<Self, CacheError> {
        let Parts { config, issuer, store, kv, clock, templates, mail_templates, mailer } = parts;
        let factor_key = crate::auth::factor_key::FactorKey::load(&config.factors)?;
        let sms = crate::sms::build(&config.sms)?;
        let passkeys = crate::auth::passkeys::for_issuer(&issuer, &config.mail.from_name);
        let audit = crate::audit::Auditor::new(factor_key.clone(), config.audit.node_name());
        let caches = Caches {
            discovery: crate::oidc::discovery::document(&issuer).to_string().into(),
            keys: ArcSwap::from_pointee(KeyRing::default()),
            jwks: ArcSwap::from_pointee(Jwks {
                body: axum::body::Bytes::from_static(b"{\"keys\":[]}"),
                valid_until: Some(0),
            }),
            clients: ArcSwap::from_pointee(HashMap::new()),
            policies: ArcSwap::from_pointee(HashMap::new()),
            policies_emptied: AtomicU64::new(0),
            generations: [AtomicI64::new(-1), AtomicI64::new(-1)],
            revocations: AtomicI64::new(-1),
            verified: Mutex::new(HashMap::new()),
        };
        let password_checks = crate::auth::password::Admission::new(config.signin.max_waiting_password_checks);
        let deps = Deps {
            portals_http: crate::oidc::backchannel::http_client(),
            password_checks,
            audit,
            factor_key,
            sms,
            passkeys,
            config,
            issuer,
            store,
            kv,
            clock,
            templates,
            mail_templates,
            mailer,
        };
        let state = AppState(Arc::new(Inner { deps, caches, background: tokio_util::task::TaskTracker::new() }));
        state.note_revocations().await?;
        state.reload_keys().await?;
        state.reload_clients().await?;
        Ok(state)
    }

    /// The dependencies, for a use case that takes only them.
    pub fn deps(&self) -> &Deps {
        &self.0.deps
    }

    fn caches(&self) -> &Caches {
        &self.0.caches
    }

    /// The discovery document, serialised once.
    pub fn discovery(&self) -> axum::body::Bytes {
        self.caches().discovery.clone()
    }

    pub fn keys(&self) -> arc_swap::Guard<Arc<KeyRing>> {
        self.caches().keys.load()
    }

    /// The key ring as an owned handle, for signing on the blocking pool.
    pub fn key_ring(&self) -> Arc<KeyRing> {
        self.caches().keys.load_full()
    }

    /// The JWKS document for now, rebuilt only when a key enters or leaves publication.
    pub fn jwks(&self) -> Arc<Jwks> {
        let now = self.clock.unix();
        let current = self.caches().jwks.load_full();
        if current.valid_until.is_some_and(|until| now >= until) {
            let fresh = Arc::new(self.caches().keys.load().jwks(now));
            self.caches().jwks.store(fresh.clone());
            return fresh;
        }
        current
    }

    /// A client by id: from the cache, else from the database (then cached).
    pub async fn client(&self, id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        let id = ClientId(id.to_string());
        if let Some(client) = self.caches().clients.load().get(&id) {
            return Ok(Some(client.clone()));
        }
        let Some(client) = self.store.client_by_id(&id).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        self.caches().clients.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(client.id.clone(), client.clone());
            map
        });
        Ok(Some(client))
    }

    /// The organisation's policy, from memory once read (see [`Caches::policies`]).
    pub async fn policy(&self, organisation: &OrganisationId) -> Result<Option<Arc<OrganisationPolicy>>, StoreError> {
        if let Some(policy) = self.caches().policies.load().get(organisation) {
            return Ok(Some(policy.clone()));
        }
        let emptied = self.caches().policies_emptied.load(Ordering::SeqCst);
        let Some(policy) = self.store.policy(organisation).await? else {
            return Ok(None);
        };
        let policy = Arc::new(policy);
        self.caches().policies.rcu(|map| {
            let mut map = HashMap::clone(map);
            if self.caches().policies_emptied.load(Ordering::SeqCst) == emptied {
                map.insert(organisation.clone(), policy.clone());
            }
            map
        });
        Ok(Some(policy))
    }

    pub async fn reload_keys(&self) -> Result<(), CacheError> {
        let generation = self.store.generation(Cached::Keys).await?;
        let ring = KeyRing::load(&self.store.list_keys().await?)?;
        let jwks = ring.jwks(self.clock.unix());
        self.caches().keys.store(Arc::new(ring));
        self.caches().jwks.store(Arc::new(jwks));
        self.caches().generations[1].store(generation, Ordering::SeqCst);
        Ok(())
    }

    pub async fn reload_clients(&self) -> Result<(), CacheError> {
        let generation = self.store.generation(Cached::Clients).await?;
        let clients = self.store.list_clients().await?;
        let map = clients.into_iter().map(|c| (c.id.clone(), Arc::new(c))).collect();
        self.caches().clients.store(Arc::new(map));
        // Counted first: a policy read meanwhile (perhaps the old one) is not put in the new map.
        self.caches().policies_emptied.fetch_add(1, Ordering::SeqCst);
        self.caches().policies.store(Arc::new(HashMap::new()));
        self.caches().generations[0].store(generation, Ordering::SeqCst);
        Ok(())
    }

    /// Whether `origin` (`https://host[:port]`) is where a public client (a browser app) lives,
    /// judged by its registered redirect URIs: such apps may call the token, userinfo and
    /// revocation endpoints from JavaScript (CORS).
    pub fn is_browser_app_origin(&self, origin: &str) -> bool {
        self.caches().clients.load().values().filter(|c| c.kind == crate::store::ClientKind::Public).any(|c| {
            c.redirect_uris.iter().any(|uri| {
                url::Url::parse(uri.as_str()).map(|u| u.origin().ascii_serialization() == origin).unwrap_or(false)
            })
        })
    }

    /// Reloads whatever another process changed since the last look.
    pub async fn refresh_caches(&self) -> Result<(), CacheError> {
        if self.store.generation(Cached::Clients).await? != self.caches().generations[0].load(Ordering::SeqCst) {
            self.reload_clients().await?;
        }
        if self.store.generation(Cached::Keys).await? != self.caches().generations[1].load(Ordering::SeqCst) {
            self.reload_keys().await?;
        }
        self.note_revocations().await?;
        Ok(())
    }

    /// Reads the revocation generation. Every revocation bumps it in the database; this node calls
    /// this right after its own revocations and every `cache.poll_interval_ms` for other nodes'.
    pub async fn note_revocations(&self) -> Result<(), StoreError> {
        let generation = self.store.generation(Cached::Revocations).await?;
        self.caches().revocations.store(generation, Ordering::SeqCst);
        Ok(())
    }

    /// The revocation generation to tag a token check with; read it *before* asking the database.
    pub fn revocation_generation(&self) -> i64 {
        self.caches().revocations.load(Ordering::SeqCst)
    }

    /// A token verified earlier and unrevoked as of the current revocation generation.
    pub fn verified_token(&self, digest: &[u8; 32], now: i64) -> Option<AccessTokenClaims> {
        let generation = self.revocation_generation();
        let cache = self.caches().verified.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(digest).filter(|(claims, g)| *g == generation && claims.exp > now).map(|(claims, _)| claims.clone())
    }

    /// Remembers a verified, unrevoked token, tagged with the generation read before the check.
    pub fn remember_token(&self, digest: [u8; 32], claims: AccessTokenClaims, generation: i64) {
        let mut cache = self.caches().verified.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 100_000 {
            cache.clear();
        }
        cache.insert(digest, (claims, generation));
    }

    /// Delivers the mail that is due now (the server does this every `mail.poll_interval_ms`).
    pub async fn deliver_mail(&self) -> Result<Delivery, MailError> {
        deliver_due(self.store.as_ref(), &self.mailer, self.clock.unix()).await
    }

    /// Sends the back-channel logouts that are due (`oidc::backchannel`).
    pub async fn deliver_logouts(
        &self,
    ) -> Result<crate::oidc::backchannel::Delivered, crate::oidc::backchannel::BackChannelError> {
        crate::oidc::backchannel::deliver_due(self, &self.portals_http).await
    }

    /// Runs `work` after the answer (see [`AppState::settle`]). It keeps the request's client
    /// address for its audit records.
    pub fn in_background(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.0.background.spawn(crate::audit::keep_origin(work));
    }

    /// Waits until the background work started so far is done (shutdown, tests).
    pub async fn settle(&self) {
        self.0.background.close();
        self.0.background.wait().await;
        self.0.background.reopen();
    }
}
