//! One file per subcommand; this module holds the dispatch enum.

mod client;
mod invite;
mod keys;
mod migrate;
mod org;
mod user;

use std::sync::Arc;

use clap::Subcommand;
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
}

/// What every command gets: the configuration, storage, the clock and the output mode.
pub struct Context<'a> {
    pub config: &'a Config,
    pub store: Arc<dyn Store>,
    pub now: i64,
    pub out: Output,
}

pub async fn run(command: Command, config: &Config, out: Output) -> anyhow::Result<()> {
    let store = idp::store::connect(config.database.url.expose(), 2).await?;
    let ctx = Context { config, store, now: SystemClock.unix(), out };
    match command {
        Command::Migrate => migrate::run(&ctx).await,
        Command::Org(c) => org::run(c, &ctx).await,
        Command::Client(c) => client::run(c, &ctx).await,
        Command::User(c) => user::run(c, &ctx).await,
        Command::Invite(a) => invite::run(a, &ctx).await,
        Command::Keys(c) => keys::run(c, &ctx).await,
    }
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
