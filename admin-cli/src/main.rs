//! `idp-admin`: administers a Poortwachter deployment against the same configuration as the
//! server. Human tables by default, `--json` for scripts; every command runs non-interactively.

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

#[derive(Parser)]
#[command(name = "idp-admin", version, about = "Administer a Poortwachter identity provider")]
struct Cli {
    /// Configuration file (default: $IDP_CONFIG, else poortwachter.toml when present).
    #[arg(long, global = true, env = "IDP_CONFIG")]
    config: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: commands::Command,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    // The command's name without its arguments (which may hold personal data) for the audit log.
    let mut name = Vec::new();
    let mut level = &matches;
    while let Some((sub, next)) = level.subcommand() {
        name.push(sub.to_string());
        level = next;
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let config = match idp::config::Config::load_from(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("idp-admin: {e}");
            return ExitCode::from(2);
        }
    };
    match commands::run(cli.command, &name.join(" "), &config, output::Output { json: cli.json }).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idp-admin: {e:#}");
            ExitCode::FAILURE
        }
    }
}
