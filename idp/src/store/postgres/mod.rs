//! The production backend: PostgreSQL, migrations from `migrations/postgres`.

use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::PgPool;

use super::sql::impl_sql_store;
use super::StoreResult;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects and applies migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new().max_connections(max_connections).connect(url).await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await.map_err(sqlx::Error::from)?;
        Ok(Self { pool })
    }
}

impl_sql_store!(PgStore, PgRow);
