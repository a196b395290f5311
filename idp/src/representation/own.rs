//! A person's own view of representation, on the account page (docs/representation.md, "Client
//! control"): who may act for them (and revoking it), whom they may act for (and ending it).

use super::in_force;
use crate::app::AppState;
use crate::audit::{Actor, Event, EventType};
use crate::clock::UnixTime;
use crate::domain::representation::Status;
use crate::domain::RepresentationId;
use crate::store::{Account, CareClient, Representation, StoreError};

/// One representation as the account page lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub representation: Representation,
    pub client: CareClient,
    /// The representative's name (for "who may act for me").
    pub representative: String,
    /// In force now (not past its end, not ended by the age rules).
    pub in_force: bool,
}

impl Listed {
    /// Whether the client may revoke it on the account page (see [`end`]).
    pub fn revocable_by_client(&self) -> bool {
        self.representation.kind.revocable_by_client()
    }
}

/// What the account page shows of representation.
#[derive(Debug, Clone, Default)]
pub struct Mine {
    /// Who may act for the person (for each of their own care-client records).
    pub for_me: Vec<Listed>,
    /// Whom the person may act for.
    pub by_me: Vec<Listed>,
}

pub async fn mine(state: &AppState, account: &Account, now: UnixTime) -> Result<Mine, StoreError> {
    let store = state.store.as_ref();
    let mut mine = Mine::default();
    for client in store.care_clients_of_account(&account.id).await? {
        for r in store.representations_for_client(&client.id).await? {
            if !matches!(r.status, Status::Active | Status::Invited) {
                continue;
            }
            let representative = store.account_by_id(&r.account_id).await?;
            let name = representative.map(|a| format!("{} {}", a.given_name, a.family_name).trim().to_string());
            mine.for_me.push(listed(r, client.clone(), name.unwrap_or_default(), now));
        }
    }
    for r in store.representations_of_account(&account.id).await? {
        let Some(client) = store.care_client_by_id(&r.care_client_id).await? else { continue };
        mine.by_me.push(listed(r, client, String::new(), now));
    }
    Ok(mine)
}

/// A representation as listed: its sections as in force now (a parent of a child of 12 to 16
/// sees no dossier without the child's consent).
fn listed(mut representation: Representation, client: CareClient, representative: String, now: UnixTime) -> Listed {
    let sections = in_force(&representation, &client, now);
    let in_force = sections.is_some();
    if let Some(sections) = sections {
        representation.sections = sections;
    }
    Listed { representation, client, representative, in_force }
}

/// Ends representation `id` for the person who asks: the client it is for revokes it (a contact
/// or portal manager, not a legal representative), or the representative ends it themself; the representative's grants for the client are revoked with
/// it (docs/representation.md). Anyone else — another client's id in the form — gets `false`, and
/// the attempt is recorded.
pub async fn end(state: &AppState, account: &Account, id: &str, now: UnixTime) -> Result<bool, StoreError> {
    let store = state.store.as_ref();
    let id = RepresentationId(id.to_string());
    let found = match store.representation_by_id(&id).await? {
        Some(r) => store.care_client_by_id(&r.care_client_id).await?.map(|c| (r, c)),
        None => None,
    };
    let by = format!("account:{}", account.id);
    let (change, actor) = match &found {
        Some((r, _)) if r.account_id == account.id => ("ended_by_representative", Actor::representative(account)),
        Some((r, c)) if c.account_id.as_ref() == Some(&account.id) && r.kind.revocable_by_client() => {
            ("revoked_by_client", Actor::account(account))
        }
        _ => {
            let event = Event::new(EventType::RepresentationEnded, Actor::account(account))
                .failed()
                .object("representation", id.as_str())
                .detail("reason", "not_theirs");
            state.audit.record(store, &event, now).await?;
            return Ok(false);
        }
    };
    let mut tx = store.begin().await?;
    let Some(ended) = tx.end_representation(&id, Status::Revoked, change, &by, now).await? else {
        return Ok(false); // ended meanwhile; that end was recorded
    };
    let event = Event::new(EventType::RepresentationEnded, actor)
        .acting_for(ended.care_client_id.as_str())
        .object("representation", ended.id.as_str())
        .detail("representative", ended.account_id.as_str())
        .detail("reason", change);
    state.audit.commit(tx, None, &event, now).await?;
    // This node forgets the access tokens it verified at once; others at their next poll.
    state.note_revocations().await?;
    Ok(true)
}
