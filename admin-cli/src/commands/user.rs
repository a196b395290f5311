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
    /// List an account's second factors.
    Factors {
        #[arg(long)]
        username: String,
    },
    /// Remove every second factor, recovery code and trusted computer of an account (after the
    /// organisation has checked who is asking); the person is mailed.
    ResetFactors {
        #[arg(long)]
        username: String,
        /// Also replace the password by a temporary one (from standard input) that you hand over
        /// yourself: use this when someone else may know the password (a reset by mail).
        #[arg(long)]
        temporary_password_stdin: bool,
    },
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
            let account = idp::admin::create_user(&ctx.admin(), new, ctx.now).await?;
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
        UserCommand::Factors { username } => {
            let (account, factors) = idp::admin::factors_of(ctx.store.as_ref(), &username).await?;
            let mut rows: Vec<serde_json::Value> = factors
                .into_iter()
                .map(|f| {
                    json!({
                        "kind": f.kind.as_str(),
                        "label": f.label,
                        "added": time(f.confirmed_at.unwrap_or(f.created_at)),
                        "last_used": f.last_used_at.map(time),
                    })
                })
                .collect();
            let left = ctx.store.recovery_codes_left(&account.id).await?;
            rows.push(json!({ "kind": "recovery", "label": format!("{left} left"), "added": null, "last_used": null }));
            ctx.out.rows(&["kind", "label", "added", "last_used"], rows);
        }
        UserCommand::ResetFactors { username, temporary_password_stdin } => {
            let temporary = if temporary_password_stdin { Some(read_password(true)?) } else { None };
            let templates = idp::mail::MailTemplates::load(&ctx.config.theme.dir)?;
            let issuer = super::issuer(ctx.config);
            let account = idp::admin::reset_factors(
                &ctx.admin(),
                idp::activation::Mailing { templates: &templates, config: ctx.config, issuer: &issuer },
                &username,
                temporary,
                ctx.now,
            )
            .await?;
            // Deliver at once when we can; otherwise the running server's sender retries.
            let mailer = idp::mail::connect(&ctx.config.mail)?;
            let sent = idp::mail::deliver_due(ctx.store.as_ref(), &mailer, ctx.now).await.is_ok_and(|d| d.sent > 0);
            ctx.out.object(json!({
                "username": account.username,
                "factors": "reset",
                "mail": if sent { "sent" } else { "queued" },
            }));
        }
    }
    Ok(())
}
