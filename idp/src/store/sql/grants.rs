//! Queries for `GrantStore`.

macro_rules! impl_grant_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::GrantStore for $store {
            async fn create_grant(
                &self,
                g: &$crate::store::Grant,
                refresh: Option<&$crate::store::RefreshToken>,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                insert_grant(&mut tx, g).await?;
                if let Some(t) = refresh {
                    insert_refresh_token(&mut tx, t).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn grant_by_id(
                &self,
                id: &$crate::domain::GrantId,
            ) -> $crate::store::StoreResult<Option<$crate::store::Grant>> {
                let row = sqlx::query("SELECT * FROM grants WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| grant_from_row(&r)).transpose()
            }

            async fn revoke_grant(&self, id: &$crate::domain::GrantId, now: i64) -> $crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let revoked = tx_revoke_grant(&mut tx, id, now).await?;
                tx.commit().await?;
                Ok(revoked)
            }

            async fn move_grants(
                &self,
                from: &$crate::domain::SessionId,
                to: &$crate::domain::SessionId,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                tx_move_grants(&mut tx, from, to).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn refresh_token_by_digest(
                &self,
                digest: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::RefreshToken>> {
                let row = sqlx::query("SELECT * FROM refresh_tokens WHERE digest = $1")
                    .bind(digest)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| refresh_from_row(&r)).transpose()
            }

            async fn rotate_refresh_token(
                &self,
                old: &str,
                new: &$crate::store::RefreshToken,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                if !tx_rotate_refresh_token(&mut tx, old, new, now).await? {
                    return Ok(false);
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> $crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let revoked = tx_revoke_access_token(&mut tx, jti, expires_at).await?;
                tx.commit().await?;
                Ok(revoked)
            }

            async fn access_token_revoked(
                &self,
                jti: &str,
                grant: Option<&$crate::domain::GrantId>,
            ) -> $crate::store::StoreResult<bool> {
                let row = sqlx::query(
                    "SELECT 1 FROM revoked_access_tokens WHERE jti = $1 \
                     UNION ALL SELECT 1 FROM grants WHERE id = $2 AND revoked_at IS NOT NULL",
                )
                .bind(jti)
                .bind(grant.map(|g| g.as_str()).unwrap_or(""))
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.is_some())
            }
        }

        /// Revokes the grant; false (and nothing announced) when it was unknown or revoked before.
        async fn tx_revoke_grant<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            id: &$crate::domain::GrantId,
            now: i64,
        ) -> $crate::store::StoreResult<bool> {
            let done = sqlx::query("UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id.as_str())
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            bump_revocations(tx).await?;
            Ok(true)
        }

        /// Re-attaches the grants of `from` to `to`. The `from` session row is written first, as a
        /// code redemption under it does (`tx_grant_for_code`): a grant redeemed meanwhile is either
        /// committed before the move (and moves) or finds the session ended with this transaction.
        async fn tx_move_grants<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            from: &$crate::domain::SessionId,
            to: &$crate::domain::SessionId,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query("UPDATE sessions SET ended_at = ended_at WHERE id = $1")
                .bind(from.as_str())
                .execute(&mut **tx)
                .await?;
            // The sid the portal saw stays known: a back-channel logout names it.
            sqlx::query("UPDATE grants SET issued_sid = COALESCE(issued_sid, session_id), session_id = $1 WHERE session_id = $2")
                .bind(to.as_str())
                .bind(from.as_str())
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Marks `old` used and stores `new`; false (and nothing stored) when `old` was used already.
        async fn tx_rotate_refresh_token<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            old: &str,
            new: &$crate::store::RefreshToken,
            now: i64,
        ) -> $crate::store::StoreResult<bool> {
            let used = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE digest = $2 AND used_at IS NULL")
                .bind(now)
                .bind(old)
                .execute(&mut **tx)
                .await?;
            if used.rows_affected() != 1 {
                return Ok(false);
            }
            insert_refresh_token(tx, new).await?;
            Ok(true)
        }

        /// Remembers the access token as revoked; false (and nothing announced) when it was already.
        async fn tx_revoke_access_token<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            jti: &str,
            expires_at: i64,
        ) -> $crate::store::StoreResult<bool> {
            let done = sqlx::query(
                "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(expires_at)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            bump_revocations(tx).await?;
            Ok(true)
        }

        /// Tells every node that cached "not revoked" answers are stale (see `app.rs`).
        async fn bump_revocations<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
        ) -> $crate::store::StoreResult<()> {
            tx_bump_generation(tx, $crate::store::Cached::Revocations).await
        }

        async fn insert_grant<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            g: &$crate::store::Grant,
        ) -> $crate::store::StoreResult<()> {
            let query = sqlx::query(
                "INSERT INTO grants (id, client_id, account_id, session_id, scope, auth_time, acr, amr, \
                 created_at, expires_at, revoked_at, acting_for) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            );
            bind_grant(query, g).execute(&mut **tx).await.map_err(|e| $crate::store::map_unique(e, "grant"))?;
            Ok(())
        }

        /// Binds a grant's twelve columns as `$1` … `$12`, in the order of `insert_grant`.
        fn bind_grant<'q>(
            query: sqlx::query::Query<
                'q,
                <$row as sqlx::Row>::Database,
                <<$row as sqlx::Row>::Database as sqlx::Database>::Arguments<'q>,
            >,
            g: &'q $crate::store::Grant,
        ) -> sqlx::query::Query<
            'q,
            <$row as sqlx::Row>::Database,
            <<$row as sqlx::Row>::Database as sqlx::Database>::Arguments<'q>,
        > {
            query
                .bind(g.id.as_str())
                .bind(g.client_id.as_str())
                .bind(g.account_id.as_ref().map(|a| a.as_str()))
                .bind(g.session_id.as_ref().map(|s| s.as_str()))
                .bind(g.scope.to_string())
                .bind(g.auth_time)
                .bind(g.acr.as_deref())
                .bind($crate::store::sql::to_json(&g.amr))
                .bind(g.created_at)
                .bind(g.expires_at)
                .bind(g.revoked_at)
                .bind(g.acting_for.as_ref().map(|p| p.to_stored()))
        }

        async fn insert_refresh_token<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            t: &$crate::store::RefreshToken,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO refresh_tokens (digest, grant_id, scope, created_at, used_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&t.digest)
            .bind(t.grant_id.as_str())
            .bind(t.scope.to_string())
            .bind(t.created_at)
            .bind(t.used_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::store::map_unique(e, "refresh token"))?;
            Ok(())
        }

        fn grant_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::Grant> {
            use sqlx::Row;
            use $crate::store::sql::{json_list, scopes};
            Ok($crate::store::Grant {
                id: $crate::domain::GrantId(r.try_get("id")?),
                client_id: $crate::domain::ClientId(r.try_get("client_id")?),
                account_id: r.try_get::<Option<String>, _>("account_id")?.map($crate::domain::AccountId),
                acting_for: $crate::store::sql::party(r.try_get("acting_for")?)?,
                session_id: r.try_get::<Option<String>, _>("session_id")?.map($crate::domain::SessionId),
                scope: scopes(&r.try_get::<String, _>("scope")?)?,
                auth_time: r.try_get("auth_time")?,
                acr: r.try_get("acr")?,
                amr: json_list(&r.try_get::<String, _>("amr")?)?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        }

        fn refresh_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::RefreshToken> {
            use sqlx::Row;
            Ok($crate::store::RefreshToken {
                digest: r.try_get("digest")?,
                grant_id: $crate::domain::GrantId(r.try_get("grant_id")?),
                scope: $crate::store::sql::scopes(&r.try_get::<String, _>("scope")?)?,
                created_at: r.try_get("created_at")?,
                used_at: r.try_get("used_at")?,
            })
        }
    };
}
pub(crate) use impl_grant_store;
