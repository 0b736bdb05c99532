//! `dlq purge QUEUE`: delete every message, or every match of the filters.
//!
//! Asks on a terminal, refuses without one unless `--yes`. `--backup FILE`
//! saves each message before it goes. `--dry-run` lists what would go.
//!
//! With IDs (arguments or `--ids-from`), a first pass checks that each names
//! exactly one message; when one does not, nothing is removed. Only then are
//! exactly those messages removed (a message that arrived meanwhile is not).

use anyhow::Result;

use super::redrive::{PlanItem, Planned};
use super::{criteria, expected_total, read_options, redrive, selected, BulkRun, Ctx};
use crate::broker::{Broker, Flow, PurgeOptions};
use crate::bulk::Backup;
use crate::cli::{PurgeArgs, ReadArgs};
use crate::exit::{usage, Exit};
use crate::ids_from;
use crate::report::{Action, BulkReport};
use crate::sanitize::preview;
use crate::select::{Criteria, Decision, Filter, Ids, Selection};

pub async fn run(ctx: &Ctx, a: &PurgeArgs) -> Result<Exit> {
    let (queue, filters, read, backup) =
        (a.queue.as_str(), &a.filters, &a.read, a.backup.as_deref());
    let (yes, dry_run) = (a.yes, a.dry_run);
    let ids = ids_from::gather(&a.ids, a.ids_from.as_deref())?;
    if ids.is_empty() && a.ids_from.is_some() {
        return Err(usage("no message IDs: the --ids-from file has none"));
    }
    let opts = PurgeOptions {
        read: read_options(read, false, &ids),
        delete_records: a.delete_records,
    };
    ctx.check(&opts.flags())?;
    let wanted = (!ids.is_empty()).then_some(ids.as_slice());
    let criteria = criteria(filters, wanted, None)?;
    let sel = criteria.start();
    ctx.require_consent(yes, dry_run, &format!("purge {queue}"))?;
    let broker = ctx.connect_with(&opts.flags()).await?;
    if wanted.is_some() {
        // Every ID checked in a pass of its own, so a typo removes nothing.
        let check = criteria.start();
        selected::browse(&*broker, queue, &opts.read, &check, &mut |_, _| {
            Ok(Flow::Continue)
        })
        .await?;
        selected::check_ids(queue, &check)?;
    }

    if dry_run {
        let mut report = BulkReport {
            dry_run: true,
            ..Default::default()
        };
        let mut plan = Vec::new();
        selected::browse(&*broker, queue, &opts.read, &sel, &mut |m, d| {
            if d == Decision::Take {
                report.done += 1;
                plan.push(PlanItem {
                    id: m.id,
                    what: Planned::Purge {
                        body: preview(&m.body, 50),
                    },
                });
            }
            Ok(Flow::Continue)
        })
        .await?;
        super::warn_where_failures(&ctx.printer, &sel.criteria);
        redrive::print_plan(ctx, &plan, &report, Action::Purged)?;
        return Ok(Exit::Ok);
    }

    let total = match wanted {
        Some(ids) => Some(Ids::new(ids).len() as u64),
        None => expected_total(&*broker, queue, &opts.read, filters, None, yes).await?,
    };
    if !yes && !ctx.confirm("Delete", queue, total)? {
        return Ok(Exit::Ok);
    }
    let backup = backup.map(Backup::create).transpose()?;
    execute(ctx, &*broker, queue, sel, &opts, total, backup).await
}

/// Purges exactly the messages `ids` name (`dlq browse` marks them): every
/// ID is checked first, as `retry` does, so a stale one changes nothing;
/// then asked and run as `purge` runs.
pub async fn exactly(ctx: &Ctx, queue: &str, ids: &[String], read: &ReadArgs) -> Result<Exit> {
    let opts = PurgeOptions {
        read: read_options(read, false, ids),
        delete_records: false,
    };
    ctx.check(&opts.flags())?;
    ctx.require_consent(false, false, &format!("purge {queue}"))?;
    let broker = ctx.connect_with(&opts.flags()).await?;
    let criteria = Criteria::new(Some(ids), Filter::default(), None, None);
    let check = criteria.start();
    selected::browse(&*broker, queue, &opts.read, &check, &mut |_, _| {
        Ok(Flow::Continue)
    })
    .await?;
    selected::check_ids(queue, &check)?;
    let total = Some(criteria.ids.as_ref().map_or(0, |i| i.len() as u64));
    if !ctx.confirm("Delete", queue, total)? {
        return Ok(Exit::Ok);
    }
    execute(ctx, &*broker, queue, criteria.start(), &opts, total, None).await
}

/// The run itself, once asked.
async fn execute(
    ctx: &Ctx,
    broker: &dyn Broker,
    queue: &str,
    sel: Selection,
    opts: &PurgeOptions,
    total: Option<u64>,
    backup: Option<Backup>,
) -> Result<Exit> {
    // The broker's own operation, where it has one and nothing is kept or left.
    let whole = sel.is_everything() && backup.is_none() && broker.capabilities().purge_all;
    let run = ctx.ledger(BulkRun {
        command: "purge",
        queue,
        action: Action::Purged,
        total,
        rate: None,
        backup,
        selection: sel,
    });
    let result = if whole {
        broker.purge_all(queue, opts, &run).await
    } else {
        broker.purge(queue, opts, &run).await
    };
    ctx.conclude(run, result, Action::Purged)
}
