//! [`crate::store::Tx`] for both backends: each method calls the statement helper (`tx_*`,
//! `insert_*`) that the aggregate's store macro defines next to its other queries, so every write
//! is written once and used both by a store method and inside a use case's transaction.

/// Implements `Tx` and its per-aggregate traits for `SqlTx<$db>`; expanded next to the store macros.
macro_rules! impl_sql_tx {
    ($db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Tx for $crate::store::sql::SqlTx<$db> {
            async fn enqueue_mail(&mut self, mail: &$crate::store::OutboxMail) -> $crate::store::StoreResult<()> {
                insert_outbox_mail(&mut self.0, mail).await
            }

            async fn bump_generation(&mut self, what: $crate::store::Cached) -> $crate::store::StoreResult<()> {
                tx_bump_generation(&mut self.0, what).await
            }

            async fn commit(self: Box<Self>) -> $crate::store::StoreResult<()> {
                let $crate::store::sql::SqlTx(tx, cache, appended) = *self;
                tx.commit().await?;
                if let (Some(cache), Some(head)) = (cache, appended) {
                    // After the lock is released: a later transaction may have moved on already.
                    $crate::store::sql::advance_head(&cache, head);
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::AuditTx for $crate::store::sql::SqlTx<$db> {
            async fn lock_audit_head(&mut self) -> $crate::store::StoreResult<$crate::store::AuditHead> {
                match &self.1 {
                    // SQLite: `BEGIN IMMEDIATE` already holds the one write lock, so the end is this
                    // transaction's own last record, or the end this process last saw committed; it
                    // is read again only when unknown or found stale (another process appended).
                    Some(cache) => {
                        if let Some(head) = self.2.clone().or_else(|| $crate::store::sql::cached_head(cache)) {
                            return Ok(head);
                        }
                        let head = read_audit_head(&mut self.0).await?;
                        $crate::store::sql::cache_head(cache, Some(head.clone()));
                        Ok(head)
                    }
                    // PostgreSQL: lock the end's row until commit; appends from every node queue here.
                    None => lock_audit_head(&mut self.0).await,
                }
            }

            async fn append_audit_record(
                &mut self,
                record: &$crate::store::AuditRecord,
            ) -> $crate::store::StoreResult<()> {
                let appended = insert_audit_record(&mut self.0, record).await?;
                if let Some(cache) = self.1.clone() {
                    if !appended {
                        // Another process appended since this one last looked: read the end now,
                        // while this transaction holds the write lock, for the next try.
                        let head = read_audit_head(&mut self.0).await?;
                        $crate::store::sql::cache_head(&cache, Some(head.clone()));
                        self.2 = Some(head);
                    } else {
                        let before = self.2.take().or_else(|| $crate::store::sql::cached_head(&cache));
                        self.2 = before.map(|head| $crate::store::AuditHead {
                            seq: record.seq,
                            hash: record.hash.clone(),
                            ..head
                        });
                    }
                }
                if !appended {
                    return Err($crate::store::StoreError::Conflict("audit head"));
                }
                Ok(())
            }

            async fn prune_audit(&mut self, through_seq: i64, base_hash: &str) -> $crate::store::StoreResult<u64> {
                if let Some(cache) = &self.1 {
                    $crate::store::sql::cache_head(cache, None);
                    self.2 = None;
                }
                prune_audit_records(&mut self.0, through_seq, base_hash).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::RepresentationTx for $crate::store::sql::SqlTx<$db> {
            async fn create_care_client(
                &mut self,
                client: &$crate::store::CareClient,
            ) -> $crate::store::StoreResult<()> {
                tx_create_care_client(&mut self.0, client).await
            }

            async fn create_representation(
                &mut self,
                representation: &$crate::store::Representation,
            ) -> $crate::store::StoreResult<()> {
                tx_create_representation(&mut self.0, representation).await
            }

            async fn record_minor_consent(
                &mut self,
                id: &$crate::domain::RepresentationId,
                by: &str,
                now: $crate::clock::UnixTime,
            ) -> $crate::store::StoreResult<Option<$crate::store::Representation>> {
                tx_record_minor_consent(&mut self.0, id, by, now).await
            }

            async fn end_representation(
                &mut self,
                id: &$crate::domain::RepresentationId,
                status: $crate::domain::representation::Status,
                change: &str,
                by: &str,
                now: $crate::clock::UnixTime,
            ) -> $crate::store::StoreResult<Option<$crate::store::Representation>> {
                tx_end_representation(&mut self.0, id, status, change, by, now).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::OrganisationTx for $crate::store::sql::SqlTx<$db> {
            async fn create_organisation(
                &mut self,
                org: &$crate::store::Organisation,
            ) -> $crate::store::StoreResult<()> {
                tx_create_organisation(&mut self.0, org).await
            }

            async fn set_policy(
                &mut self,
                policy: &$crate::store::OrganisationPolicy,
            ) -> $crate::store::StoreResult<()> {
                tx_set_policy(&mut self.0, policy).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::ClientTx for $crate::store::sql::SqlTx<$db> {
            async fn create_client(&mut self, client: &$crate::store::Client) -> $crate::store::StoreResult<()> {
                tx_create_client(&mut self.0, client).await
            }

            async fn set_client_pkce(
                &mut self,
                id: &$crate::domain::ClientId,
                pkce: $crate::store::PkcePolicy,
            ) -> $crate::store::StoreResult<bool> {
                tx_set_client_pkce(&mut self.0, id, pkce).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::KeyTx for $crate::store::sql::SqlTx<$db> {
            async fn insert_key(&mut self, key: &$crate::store::SigningKey) -> $crate::store::StoreResult<()> {
                tx_insert_key(&mut self.0, key).await
            }

            async fn set_key_publish_until(&mut self, kid: &str, until: i64) -> $crate::store::StoreResult<()> {
                tx_set_key_publish_until(&mut self.0, kid, until).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::AccountTx for $crate::store::sql::SqlTx<$db> {
            async fn create_account(&mut self, account: &$crate::store::Account) -> $crate::store::StoreResult<()> {
                insert_account(&mut self.0, account).await
            }

            async fn change_password(
                &mut self,
                id: &$crate::domain::AccountId,
                hash: &$crate::domain::Secret<String>,
                now: i64,
            ) -> $crate::store::StoreResult<()> {
                tx_change_password(&mut self.0, id, hash, now).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::SessionTx for $crate::store::sql::SqlTx<$db> {
            async fn create_session(&mut self, session: &$crate::store::Session) -> $crate::store::StoreResult<()> {
                tx_create_session(&mut self.0, session).await
            }

            async fn end_session(
                &mut self,
                id: &$crate::domain::SessionId,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                tx_end_session(&mut self.0, id, now).await
            }

            async fn move_grants(
                &mut self,
                from: &$crate::domain::SessionId,
                to: &$crate::domain::SessionId,
            ) -> $crate::store::StoreResult<()> {
                tx_move_grants(&mut self.0, from, to).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::GrantTx for $crate::store::sql::SqlTx<$db> {
            async fn grant_for_code(
                &mut self,
                grant: &$crate::store::Grant,
                refresh: Option<&$crate::store::RefreshToken>,
            ) -> $crate::store::StoreResult<$crate::store::CodeGrant> {
                tx_grant_for_code(&mut self.0, grant, refresh).await
            }

            async fn rotate_refresh_token(
                &mut self,
                old: &str,
                new: &$crate::store::RefreshToken,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                tx_rotate_refresh_token(&mut self.0, old, new, now).await
            }

            async fn revoke_grant(
                &mut self,
                id: &$crate::domain::GrantId,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                tx_revoke_grant(&mut self.0, id, now).await
            }

            async fn revoke_access_token(&mut self, jti: &str, expires_at: i64) -> $crate::store::StoreResult<bool> {
                tx_revoke_access_token(&mut self.0, jti, expires_at).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::InvitationTx for $crate::store::sql::SqlTx<$db> {
            async fn create_invitation(
                &mut self,
                invitation: &$crate::store::Invitation,
                now: i64,
            ) -> $crate::store::StoreResult<()> {
                tx_create_invitation(&mut self.0, invitation, now).await
            }

            async fn activate_with_account(
                &mut self,
                invitation_id: &str,
                account: &$crate::store::Account,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                tx_activate_with_account(&mut self.0, invitation_id, account, now).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::ResetTx for $crate::store::sql::SqlTx<$db> {
            async fn create_password_reset(
                &mut self,
                reset: &$crate::store::PasswordReset,
            ) -> $crate::store::StoreResult<()> {
                tx_create_password_reset(&mut self.0, reset).await
            }

            async fn reset_password(
                &mut self,
                digest: &str,
                password_hash: &$crate::domain::Secret<String>,
                now: i64,
            ) -> $crate::store::StoreResult<Option<$crate::domain::AccountId>> {
                tx_reset_password(&mut self.0, digest, password_hash, now).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::FactorTx for $crate::store::sql::SqlTx<$db> {
            async fn add_confirmed_factor(&mut self, factor: &$crate::store::Factor) -> $crate::store::StoreResult<()> {
                insert_factor(&mut self.0, factor).await
            }

            async fn confirm_factor(&mut self, id: &str, now: i64) -> $crate::store::StoreResult<bool> {
                tx_confirm_factor(&mut self.0, id, now).await
            }

            async fn remove_factor(
                &mut self,
                id: &str,
                account: &$crate::domain::AccountId,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                tx_remove_factor(&mut self.0, id, account, now).await
            }

            async fn replace_recovery_codes(
                &mut self,
                account: &$crate::domain::AccountId,
                digests: &[String],
                now: i64,
            ) -> $crate::store::StoreResult<()> {
                tx_replace_recovery_codes(&mut self.0, account, digests, now).await
            }

            async fn add_trusted_device(
                &mut self,
                device: &$crate::store::TrustedDevice,
            ) -> $crate::store::StoreResult<()> {
                tx_add_trusted_device(&mut self.0, device).await
            }

            async fn revoke_trusted_device(
                &mut self,
                id: &str,
                account: &$crate::domain::AccountId,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                tx_revoke_trusted_device(&mut self.0, id, account, now).await
            }

            async fn use_recovery_code(
                &mut self,
                account: &$crate::domain::AccountId,
                digest: &str,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                tx_use_recovery_code(&mut self.0, account, digest, now).await
            }

            async fn reset_factors(
                &mut self,
                account: &$crate::domain::AccountId,
                temporary_password: Option<&$crate::domain::Secret<String>>,
                now: i64,
            ) -> $crate::store::StoreResult<()> {
                tx_reset_factors(&mut self.0, account, temporary_password, now).await
            }
        }
    };
}
pub(crate) use impl_sql_tx;
