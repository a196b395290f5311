//! Queries for `ChangeStore` and `Tx::bump_generation`.

macro_rules! impl_change_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::ChangeStore for $store {
            async fn bump_generation(&self, what: $crate::store::Cached) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                tx_bump_generation(&mut tx, what).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn generation(&self, what: $crate::store::Cached) -> $crate::store::StoreResult<i64> {
                use sqlx::Row;
                let row = sqlx::query("SELECT generation FROM change_generations WHERE name = $1")
                    .bind(what.name())
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get("generation")?)
            }
        }

        async fn tx_bump_generation<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            what: $crate::store::Cached,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query("UPDATE change_generations SET generation = generation + 1 WHERE name = $1")
                .bind(what.name())
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
    };
}
pub(crate) use impl_change_store;
