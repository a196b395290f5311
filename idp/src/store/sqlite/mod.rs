//! The embedded default backend: one SQLite file, WAL mode, migrations from `migrations/sqlite`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::SqlitePool;

use super::sql::tx::impl_sql_tx;
use super::sql::{impl_sql_store, SqlTx};
use super::{StoreResult, Transactions, Tx};

pub struct SqliteStore {
    pool: SqlitePool,
    /// The audit chain's end as this process last saw it (see `SqlTx`).
    audit_head: super::sql::HeadCache,
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
        let pool = SqlitePoolOptions::new().max_connections(max_connections).connect_with(options).await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await.map_err(sqlx::Error::from)?;
        backfill_username_skeletons(&pool).await?;
        Ok(Self { pool, audit_head: Default::default() })
    }
}

impl_sql_store!(SqliteStore, SqliteRow);
impl_sql_tx!(sqlx::Sqlite);

#[async_trait::async_trait]
impl Transactions for SqliteStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        // Take the write lock up front: a deferred transaction that reads first could not upgrade
        // to a writer once another connection has committed (SQLITE_BUSY_SNAPSHOT, not retried).
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Box::new(SqlTx(tx, Some(self.audit_head.clone()), None)))
    }
}
