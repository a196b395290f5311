//! The audit log that a care organisation shows an inspector (NEN 7513; docs/audit.md): who did
//! what, acting for whom, from where, and when.
//!
//! A use case describes what happened as an [`Event`] and appends it with [`Auditor::append`] in
//! the same [`Tx`] as the change it records, so a change without its record cannot commit. Each
//! record carries a keyed hash (HMAC-SHA-256 under the factor key, which lives outside the
//! database) over its content and the hash of the record before it: a changed, removed, inserted
//! or reordered record breaks the chain, and without the key the chain cannot be rewritten.
//! [`verify`] walks it; [`export`] writes it as JSON lines or FHIR AuditEvents; [`retention`]
//! removes whole old months while the chain stays verifiable.

pub mod export;
pub mod retention;
pub mod verify;

use serde::Serialize;

use crate::auth::factor_key::FactorKey;
use crate::clock::UnixTime;
use crate::store::{Account, AuditRecord, OutboxMail, Store, StoreError, StoreResult, Tx};

tokio::task_local! {
    /// The client address of the request being handled, set once per request by the HTTP layer
    /// (`http::audit_origin`) so that every record a use case appends names it without each use
    /// case taking it as an argument. Outside a request (idp-admin, background work) there is none.
    static ORIGIN: String;
}

/// The client address of the request being handled, if any.
pub fn current_origin() -> Option<String> {
    ORIGIN.try_with(String::clone).ok()
}

/// Runs `work` (a request's handler) with `address` as the origin of the records it appends.
pub async fn with_origin<F: std::future::Future>(address: String, work: F) -> F::Output {
    ORIGIN.scope(address, work).await
}

/// `work` with this task's origin, if it has one, for work that runs elsewhere (a spawned task,
/// SQLite's writer thread): a task-local does not cross a spawn by itself.
pub fn keep_origin<F: std::future::Future>(work: F) -> impl std::future::Future<Output = F::Output> {
    let origin = current_origin();
    async move {
        match origin {
            Some(address) => ORIGIN.scope(address, work).await,
            None => work.await,
        }
    }
}

/// What was done to the object (NEN 7513 / FHIR AuditEvent.action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Execute,
}

impl Action {
    pub fn code(self) -> &'static str {
        match self {
            Action::Create => "C",
            Action::Read => "R",
            Action::Update => "U",
            Action::Delete => "D",
            Action::Execute => "E",
        }
    }
}

/// The kinds of event the log records; `as_str` is what is stored and exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    SigninSucceeded,
    SigninFailed,
    SigninThrottled,
    SecondFactorUsed,
    FactorAdded,
    FactorRemoved,
    RecoveryCodesIssued,
    FactorsReset,
    /// "Vertrouw deze computer": a browser that stands in for the second factor for a while.
    DeviceTrusted,
    DeviceRevoked,
    PasswordChanged,
    PasswordReset,
    /// A reset link was mailed (whoever asked: anyone may type an address).
    PasswordResetRequested,
    InvitationSent,
    AccountActivated,
    TokensIssued,
    TokensRefreshed,
    TokensRevoked,
    /// A portal read a person's claims at `/userinfo`.
    UserinfoRead,
    /// A portal had a person's token described at `/introspect` (an active one: `sub`, `scope`, `acr`).
    TokenIntrospected,
    SignedOut,
    /// An `idp-admin` command; the command is in `object`/`detail`.
    AdminCommand,
    AuditRead,
    AuditPruned,
    /// Someone may now act for a care client (an operator's grant, an accepted invitation).
    RepresentationGranted,
    /// A representation ended: revoked, ended by the representative, expired (its end date, the
    /// age rules).
    RepresentationEnded,
    /// A representation changed while it lasts (a minor's consent recorded).
    RepresentationChanged,
    /// At sign-in, the person chose whose portal to open (or a named client was refused).
    RepresentationChosen,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SigninSucceeded => "signin.succeeded",
            EventType::SigninFailed => "signin.failed",
            EventType::SigninThrottled => "signin.throttled",
            EventType::SecondFactorUsed => "factor.used",
            EventType::FactorAdded => "factor.added",
            EventType::FactorRemoved => "factor.removed",
            EventType::RecoveryCodesIssued => "factor.recovery_codes_issued",
            EventType::FactorsReset => "factor.reset",
            EventType::DeviceTrusted => "device.trusted",
            EventType::DeviceRevoked => "device.revoked",
            EventType::PasswordChanged => "password.changed",
            EventType::PasswordReset => "password.reset",
            EventType::PasswordResetRequested => "password.reset_requested",
            EventType::InvitationSent => "invitation.sent",
            EventType::AccountActivated => "account.activated",
            EventType::TokensIssued => "token.issued",
            EventType::TokensRefreshed => "token.refreshed",
            EventType::TokensRevoked => "token.revoked",
            EventType::UserinfoRead => "userinfo.read",
            EventType::TokenIntrospected => "token.introspected",
            EventType::SignedOut => "session.ended",
            EventType::AdminCommand => "admin.command",
            EventType::AuditRead => "audit.read",
            EventType::AuditPruned => "audit.pruned",
            EventType::RepresentationGranted => "representation.granted",
            EventType::RepresentationEnded => "representation.ended",
            EventType::RepresentationChanged => "representation.changed",
            EventType::RepresentationChosen => "representation.chosen",
        }
    }

    pub fn action(self) -> Action {
        use EventType::*;
        match self {
            SigninSucceeded | SigninFailed | SigninThrottled | SecondFactorUsed | AdminCommand
            | RepresentationChosen => Action::Execute,
            FactorAdded
            | RecoveryCodesIssued
            | DeviceTrusted
            | PasswordResetRequested
            | InvitationSent
            | AccountActivated
            | TokensIssued
            | RepresentationGranted => Action::Create,
            PasswordChanged | PasswordReset | TokensRefreshed | RepresentationChanged => Action::Update,
            FactorRemoved | FactorsReset | DeviceRevoked | TokensRevoked | SignedOut | AuditPruned
            | RepresentationEnded => Action::Delete,
            AuditRead | UserinfoRead | TokenIntrospected => Action::Read,
        }
    }
}

