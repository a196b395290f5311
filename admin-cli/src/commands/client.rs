//! `idp-admin client create|list|update`.

use clap::{Subcommand, ValueEnum};
use idp::admin::NewClient;
use idp::store::{ClientKind, PkcePolicy, SigningAlg};
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
        /// PKCE (RFC 7636): `optional` only for a portal that cannot send it yet.
        #[arg(long, value_enum, default_value_t = Pkce::Required)]
        pkce: Pkce,
        /// Where the portal hears that a session ended (OpenID Connect Back-Channel Logout).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
    },
    /// List clients.
    List,
    /// Change a registered client.
    Update {
        /// The client_id. Client ids are base64url and may begin with `-`; it is taken as the id,
        /// not as an option.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// PKCE (RFC 7636): `required`, or `optional` for a portal that cannot send it yet.
        #[arg(long, value_enum)]
        pkce: Pkce,
    },
}

/// `--pkce`, as typed; see [`PkcePolicy`].
#[derive(Clone, Copy, ValueEnum)]
pub enum Pkce {
    Required,
    Optional,
}

impl From<Pkce> for PkcePolicy {
    fn from(value: Pkce) -> Self {
        match value {
            Pkce::Required => PkcePolicy::Required,
            Pkce::Optional => PkcePolicy::Optional,
        }
    }
}

pub async fn run(command: ClientCommand, ctx: &Context<'_>) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create {
            org,
            name,
            redirect_uris,
            post_logout_uris,
            public,
            machine,
            scopes,
            id_token_alg,
            pkce,
            backchannel_logout_uri,
        } => {
            let new = NewClient {
                organisation: org,
                name,
                redirect_uris,
                post_logout_redirect_uris: post_logout_uris,
                kind: if public { ClientKind::Public } else { ClientKind::Confidential },
                machine,
                scopes: if machine && scopes == "openid profile email" { String::new() } else { scopes },
                id_token_alg: SigningAlg::parse(&id_token_alg).unwrap_or(SigningAlg::ES256),
                pkce: pkce.into(),
                backchannel_logout_uri,
            };
            let created = idp::admin::create_client(&ctx.admin(), new, ctx.now).await?;
            let c = &created.client;
            ctx.out.object(json!({
                "client_id": c.id,
                "client_secret": created.secret.as_ref().map(|s| s.expose().clone()),
                "name": c.name,
                "kind": c.kind.as_str(),
                "redirect_uris": c.redirect_uris,
                "scopes": c.scopes.to_string(),
                "pkce": c.pkce.as_str(),
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
                        "pkce": c.pkce.as_str(),
                        "created": time(c.created_at),
                    })
                })
                .collect();
            ctx.out.rows(
                &["client_id", "name", "kind", "grant_types", "redirect_uris", "scopes", "pkce", "created"],
                rows,
            );
        }
        ClientCommand::Update { client_id, pkce } => {
            let c = idp::admin::set_client_pkce(&ctx.admin(), &client_id, pkce.into(), ctx.now).await?;
            ctx.out
                .object(json!({ "client_id": c.id, "name": c.name, "kind": c.kind.as_str(), "pkce": c.pkce.as_str() }));
        }
    }
    Ok(())
}
