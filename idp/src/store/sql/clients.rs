//! Queries for `ClientStore` and the client part of `Tx`.

macro_rules! impl_client_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::ClientStore for $store {
            async fn create_client(&self, c: &$crate::store::Client) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                tx_create_client(&mut tx, c).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn client_by_id(
                &self,
                id: &$crate::domain::ClientId,
            ) -> $crate::store::StoreResult<Option<$crate::store::Client>> {
                let row = sqlx::query("SELECT * FROM oauth_clients WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| client_from_row(&r)).transpose()
            }

            async fn list_clients(&self) -> $crate::store::StoreResult<Vec<$crate::store::Client>> {
                let rows =
                    sqlx::query("SELECT * FROM oauth_clients ORDER BY created_at, id").fetch_all(&self.pool).await?;
                rows.iter().map(client_from_row).collect()
            }

            async fn set_client_pkce(
                &self,
                id: &$crate::domain::ClientId,
                pkce: $crate::store::PkcePolicy,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                if !tx_set_client_pkce(&mut tx, id, pkce).await? {
                    return Err($crate::store::StoreError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }
        }

        async fn tx_create_client<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            c: &$crate::store::Client,
        ) -> $crate::store::StoreResult<()> {
            use $crate::store::sql::to_json;
            let grant_types: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
            sqlx::query(
                "INSERT INTO oauth_clients (id, organisation_id, name, kind, secret_digest, redirect_uris, \
                 post_logout_redirect_uris, scopes, grant_types, id_token_alg, pkce, created_at, \
                 backchannel_logout_uri) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(c.id.as_str())
            .bind(c.organisation_id.as_str())
            .bind(&c.name)
            .bind(c.kind.as_str())
            .bind(c.secret_digest.as_ref().map(|s| s.expose().clone()))
            .bind(to_json(&c.redirect_uris))
            .bind(to_json(&c.post_logout_redirect_uris))
            .bind(c.scopes.to_string())
            .bind(to_json(&grant_types))
            .bind(c.id_token_alg.as_str())
            .bind(c.pkce.as_str())
            .bind(c.created_at)
            .bind(c.backchannel_logout_uri.as_ref().map(|u| u.as_str().to_string()))
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::store::map_unique(e, "client"))?;
            Ok(())
        }

        /// False when there is no such client.
        async fn tx_set_client_pkce<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            id: &$crate::domain::ClientId,
            pkce: $crate::store::PkcePolicy,
        ) -> $crate::store::StoreResult<bool> {
            let done = sqlx::query("UPDATE oauth_clients SET pkce = $1 WHERE id = $2")
                .bind(pkce.as_str())
                .bind(id.as_str())
                .execute(&mut **tx)
                .await?;
            Ok(done.rows_affected() == 1)
        }

        fn client_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::Client> {
            use sqlx::Row;
            use $crate::store::sql::{json_list, scopes};
            use $crate::store::StoreError;
            let kind: String = r.try_get("kind")?;
            let alg: String = r.try_get("id_token_alg")?;
            let pkce: String = r.try_get("pkce")?;
            Ok($crate::store::Client {
                id: $crate::domain::ClientId(r.try_get("id")?),
                organisation_id: $crate::domain::OrganisationId(r.try_get("organisation_id")?),
                name: r.try_get("name")?,
                kind: $crate::store::ClientKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(kind.clone()))?,
                secret_digest: r.try_get::<Option<String>, _>("secret_digest")?.map($crate::domain::Secret::new),
                redirect_uris: json_list(&r.try_get::<String, _>("redirect_uris")?)?,
                post_logout_redirect_uris: json_list(&r.try_get::<String, _>("post_logout_redirect_uris")?)?,
                scopes: scopes(&r.try_get::<String, _>("scopes")?)?,
                grant_types: json_list(&r.try_get::<String, _>("grant_types")?)?,
                id_token_alg: $crate::store::SigningAlg::parse(&alg).ok_or_else(|| StoreError::Corrupt(alg.clone()))?,
                pkce: $crate::store::PkcePolicy::parse(&pkce).ok_or_else(|| StoreError::Corrupt(pkce.clone()))?,
                backchannel_logout_uri: r
                    .try_get::<Option<String>, _>("backchannel_logout_uri")?
                    .map(|u| $crate::domain::RedirectUri::parse(&u).map_err(|_| StoreError::Corrupt(u.clone())))
                    .transpose()?,
                created_at: r.try_get("created_at")?,
            })
        }
    };
}
pub(crate) use impl_client_store;
