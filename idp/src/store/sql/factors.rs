//! Queries for `FactorStore`.

macro_rules! impl_factor_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::FactorStore for $store {
            async fn add_factor(&self, f: &$crate::store::Factor) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                insert_factor(&mut tx, f).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn factor(&self, id: &str) -> $crate::store::StoreResult<Option<$crate::store::Factor>> {
                let row = sqlx::query("SELECT * FROM factors WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.map(|r| factor_from_row(&r)).transpose()
            }

            async fn factors(
                &self,
                account: &$crate::domain::AccountId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Factor>> {
                let rows = sqlx::query("SELECT * FROM factors WHERE account_id = $1 ORDER BY created_at, id")
                    .bind(account.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(factor_from_row).collect()
            }

            async fn use_totp_step(&self, id: &str, step: i64, now: i64) -> $crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE factors SET last_used_step = $1, last_used_at = $2 \
                     WHERE id = $3 AND (last_used_step IS NULL OR last_used_step < $1)",
                )
                .bind(step)
                .bind(now)
                .bind(id)
                .execute(&self.writes)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn touch_factor(
                &self,
                id: &str,
                secret: Option<&$crate::domain::Secret<String>>,
                now: i64,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query("UPDATE factors SET last_used_at = $1, secret = COALESCE($2, secret) WHERE id = $3")
                    .bind(now)
                    .bind(secret.map(|s| s.expose().clone()))
                    .bind(id)
                    .execute(&self.writes)
                    .await?;
                Ok(())
            }

            async fn recovery_codes_left(&self, account: &$crate::domain::AccountId) -> $crate::store::StoreResult<i64> {
                use sqlx::Row;
                let row = sqlx::query("SELECT COUNT(*) AS n FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL")
                    .bind(account.as_str())
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get("n")?)
            }

            async fn add_trusted_device(&self, d: &$crate::store::TrustedDevice) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                tx_add_trusted_device(&mut tx, d).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn trusted_device_by_digest(
                &self,
                digest: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::TrustedDevice>> {
                let row = sqlx::query("SELECT * FROM trusted_devices WHERE token_digest = $1")
                    .bind(digest)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| device_from_row(&r)).transpose()
            }

            async fn trusted_devices(
                &self,
                account: &$crate::domain::AccountId,
                now: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::TrustedDevice>> {
                let rows = sqlx::query(
                    "SELECT * FROM trusted_devices WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                     ORDER BY created_at DESC, id",
                )
                .bind(account.as_str())
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(device_from_row).collect()
            }

            async fn revoke_trusted_device(
                &self,
                id: &str,
                account: &$crate::domain::AccountId,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = tx_revoke_trusted_device(&mut tx, id, account, now).await?;
                tx.commit().await?;
                Ok(done)
            }
        }

        async fn tx_add_trusted_device<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            d: &$crate::store::TrustedDevice,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO trusted_devices (id, account_id, token_digest, label, factor, created_at, expires_at, \
                 last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&d.id)
            .bind(d.account_id.as_str())
            .bind(&d.token_digest)
            .bind(&d.label)
            .bind($crate::store::sql::to_json(&d.factor))
            .bind(d.created_at)
            .bind(d.expires_at)
            .bind(d.last_used_at)
            .bind(d.revoked_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::store::map_unique(e, "trusted device"))?;
            Ok(())
        }

        async fn tx_revoke_trusted_device<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            id: &str,
            account: &$crate::domain::AccountId,
            now: i64,
        ) -> $crate::store::StoreResult<bool> {
            let done = sqlx::query(
                "UPDATE trusted_devices SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .bind(account.as_str())
            .execute(&mut **tx)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        /// Confirms a pending factor (once) and drops the account's other pending factors of its
        /// kind; false when it was not pending.
        async fn tx_confirm_factor<'c>(tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>, id: &str, now: i64) -> $crate::store::StoreResult<bool> {
            use sqlx::Row;
            let done = sqlx::query(
                "UPDATE factors SET confirmed_at = $1 WHERE id = $2 AND confirmed_at IS NULL RETURNING account_id, kind",
            )
            .bind(now)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = done else {
                return Ok(false);
            };
            let account: String = row.try_get("account_id")?;
            let kind: String = row.try_get("kind")?;
            sqlx::query("DELETE FROM factors WHERE account_id = $1 AND kind = $2 AND confirmed_at IS NULL")
                .bind(&account)
                .bind(&kind)
                .execute(&mut **tx)
                .await?;
            Ok(true)
        }

        /// Removes a factor of the account and revokes its trusted devices; false when there was none.
        async fn tx_remove_factor<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            id: &str,
            account: &$crate::domain::AccountId,
            now: i64,
        ) -> $crate::store::StoreResult<bool> {
            let done = sqlx::query("DELETE FROM factors WHERE id = $1 AND account_id = $2")
                .bind(id)
                .bind(account.as_str())
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            // A trusted computer may stand in for the factor that is gone: trust again later.
            revoke_trusted_devices(tx, account.as_str(), now).await?;
            Ok(true)
        }

        async fn tx_replace_recovery_codes<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            account: &$crate::domain::AccountId,
            digests: &[String],
            now: i64,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1").bind(account.as_str()).execute(&mut **tx).await?;
            for digest in digests {
                sqlx::query("INSERT INTO recovery_codes (account_id, digest, created_at, used_at) VALUES ($1, $2, $3, NULL)")
                    .bind(account.as_str())
                    .bind(digest)
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| $crate::store::map_unique(e, "recovery code"))?;
            }
            Ok(())
        }

        async fn tx_use_recovery_code<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            account: &$crate::domain::AccountId,
            digest: &str,
            now: i64,
        ) -> $crate::store::StoreResult<bool> {
            let done = sqlx::query(
                "UPDATE recovery_codes SET used_at = $1 WHERE account_id = $2 AND digest = $3 AND used_at IS NULL",
            )
            .bind(now)
            .bind(account.as_str())
            .bind(digest)
            .execute(&mut **tx)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        /// An operator's reset: every factor and recovery code removed, trusted devices revoked,
        /// sessions (and their grants) ended; with `temporary_password` the password replaced.
        async fn tx_reset_factors<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            account: &$crate::domain::AccountId,
            temporary_password: Option<&$crate::domain::Secret<String>>,
            now: i64,
        ) -> $crate::store::StoreResult<()> {
            for statement in ["DELETE FROM factors WHERE account_id = $1", "DELETE FROM recovery_codes WHERE account_id = $1"] {
                sqlx::query(statement).bind(account.as_str()).execute(&mut **tx).await?;
            }
            if let Some(hash) = temporary_password {
                // Handed over by the organisation, not by mail: whoever set the last password
                // (perhaps through the mailbox) cannot use it any more, and the person's own
                // choice at the next sign-in counts as theirs.
                sqlx::query(
                    "UPDATE accounts SET password_hash = $1, must_change_password = TRUE, password_via_mail = FALSE WHERE id = $2",
                )
                .bind(hash.expose())
                .bind(account.as_str())
                .execute(&mut **tx)
                .await?;
            }
            // The same order as a password reset (sessions, then devices), so the two never wait
            // for each other's rows in opposite order.
            end_account_sessions(tx, account.as_str(), now).await?;
            revoke_trusted_devices(tx, account.as_str(), now).await
        }

        async fn insert_factor<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            f: &$crate::store::Factor,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO factors (id, account_id, kind, label, secret, phone, credential_id, last_used_step, \
                 created_at, confirmed_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&f.id)
            .bind(f.account_id.as_str())
            .bind(f.kind.as_str())
            .bind(&f.label)
            .bind(f.secret.as_ref().map(|s| s.expose().clone()))
            .bind(&f.phone)
            .bind(&f.credential_id)
            .bind(f.last_used_step)
            .bind(f.created_at)
            .bind(f.confirmed_at)
            .bind(f.last_used_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::store::map_unique(e, "factor"))?;
            Ok(())
        }

        /// Revokes every trusted device of the account (a password change or reset).
        async fn revoke_trusted_devices<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            account: &str,
            now: i64,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query("UPDATE trusted_devices SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(account)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        fn factor_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::Factor> {
            use sqlx::Row;
            let kind: String = r.try_get("kind")?;
            Ok($crate::store::Factor {
                id: r.try_get("id")?,
                account_id: $crate::domain::AccountId(r.try_get("account_id")?),
                kind: $crate::store::FactorKind::parse(&kind).ok_or_else(|| $crate::store::StoreError::Corrupt(kind.clone()))?,
                label: r.try_get("label")?,
                secret: r.try_get::<Option<String>, _>("secret")?.map($crate::domain::Secret::new),
                phone: r.try_get("phone")?,
                credential_id: r.try_get("credential_id")?,
                last_used_step: r.try_get("last_used_step")?,
                created_at: r.try_get("created_at")?,
                confirmed_at: r.try_get("confirmed_at")?,
                last_used_at: r.try_get("last_used_at")?,
            })
        }

        fn device_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::TrustedDevice> {
            use sqlx::Row;
            let factor: String = r.try_get("factor")?;
            Ok($crate::store::TrustedDevice {
                id: r.try_get("id")?,
                account_id: $crate::domain::AccountId(r.try_get("account_id")?),
                token_digest: r.try_get("token_digest")?,
                label: r.try_get("label")?,
                factor: serde_json::from_str(&factor).map_err(|e| $crate::store::StoreError::Corrupt(e.to_string()))?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                last_used_at: r.try_get("last_used_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        }
    };
}
pub(crate) use impl_factor_store;
