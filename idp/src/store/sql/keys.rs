//! Queries for `KeyStore` and the key part of `Tx`.

macro_rules! impl_key_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::KeyStore for $store {
            async fn insert_key(&self, k: &$crate::store::SigningKey) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                tx_insert_key(&mut tx, k).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_keys(&self) -> $crate::store::StoreResult<Vec<$crate::store::SigningKey>> {
                let rows =
                    sqlx::query("SELECT * FROM signing_keys ORDER BY signs_from, kid").fetch_all(&self.pool).await?;
                rows.iter().map(key_from_row).collect()
            }

            async fn set_key_publish_until(&self, kid: &str, until: i64) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                tx_set_key_publish_until(&mut tx, kid, until).await?;
                tx.commit().await?;
                Ok(())
            }
        }

        async fn tx_insert_key<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            k: &$crate::store::SigningKey,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, signs_from, publish_until) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&k.kid)
            .bind(k.alg.as_str())
            .bind(k.private_jwk.expose())
            .bind(&k.public_jwk)
            .bind(k.created_at)
            .bind(k.signs_from)
            .bind(k.publish_until)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::store::map_unique(e, "kid"))?;
            Ok(())
        }

        async fn tx_set_key_publish_until<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            kid: &str,
            until: i64,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query("UPDATE signing_keys SET publish_until = $1 WHERE kid = $2")
                .bind(until)
                .bind(kid)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        fn key_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::SigningKey> {
            use sqlx::Row;
            let alg: String = r.try_get("alg")?;
            Ok($crate::store::SigningKey {
                kid: r.try_get("kid")?,
                alg: $crate::store::SigningAlg::parse(&alg)
                    .ok_or_else(|| $crate::store::StoreError::Corrupt(alg.clone()))?,
                private_jwk: $crate::domain::Secret::new(r.try_get("private_jwk")?),
                public_jwk: r.try_get("public_jwk")?,
                created_at: r.try_get("created_at")?,
                signs_from: r.try_get("signs_from")?,
                publish_until: r.try_get("publish_until")?,
            })
        }
    };
}
pub(crate) use impl_key_store;
