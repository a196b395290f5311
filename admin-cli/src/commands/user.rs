//! `idp-admin user create|list`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context as _;
use clap::Subcommand;
use idp::admin::NewUser;
use idp::domain::Secret;
use serde_json::json;

use super::{time, Context};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account. The password comes from --password-stdin or, on a terminal, a prompt.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        given_name: String,
        #[arg(long)]
        family_name: String,
        /// JJJJ-MM-DD or DD-MM-JJJJ.
        #[arg(long)]
        birth_date: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "no_password")]
        password_stdin: bool,
        /// Create the account without a password (it is activated later).
        #[arg(long)]
        no_password: bool,
        /// The password is temporary: the first sign-in asks for a new one.
        #[arg(long, conflicts_with = "no_password")]
        temporary_password: bool,
    },
    /// List accounts.
    List,
}

fn read_password(from_stdin: bool) -> anyhow::Result<Secret<String>> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(Secret::new(line.trim_end_matches(['\r', '\n']).to_string()));
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for the password: use --password-stdin or --no-password");
    }
    let first = rpassword::prompt_password("Wachtwoord / password: ")?;
    let second = rpassword::prompt_password("Nogmaals / again: ")?;
    if first != second {
        anyhow::bail!("the passwords differ");
    }
    Ok(Secret::new(first))
}

pub async fn run(command: UserCommand, ctx: &Context<'_>) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            username,
            email,
            given_name,
            family_name,
            birth_date,
            password_stdin,
            no_password,
            temporary_password,
        } => {
            let password = if no_password { None } else { Some(read_password(password_stdin)?) };
            let new = NewUser { username, email, given_name, family_name, birth_date, password, temporary_password };
            let account = idp::admin::create_user(ctx.store.as_ref(), new, ctx.now).await?;
            ctx.out.object(json!({
                "id": account.id,
                "sub": account.subject,
                "username": account.username,
                "email": account.email,
            }));
        }
        UserCommand::List => {
            let rows = ctx
                .store
                .list_accounts()
                .await?
                .into_iter()
                .map(|a| {
                    json!({
                        "username": a.username,
                        "name": format!("{} {}", a.given_name, a.family_name),
                        "email": a.email,
                        "sub": a.subject,
                        "active": a.password_hash.is_some() && !a.disabled,
                        "created": time(a.created_at),
                    })
                })
                .collect();
            ctx.out.rows(&["username", "name", "email", "sub", "active", "created"], rows);
        }
    }
    Ok(())
}
