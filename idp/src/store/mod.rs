//! Persistent storage: one trait per aggregate, two backends (SQLite, PostgreSQL) built from the
//! same SQL (see `sql/`), one contract test suite over both (`tests/store_contract.rs`).
//!
//! All times are Unix seconds ([`UnixTime`]); secrets that the IdP hands out (codes, refresh
//! tokens, session cookies, client secrets) are stored only as their SHA-256 digest.

mod models;
pub mod postgres;
mod sql;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

pub use models::*;

use crate::clock::UnixTime;
use crate::domain::representation::Status;
use crate::domain::{AccountId, CareClientId, ClientId, GrantId, OrganisationId, RepresentationId, Secret, SessionId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the name says which (e.g. `username`).
    #[error("already exists: {0}")]
    Conflict(&'static str),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The name of the conflict (`StoreError::Conflict(USERNAME_LOOKALIKE)`) of a username that is not
/// taken but looks like one that is: its confusable skeleton (Unicode TS #39 §4) equals another
/// account's.
pub const USERNAME_LOOKALIKE: &str = "username_lookalike";

/// Care organisations.
#[async_trait]
pub trait OrganisationStore {
    async fn create_organisation(&self, org: &Organisation) -> StoreResult<()>;
    async fn organisation_by_slug(&self, slug: &str) -> StoreResult<Option<Organisation>>;
    async fn list_organisations(&self) -> StoreResult<Vec<Organisation>>;
}

/// OAuth clients: portals and machine clients (RFC 6749 §2).
#[async_trait]
pub trait ClientStore {
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    async fn client_by_id(&self, id: &ClientId) -> StoreResult<Option<Client>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Changes whether the client must send PKCE; `NotFound` for an unknown client.
    async fn set_client_pkce(&self, id: &ClientId, pkce: PkcePolicy) -> StoreResult<()>;
}

/// Accounts: people who sign in.
#[async_trait]
pub trait AccountStore {
    /// Fails with `Conflict("username")` when the normalised username is taken,
    /// `Conflict(USERNAME_LOOKALIKE)` when another account's username has the same confusable skeleton
    /// (Unicode TS #39 §4), and `Conflict("account")` for a clash of id or subject.
    async fn create_account(&self, account: &Account) -> StoreResult<()>;
    async fn account_by_username(&self, normalised: &str) -> StoreResult<Option<Account>>;
    async fn account_by_id(&self, id: &AccountId) -> StoreResult<Option<Account>>;
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;
    /// Sets a password the person chose (clearing `must_change_password` and `password_via_mail`)
    /// and revokes the account's trusted devices, in one transaction.
    async fn change_password(&self, id: &AccountId, hash: &Secret<String>, now: UnixTime) -> StoreResult<()>;
    /// Stores the secret question and the hash of its normalised answer.
    async fn set_secret_question(
        &self,
        id: &AccountId,
        question: &str,
        answer_hash: &Secret<String>,
    ) -> StoreResult<()>;
    /// The secret question, when one was set.
    async fn secret_question(&self, id: &AccountId) -> StoreResult<Option<String>>;
}

/// Signing keys (kept in the database so every node signs with the same keys).
#[async_trait]
pub trait KeyStore {
    async fn insert_key(&self, key: &SigningKey) -> StoreResult<()>;
    async fn list_keys(&self) -> StoreResult<Vec<SigningKey>>;
    /// Retires a key: it stays in JWKS until `until`, so tokens it signed still verify.
    async fn set_key_publish_until(&self, kid: &str, until: UnixTime) -> StoreResult<()>;
}

/// Single-sign-on sessions.
#[async_trait]
pub trait SessionStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    async fn session_by_token_digest(&self, digest: &str) -> StoreResult<Option<Session>>;
    async fn session_by_id(&self, id: &SessionId) -> StoreResult<Option<Session>>;
    /// Ends a session and, in the same transaction, revokes its grants and voids its unredeemed
    /// codes; returns false when the session had already ended.
    async fn end_session(&self, id: &SessionId, now: UnixTime) -> StoreResult<bool>;
}

/// What [`GrantTx::grant_for_code`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeGrant {
    /// The grant and its first refresh token are written.
    Created,
    /// The grant was there already: the code was redeemed before.
    Exists,
    /// The code's session has ended (signing out voids its codes): nothing written.
    SessionEnded,
}

