//! What `retry` and `retry-all` share: the dry run, the run itself with its
//! progress bar and Ctrl-C handling, and the closing summary.

use anyhow::Result;
use serde_json::json;

use super::{finish_journal, Ctx};
use crate::broker::{Broker, Flow, Message, RedriveOptions};
use crate::bulk::{BulkContext, BulkReport, Rate};
use crate::cli::OutputFormat;
use crate::exit::Exit;
use crate::journal::Action;
use crate::sanitize::escape;
use crate::select::{Decision, Selection};

/// Where a message would go.
pub fn target_of(m: &Message, to: Option<&str>) -> String {
    match (to, &m.redrive_to) {
        (Some(t), _) => t.to_owned(),
        (None, Some(t)) => t.clone(),
        (None, None) => "(unknown origin: pass --to)".into(),
    }
}

/// Prints what would move where and a dry-run summary; touches nothing.
pub async fn dry_run(
    ctx: &Ctx,
    broker: &dyn Broker,
    queue: &str,
    sel: &Selection,
    opts: &RedriveOptions,
) -> Result<Exit> {
    let mut report = BulkReport {
        dry_run: true,
        ..Default::default()
    };
    let mut plan = Vec::new();
    broker
        .browse(queue, &opts.read, &mut |m: Message| {
            match sel.decide(&m) {
                Decision::Take => {
                    report.done += 1;
                    plan.push((m.id.clone(), target_of(&m, opts.to.as_deref()), None));
                }
                Decision::Skip(why) => {
                    report.skipped += 1;
                    plan.push((m.id.clone(), target_of(&m, opts.to.as_deref()), Some(why)));
                }
                Decision::Leave => {}
            }
            Ok(if sel.exhausted() {
                Flow::Stop
            } else {
                Flow::Continue
            })
        })
        .await?;
    print_plan(ctx, &plan, &report, "moved")?;
    Ok(Exit::Ok)
}

/// Prints a dry-run plan: rows of (id, destination, skip reason).
pub fn print_plan(
    ctx: &Ctx,
    plan: &[(String, String, Option<String>)],
    report: &BulkReport,
    verb: &str,
) -> Result<()> {
    let p = &ctx.printer;
    let rows: Vec<_> = plan
        .iter()
        .map(|(id, to, skip)| json!({"id": id, "to": to, "action": if skip.is_some() { "skip" } else { "move" }, "skip_reason": skip}))
        .collect();
    match p.format {
        OutputFormat::Table => {
            if !plan.is_empty() {
                let mut t = p.table(&[
                    "ID",
                    if verb == "moved" {
                        "WOULD GO TO"
                    } else {
                        "WOULD BE"
                    },
                    "NOTE",
                ]);
                for (id, to, skip) in plan {
                    t.add_row(vec![
                        escape(id, false),
                        escape(to, false),
                        skip.clone().unwrap_or_default(),
                    ]);
                }
                p.print_table(&t)?;
            }
            p.summary(report, verb)?;
        }
        OutputFormat::Json | OutputFormat::Prometheus => {
            let mut summary = report.to_json(verb);
            summary["plan"] = json!(rows);
            p.json(&summary)?;
        }
        OutputFormat::Ndjson => {
            for r in &rows {
                p.ndjson(r)?;
            }
            p.summary(report, verb)?;
        }
    }
    Ok(())
}

/// Runs the re-drive and prints its summary.
pub async fn execute(
    ctx: &Ctx,
    broker: &dyn Broker,
    queue: &str,
    sel: &Selection,
    opts: &RedriveOptions,
    rate: Option<f64>,
    total: Option<u64>,
) -> Result<Exit> {
    ctx.interrupt.install();
    let command = if sel.ids.is_some() {
        "retry"
    } else {
        "retry-all"
    };
    let journal = ctx.journal(command, queue, Action::Moved);
    let bulk = BulkContext {
        progress: ctx.printer.progress(total, "moving"),
        interrupt: ctx.interrupt.clone(),
        rate: rate.map(Rate::new),
        backup: None,
        journal: journal.clone(),
    };
    let result = broker.redrive(queue, opts, sel, &bulk).await;
    bulk.progress.finish();
    let mut report = result.inspect_err(|e| finish_journal(&journal, Err(e)))?;
    for id in sel.missing_ids() {
        report.fail(id, "no such message (it was removed or moved meanwhile)");
    }
    report.interrupted |= ctx.interrupt.is_set();
    finish_journal(&journal, Ok(&report));
    ctx.printer.summary(&report, "moved")?;
    Ok(report.exit())
}
