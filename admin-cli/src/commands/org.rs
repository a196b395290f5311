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
    /// Set (part of) an organisation's policy and print the result; see docs/organisations.md.
    Policy(PolicyArgs),
}

#[derive(clap::Args)]
pub struct PolicyArgs {
    #[arg(long)]
    org: String,
    /// invite-code (journey A) or link-birthdate-temporary-password (journey B).
    #[arg(long)]
    activation: Option<String>,
    #[arg(long)]
    min_length: Option<usize>,
    #[arg(long)]
    max_length: Option<usize>,
    #[arg(long)]
    require_upper: Option<bool>,
    #[arg(long)]
    require_lower: Option<bool>,
    #[arg(long)]
    require_digit: Option<bool>,
    /// At least one of these characters is required; "" removes the rule.
    #[arg(long)]
    specials: Option<String>,
    #[arg(long)]
    blocklist: Option<bool>,
    #[arg(long)]
    forbid_personal_data: Option<bool>,
    #[arg(long)]
    secret_question: Option<bool>,
    #[arg(long)]
    mail_from_name: Option<String>,
    #[arg(long)]
    mail_from_address: Option<String>,
    #[arg(long)]
    portal_url: Option<String>,
    #[arg(long)]
    invitation_days: Option<i64>,
    /// The level every sign-in to this organisation's portals reaches: password, two-factor or
    /// phishing-resistant (docs/factors.md).
    #[arg(long)]
    min_level: Option<String>,
    /// Accept a mailed login token as the second factor (journey B).
    #[arg(long)]
    mailed_token: Option<bool>,
    /// How long "trust this computer" lasts; 0 turns it off.
    #[arg(long)]
    trusted_device_days: Option<i64>,
}

pub async fn run(command: OrgCommand, ctx: &Context<'_>) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create { slug, name } => {
            let org = idp::admin::create_organisation(&ctx.admin(), &slug, &name, ctx.now).await?;
            ctx.out.object(json!({ "id": org.id, "slug": org.slug, "name": org.name }));
        }
        OrgCommand::Policy(args) => policy(args, ctx).await?,
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

async fn policy(args: PolicyArgs, ctx: &Context<'_>) -> anyhow::Result<()> {
    let change = idp::admin::PolicyChange {
        activation_method: args.activation,
        min_length: args.min_length,
        max_length: args.max_length,
        require_upper: args.require_upper,
        require_lower: args.require_lower,
        require_digit: args.require_digit,
        required_specials: args.specials,
        blocklist: args.blocklist,
        forbid_personal_data: args.forbid_personal_data,
        secret_question: args.secret_question,
        mail_from_name: args.mail_from_name,
        mail_from_address: args.mail_from_address,
        portal_url: args.portal_url,
        invitation_days: args.invitation_days,
        min_level: args.min_level,
        mailed_token: args.mailed_token,
        trusted_device_days: args.trusted_device_days,
    };
    let p = idp::admin::set_policy(&ctx.admin(), &args.org, change, ctx.now).await?;
    ctx.out.object(json!({
        "activation": p.activation_method.as_str(),
        "password_rules": p.password_rules,
        "secret_question": p.secret_question,
        "mail_from_name": p.mail_from_name,
        "mail_from_address": p.mail_from_address,
        "portal_url": p.portal_url,
        "invitation_days": p.invitation_ttl_secs / 86_400,
        "min_level": p.min_level.as_str(),
        "mailed_token": p.mailed_token,
        "trusted_device_days": p.trusted_device_days,
    }));
    Ok(())
}
