//! "Namens wie wilt u inloggen?" in the sign-in (docs/representation.md): whose portals the
//! session's account may open at the portal's organisation, a client the request names, the
//! choice made on the page, and whom the code is for. The step itself is the machine's
//! (`machine::whose_portal`); this is what the use case reads and writes for it.

use super::interaction::Chosen;
use super::{session, Error, Event, Interaction, Outcome, Run, Stay, Step, Who, Why};
use crate::app::AppState;
use crate::audit::{Actor, Event as AuditEvent, EventType};
use crate::domain::Party;
use crate::oidc::authorize;
use crate::representation;
use crate::store::{Choice, Session, StoreError};

impl Run<'_> {
    /// Reads whose portal the session's account may open at the portal's organisation; a client
    /// the request names (`acting_for`) is settled here (unless the portal asks the person with
    /// `prompt=select_account`), or refused with its audit record. False when the portal is gone.
    pub(super) async fn load_choices(&mut self, session: &Session) -> Result<bool, Error> {
        let Some(request) = self.interaction.request().cloned() else { return Ok(true) };
        let Some(client) = self.state.client(request.client_id.as_str()).await? else { return Ok(false) };
        let account = &session.account_id;
        let choices = match session.might_represent {
            true => {
                representation::choices(self.state.store.as_ref(), account, &client.organisation_id, self.now).await?
            }
            // Known to represent nobody (read with the session): no read, no question.
            false => Vec::new(),
        };
        let unsettled = self.interaction.chosen(account).is_none() && !self.interaction.named_refused;
        if let (Some(named), true, false) = (request.acting_for.as_deref(), unsettled, request.prompt.select_account) {
            match self.named(session, &choices, named).await? {
                Some(party) => {
                    let choice = choices.iter().find(|c| c.party() == party);
                    self.record_choice(session, Some(choice), &request.client_id).await?;
                    self.interaction.acting_for = Some(Chosen { by: account.clone(), party });
                }
                None => {
                    self.interaction.named_refused = true;
                    self.record_choice(session, None, &request.client_id).await?;
                }
            }
        }
        self.choices = Some(choices);
        Ok(true)
    }

    /// The party a portal named with `acting_for`: a care client among the choices, by the `sub`
    /// its tokens carried; or the account's own `sub`, from tokens made before it had a record
    /// there (then its own record, or itself). `None` when the account may not act for them.
    async fn named(&self, session: &Session, choices: &[Choice], named: &str) -> Result<Option<Party>, Error> {
        if let Some(choice) = choices.iter().find(|c| c.client.subject.as_str() == named) {
            return Ok(Some(choice.party()));
        }
        let account = self.state.store.account_by_id(&session.account_id).await?;
        if account.is_none_or(|a| a.subject.as_str() != named) {
            return Ok(None);
        }
        Ok(Some(match choices.iter().find(|c| c.own) {
            Some(own) => own.party(),
            None => Party::Account(session.account_id.clone()),
        }))
    }

    /// The record of whose portal was opened (`representation.chosen`): `choice` is the care
    /// client chosen (`Some(None)`: the account's own portal, without a record), or `None` for a
    /// client refused (named by the portal, or picked from outside the list).
    async fn record_choice(
        &self,
        session: &Session,
        choice: Option<Option<&Choice>>,
        portal: &crate::domain::ClientId,
    ) -> Result<(), Error> {
        let representing = matches!(choice, Some(Some(c)) if c.representation.is_some());
        let actor =
            if representing { Actor::representing(&session.account_id) } else { Actor::person(&session.account_id) };
        let event = AuditEvent::new(EventType::RepresentationChosen, actor)
            .portal(portal.as_str())
            .detail("session", session.id.as_str());
        let event = match choice {
            Some(Some(c)) => match &c.representation {
                Some(r) => event.acting_for(c.client.id.as_str()).object("representation", r.id.as_str()),
                None => event.acting_for(c.client.id.as_str()).object("care_client", c.client.id.as_str()),
            },
            Some(None) => event.acting_for(session.account_id.as_str()).object("account", session.account_id.as_str()),
            None => event.failed().acting_for(session.account_id.as_str()).detail("reason", "not_represented"),
        };
        self.state.audit.record(self.state.store.as_ref(), &event, self.now).await?;
        Ok(())
    }

    /// Whose portal the code opens and what it may reach: the party chosen or named, else the
    /// one choice there is (recorded, as a choice made for the person), else the account itself.
    /// A representative's sections narrow the scopes asked (docs/representation.md). `None` when
    /// the party chosen is no longer among the account's choices (its representation ended).
    pub(super) async fn whom(&mut self, session: &Session) -> Result<Option<authorize::Whom>, Error> {
        if self.choices.is_none() && !self.load_choices(session).await? {
            return Ok(None);
        }
        let choices = self.choices.clone().unwrap_or_default();
        let chosen = match self.interaction.chosen(&session.account_id) {
            Some(Party::Account(id)) if *id == session.account_id => None,
            Some(party) => match choices.iter().find(|c| c.party() == *party) {
                Some(choice) => Some(choice),
                None => return Ok(None),
            },
            None if choices.len() == 1 => {
                let portal = self.interaction.portal().cloned().ok_or(StoreError::NotFound)?;
                self.record_choice(session, Some(choices.first()), &portal).await?;
                choices.first()
            }
            None => None,
        };
        Ok(Some(match chosen {
            Some(choice) => authorize::Whom {
                acting_for: Some(choice.party()),
                sections: choice.representation.as_ref().map(|r| r.sections.clone()),
            },
            None => authorize::Whom::default(),
        }))
    }

    /// "Namens wie wilt u inloggen?": the choice must be one of this account's, read now (an id
    /// from elsewhere is refused and recorded, nothing opened).
    pub(super) async fn acting_for(&mut self, choice: &str) -> Result<Outcome, Error> {
        if self.interaction.step != Step::ActingFor {
            return Ok(Outcome::Expired);
        }
        let Some(session) = session::find(self.state, self.browser.session, self.now).await? else {
            return Ok(Outcome::Expired);
        };
        if !self.load_choices(&session).await? {
            return Ok(Outcome::Expired);
        }
        let choices = self.choices.clone().unwrap_or_default();
        let portal = self.interaction.portal().cloned().ok_or(StoreError::NotFound)?;
        let picked = choices.iter().find(|c| c.client.id.as_str() == choice);
        let party = match picked {
            Some(c) => c.party(),
            // Representing nobody there, the account may open its own portal.
            None if choice == "self" && choices.is_empty() => Party::Account(session.account_id.clone()),
            None => {
                self.record_choice(&session, None, &portal).await?;
                return Ok(Outcome::Stay(Stay::error(Why::Invalid, "acting_for_choose")));
            }
        };
        self.record_choice(&session, Some(picked), &portal).await?;
        self.interaction.acting_for = Some(Chosen { by: session.account_id.clone(), party });
        let account = Some(session.account_id.clone());
        self.decide(Event::Chose, Some(&session), Who::Id(account)).await
    }
}

