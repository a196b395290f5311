//! `idp-admin migrate`: connecting applies pending migrations; this reports that it did.

use serde_json::json;

use super::Context;

pub async fn run(ctx: &Context<'_>) -> anyhow::Result<()> {
    // `idp::store::connect` has already migrated; nothing else to do.
    let _ = &ctx.store;
    ctx.out.object(json!({ "migrations": "applied" }));
    Ok(())
}
