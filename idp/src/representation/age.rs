//! The WGBO's 16th birthday: a parent's (or guardian's) representation of a minor ends. Its
//! effect needs nothing from here — `in_force` reads the clock at every use — but its status,
//! its history, the revocation of the parent's grants and the notices to both do: every node runs
//! [`end_by_age`] now and then; ending is conditional, so of several nodes one ends each
//! representation and its mails are queued once.

use serde::Serialize;

use super::today;
use crate::app::Deps;
use crate::audit::{Actor, Event, EventType};
use crate::clock::UnixTime;
use crate::domain::representation::{Minor, Status};
use crate::domain::BirthDate;
use crate::store::{Account, CareClient, OutboxMail, StoreError};
use crate::ui::Locale;

#[derive(Debug, thiserror::Error)]
pub enum AgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
}

#[derive(Serialize)]
struct EndedMail<'a> {
    given_name: &'a str,
    client_name: String,
    representative_name: String,
    to_client: bool,
    link: String,
}

/// Ends the live representations by a parent or guardian of clients who are 16 now (status
/// `expired`, change `age_16`, by `system`), with the revocation of the parent's grants for the
/// client, a notice to the parent and one to the client (when they have an account with an
/// address), and a `representation.ended` record. Returns how many it ended.
pub async fn end_by_age(deps: &Deps, now: UnixTime) -> Result<usize, AgeError> {
    let today = today(now);
    // Everyone born by this day is 16 or older (a 29 February birthday is counted exactly below).
    let born_by = crate::domain::representation::birthday(today, -16);
    let mut ended = 0;
    for r in deps.store.parental_representations_born_by(&born_by.to_string()).await? {
        let Some(client) = deps.store.care_client_by_id(&r.care_client_id).await? else { continue };
        let birth = client.birth_date.as_deref().and_then(BirthDate::parse);
        if !birth.is_some_and(|b| Minor::on(b.date(), today) == Minor::From16) {
            continue;
        }
        let representative = deps.store.account_by_id(&r.account_id).await?;
        let own = match &client.account_id {
            Some(id) => deps.store.account_by_id(id).await?,
            None => None,
        };
        let mut mails = Vec::new();
        let parent_name = representative.as_ref().map(full_name).unwrap_or_default();
        if let Some(parent) = &representative {
            mails.push(notice(deps, parent, &client, &parent_name, false, now).await?);
        }
        if let Some(own) = &own {
            mails.push(notice(deps, own, &client, &parent_name, true, now).await?);
        }
        let mut tx = deps.store.begin().await?;
        let Some(done) = tx.end_representation(&r.id, Status::Expired, "age_16", "system", now).await? else {
            continue; // another node ended it
        };
        for mail in mails.iter().filter(|m| !m.recipient.is_empty()) {
            tx.enqueue_mail(mail).await?;
        }
        let event = Event::new(EventType::RepresentationEnded, Actor::system())
            .acting_for(client.id.as_str())
            .object("representation", done.id.as_str())
            .detail("representative", done.account_id.as_str())
            .detail("reason", "age_16");
        deps.audit.commit(tx, None, &event, now).await?;
        tracing::info!(representation = %done.id, "a parent's representation ended at the client's 16th birthday");
        ended += 1;
    }
    Ok(ended)
}

fn full_name(account: &Account) -> String {
    format!("{} {}", account.given_name, account.family_name).trim().to_string()
}

async fn notice(
    deps: &Deps,
    to: &Account,
    client: &CareClient,
    parent_name: &str,
    to_client: bool,
    now: UnixTime,
) -> Result<OutboxMail, AgeError> {
    let context = EndedMail {
        given_name: &to.given_name,
        client_name: client.full_name(),
        representative_name: parent_name.to_string(),
        to_client,
        link: format!("{}/account", deps.issuer),
    };
    let rendered = deps.mail_templates.render("representation-ended", Locale::Nl, &context)?;
    Ok(crate::mail::for_account(deps.store.as_ref(), &deps.config.mail, to, rendered, now).await?)
}
