//! `idp-admin org create|list`.

use clap::Subcommand;
use serde_json::json;

use super::{time, Context};

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Register a care organisation.
    Create {
        /// Short stable name, e.g. `zorggroep-noord`.
        #[arg(long)]
        slug: String,
        /// Display name, e.g. "Zorggroep Noord".
        #[arg(long)]
        name: String,
    },
    /// List organisations.
    List,
}

pub async fn run(command: OrgCommand, ctx: &Context<'_>) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create { slug, name } => {
            let org = idp::admin::create_organisation(ctx.store.as_ref(), &slug, &name, ctx.now).await?;
            ctx.out.object(json!({ "id": org.id, "slug": org.slug, "name": org.name }));
        }
        OrgCommand::List => {
            let rows = ctx
                .store
                .list_organisations()
                .await?
                .into_iter()
                .map(|o| json!({ "id": o.id, "slug": o.slug, "name": o.name, "created": time(o.created_at) }))
                .collect();
            ctx.out.rows(&["slug", "name", "id", "created"], rows);
        }
    }
    Ok(())
}
