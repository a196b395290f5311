//! Test harness: a running app with a fresh database, ready-made organisation, portals and
//! users, a browser with a cookie jar, and a relying party built on `openidconnect`.

pub mod browser;
pub mod rp;
pub mod setup;
pub mod smtp;

use std::sync::{Arc, OnceLock};

use idp::admin::{self, NewClient, NewUser};
use idp::app::AppState;
use idp::clock::{Clock, ManualClock, SystemClock};
use idp::config::Config;
use idp::domain::Secret;
use idp::oidc::keys;
use idp::startup::Application;
use idp::store::{ClientKind, PkcePolicy, SigningAlg, SigningKey};

pub use browser::Browser;
pub use rp::Rp;

pub const PASSWORD: &str = "Geheim-wachtwoord-1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub issuer: String,
    /// The port the server listens on (differs from the issuer's when `public_url` is set).
    pub port: u16,
    pub state: AppState,
    pub clock: ManualClock,
    pub org: String,
    _pg: Option<PgDatabase>,
    _dir: tempfile::TempDir,
}

/// A registered portal as a relying party knows it.
#[derive(Clone, Debug)]
pub struct Portal {
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
    pub post_logout_uri: String,
}

/// A fresh, empty PostgreSQL database on the local server, dropped when this value is dropped.
pub struct PgDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; the cleanup gets a small runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// Creates a fresh PostgreSQL database. Panics (never skips) when the server is not reachable:
/// CI must run these tests.
pub async fn fresh_postgres() -> PgDatabase {
    use sqlx::Connection;
    let admin_url =
        std::env::var("IDP_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must run for these tests ({admin_url}): {e}"));
    let name = format!("pw_test_{}", uuid_like());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
    PgDatabase { url: format!("{base}/{name}"), name, admin_url }
}

fn uuid_like() -> String {
    idp::crypto::random_token(12).to_ascii_lowercase().replace(['-', '_'], "x")
}

/// One ES256 and one RS256 key pair for the whole test binary. Generating an RSA key costs
/// far more than the rest of a server's start, and every test starts one.
pub fn signing_keys() -> &'static [SigningKey] {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [SigningAlg::ES256, SigningAlg::RS256].map(|alg| keys::generate(alg, 0, 0).expect("a key pair")).into()
    })
}

/// Puts the shared key pairs in the fresh database, published and signing from `now`, exactly as
/// the first start would make them; the server then finds its keys and generates none.
async fn seed_signing_keys(config: &Config, now: i64) {
    let store = idp::store::connect(config.database.url.expose(), 1).await.expect("test database");
    for key in signing_keys() {
        let key = SigningKey { created_at: now, signs_from: now, ..key.clone() };
        store.insert_key(&key).await.expect("seed signing key");
    }
}

/// What an operator's use cases (`idp::admin`) get in the tests: the operator is `tester`.
pub fn operator(state: &AppState) -> admin::Deps<'_> {
    admin::Deps {
        store: state.store.as_ref(),
        audit: &state.audit,
        by: idp::audit::Actor::operator(Some("tester".into())),
    }
}

