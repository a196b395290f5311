//! `idp-admin audit verify|head|export|prune`: the audit log (docs/audit.md).

use anyhow::{anyhow, bail};
use clap::{Subcommand, ValueEnum};
use idp::audit::export::{self, Format, Period};
use idp::audit::verify::{self, Checkpoint};
use idp::audit::{Event, EventType};
use serde_json::json;

use super::{time, Context};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the whole chain; exits non-zero naming the first bad record.
    Verify {
        /// A checkpoint kept outside the database (`<seq>:<hash>`, from an earlier `audit head`):
        /// the chain must still contain it, so removed newest records are noticed too.
        #[arg(long)]
        checkpoint: Option<String>,
    },
    /// Print the chain's end as a checkpoint (`<seq>:<hash>`) to keep outside the database.
    Head,
    /// Write the records of a period to standard output, one per line.
    Export {
        /// First day (2026-12-01) or moment (RFC 3339) to include.
        #[arg(long)]
        from: String,
        /// Last day to include (2026-12-31), or the moment (RFC 3339) to stop before.
        #[arg(long)]
        to: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
    /// Remove whole months older than audit.retention_months (default 60), keeping the chain verifiable.
    Prune,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// The stored records as JSON lines.
    Jsonl,
    /// FHIR R4 AuditEvent resources as JSON lines.
    Fhir,
}

pub async fn run(command: AuditCommand, ctx: &Context<'_>) -> anyhow::Result<()> {
    let store = ctx.store.as_ref();
    match command {
        AuditCommand::Verify { checkpoint } => {
            let checkpoint = match checkpoint {
                Some(text) => Some(Checkpoint::parse(&text).ok_or_else(|| anyhow!("--checkpoint: use <seq>:<hash>"))?),
                None => None,
            };
            let result = verify::verify(store, &ctx.auditor, checkpoint.as_ref()).await?;
            // Reading the log is itself recorded, after the check so it does not change what was checked.
            let event = ctx.event(EventType::AuditRead).object("audit", "verify");
            match result {
                Ok(verified) => {
                    ctx.auditor.record(store, &event, ctx.now).await?;
                    ctx.out.object(json!({
                        "result": "ok",
                        "records": verified.records,
                        "first": verified.first_seq,
                        "head": verified.head.map(|h| h.to_string()),
                    }));
                }
                Err(bad) => {
                    ctx.auditor.record(store, &event.failed(), ctx.now).await?;
                    bail!("audit log is not intact: {bad}");
                }
            }
        }
        AuditCommand::Head => {
            let head = store.audit_head().await?;
            let checkpoint = (head.seq > 0).then(|| Checkpoint { seq: head.seq, hash: head.hash }.to_string());
            ctx.out.object(json!({ "checkpoint": checkpoint }));
        }
        AuditCommand::Export { from, to, format } => {
            let period = Period::parse(&from, &to).map_err(|e| anyhow!(e))?;
            let format = match format {
                ExportFormat::Jsonl => Format::JsonLines,
                ExportFormat::Fhir => Format::Fhir,
            };
            let count = export::export(store, period, format, |line| println!("{line}")).await?;
            let event = ctx
                .event(EventType::AuditRead)
                .object("audit", "export")
                .detail("from", time(period.from))
                .detail("to", time(period.to))
                .detail("records", count);
            ctx.auditor.record(store, &event, ctx.now).await?;
        }
        AuditCommand::Prune => {
            let months = ctx.config.audit.retention_months;
            let pruned = idp::admin::prune_audit(&ctx.admin(), months, ctx.now).await?;
            ctx.out.object(json!({ "removed": pruned.removed, "kept_from": time(pruned.cutoff) }));
        }
    }
    Ok(())
}

impl Context<'_> {
    /// An event with the operator as actor.
    pub fn event(&self, kind: EventType) -> Event {
        Event::new(kind, self.actor())
    }
}
