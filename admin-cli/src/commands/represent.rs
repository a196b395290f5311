//! `idp-admin care-client add` and `idp-admin representation grant|revoke|list`: the care
//! clients of an organisation and who may act for them (docs/representation.md).

use clap::{Args, Subcommand};
use idp::representation::admin::{self, NewCareClient, NewRepresentation};
use serde_json::json;

use super::{time, Context};

#[derive(Subcommand)]
pub enum CareClientCommand {
    /// Register a care client (cliënt) of an organisation: the person whose dossier it is.
    Add {
        /// The organisation's slug.
        #[arg(long)]
        org: String,
        /// The organisation's client number (unique within it).
        #[arg(long)]
        number: String,
        #[arg(long)]
        given_name: String,
        #[arg(long)]
        family_name: String,
        /// JJJJ-MM-DD or DD-MM-JJJJ.
        #[arg(long)]
        birth_date: Option<String>,
        /// The client's own account, when they sign in themself.
        #[arg(long)]
        username: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RepresentationCommand {
    /// Let an account act for a care client, in some sections.
    Grant(GrantArgs),
    /// End a representation at once; the representative's tokens for the client stop working.
    Revoke {
        #[arg(long)]
        id: String,
    },
    /// Record that a client of 12 to 16 consents to their parent's (or guardian's) access to the
    /// dossier (WGBO).
    MinorConsent {
        #[arg(long)]
        id: String,
    },
    /// Everyone who can or could act for a client, with the history of each.
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        number: String,
    },
}

#[derive(Args)]
pub struct GrantArgs {
    /// The organisation's slug.
    #[arg(long)]
    org: String,
    /// The care client's number at the organisation.
    #[arg(long)]
    number: String,
    /// The representative's username.
    #[arg(long)]
    username: String,
    /// legal_representative, portal_manager or contact.
    #[arg(long)]
    kind: String,
    /// parent, guardian, mentor, curator (legal representatives); family_member, child, partner,
    /// informal_carer, other (contacts).
    #[arg(long)]
    role: String,
    /// Comma-separated: messages, appointments, dossier, personal_data, settings, user_management.
    #[arg(long)]
    sections: String,
    /// On what it rests (a court order, a letter's number).
    #[arg(long)]
    basis: String,
    /// The last day it is in force (JJJJ-MM-DD, UTC).
    #[arg(long)]
    until: Option<String>,
}

pub async fn run_care_client(command: CareClientCommand, ctx: &Context<'_>) -> anyhow::Result<()> {
    let CareClientCommand::Add { org, number, given_name, family_name, birth_date, username } = command;
    let new = NewCareClient { org, number, given_name, family_name, birth_date, username };
    let client = admin::add_care_client(&ctx.admin(), new, ctx.now).await?;
    ctx.out.object(json!({
        "id": client.id.as_str(),
        "client_number": client.client_number,
        "subject": client.subject.as_str(),
        "name": client.full_name(),
        "birth_date": client.birth_date,
        "account": client.account_id.as_ref().map(|a| a.as_str()),
    }));
    Ok(())
}

pub async fn run(command: RepresentationCommand, ctx: &Context<'_>) -> anyhow::Result<()> {
    match command {
        RepresentationCommand::Grant(a) => {
            let new = NewRepresentation {
                org: a.org,
                number: a.number,
                username: a.username,
                kind: a.kind,
                role: a.role,
                sections: a.sections,
                basis: a.basis,
                until: a.until,
            };
            let r = admin::grant(&ctx.admin(), new, ctx.now).await?;
            ctx.out.object(json!({
                "id": r.id.as_str(),
                "kind": r.kind.as_str(),
                "role": r.role.as_str(),
                "sections": r.sections.to_string(),
                "status": r.status.as_str(),
                "ends_at": r.ends_at.map(time),
            }));
        }
        RepresentationCommand::Revoke { id } => {
            let r = admin::revoke(&ctx.admin(), &id, ctx.now).await?;
            ctx.out.object(json!({ "id": r.id.as_str(), "status": r.status.as_str() }));
        }
        RepresentationCommand::MinorConsent { id } => {
            let r = admin::record_minor_consent(&ctx.admin(), &id, ctx.now).await?;
            ctx.out.object(json!({ "id": r.id.as_str(), "minor_consent_at": r.minor_consent_at.map(time) }));
        }
        RepresentationCommand::List { org, number } => {
            let (_, found) = admin::list(ctx.store.as_ref(), &org, &number).await?;
            let rows = found
                .iter()
                .map(|(r, history)| {
                    let changes: Vec<String> = history
                        .iter()
                        .map(|h| format!("{} {} {} by {}", h.version, time(h.changed_at), h.change, h.changed_by))
                        .collect();
                    json!({
                        "id": r.id.as_str(),
                        "account": r.account_id.as_str(),
                        "kind": r.kind.as_str(),
                        "role": r.role.as_str(),
                        "sections": r.sections.to_string(),
                        "status": r.status.as_str(),
                        "since": time(r.granted_at),
                        "until": r.ends_at.map(time),
                        "basis": r.basis,
                        "history": changes,
                    })
                })
                .collect();
            ctx.out.rows(&["id", "account", "kind", "role", "sections", "status", "since", "until", "history"], rows);
        }
    }
    Ok(())
}