/// The role in which the actor acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A person with an account, acting for themself.
    Client,
    /// A person acting for a care client who is not themself (docs/representation.md).
    Representative,
    /// Someone running `idp-admin` for the organisation.
    Operator,
    /// A portal, acting with its own credentials.
    Portal,
    /// The identity provider itself (retention, expiry).
    System,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Representative => "representative",
            Role::Operator => "operator",
            Role::Portal => "portal",
            Role::System => "system",
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: Option<String>,
    pub name: Option<String>,
    pub role: Role,
    /// True when the actor asked for this themself (false e.g. for an operator's reset of someone's factors).
    pub is_requester: bool,
}

impl Actor {
    /// A person who signed in (or tried to), acting for themself.
    pub fn account(account: &Account) -> Self {
        Self {
            id: Some(account.id.0.clone()),
            name: Some(display_name(account)),
            role: Role::Client,
            is_requester: true,
        }
    }

    /// A person acting for someone else.
    pub fn representative(account: &Account) -> Self {
        Self { role: Role::Representative, ..Self::account(account) }
    }

    /// A person known by account id only, acting for a care client who is not themself.
    pub fn representing(id: &crate::domain::AccountId) -> Self {
        Self { role: Role::Representative, ..Self::person(id) }
    }

    /// A person known by account id only (e.g. the owner of a session that ends).
    pub fn person(id: &crate::domain::AccountId) -> Self {
        Self { id: Some(id.as_str().to_string()), name: None, role: Role::Client, is_requester: true }
    }

    /// Someone whose account is not known (a failed sign-in for an unknown name).
    pub fn unknown() -> Self {
        Self { id: None, name: None, role: Role::Client, is_requester: true }
    }

    /// An operator running `idp-admin` (the operating-system user, when known).
    pub fn operator(name: Option<String>) -> Self {
        Self { id: None, name, role: Role::Operator, is_requester: true }
    }

    pub fn portal(client_id: &str) -> Self {
        Self { id: Some(client_id.to_string()), name: None, role: Role::Portal, is_requester: true }
    }

    pub fn system() -> Self {
        Self { id: None, name: None, role: Role::System, is_requester: false }
    }
}

fn display_name(account: &Account) -> String {
    let name = format!("{} {}", account.given_name, account.family_name);
    let name = name.trim();
    if name.is_empty() {
        account.username.clone()
    } else {
        name.to_string()
    }
}

/// What happened, as a use case describes it; [`Auditor::append`] makes it a chained record.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventType,
    pub success: bool,
    pub actor: Actor,
    /// The person acted for (an account id); `None` when it is the actor themself or nobody.
    pub subject: Option<String>,
    pub client_address: Option<String>,
    pub object: Option<(&'static str, String)>,
    pub organisation: Option<String>,
    pub client: Option<String>,
    pub detail: serde_json::Map<String, serde_json::Value>,
    /// A portal's server-to-server request (token, revocation): its address is the portal's
    /// infrastructure, not where the person was, so none is recorded.
    pub back_channel: bool,
}

