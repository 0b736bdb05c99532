//! `dlq purge QUEUE`: delete every message, or every match of the filters.
//!
//! Asks on a terminal, refuses without one unless `--yes`. `--backup FILE`
//! saves each message before it goes. `--dry-run` lists what would go.

use anyhow::Result;

use super::{
    expected_total, finish_journal, read_flags, read_options, redrive, selected, selection, Ctx,
};
use crate::broker::{Flag, Flow, PurgeOptions};
use crate::bulk::{Backup, BulkContext, BulkReport};
use crate::cli::PurgeArgs;
use crate::exit::Exit;
use crate::journal::Action;
use crate::sanitize::preview;
use crate::select::Decision;

pub async fn run(ctx: &Ctx, a: &PurgeArgs) -> Result<Exit> {
    let (queue, filters, read, backup) =
        (a.queue.as_str(), &a.filters, &a.read, a.backup.as_deref());
    let (yes, dry_run, delete_records) = (a.yes, a.dry_run, a.delete_records);
    let mut flags = read_flags(read, false).to_vec();
    flags.push((Flag::DeleteRecords, delete_records));
    ctx.check(&flags)?;
    ctx.require_consent(yes, dry_run, &format!("purge {queue}"))?;
    let broker = ctx.connect_with(&flags).await?;
    let opts = PurgeOptions {
        read: read_options(read, false, &[]),
        delete_records,
    };
    let sel = selection(filters, None);

    if dry_run {
        let mut report = BulkReport {
            dry_run: true,
            ..Default::default()
        };
        let mut plan = Vec::new();
        selected::browse(&*broker, queue, &opts.read, &sel, &mut |m, d| {
            if d == Decision::Take {
                report.done += 1;
                plan.push((m.id.clone(), preview(&m.body, 50), None));
            }
            Ok(Flow::Continue)
        })
        .await?;
        redrive::print_plan(ctx, &plan, &report, Action::Purged)?;
        return Ok(Exit::Ok);
    }

    let total = expected_total(&*broker, queue, &opts.read, filters, None, yes).await?;
    if !yes && !ctx.confirm("Delete", queue, total)? {
        return Ok(Exit::Ok);
    }
    let backup = backup.map(Backup::create).transpose()?;
    ctx.interrupt.install();
    let journal = ctx.journal("purge", queue, Action::Purged);
    let bulk = BulkContext {
        progress: ctx.printer.progress(total, "purging"),
        interrupt: ctx.interrupt.clone(),
        rate: None,
        backup,
        journal: journal.clone(),
    };
    // The broker's own operation, where it has one and nothing is kept or left.
    let whole = sel.is_everything() && bulk.backup.is_none() && broker.capabilities().purge_all;
    let result = if whole {
        broker.purge_all(queue, &opts, &bulk).await
    } else {
        broker.purge(queue, &opts, &sel, &bulk).await
    };
    bulk.progress.finish();
    let mut report = result.inspect_err(|e| finish_journal(&journal, Err(e)))?;
    report.interrupted |= ctx.interrupt.is_set();
    finish_journal(&journal, Ok(&report));
    ctx.printer.summary(&report, Action::Purged)?;
    Ok(report.exit())
}
