//! The embedded default backend: one SQLite file, WAL mode, migrations from `migrations/sqlite`.
//!
//! SQLite has one write lock per database. Contended in the database itself, a waiting writer
//! sleeps in SQLite's busy handler (1, 2, 5, 10 … 100 ms at a time) however soon the lock is free,
//! and each statement of the transaction holding it waits its turn among every request on the
//! async threads. So this process writes through one connection of its own (`writes`): writers
//! queue for it in order, without sleeping, and reads use the other connections (WAL lets them
//! read while one writes). A write transaction started with [`crate::store::write`] runs on
//! a thread of its own (`writer`), where the statements it sends follow each other without
//! waiting for the busy async threads; the time the write lock is held is the time SQLite works.
//! Other processes on the same file (`idp-admin`) still meet the busy handler, rarely.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::SqlitePool;

use super::sql::tx::impl_sql_tx;
use super::sql::{impl_sql_store, SqlTx};
use super::{StoreResult, Transactions, Tx};

pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection this process writes through (see the module doc).
    writes: SqlitePool,
    /// The audit chain's end as this process last saw it (see `SqlTx`).
    audit_head: super::sql::HeadCache,
    /// Runs write transactions (see the module doc); stops when the store is dropped.
    writer: Writer,
}

/// A single-threaded runtime on a thread of its own.
struct Writer {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Writer {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name("sqlite-writer".into()).spawn(move || {
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
        Ok(Self { handle, _stop: stop })
    }
}

impl SqliteStore {
    /// Opens (creating when missing, with its folder) the database and applies migrations (with the data they need computed here).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
            }
        }
        let pool = SqlitePoolOptions::new().max_connections(max_connections).connect_with(options.clone()).await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await.map_err(sqlx::Error::from)?;
        backfill_username_skeletons(&pool).await?;
        // As long as SQLite's own wait for another process: a write waiting longer fails alike.
        let writes = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        let writer = Writer::start().map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
        Ok(Self { pool, writes, audit_head: Default::default(), writer })
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        // Take the write lock up front: a deferred transaction that reads first could not upgrade
        // to a writer once another process has committed (SQLITE_BUSY_SNAPSHOT, not retried).
        self.writes.begin_with("BEGIN IMMEDIATE").await
    }
}

impl_sql_store!(SqliteStore, SqliteRow);
impl_sql_tx!(sqlx::Sqlite);

#[async_trait::async_trait]
impl Transactions for SqliteStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        Ok(Box::new(SqlTx(self.begin_write().await?, Some(self.audit_head.clone()), None)))
    }

    fn writer(&self) -> Option<&tokio::runtime::Handle> {
        Some(&self.writer.handle)
    }
}
