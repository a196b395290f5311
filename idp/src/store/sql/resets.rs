//! Queries for `PasswordResetStore`.

macro_rules! impl_reset_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::PasswordResetStore for $store {
            async fn accounts_by_email(&self, email_normalised: &str) -> $crate::store::StoreResult<Vec<$crate::store::Account>> {
                let rows = sqlx::query("SELECT * FROM accounts WHERE email_normalised = $1 AND NOT disabled ORDER BY created_at, id")
                    .bind(email_normalised)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(account_from_row).collect()
            }

            async fn password_reset_by_digest(
                &self,
                digest: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::PasswordReset>> {
                use sqlx::Row;
                let row = sqlx::query("SELECT * FROM password_resets WHERE digest = $1").bind(digest).fetch_optional(&self.pool).await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some($crate::store::PasswordReset {
                    digest: r.try_get("digest")?,
                    account_id: $crate::domain::AccountId(r.try_get("account_id")?),
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    used_at: r.try_get("used_at")?,
                }))
            }

            async fn policy_for_account(
                &self,
                account: &$crate::domain::AccountId,
            ) -> $crate::store::StoreResult<Option<$crate::store::OrganisationPolicy>> {
                let row = sqlx::query(
                    "SELECT p.* FROM organisation_policies p JOIN invitations i ON i.organisation_id = p.organisation_id \
                     WHERE i.account_id = $1 ORDER BY i.used_at DESC LIMIT 1",
                )
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| policy_from_row(&r)).transpose()
            }
        }

        async fn tx_create_password_reset<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            reset: &$crate::store::PasswordReset,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query("INSERT INTO password_resets (digest, account_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)")
                .bind(&reset.digest)
                .bind(reset.account_id.as_str())
                .bind(reset.created_at)
                .bind(reset.expires_at)
                .execute(&mut **tx)
                .await
                .map_err(|e| $crate::store::map_unique(e, "password reset"))?;
            Ok(())
        }

        /// Uses the reset (once, before it expires), sets the password, voids the account's other
        /// links, ends its sessions (revoking their grants) and revokes its trusted devices.
        async fn tx_reset_password<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            digest: &str,
            password_hash: &$crate::domain::Secret<String>,
            now: i64,
        ) -> $crate::store::StoreResult<Option<$crate::domain::AccountId>> {
            use sqlx::Row;
            let used = sqlx::query(
                "UPDATE password_resets SET used_at = $1 WHERE digest = $2 AND used_at IS NULL AND expires_at > $1 RETURNING account_id",
            )
            .bind(now)
            .bind(digest)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = used else {
                return Ok(None);
            };
            let account: String = row.try_get("account_id")?;
            // The mailbox chose this password: a mailed token no longer adds a channel.
            // A password the person just chose: a temporary one no longer needs replacing.
            sqlx::query("UPDATE accounts SET password_hash = $1, password_via_mail = TRUE, must_change_password = FALSE WHERE id = $2")
                .bind(password_hash.expose())
                .bind(&account)
                .execute(&mut **tx)
                .await?;
            // Other links sent earlier die with this one.
            sqlx::query("UPDATE password_resets SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL")
                .bind(now)
                .bind(&account)
                .execute(&mut **tx)
                .await?;
            end_account_sessions(tx, &account, now).await?;
            revoke_trusted_devices(tx, &account, now).await?;
            Ok(Some($crate::domain::AccountId(account)))
        }
    };
}
pub(crate) use impl_reset_store;