impl Event {
    pub fn new(kind: EventType, actor: Actor) -> Self {
        Self {
            kind,
            success: true,
            actor,
            subject: None,
            client_address: None,
            object: None,
            organisation: None,
            client: None,
            detail: serde_json::Map::new(),
            back_channel: false,
        }
    }

    /// Marks a portal's back-channel request: the request's address is not the person's.
    pub fn back_channel(mut self) -> Self {
        self.back_channel = true;
        self
    }

    pub fn failed(mut self) -> Self {
        self.success = false;
        self
    }

    /// The person whose data is reached. Defaults to the actor when the actor is a client.
    pub fn acting_for(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn from_address(mut self, address: impl ToString) -> Self {
        self.client_address = Some(address.to_string());
        self
    }

    pub fn object(mut self, kind: &'static str, id: impl Into<String>) -> Self {
        self.object = Some((kind, id.into()));
        self
    }

    pub fn organisation(mut self, id: impl Into<String>) -> Self {
        self.organisation = Some(id.into());
        self
    }

    pub fn portal(mut self, client_id: impl Into<String>) -> Self {
        self.client = Some(client_id.into());
        self
    }

    /// Adds a detail (never a secret: no passwords, codes or tokens).
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(key.to_string(), value.into());
        self
    }
}

/// Appends events to the chain: holds the chain key and this node's name.
#[derive(Clone, Debug)]
pub struct Auditor {
    key: FactorKey,
    node: String,
}

/// The fields a record's hash covers, in a fixed order (serde_json keeps declaration order).
#[derive(Serialize)]
struct Hashed<'a> {
    seq: i64,
    id: &'a str,
    time: UnixTime,
    event_type: &'a str,
    action: &'a str,
    outcome: &'a str,
    actor_id: &'a Option<String>,
    actor_name: &'a Option<String>,
    actor_role: &'a str,
    actor_is_requester: bool,
    subject_id: &'a Option<String>,
    client_address: &'a Option<String>,
    object_type: &'a Option<String>,
    object_id: &'a Option<String>,
    node: &'a str,
    organisation_id: &'a Option<String>,
    client_id: &'a Option<String>,
    detail: &'a str,
    prev_hash: &'a str,
}

impl Auditor {
    pub fn new(key: FactorKey, node: String) -> Self {
        Self { key, node }
    }

    /// The keyed hash of a record: HMAC-SHA-256 over its content, which includes `prev_hash`.
    pub fn hash(&self, r: &AuditRecord) -> String {
        let content = Hashed {
            seq: r.seq,
            id: &r.id,
            time: r.time,
            event_type: &r.event_type,
            action: &r.action,
            outcome: &r.outcome,
            actor_id: &r.actor_id,
            actor_name: &r.actor_name,
            actor_role: &r.actor_role,
            actor_is_requester: r.actor_is_requester,
            subject_id: &r.subject_id,
            client_address: &r.client_address,
            object_type: &r.object_type,
            object_id: &r.object_id,
            node: &r.node,
            organisation_id: &r.organisation_id,
            client_id: &r.client_id,
            detail: &r.detail,
            prev_hash: &r.prev_hash,
        };
        let text = serde_json::to_string(&content).expect("plain strings and numbers serialise");
        self.key.digest("poortwachter audit chain v1", &text)
    }

    /// Appends `event` to the chain inside `tx`: locks the chain's end (appends from every node
    /// queue there until this transaction ends), links the record to it and moves the end on.
    /// If this fails, the caller's change fails with it.
    pub async fn append(&self, tx: &mut dyn Tx, event: &Event, now: UnixTime) -> StoreResult<AuditRecord> {
        let record = self.linked(tx.lock_audit_head().await?, event, now);
        match tx.append_audit_record(&record).await {
            // The end the store remembered was stale (another process appended; SQLite only, where
            // the write lock is held already): link to the end it reads now.
            Err(StoreError::Conflict("audit head")) => {
                let record = self.linked(tx.lock_audit_head().await?, event, now);
                tx.append_audit_record(&record).await?;
                Ok(record)
            }
            Err(e) => Err(e),
            Ok(()) => Ok(record),
        }
    }

