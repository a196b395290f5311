//! `idp-admin invite`: invites a client to activate an account (journey A: a mail with a link and
//! a validation code). A new invitation voids the earlier ones for the same address.

use clap::Args;
use idp::activation::invite::{self, InviteRequest};
use idp::mail::{self, MailTemplates};
use serde_json::json;

use super::{time, Context};

#[derive(Args)]
pub struct InviteArgs {
    /// The organisation's slug.
    #[arg(long)]
    org: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    given_name: String,
    #[arg(long)]
    family_name: String,
    /// JJJJ-MM-DD or DD-MM-JJJJ.
    #[arg(long)]
    birth_date: Option<String>,
    /// The client number in the organisation's record system.
    #[arg(long)]
    client_number: Option<String>,
    /// Also print the validation code. For tests and demos only: the code belongs in the mail.
    #[arg(long, hide = true)]
    print_code_for_tests: bool,
}

pub async fn run(args: InviteArgs, ctx: &Context<'_>) -> anyhow::Result<()> {
    let templates = MailTemplates::load(&ctx.config.theme.dir)?;
    let issuer = super::issuer(ctx.config);
    let request = InviteRequest {
        organisation: args.org,
        email: args.email,
        given_name: args.given_name,
        family_name: args.family_name,
        birth_date: args.birth_date,
        client_number: args.client_number,
    };
    let invited = invite::invite(
        &ctx.admin(),
        idp::activation::Mailing { templates: &templates, config: ctx.config, issuer: &issuer },
        request,
        ctx.now,
    )
    .await?;
    // Deliver at once when we can; otherwise the running server's sender retries.
    let mailer = mail::connect(&ctx.config.mail)?;
    let delivered = mail::deliver_due(ctx.store.as_ref(), &mailer, ctx.now).await.map(|d| d.sent > 0).unwrap_or(false);
    let mut out = json!({
        "invitation": invited.invitation.id,
        "email": invited.invitation.email,
        "expires": time(invited.invitation.expires_at),
        "mail": if delivered { "sent" } else { "queued" },
    });
    if args.print_code_for_tests {
        out["code"] = json!(invited.secret.expose());
    }
    ctx.out.object(out);
    Ok(())
}