/// Grants and the refresh tokens in them (RFC 6749 §6; OAuth 2.0 Security BCP §4.14 rotation).
#[async_trait]
pub trait GrantStore {
    /// Creates the grant and, in the same transaction, its first refresh token.
    async fn create_grant(&self, grant: &Grant, refresh: Option<&RefreshToken>) -> StoreResult<()>;
    async fn grant_by_id(&self, id: &GrantId) -> StoreResult<Option<Grant>>;
    /// Revokes the grant (and with it every token in it); false when it was unknown or already
    /// revoked. Only a revocation that changed something bumps the revocation generation.
    async fn revoke_grant(&self, id: &GrantId, now: UnixTime) -> StoreResult<bool>;
    /// Re-attaches a session's grants to its successor (the same person signed in again).
    async fn move_grants(&self, from: &SessionId, to: &SessionId) -> StoreResult<()>;
    async fn refresh_token_by_digest(&self, digest: &str) -> StoreResult<Option<RefreshToken>>;
    /// Marks `old` used and stores `new`, atomically. Returns false (and stores nothing) when
    /// `old` was already used: the caller treats that as reuse and revokes the grant.
    async fn rotate_refresh_token(&self, old: &str, new: &RefreshToken, now: UnixTime) -> StoreResult<bool>;
    /// RFC 7009: remembers a revoked access token until it would have expired anyway; false when
    /// it was remembered already.
    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> StoreResult<bool>;
    /// True when the access token or its grant was revoked.
    async fn access_token_revoked(&self, jti: &str, grant: Option<&GrantId>) -> StoreResult<bool>;
    /// The client whose tokens are in the grant.
    async fn grant_client(&self, id: &GrantId) -> StoreResult<Option<ClientId>> {
        Ok(self.grant_by_id(id).await?.map(|g| g.client_id))
    }
}

/// The mail outbox: rows are written with the change that causes them, then delivered.
#[async_trait]
pub trait OutboxStore {
    /// Queues a mail on its own (when no other state changes with it).
    async fn enqueue_mail(&self, mail: &OutboxMail) -> StoreResult<()>;
    /// Leases up to `limit` due mails for `lease_secs`; a leased mail is not handed to anyone else
    /// until the lease ends or the mail is marked sent or rescheduled.
    async fn claim_due_mail(&self, now: UnixTime, lease_secs: i64, limit: i64) -> StoreResult<Vec<OutboxMail>>;
    /// Records delivery and blanks the bodies.
    async fn mark_mail_sent(&self, id: &str, now: UnixTime) -> StoreResult<()>;
    /// Records a failed attempt and when to try again.
    async fn retry_mail(&self, id: &str, next_attempt_at: UnixTime, error: &str) -> StoreResult<()>;
    async fn mail_by_id(&self, id: &str) -> StoreResult<Option<OutboxMail>>;
}

/// Organisation policies.
#[async_trait]
pub trait PolicyStore {
    async fn set_policy(&self, policy: &OrganisationPolicy) -> StoreResult<()>;
    async fn policy(&self, organisation: &OrganisationId) -> StoreResult<Option<OrganisationPolicy>>;
}

/// Invitations to activate an account.
#[async_trait]
pub trait InvitationStore {
    async fn invitation_by_id(&self, id: &str) -> StoreResult<Option<Invitation>>;
    /// Invitations (open or not) sent to an address, newest first.
    async fn invitations_by_email(&self, email_normalised: &str) -> StoreResult<Vec<Invitation>>;
    /// Counts one wrong answer, atomically; returns the new count, or `None` when the invitation
    /// had already reached `max` (so concurrent guesses never get past it).
    async fn count_invitation_failure(&self, id: &str, max: u32) -> StoreResult<Option<u32>>;
    /// Gives back an attempt taken with `count_invitation_failure` when the answer was right.
    async fn release_invitation_attempt(&self, id: &str) -> StoreResult<()>;
    /// The invitation whose code or link token has this digest.
    async fn invitation_by_secret(&self, digest: &str) -> StoreResult<Option<Invitation>>;
}