    /// The record of `event` that follows `head`, with its hash.
    fn linked(&self, head: crate::store::AuditHead, event: &Event, now: UnixTime) -> AuditRecord {
        let subject = event.subject.clone().or_else(|| match event.actor.role {
            Role::Client => event.actor.id.clone(),
            _ => None,
        });
        let mut record = AuditRecord {
            seq: head.seq + 1,
            id: event_id(now),
            time: now,
            event_type: event.kind.as_str().to_string(),
            action: event.kind.action().code().to_string(),
            outcome: if event.success { "success" } else { "failure" }.to_string(),
            actor_id: event.actor.id.clone(),
            actor_name: event.actor.name.clone(),
            actor_role: event.actor.role.as_str().to_string(),
            actor_is_requester: event.actor.is_requester,
            subject_id: subject,
            client_address: match event.back_channel {
                true => event.client_address.clone(),
                false => event.client_address.clone().or_else(current_origin),
            },
            object_type: event.object.as_ref().map(|(kind, _)| kind.to_string()),
            object_id: event.object.as_ref().map(|(_, id)| id.clone()),
            node: self.node.clone(),
            organisation_id: event.organisation.clone(),
            client_id: event.client.clone(),
            detail: serde_json::Value::Object(event.detail.clone()).to_string(),
            prev_hash: head.hash,
            hash: String::new(),
        };
        record.hash = self.hash(&record);
        record
    }

    /// Finishes a use case's transaction: queues its mail (if any), appends its record and commits.
    /// Nothing of the change is kept when any of the three fails.
    pub async fn commit(
        &self,
        mut tx: Box<dyn Tx>,
        mail: Option<&OutboxMail>,
        event: &Event,
        now: UnixTime,
    ) -> StoreResult<()> {
        if let Some(mail) = mail {
            tx.enqueue_mail(mail).await?;
        }
        self.append(tx.as_mut(), event, now).await?;
        tx.commit().await
    }

    /// What a person sees of their own record ("Activiteit" on the account page): the newest
    /// `limit` records in which they acted or were acted for, without the records of earlier
    /// looks at this list, of refreshed tokens and of portals reading with their tokens (a portal
    /// refreshes and reads often — a read per request —; the issue says which portals received
    /// tokens). They are left out by the query, so many of them never shorten the list. The look
    /// itself is recorded (NEN 7513 counts reads of the log).
    pub async fn own_activity(
        &self,
        store: &dyn Store,
        account: &Account,
        limit: i64,
        now: UnixTime,
    ) -> StoreResult<Vec<AuditRecord>> {
        let hidden = [
            EventType::AuditRead.as_str(),
            EventType::TokensRefreshed.as_str(),
            EventType::UserinfoRead.as_str(),
            EventType::TokenIntrospected.as_str(),
        ];
        // The account's own records, and those about its care-client records (a representative
        // acting for them): "who acted for me".
        let own = store.care_clients_of_account(&account.id).await?;
        let mut persons = vec![account.id.as_str()];
        persons.extend(own.iter().map(|c| c.id.as_str()));
        let shown = store.audit_records_of(&persons, &hidden, limit).await?;
        let event = Event::new(EventType::AuditRead, Actor::account(account))
            .object("audit", account.id.as_str())
            .detail("view", "own_activity")
            .detail("records", shown.len());
        self.record(store, &event, now).await?;
        Ok(shown)
    }

    /// Records an event that changes nothing else (a failed sign-in, a read), in its own transaction.
    pub async fn record(&self, store: &dyn Store, event: &Event, now: UnixTime) -> StoreResult<AuditRecord> {
        let mut tx = store.begin().await?;
        let record = self.append(tx.as_mut(), event, now).await?;
        tx.commit().await?;
        Ok(record)
    }
}

/// A record's event id: a UUID version 7 (RFC 9562 §5.7), time first, so that ids of new records
/// sort after older ones and the id index grows at its end instead of at random places (one page
/// written per append instead of a random one). The time is the record's own, in whole seconds;
/// the other 74 bits are random.
fn event_id(now: UnixTime) -> String {
    let random: [u8; 10] = crate::crypto::random_bytes(10).try_into().expect("10 bytes");
    let millis = u64::try_from(now).unwrap_or(0).saturating_mul(1000);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use super::event_id;

    #[test]
    fn event_ids_are_version_7_and_sort_by_time() {
        let earlier = event_id(1_800_000_000);
        let later = event_id(1_800_000_001);
        let parsed = uuid::Uuid::parse_str(&earlier).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert!(earlier < later, "{earlier} sorts before {later}");
        assert_ne!(event_id(1_800_000_000), event_id(1_800_000_000), "random within a second");
    }
}
