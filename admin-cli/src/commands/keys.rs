//! `idp-admin keys rotate|list`.

use clap::Subcommand;
use serde_json::json;

use super::{time, Context};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Add new signing keys: published in JWKS now, signing after keys.publish_delay_secs.
    Rotate,
    /// List signing keys and their periods.
    List,
}

pub async fn run(command: KeysCommand, ctx: &Context<'_>) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate => {
            let created = idp::admin::rotate_keys(&ctx.admin(), ctx.config, ctx.now).await?;
            let rows = created
                .iter()
                .map(|k| json!({ "kid": k.kid, "alg": k.alg.as_str(), "signs_from": time(k.signs_from) }))
                .collect();
            ctx.out.rows(&["kid", "alg", "signs_from"], rows);
        }
        KeysCommand::List => {
            let rows = ctx
                .store
                .list_keys()
                .await?
                .into_iter()
                .map(|k| {
                    json!({
                        "kid": k.kid,
                        "alg": k.alg.as_str(),
                        "published": time(k.created_at),
                        "signs_from": time(k.signs_from),
                        "published_until": k.publish_until.map(time),
                    })
                })
                .collect();
            ctx.out.rows(&["kid", "alg", "published", "signs_from", "published_until"], rows);
        }
    }
    Ok(())
}