/// Password recovery.
#[async_trait]
pub trait PasswordResetStore {
    /// Accounts whose e-mail address, normalised by `activation::normalise_email`, is `email_normalised`.
    async fn accounts_by_email(&self, email_normalised: &str) -> StoreResult<Vec<Account>>;
    async fn password_reset_by_digest(&self, digest: &str) -> StoreResult<Option<PasswordReset>>;
    /// The policy of the organisation whose invitation created the account, if any.
    async fn policy_for_account(&self, account: &AccountId) -> StoreResult<Option<OrganisationPolicy>>;
}

/// Second factors, recovery codes and trusted devices (docs/factors.md): reads and the writes that
/// need no notice. Changes the person must hear about go through a [`Tx`] ([`FactorTx`]).
#[async_trait]
pub trait FactorStore {
    async fn add_factor(&self, factor: &Factor) -> StoreResult<()>;
    async fn factor(&self, id: &str) -> StoreResult<Option<Factor>>;
    /// The account's factors, confirmed or not, oldest first.
    async fn factors(&self, account: &AccountId) -> StoreResult<Vec<Factor>>;
    /// Records that a TOTP code of `step` was accepted: true only when no code of this step or a
    /// later one was accepted before (so a code works once, also when two requests race).
    async fn use_totp_step(&self, id: &str, step: i64, now: UnixTime) -> StoreResult<bool>;
    /// Records a use of the factor (and, for a passkey, its updated credential).
    async fn touch_factor(&self, id: &str, secret: Option<&Secret<String>>, now: UnixTime) -> StoreResult<()>;
    /// How many unused recovery codes the account has.
    async fn recovery_codes_left(&self, account: &AccountId) -> StoreResult<i64>;
    async fn add_trusted_device(&self, device: &TrustedDevice) -> StoreResult<()>;
    async fn trusted_device_by_digest(&self, digest: &str) -> StoreResult<Option<TrustedDevice>>;
    /// The account's trusted devices that are still active at `now`, newest first.
    async fn trusted_devices(&self, account: &AccountId, now: UnixTime) -> StoreResult<Vec<TrustedDevice>>;
    /// Revokes one of the account's devices; false when there was no such active device.
    async fn revoke_trusted_device(&self, id: &str, account: &AccountId, now: UnixTime) -> StoreResult<bool>;
}

