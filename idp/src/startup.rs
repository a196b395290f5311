//! Builds the application once — for `main`, for tests and for benchmarks alike — and runs it
//! until a shutdown signal, finishing requests in flight.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::{AppState, CacheError, Parts};
use crate::auth::password;
use crate::clock::Clock;
use crate::config::Config;
use crate::mail::{self, MailError, MailTemplates};
use crate::oidc::keys::{self, KeyError};
use crate::store::{self, Cached, StoreError};
use crate::ui::{Templates, UiError};
use crate::{http, kv};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("{0}")]
    Kv(#[from] kv::KvError),
    #[error("{0}")]
    Ui(#[from] UiError),
    #[error("{0}")]
    Cache(#[from] CacheError),
    #[error("mail: {0}")]
    Mail(#[from] MailError),
    #[error("mail folder {0}: {1}")]
    MailDir(String, std::io::Error),
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds the listener (port 0 picks a free port), opens storage, applies migrations,
    /// makes sure signing keys exist, and loads templates and caches.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        let bind = config.server.bind;
        let listener = TcpListener::bind(bind).await.map_err(|e| StartupError::Bind(bind, e))?;
        let local = listener.local_addr().map_err(|e| StartupError::Bind(bind, e))?;
        let issuer = match &config.server.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None => format!("http://{local}"),
        };
        std::fs::create_dir_all(&config.mail.file_dir)
            .map_err(|e| StartupError::MailDir(config.mail.file_dir.display().to_string(), e))?;
        let store = store::connect(config.database.url.expose(), config.database.max_connections).await?;
        if keys::ensure_signing_keys(store.as_ref(), clock.unix()).await? {
            store.bump_generation(Cached::Keys).await?;
            tracing::info!("generated signing keys (ES256, RS256)");
        }
        let kv = kv::connect(&config.kv, clock.clone()).await?;
        let templates = Templates::load(&config.theme.dir)?;
        let mail_templates = MailTemplates::load(&config.theme.dir)?;
        let mailer = mail::connect(&config.mail)?;
        let state =
            AppState::new(Parts { config, issuer, store, kv, clock, templates, mail_templates, mailer }).await?;
        // The dummy hash is made now, so the first unknown-user sign-in is not faster than the rest.
        tokio::spawn(password::warm_up());
        Ok(Self { listener, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let config = &self.state.config;
        let poll = Duration::from_millis(config.cache.poll_interval_ms.max(50));
        let mail_poll = Duration::from_millis(config.mail.poll_interval_ms.max(50));
        let age_check = Duration::from_secs(config.representation.age_check_interval_secs.max(1));
        let loops = [
            every(&self.state, poll, poll, "refreshing caches failed", |s| async move {
                s.refresh_caches().await.map(drop)
            }),
            every(&self.state, mail_poll, mail_poll, "mail sender failed", |s| async move {
                s.deliver_mail().await.map(drop)
            }),
            // Back-channel logouts on a loop of their own: a portal that does not answer does not
            // hold up mail.
            every(&self.state, mail_poll, mail_poll, "back-channel logout sender failed", |s| async move {
                s.deliver_logouts().await.map(drop)
            }),
            // At start-up too: a node restarted more often than the interval still does it.
            every(&self.state, Duration::ZERO, age_check, "ending representations at 16 failed", |s| async move {
                let now = s.clock.unix();
                crate::representation::age::end_by_age(&s, now).await.map(drop)
            }),
        ];
        first_run_hint(&self.state).await;
        tracing::info!(issuer = %self.state.issuer, "listening");
        let app = http::router(self.state.clone());
        let result = axum::serve(self.listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(signal)
            .await;
        for work in loops {
            work.abort();
        }
        self.state.settle().await;
        result
    }
}

/// Runs `work` `first` from now and then every `period` until aborted. A failure is logged as
/// `what` and the loop goes on; so does a run that panicked (each runs as a task of its own).
fn every<F, Fut, E>(
    state: &AppState,
    first: Duration,
    period: Duration,
    what: &'static str,
    work: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match tokio::spawn(work(state.clone())).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "{what}"),
                Err(e) => tracing::error!(error = %e, "{what} (the run stopped)"),
            }
        }
    })
}

async fn first_run_hint(state: &AppState) {
    if matches!(state.store.list_clients().await, Ok(clients) if clients.is_empty()) {
        tracing::info!(
            "no portals registered yet; register one with: \
             idp-admin org create --slug zorg --name \"Zorg BV\" && \
             idp-admin client create --org zorg --name Portaal --redirect-uri https://portaal.example/callback"
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Sets up logging from the configuration (`RUST_LOG` wins when set).
pub fn init_telemetry(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match config.log.format {
        crate::config::LogFormat::Json => builder.json().try_init(),
        crate::config::LogFormat::Text => builder.try_init(),
    };
}
