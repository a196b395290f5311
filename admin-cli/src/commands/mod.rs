//! One file per subcommand; this module holds the dispatch enum.

mod audit;
mod client;
mod invite;
mod keys;
mod migrate;
mod org;
mod represent;
mod user;

use std::cell::Cell;
use std::sync::Arc;

use clap::Subcommand;
use idp::audit::{Actor, Auditor, Event, EventType};
use idp::auth::factor_key::FactorKey;
use idp::clock::{Clock, SystemClock};
use idp::config::Config;
use idp::store::Store;

use crate::output::Output;

#[derive(Subcommand)]
pub enum Command {
    /// Apply pending database migrations.
    Migrate,
    /// Care organisations.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Portals and machine clients (OAuth clients).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Invite a client to activate an account.
    Invite(invite::InviteArgs),
    /// Accounts of people who sign in.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The audit log: verify, export, retention.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Care clients: the people whose dossier a portal shows.
    #[command(subcommand)]
    CareClient(represent::CareClientCommand),
    /// Who may act for a care client.
    #[command(subcommand)]
    Representation(represent::RepresentationCommand),
}

/// What every command gets: the configuration, storage, the clock, the output mode and the
/// audit log.
pub struct Context<'a> {
    pub config: &'a Config,
    pub store: Arc<dyn Store>,
    pub now: i64,
    pub out: Output,
    pub auditor: Auditor,
    /// Set once a use case that records the command itself has been handed the command.
    use_case_records: Cell<bool>,
}

impl Context<'_> {
    /// The operator: the operating-system user who runs the command.
    pub fn actor(&self) -> Actor {
        let name =
            ["SUDO_USER", "USER", "LOGNAME"].iter().find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()));
        Actor::operator(name)
    }

    /// What a state-changing use case (`idp::admin`, `invite`) works with. Such a use case records
    /// the command itself, in the transaction of its change, or as refused; from here on [`run`]
    /// records nothing more. So ask for this only when calling the use case.
    pub fn admin(&self) -> idp::admin::Deps<'_> {
        self.use_case_records.set(true);
        idp::admin::Deps { store: self.store.as_ref(), audit: &self.auditor, by: self.actor() }
    }
}

/// Runs `command` (named `name`, e.g. `client create`) and makes sure the audit log has one
/// `admin.command` record of it, succeeded or not. A state-changing command's use case writes
/// that record with its change ([`Context::admin`]); for the others (lists, `audit verify`, a
/// command refused before its use case ran) it is written here, afterwards. A command whose
/// record cannot be written fails.
pub async fn run(command: Command, name: &str, config: &Config, out: Output) -> anyhow::Result<()> {
    let store = idp::store::connect(config.database.url.expose(), 2).await?;
    let key = FactorKey::load(&config.factors).map_err(|e| anyhow::anyhow!("factors: {e}"))?;
    let auditor = Auditor::new(key, config.audit.node_name());
    let ctx = Context { config, store, now: SystemClock.unix(), out, auditor, use_case_records: Cell::new(false) };
    let result = match command {
        Command::Migrate => migrate::run(&ctx).await,
        Command::Org(c) => org::run(c, &ctx).await,
        Command::Client(c) => client::run(c, &ctx).await,
        Command::User(c) => user::run(c, &ctx).await,
        Command::Invite(a) => invite::run(a, &ctx).await,
        Command::Keys(c) => keys::run(c, &ctx).await,
        Command::Audit(c) => audit::run(c, &ctx).await,
        Command::CareClient(c) => represent::run_care_client(c, &ctx).await,
        Command::Representation(c) => represent::run(c, &ctx).await,
    };
    if ctx.use_case_records.get() {
        return result;
    }
    let event = Event::new(EventType::AdminCommand, ctx.actor()).object("command", name).detail("command", name);
    let event = if result.is_ok() { event } else { event.failed() };
    ctx.auditor.record(ctx.store.as_ref(), &event, ctx.now).await?;
    result
}

/// Formats a Unix time for tables (RFC 3339, UTC).
/// The issuer the server runs as (for links in mails sent from here).
pub fn issuer(config: &Config) -> String {
    match &config.server.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_string(),
        None => format!("http://{}", config.server.bind),
    }
}

pub fn time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
