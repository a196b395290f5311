//! `idp-admin client create|list`.

use clap::Subcommand;
use idp::admin::NewClient;
use idp::store::{ClientKind, SigningAlg};
use serde_json::json;

use super::{time, Context};

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a portal (or, with --machine, a machine client). Prints the secret once.
    Create {
        /// The organisation's slug.
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// Exact redirect URI; repeat for several.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Allowed post_logout_redirect_uri; repeat for several.
        #[arg(long = "post-logout-uri")]
        post_logout_uris: Vec<String>,
        /// A public client (single-page or native app): no secret, PKCE required.
        #[arg(long, conflicts_with = "machine")]
        public: bool,
        /// A machine client: client_credentials only.
        #[arg(long)]
        machine: bool,
        /// Scopes the client may request.
        #[arg(long, default_value = "openid profile email")]
        scopes: String,
        /// ID token signing algorithm: ES256 or RS256.
        #[arg(long, default_value = "ES256", value_parser = ["ES256", "RS256"])]
        id_token_alg: String,
    },
    /// List clients.
    List,
}

pub async fn run(command: ClientCommand, ctx: &Context<'_>) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create { org, name, redirect_uris, post_logout_uris, public, machine, scopes, id_token_alg } => {
            let new = NewClient {
                organisation: org,
                name,
                redirect_uris,
                post_logout_redirect_uris: post_logout_uris,
                kind: if public { ClientKind::Public } else { ClientKind::Confidential },
                machine,
                scopes: if machine && scopes == "openid profile email" { String::new() } else { scopes },
                id_token_alg: SigningAlg::parse(&id_token_alg).unwrap_or(SigningAlg::ES256),
            };
            let created = idp::admin::create_client(ctx.store.as_ref(), new, ctx.now).await?;
            let c = &created.client;
            ctx.out.object(json!({
                "client_id": c.id,
                "client_secret": created.secret.as_ref().map(|s| s.expose().clone()),
                "name": c.name,
                "kind": c.kind.as_str(),
                "redirect_uris": c.redirect_uris,
                "scopes": c.scopes.to_string(),
            }));
            if created.secret.is_some() && !ctx.out.json {
                eprintln!("Store the client secret now: it is not shown again.");
            }
        }
        ClientCommand::List => {
            let rows = ctx
                .store
                .list_clients()
                .await?
                .into_iter()
                .map(|c| {
                    json!({
                        "client_id": c.id,
                        "name": c.name,
                        "kind": c.kind.as_str(),
                        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
                        "redirect_uris": c.redirect_uris,
                        "scopes": c.scopes.to_string(),
                        "created": time(c.created_at),
                    })
                })
                .collect();
            ctx.out.rows(&["client_id", "name", "kind", "grant_types", "redirect_uris", "scopes", "created"], rows);
        }
    }
    Ok(())
}
