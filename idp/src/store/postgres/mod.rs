//! The production backend: PostgreSQL, migrations from `migrations/postgres`.

use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::PgPool;

use super::sql::tx::impl_sql_tx;
use super::sql::{impl_sql_store, SqlTx};
use super::{StoreResult, Transactions, Tx};

pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL lets many connections write at once.
    writes: PgPool,
}

impl PgStore {
    /// Connects and applies migrations (with the data they need computed here).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new().max_connections(max_connections).connect(url).await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await.map_err(sqlx::Error::from)?;
        backfill_username_skeletons(&pool).await?;
        Ok(Self { writes: pool.clone(), pool })
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

impl_sql_store!(PgStore, PgRow);
impl_sql_tx!(sqlx::Postgres);

#[async_trait::async_trait]
impl Transactions for PgStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        Ok(Box::new(SqlTx(self.begin_write().await?, None, None)))
    }
}
