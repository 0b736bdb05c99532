//! What `retry`, `retry-all` and `edit` share: the dry run, the run itself
//! with its progress bar and Ctrl-C handling, and the closing summary.
//!
//! With a rewrite (`--set-header`, `--unset-header`, `--transform`, `edit`),
//! the dry run builds each copy as the run would and shows its headers and
//! body; a message whose copy cannot be built is listed as a failure, and
//! the exit code is the one the run would have (3, or 4 when all fail).

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use super::{finish_journal, selected, Ctx};
use crate::broker::{Broker, Flow, Message, OutgoingMessage, RedriveOptions};
use crate::bulk::{BulkContext, BulkReport, Rate};
use crate::cli::OutputFormat;
use crate::exit::Exit;
use crate::journal::Action;
use crate::message::{b64, value_text};
use crate::sanitize::{escape, preview};
use crate::select::{Decision, Selection};

/// Where a message would go.
pub fn target_of(m: &Message, to: Option<&str>, with_kind: bool) -> String {
    match (to, m.redrive_to(with_kind)) {
        (Some(t), _) => t.to_owned(),
        (None, Some(t)) => t,
        (None, None) => format!("({})", crate::conventions::no_origin(&m.dead_letter)),
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
    if !opts.rewrite.is_identity() {
        return rewrite_dry_run(ctx, broker, queue, sel, opts).await;
    }
    let mut plan = Vec::new();
    let with_kind = broker.capabilities().origin_kinds_shown;
    selected::browse(broker, queue, &opts.read, sel, &mut |m, d| {
        let note = match d {
            Decision::Skip(why) => {
                report.skipped += 1;
                Some(("skip", why.to_string()))
            }
            // The run would leave it on the DLQ and list it in failures.
            _ if opts.to.is_none() && m.dead_letter.origin.is_none() => {
                let e = crate::conventions::no_origin(&m.dead_letter);
                report.fail(&m.id, &e);
                Some(("fail", e))
            }
            _ => {
                report.done += 1;
                None
            }
        };
        plan.push((
            m.id.clone(),
            target_of(&m, opts.to.as_deref(), with_kind),
            note,
        ));
        Ok(Flow::Continue)
    })
    .await?;
    print_plan(ctx, &plan, &report, Action::Moved)?;
    Ok(if report.failed > 0 {
        report.exit()
    } else {
        Exit::Ok
    })
}

/// One message of a dry run with a rewrite.
struct RewrittenRow {
    id: String,
    to: String,
    /// The copy, the skip reason, or why no copy can be built.
    outcome: Result<OutgoingMessage, (&'static str, String)>,
}

/// The dry run of a rewriting re-drive: each copy as it would go out.
async fn rewrite_dry_run(
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
    let with_kind = broker.capabilities().origin_kinds_shown;
    selected::browse(broker, queue, &opts.read, sel, &mut |m, d| {
        let outcome = match d {
            Decision::Take if opts.to.is_none() && m.dead_letter.origin.is_none() => {
                let e = crate::conventions::no_origin(&m.dead_letter);
                report.fail(&m.id, &e);
                Err(("fail", e))
            }
            Decision::Take => match opts.rewrite.copy_of(&m) {
                Ok(copy) => {
                    report.done += 1;
                    Ok(copy)
                }
                Err(e) => {
                    report.fail(&m.id, &e);
                    Err(("fail", e))
                }
            },
            Decision::Skip(why) => {
                report.skipped += 1;
                Err(("skip", why.to_string()))
            }
            Decision::Leave => return Ok(Flow::Continue),
        };
        plan.push(RewrittenRow {
            id: m.id.clone(),
            to: target_of(&m, opts.to.as_deref(), with_kind),
            outcome,
        });
        Ok(Flow::Continue)
    })
    .await?;
    print_rewritten(ctx, &plan, &report)?;
    Ok(if report.failed > 0 {
        report.exit()
    } else {
        Exit::Ok
    })
}

/// Prints the plan of a rewriting dry run: each copy's headers and body.
fn print_rewritten(ctx: &Ctx, plan: &[RewrittenRow], report: &BulkReport) -> Result<()> {
    let p = &ctx.printer;
    let rows: Vec<PlanRow> = plan
        .iter()
        .map(|r| {
            let row = PlanRow::new(&r.id, Some(&r.to));
            match &r.outcome {
                Ok(copy) => {
                    let text = std::str::from_utf8(&copy.body).ok();
                    PlanRow {
                        copy: Some(CopyFields {
                            headers: &copy.headers,
                            key: copy.key.as_deref(),
                            body: text,
                            body_base64: text.is_none().then(|| b64(&copy.body)),
                        }),
                        ..row
                    }
                }
                Err(("skip", why)) => row.skip(why),
                Err((action, e)) => row.fail(action, e),
            }
        })
        .collect();
    match p.format {
        OutputFormat::Table => {
            if !plan.is_empty() {
                let mut t = p.table(&["ID", "WOULD GO TO", "HEADERS", "BODY", "NOTE"]);
                for r in plan {
                    let (headers, body, note) = match &r.outcome {
                        Ok(copy) => (
                            copy.headers
                                .iter()
                                .map(|(k, v)| {
                                    format!("{k}: {}", preview(value_text(v).as_bytes(), 60))
                                })
                                .collect::<Vec<_>>()
                                .join("\n"),
                            preview(&copy.body, 2000),
                            String::new(),
                        ),
                        Err((_, why)) => (String::new(), String::new(), why.clone()),
                    };
                    t.add_row(vec![
                        escape(&r.id, false),
                        escape(&r.to, false),
                        escape(&headers, true),
                        body,
                        escape(&note, false),
                    ]);
                }
                p.print_table(&t)?;
            }
            p.summary(report, Action::Moved)?;
        }
        OutputFormat::Json | OutputFormat::Prometheus => {
            let mut summary = report.to_json(Action::Moved);
            summary["plan"] = json!(rows);
            p.json(&summary)?;
        }
        OutputFormat::Ndjson => {
            for r in &rows {
                p.ndjson(r)?;
            }
            p.summary(report, Action::Moved)?;
        }
    }
    Ok(())
}

/// One row of a dry-run plan: (id, destination, what stops it: "skip" or
/// "fail" and why).
pub type Planned = (String, String, Option<(&'static str, String)>);

/// One row of a dry run's plan in JSON: `action` is move, purge, skip or
/// fail; a failing row says why in `error`, a rewriting run's row carries
/// the copy as it would go out.
#[derive(Serialize)]
pub struct PlanRow<'p> {
    id: &'p str,
    to: Option<&'p str>,
    action: &'p str,
    skip_reason: Option<&'p str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'p str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    copy: Option<CopyFields<'p>>,
}

/// The copy a rewriting dry run would send.
#[derive(Serialize)]
struct CopyFields<'p> {
    headers: &'p crate::message::Headers,
    key: Option<&'p str>,
    body: Option<&'p str>,
    body_base64: Option<String>,
}

impl<'p> PlanRow<'p> {
    fn new(id: &'p str, to: Option<&'p str>) -> Self {
        PlanRow {
            id,
            to,
            action: "move",
            skip_reason: None,
            error: None,
            copy: None,
        }
    }

    fn skip(self, why: &'p str) -> Self {
        PlanRow {
            action: "skip",
            skip_reason: Some(why),
            ..self
        }
    }

    fn fail(self, action: &'p str, error: &'p str) -> Self {
        PlanRow {
            action,
            error: Some(error),
            ..self
        }
    }
}

/// Prints a dry-run plan.
pub fn print_plan(ctx: &Ctx, plan: &[Planned], report: &BulkReport, verb: Action) -> Result<()> {
    let p = &ctx.printer;
    let rows: Vec<_> = plan
        .iter()
        .map(|(id, to, note)| {
            // A purge sends nothing anywhere: its plan's second column is a body preview.
            let to = (verb == Action::Moved).then_some(to.as_str());
            let row = PlanRow::new(id, to);
            match note {
                None if to.is_some() => row,
                None => PlanRow {
                    action: "purge",
                    ..row
                },
                Some(("skip", why)) => row.skip(why),
                // Nowhere to go (no origin and no --to).
                Some((action, e)) => PlanRow { to: None, ..row }.fail(action, e),
            }
        })
        .collect();
    match p.format {
        OutputFormat::Table => {
            if !plan.is_empty() {
                let mut t = p.table(&[
                    "ID",
                    if verb == Action::Moved {
                        "WOULD GO TO"
                    } else {
                        "BODY"
                    },
                    "NOTE",
                ]);
                for (id, to, note) in plan {
                    let (to, note) = match note {
                        Some(("fail", e)) => ("", e.as_str()),
                        Some((_, why)) => (to.as_str(), why.as_str()),
                        None => (to.as_str(), ""),
                    };
                    t.add_row(vec![
                        escape(id, false),
                        escape(to, false),
                        escape(note, false),
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

/// Who moves the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// dlq itself, copy by copy.
    Dlq,
    /// The broker, server-side (`--native`).
    Broker,
}

/// How a re-drive runs: who moves, how fast, how many are expected.
#[derive(Debug, Clone, Copy)]
pub struct Drive {
    /// The command as the journal names it: retry, retry-all, edit.
    pub command: &'static str,
    pub via: Via,
    pub rate: Option<f64>,
    pub total: Option<u64>,
}

/// Runs the re-drive and prints its summary.
pub async fn execute(
    ctx: &Ctx,
    broker: &dyn Broker,
    queue: &str,
    sel: &Selection,
    opts: &RedriveOptions,
    Drive {
        command,
        via,
        rate,
        total,
    }: Drive,
) -> Result<Exit> {
    ctx.interrupt.install();
    let journal = ctx.journal(command, queue, Action::Moved);
    let bulk = BulkContext {
        progress: ctx.printer.progress(total, "moving"),
        interrupt: ctx.interrupt.clone(),
        rate: rate.map(Rate::new),
        backup: None,
        journal: journal.clone(),
    };
    let result = match via {
        Via::Dlq => broker.redrive(queue, opts, sel, &bulk).await,
        Via::Broker => broker.native_move(queue, opts, &bulk).await,
    };
    bulk.progress.finish();
    let mut report = result.inspect_err(|e| finish_journal(&journal, Err(e)))?;
    for id in sel.missing_ids() {
        report.fail(id, "no such message (it was removed or moved meanwhile)");
    }
    report.interrupted |= ctx.interrupt.is_set();
    finish_journal(&journal, Ok(&report));
    ctx.printer.summary(&report, Action::Moved)?;
    Ok(report.exit())
}