impl TestApp {
    /// As [`operator`]: for calling `idp::admin` as `idp-admin` does.
    pub fn admin(&self) -> admin::Deps<'_> {
        operator(&self.state)
    }

    pub async fn spawn() -> Self {
        Self::spawn_with(Backend::Sqlite, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start(backend, tweak, true).await
    }

    /// A server on an empty database that makes its own signing keys, as at a first start
    /// (every other spawn gets the binary's shared keys; see [`signing_keys`]).
    pub async fn spawn_making_keys() -> Self {
        Self::start(Backend::Sqlite, |_| {}, false).await
    }

    async fn start(backend: Backend, tweak: impl FnOnce(&mut Config), shared_keys: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.server.bind = "127.0.0.1:0".parse().unwrap();
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres().await),
        };
        config.database.url = Secret::new(match &pg {
            None => format!("sqlite://{}", dir.path().join("idp.db").display()),
            Some(db) => db.url.clone(),
        });
        config.mail.file_dir = dir.path().join("mail");
        config.sms.file_dir = dir.path().join("sms");
        config.factors.key_path = dir.path().join("factors.key");
        config.theme.dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../themes/default").into();
        config.log.filter = "warn".into();
        tweak(&mut config);
        // Close to real time, so the RP library's own clock agrees with ours; moves only when told.
        let clock = ManualClock::at(SystemClock.unix());
        if shared_keys {
            seed_signing_keys(&config, clock.unix()).await;
        }
        let app = Application::build(config, Arc::new(clock.clone())).await.expect("app builds");
        let state = app.state();
        let issuer = state.issuer.clone();
        let port = app.port();
        tokio::spawn(app.run_until(std::future::pending()));
        let org = admin::create_organisation(&operator(&state), "zorg", "Zorggroep Test", clock.unix())
            .await
            .expect("organisation");
        TestApp { issuer, port, state, clock, org: org.slug, _pg: pg, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub fn now(&self) -> i64 {
        self.clock.unix()
    }

    /// Registers a portal; `name` makes its URIs distinct.
    pub async fn portal(&self, name: &str, kind: ClientKind) -> Portal {
        self.portal_with(name, kind, SigningAlg::ES256).await
    }

    pub async fn portal_with(&self, name: &str, kind: ClientKind, alg: SigningAlg) -> Portal {
        self.portal_tweaked(name, |c| {
            c.kind = kind;
            c.id_token_alg = alg;
        })
        .await
    }

    /// A confidential portal registered with `--pkce optional`: it may leave PKCE out.
    pub async fn portal_without_pkce(&self, name: &str) -> Portal {
        self.portal_tweaked(name, |c| c.pkce = PkcePolicy::Optional).await
    }

    /// A confidential ES256 portal at `https://<name>.portal.example/`, as `tweak` changes it.
    pub async fn portal_tweaked(&self, name: &str, tweak: impl FnOnce(&mut NewClient)) -> Portal {
        let redirect_uri = format!("https://{name}.portal.example/callback");
        let post_logout_uri = format!("https://{name}.portal.example/signed-out");
        let mut new = NewClient {
            organisation: self.org.clone(),
            name: format!("Portaal {name}"),
            redirect_uris: vec![redirect_uri.clone()],
            post_logout_redirect_uris: vec![post_logout_uri.clone()],
            kind: ClientKind::Confidential,
            machine: false,
            scopes: "openid profile email".into(),
            id_token_alg: SigningAlg::ES256,
            pkce: PkcePolicy::Required,
            backchannel_logout_uri: None,
        };
        tweak(&mut new);
        let created = admin::create_client(&self.admin(), new, self.now()).await.expect("portal");
        Portal {
            client_id: created.client.id.0,
            secret: created.secret.map(|s| s.expose().clone()),
            redirect_uri,
            post_logout_uri,
        }
    }

    /// Registers a machine client (client credentials); returns (id, secret).
    pub async fn machine(&self, name: &str) -> (String, String) {
        let created = admin::create_client(
            &self.admin(),
            NewClient {
                organisation: self.org.clone(),
                name: name.into(),
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                kind: ClientKind::Confidential,
                machine: true,
                scopes: "profile".into(),
                id_token_alg: SigningAlg::ES256,
                pkce: PkcePolicy::Required,
                backchannel_logout_uri: None,
            },
            self.now(),
        )
        .await
        .expect("machine client");
        (created.client.id.0, created.secret.unwrap().expose().clone())
    }

    /// Creates an account with [`PASSWORD`]; returns its `sub`.
    pub async fn user(&self, username: &str) -> String {
        let account = admin::create_user(
            &self.admin(),
            NewUser {
                username: username.into(),
                email: Some(format!("{}@example.nl", username.to_lowercase().replace(' ', "."))),
                given_name: "Jan".into(),
                family_name: "Jansen".into(),
                birth_date: Some("1950-03-31".into()),
                password: Some(Secret::new(PASSWORD.into())),
                temporary_password: false,
            },
            self.now(),
        )
        .await
        .expect("user");
        account.subject.0
    }

    /// The mails the file transport wrote, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let dir = &self.state.config.mail.file_dir;
        let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        names.iter().map(|path| Mail::parse(&std::fs::read(path).unwrap())).collect()
    }

    /// The SMS and voice messages the file transport wrote (JSON: to, channel, text), oldest first.
    pub fn texts(&self) -> Vec<serde_json::Value> {
        let dir = &self.state.config.sms.file_dir;
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut files: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), p))
            .collect();
        files.sort();
        files.iter().map(|(_, p)| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.issuer)
    }

    pub async fn rp(&self, portal: &Portal) -> Rp {
        Rp::discover(self, portal).await
    }
}

/// A delivered mail, decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    fn parse(raw: &[u8]) -> Self {
        use mailparse::MailHeaderMap;
        let parsed = mailparse::parse_mail(raw).expect("a valid message");
        let part = |mime: &str| {
            parsed.subparts.iter().find(|p| p.ctype.mimetype == mime).map(|p| p.get_body().unwrap()).unwrap_or_default()
        };
        Mail {
            to: parsed.headers.get_first_value("To").unwrap_or_default(),
            subject: parsed.headers.get_first_value("Subject").unwrap_or_default(),
            text: part("text/plain"),
            html: part("text/html"),
        }
    }
}