/// The audit log (NEN 7513, docs/audit.md): reads. Appends go through a [`Tx`], with the change
/// they record; `crate::audit` computes the chain.
#[async_trait]
pub trait AuditStore {
    /// The chain's end, and where it starts after retention.
    async fn audit_head(&self) -> StoreResult<AuditHead>;
    /// Up to `limit` records after `after_seq`, in chain order.
    async fn audit_records_after(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>>;
    /// Up to `limit` records with `from <= time < to` after `after_seq`, in chain order.
    async fn audit_records_between(
        &self,
        from: UnixTime,
        to: UnixTime,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>>;
    /// The newest `limit` records in which one of `persons` (an account id, the ids of its own
    /// care-client records) acted or was acted for, newest first, leaving out those whose
    /// `event_type` is in `except`.
    async fn audit_records_of(&self, persons: &[&str], except: &[&str], limit: i64) -> StoreResult<Vec<AuditRecord>>;
}

/// Care clients and who may act for them (docs/representation.md).
#[async_trait]
pub trait RepresentationStore {
    async fn care_client_by_id(&self, id: &CareClientId) -> StoreResult<Option<CareClient>>;
    async fn care_client_by_number(&self, org: &OrganisationId, number: &str) -> StoreResult<Option<CareClient>>;
    /// Whose portal `account` may open at `org`: its own care client record there (first), then
    /// the clients it has an active representation for (whose end date the caller checks).
    async fn choices_at(&self, account: &AccountId, org: &OrganisationId) -> StoreResult<Vec<Choice>>;
    /// The account's live (invited or active) representation of the client; at most one.
    async fn live_representation(
        &self,
        account: &AccountId,
        client: &CareClientId,
    ) -> StoreResult<Option<Representation>>;
    async fn representation_by_id(&self, id: &RepresentationId) -> StoreResult<Option<Representation>>;
    /// Every representation of the client, ended ones too, oldest first.
    async fn representations_for_client(&self, client: &CareClientId) -> StoreResult<Vec<Representation>>;
    /// Every change of a representation, first to last.
    async fn representation_history(&self, id: &RepresentationId) -> StoreResult<Vec<RepresentationChange>>;
    /// The care-client records of an account (its own dossiers, one per organisation at most).
    async fn care_clients_of_account(&self, account: &AccountId) -> StoreResult<Vec<CareClient>>;
    /// The account's live representations (whom it may act for), oldest first.
    async fn representations_of_account(&self, account: &AccountId) -> StoreResult<Vec<Representation>>;
    /// The live representations by a parent or guardian of clients born on or before `born_by`
    /// (`JJJJ-MM-DD`): those the age rules may end (`representation::end_by_age`).
    async fn parental_representations_born_by(&self, born_by: &str) -> StoreResult<Vec<Representation>>;
}

/// Back-channel logouts waiting to be delivered (OpenID Connect Back-Channel Logout 1.0); they
/// are queued by the writes that end sessions or revoke a representative's grants.
#[async_trait]
pub trait LogoutOutboxStore {
    /// Leases due notices (one node sends each), as the mail outbox does.
    async fn claim_due_logouts(&self, now: UnixTime, lease_secs: i64, limit: i64) -> StoreResult<Vec<QueuedLogout>>;
    async fn mark_logout_sent(&self, id: &str, now: UnixTime) -> StoreResult<()>;
    /// Counts a failed attempt; `next_attempt_at` `None` gives up.
    async fn retry_logout(&self, id: &str, next_attempt_at: Option<UnixTime>, error: &str) -> StoreResult<()>;
    async fn logouts_of_session(&self, session: &SessionId) -> StoreResult<Vec<QueuedLogout>>;
}

/// One unit of work: the writes of one use case, the mail they cause and their audit record commit
/// together or not at all. Dropping a `Tx` without [`Tx::commit`] rolls everything back, so a use
/// case that finds a write refused (`false`, `None`) simply returns. On SQLite a transaction takes
/// the write lock when it begins (`BEGIN IMMEDIATE`), so it never fails halfway because another
/// writer came first. The writes are grouped by aggregate in the traits below.
#[async_trait]
pub trait Tx:
    AuditTx
    + OrganisationTx
    + ClientTx
    + KeyTx
    + AccountTx
    + SessionTx
    + GrantTx
    + InvitationTx
    + ResetTx
    + FactorTx
    + RepresentationTx
    + Send
{
    /// Queues a mail; it is sent only if the transaction commits.
    async fn enqueue_mail(&mut self, mail: &OutboxMail) -> StoreResult<()>;
    /// Tells every node to reload what it caches of `what` (see [`ChangeStore`]); they see it
    /// only when the transaction commits, so never before the change itself.
    async fn bump_generation(&mut self, what: Cached) -> StoreResult<()>;
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}

/// The audit chain's writes (`crate::audit` computes the records).
#[async_trait]
pub trait AuditTx {
    /// Locks the audit chain's end until commit (appends from every node queue here) and returns it.
    async fn lock_audit_head(&mut self) -> StoreResult<AuditHead>;
    /// Appends `record` (whose `seq` follows the locked head) and moves the head to it.
    async fn append_audit_record(&mut self, record: &AuditRecord) -> StoreResult<()>;
    /// Retention: removes the records up to `through_seq` and makes the chain start after it.
    async fn prune_audit(&mut self, through_seq: i64, base_hash: &str) -> StoreResult<u64>;
}

/// `idp-admin`'s writes to organisations and their policies.
#[async_trait]
pub trait OrganisationTx {
    /// `Conflict("organisation")` when the slug (or id) is taken.
    async fn create_organisation(&mut self, org: &Organisation) -> StoreResult<()>;
    /// Stores the organisation's whole policy, replacing the one it had.
    async fn set_policy(&mut self, policy: &OrganisationPolicy) -> StoreResult<()>;
}

/// `idp-admin`'s writes to OAuth clients (RFC 6749 §2).
#[async_trait]
pub trait ClientTx {
    /// `Conflict("client")` when the id is taken.
    async fn create_client(&mut self, client: &Client) -> StoreResult<()>;
    /// Changes whether the client must send PKCE (RFC 7636); false when there is no such client.
    async fn set_client_pkce(&mut self, id: &ClientId, pkce: PkcePolicy) -> StoreResult<bool>;
}

/// Signing keys (RFC 7517): a rotation's new keys and the retirement of the ones they replace.
#[async_trait]
pub trait KeyTx {
    async fn insert_key(&mut self, key: &SigningKey) -> StoreResult<()>;
    /// Retires a key: it stays in JWKS until `until`, so tokens it signed still verify.
    async fn set_key_publish_until(&mut self, kid: &str, until: UnixTime) -> StoreResult<()>;
}

#[async_trait]
pub trait AccountTx {
    /// Creates an account; the conflicts of [`AccountStore::create_account`].
    async fn create_account(&mut self, account: &Account) -> StoreResult<()>;
    /// Sets a password the person chose (clearing `must_change_password` and `password_via_mail`)
    /// and revokes the account's trusted devices.
    async fn change_password(&mut self, id: &AccountId, hash: &Secret<String>, now: UnixTime) -> StoreResult<()>;
}

#[async_trait]
pub trait SessionTx {
    async fn create_session(&mut self, session: &Session) -> StoreResult<()>;
    /// Ends a session, revokes its grants and voids its unredeemed codes; false when it had ended.
    async fn end_session(&mut self, id: &SessionId, now: UnixTime) -> StoreResult<bool>;
    /// Re-attaches a session's grants to its successor (the same person signed in again).
    async fn move_grants(&mut self, from: &SessionId, to: &SessionId) -> StoreResult<()>;
}

#[async_trait]
pub trait GrantTx {
    /// Creates the grant a redeemed authorization code stands for (its id chosen with the code),
    /// with its first refresh token, while the code's session is live. Of racing redemptions of
    /// one code exactly one gets `Created`; the others see `Exists` once the winner's grant is
    /// committed, so they can revoke it. Takes the session's row first, so a concurrent sign-out
    /// either sees the grant and revokes it, or ends the session before (`SessionEnded`).
    async fn grant_for_code(&mut self, grant: &Grant, refresh: Option<&RefreshToken>) -> StoreResult<CodeGrant>;
    /// Marks `old` used and stores `new`; false when `old` was used already (reuse).
    async fn rotate_refresh_token(&mut self, old: &str, new: &RefreshToken, now: UnixTime) -> StoreResult<bool>;
    /// Revokes the grant; false when it was unknown or already revoked (nothing to record).
    async fn revoke_grant(&mut self, id: &GrantId, now: UnixTime) -> StoreResult<bool>;
    /// RFC 7009: remembers a revoked access token until it would have expired anyway; false when
    /// it was remembered already (nothing to record).
    async fn revoke_access_token(&mut self, jti: &str, expires_at: UnixTime) -> StoreResult<bool>;
}

#[async_trait]
pub trait InvitationTx {
    /// Voids the open invitations of the same organisation and address and stores this one.
    async fn create_invitation(&mut self, invitation: &Invitation, now: UnixTime) -> StoreResult<()>;
    /// Creates the account and marks the invitation used by it. False when the invitation was no
    /// longer open; `Conflict("username")` when the name is taken, `Conflict(USERNAME_LOOKALIKE)`
    /// when it looks like a taken one.
    async fn activate_with_account(
        &mut self,
        invitation_id: &str,
        account: &Account,
        now: UnixTime,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait ResetTx {
    async fn create_password_reset(&mut self, reset: &PasswordReset) -> StoreResult<()>;
    /// Uses the reset (once, before it expires), sets the new password hash, voids the account's
    /// other links, ends its sessions and revokes their grants and its trusted devices. Returns the
    /// account, or `None` when the reset was unknown, used or expired.
    async fn reset_password(
        &mut self,
        digest: &str,
        password_hash: &Secret<String>,
        now: UnixTime,
    ) -> StoreResult<Option<AccountId>>;
}

/// Factor changes the person is told about (docs/factors.md).
#[async_trait]
pub trait FactorTx {
    /// Adds a factor that needs no confirming code (a passkey).
    async fn add_confirmed_factor(&mut self, factor: &Factor) -> StoreResult<()>;
    /// Confirms a pending factor (once); drops the account's other pending factors of the same
    /// kind. False when it was not pending.
    async fn confirm_factor(&mut self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Removes a factor of the account and revokes its trusted devices; false when there was none.
    async fn remove_factor(&mut self, id: &str, account: &AccountId, now: UnixTime) -> StoreResult<bool>;
    /// Replaces the account's recovery codes with these digests.
    async fn replace_recovery_codes(
        &mut self,
        account: &AccountId,
        digests: &[String],
        now: UnixTime,
    ) -> StoreResult<()>;
    /// "Vertrouw deze computer": a device that stands in for the second factor until it expires.
    async fn add_trusted_device(&mut self, device: &TrustedDevice) -> StoreResult<()>;
    /// Revokes one of the account's devices; false when there was no such active device.
    async fn revoke_trusted_device(&mut self, id: &str, account: &AccountId, now: UnixTime) -> StoreResult<bool>;
    /// Uses a recovery code once.
    async fn use_recovery_code(&mut self, account: &AccountId, digest: &str, now: UnixTime) -> StoreResult<bool>;
    /// An operator's reset: every factor and recovery code removed, trusted devices revoked,
    /// sessions (and their grants) ended; with `temporary_password` (a hash) the password is
    /// replaced by a temporary one the organisation hands over.
    async fn reset_factors(
        &mut self,
        account: &AccountId,
        temporary_password: Option<&Secret<String>>,
        now: UnixTime,
    ) -> StoreResult<()>;
}

/// The writes to care clients and representations; each change of a representation is kept in
/// its history in the same transaction.
#[async_trait]
pub trait RepresentationTx {
    /// `Conflict("client_number")` when the organisation has a client with that number.
    async fn create_care_client(&mut self, client: &CareClient) -> StoreResult<()>;
    /// `Conflict("representation")` when the account already has a live one for the client.
    async fn create_representation(&mut self, representation: &Representation) -> StoreResult<()>;
    /// Records a minor's consent to their parent's access to the dossier (WGBO, 12 to 16); `None`
    /// when the representation is not active or the consent was recorded before.
    async fn record_minor_consent(
        &mut self,
        id: &RepresentationId,
        by: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Representation>>;
    /// Ends a live representation (`Revoked` or `Expired`; `change` names why for its history)
    /// and revokes every grant its account holds for the client; `None` when it was not live.
    async fn end_representation(
        &mut self,
        id: &RepresentationId,
        status: Status,
        change: &str,
        by: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Representation>>;
}

/// Opens transactions.
#[async_trait]
pub trait Transactions {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>>;

    /// Where write transactions run best, when not on the caller's own task: SQLite's writer
    /// thread (see `store::sqlite`). Used by [`write`].
    fn writer(&self) -> Option<&tokio::runtime::Handle> {
        None
    }
}

/// Runs `work` with a new transaction, on the backend's writer thread when it has one (SQLite),
/// else on this task; `work` commits. The work owns what it uses (`'static`): on SQLite it
/// finishes even when the request that started it goes away, so it is never half-done either way.
pub async fn write<T, E, F, Fut>(store: &Arc<dyn Store>, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(Box<dyn Tx>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
{
    let store_for_work = Arc::clone(store);
    // The request's address goes along: the audit records the work appends must name it.
    let run = crate::audit::keep_origin(async move { work(store_for_work.begin().await?).await });
    match store.writer() {
        // An error here means the work panicked or the thread stopped: nothing was committed.
        Some(writer) => writer.spawn(run).await.map_err(|_| StoreError::Backend(sqlx::Error::WorkerCrashed))?,
        None => run.await,
    }
}

/// Change counters that let every node notice what `idp-admin` changed (clients, keys).
#[async_trait]
pub trait ChangeStore {
    async fn bump_generation(&self, what: Cached) -> StoreResult<()>;
    async fn generation(&self, what: Cached) -> StoreResult<i64>;
}

/// What the server caches in memory and reloads when its generation changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// Clients and their organisations' policies.
    Clients,
    Keys,
    /// Bumped by every revocation (grants, access tokens, sessions' grants), in the same transaction.
    Revocations,
}

impl Cached {
    pub fn name(self) -> &'static str {
        match self {
            Cached::Clients => "clients",
            Cached::Keys => "keys",
            Cached::Revocations => "revocations",
        }
    }
}

/// Everything the application needs from storage.
pub trait Store:
    OrganisationStore
    + ClientStore
    + AccountStore
    + KeyStore
    + SessionStore
    + GrantStore
    + OutboxStore
    + PolicyStore
    + InvitationStore
    + PasswordResetStore
    + FactorStore
    + ChangeStore
    + AuditStore
    + RepresentationStore
    + LogoutOutboxStore
    + Transactions
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: OrganisationStore
        + ClientStore
        + AccountStore
        + KeyStore
        + SessionStore
        + GrantStore
        + OutboxStore
        + PolicyStore
        + InvitationStore
        + PasswordResetStore
        + FactorStore
        + ChangeStore
        + AuditStore
        + RepresentationStore
        + LogoutOutboxStore
        + Transactions
        + Send
        + Sync
{
}

/// Opens the database named by `url` (sqlite: or postgres://) and applies pending migrations.
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url, max_connections).await?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, max_connections).await?))
    }
}

/// Like [`map_unique`] for a table with several unique columns: the first `(column, name)` whose
/// column the violated constraint is on names the conflict (PostgreSQL names the constraint,
/// SQLite the column in its message), else `otherwise`.
pub(crate) fn map_unique_among(
    error: sqlx::Error,
    columns: &[(&str, &'static str)],
    otherwise: &'static str,
) -> StoreError {
    match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => {
            let on = |column: &str| e.constraint().is_some_and(|c| c.contains(column)) || e.message().contains(column);
            let named = columns.iter().find(|(column, _)| on(column)).map(|(_, named)| *named);
            StoreError::Conflict(named.unwrap_or(otherwise))
        }
        _ => StoreError::Backend(error),
    }
}

pub(crate) fn map_unique(error: sqlx::Error, what: &'static str) -> StoreError {
    match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Backend(error),
    }
}

#[cfg(test)]
mod tests {
    /// On SQLite a write runs on the writer thread, and the request's address goes with it (the
    /// audit records it appends name it).
    #[tokio::test]
    async fn a_write_runs_on_the_sqlite_writer_with_the_requests_origin() {
        let dir = std::env::temp_dir().join(format!("pw-write-{}", uuid::Uuid::new_v4()));
        let store = super::connect(&format!("sqlite://{}/db.sqlite", dir.display()), 2).await.unwrap();
        let work = super::write(&store, |tx| async move {
            drop(tx);
            let thread = std::thread::current().name().map(str::to_string);
            Ok::<_, super::StoreError>((thread, crate::audit::current_origin()))
        });
        let seen = crate::audit::with_origin("192.0.2.7".into(), work).await.unwrap();
        assert_eq!(seen, (Some("sqlite-writer".into()), Some("192.0.2.7".into())));
        let _ = std::fs::remove_dir_all(dir);
    }
}