/// One option of "Namens wie wilt u inloggen?".
#[derive(Debug, Clone, serde::Serialize)]
pub struct WhoseOption {
    /// What the form sends: the care client's id, or `self`.
    pub value: String,
    /// The person's name; empty for `self` (the page says "Mijzelf").
    pub name: String,
    /// The person's own dossier.
    pub own: bool,
    /// The representative's role (`parent`, `partner`, …), when acting for another.
    pub role: Option<&'static str>,
}

/// What the "Namens wie wilt u inloggen?" page shows: the options, read now for the browser's
/// session, and whether the portal named someone the account may not act for. `None` when the
/// sign-in is not at that step or its session is gone.
pub async fn whose_portal_view(
    state: &AppState,
    interaction: &Interaction,
    session_cookie: Option<&str>,
) -> Result<Option<(Vec<WhoseOption>, bool)>, Error> {
    let now = state.clock.unix();
    let (Step::ActingFor, Some(portal)) = (&interaction.step, interaction.portal()) else { return Ok(None) };
    let Some(session) = session::find(state, session_cookie, now).await? else { return Ok(None) };
    let Some(client) = state.client(portal.as_str()).await? else { return Ok(None) };
    let choices =
        representation::choices(state.store.as_ref(), &session.account_id, &client.organisation_id, now).await?;
    let mut options: Vec<WhoseOption> = choices
        .iter()
        .map(|c| WhoseOption {
            value: c.client.id.to_string(),
            name: c.client.full_name(),
            own: c.own,
            role: c.representation.as_ref().map(|r| r.role.as_str()),
        })
        .collect();
    if options.is_empty() {
        options.push(WhoseOption { value: "self".into(), name: String::new(), own: true, role: None });
    }
    Ok(Some((options, interaction.named_refused)))
}
