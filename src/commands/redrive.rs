//! What `retry`, `retry-all` and `edit` share: the dry run, the run itself
//! with its progress bar and Ctrl-C handling, and the closing summary.
//!
//! With a rewrite (`--set-header`, `--unset-header`, `--transform`, `edit`),
//! the dry run builds each copy as the run would and shows its headers and
//! body; a message whose copy cannot be built is listed as a failure, and
//! the exit code is the one the run would have (3).

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use super::{selected, BulkRun, Ctx};
use crate::broker::{Broker, Flow, Message, OutgoingMessage, RedriveOptions};
use crate::cli::OutputFormat;
use crate::exit::Exit;
use crate::message::{b64, value_text};
use crate::report::{Action, BulkReport};
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
    // A dry run exits as the run would: a --to that does not exist stops both.
    if let Some(to) = &opts.to {
        broker.check_target(to).await?;
    }
    if !opts.rewrite.is_identity() {
        return rewrite_dry_run(ctx, broker, queue, sel, opts).await;
    }
    let mut report = BulkReport {
        dry_run: true,
        ..Default::default()
    };
    let mut plan = Vec::new();
    let mut copies = Vec::new();
    let with_kind = broker.capabilities().origin_kinds_shown();
    selected::browse(broker, queue, &opts.read, sel, &mut |m, d| {
        let to = target_of(&m, opts.to.as_deref(), with_kind);
        if d == Decision::Take {
            copies.extend(copy_destination(&m, opts));
        }
        let what = match d {
            Decision::Skip(why) => {
                report.skipped += 1;
                Planned::Skip {
                    to: Some(to),
                    why: why.to_string(),
                }
            }
            // The run would leave it on the DLQ and list it in failures.
            _ if opts.to.is_none() && m.dead_letter.origin.is_none() => {
                let error = crate::conventions::no_origin(&m.dead_letter);
                report.fail(&m.id, &error);
                Planned::Fail { to: None, error }
            }
            _ => {
                report.done += 1;
                Planned::Move { to }
            }
        };
        plan.push(PlanItem { id: m.id, what });
        Ok(Flow::Continue)
    })
    .await?;
    report.notes.extend(broker.fan_out(&copies).await);
    super::warn_where_failures(&ctx.printer, &sel.criteria);
    print_plan(ctx, &plan, &report, Action::Moved)?;
    Ok(report.exit())
}

/// Where a taken message's copy goes, and the queue it died on.
fn copy_destination(m: &Message, opts: &RedriveOptions) -> Option<(String, Option<String>)> {
    let to = opts
        .to
        .clone()
        .or_else(|| m.dead_letter.origin.as_ref().map(|o| o.name.clone()))?;
    Some((to, m.dead_letter.source.clone()))
}

/// One message of a dry run with a rewrite.
struct RewrittenRow {
    id: String,
    to: String,
    /// The copy, or what stops it (a skip, or why no copy can be built).
    outcome: Result<OutgoingMessage, Planned>,
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
    let mut copies = Vec::new();
    let with_kind = broker.capabilities().origin_kinds_shown();
    selected::browse(broker, queue, &opts.read, sel, &mut |m, d| {
        if d == Decision::Take {
            copies.extend(copy_destination(&m, opts));
        }
        let outcome = match d {
            Decision::Take if opts.to.is_none() && m.dead_letter.origin.is_none() => {
                let error = crate::conventions::no_origin(&m.dead_letter);
                report.fail(&m.id, &error);
                Err(Planned::Fail { to: None, error })
            }
            Decision::Take => match opts.rewrite.copy_of(&m) {
                Ok(copy) => {
                    report.done += 1;
                    Ok(copy)
                }
                Err(error) => {
                    report.fail(&m.id, &error);
                    Err(Planned::Fail {
                        to: Some(target_of(&m, opts.to.as_deref(), with_kind)),
                        error,
                    })
                }
            },
            Decision::Skip(why) => {
                report.skipped += 1;
                Err(Planned::Skip {
                    to: None,
                    why: why.to_string(),
                })
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
    report.notes.extend(broker.fan_out(&copies).await);
    super::warn_where_failures(&ctx.printer, &sel.criteria);
    print_rewritten(ctx, &plan, &report)?;
    Ok(report.exit())
}

/// Prints the plan of a rewriting dry run: each copy's headers and body.
fn print_rewritten(ctx: &Ctx, plan: &[RewrittenRow], report: &BulkReport) -> Result<()> {
    let p = &ctx.printer;
    let rows: Vec<PlanRow> = plan
        .iter()
        .map(|r| match &r.outcome {
            Ok(copy) => {
                let text = std::str::from_utf8(&copy.body).ok();
                PlanRow {
                    copy: Some(CopyFields {
                        headers: &copy.headers,
                        key: copy.key.as_deref(),
                        body: text,
                        body_base64: text.is_none().then(|| b64(&copy.body)),
                    }),
                    to: Some(&r.to),
                    action: "move",
                    ..PlanRow::blank(&r.id)
                }
            }
            Err(Planned::Skip { why, .. }) => PlanRow {
                to: Some(&r.to),
                action: "skip",
                skip_reason: Some(why),
                ..PlanRow::blank(&r.id)
            },
            Err(other) => PlanRow::of(&r.id, other),
        })
        .collect();
    match p.format {
        OutputFormat::Table | OutputFormat::Wide => {
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
                        Err(Planned::Skip { why, .. }) => {
                            (String::new(), String::new(), why.clone())
                        }
                        Err(Planned::Fail { error, .. }) => {
                            (String::new(), String::new(), error.clone())
                        }
                        Err(_) => Default::default(),
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

/// What a dry run says would happen to one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    /// It would be re-driven to `to`.
    Move { to: String },
    /// It would be purged; `body` is a preview of what goes.
    Purge { body: String },
    /// It matches but would be skipped (`to`: where it would have gone).
    Skip { to: Option<String>, why: String },
    /// It would fail and stay where it is (`to`: where it would have gone,
    /// when it has somewhere to go).
    Fail { to: Option<String>, error: String },
}

/// One message of a dry run's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanItem {
    pub id: String,
    pub what: Planned,
}

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
    fn blank(id: &'p str) -> Self {
        PlanRow {
            id,
            to: None,
            action: "",
            skip_reason: None,
            error: None,
            copy: None,
        }
    }

    fn of(id: &'p str, what: &'p Planned) -> Self {
        let row = PlanRow::blank(id);
        match what {
            Planned::Move { to } => PlanRow {
                to: Some(to),
                action: "move",
                ..row
            },
            Planned::Purge { .. } => PlanRow {
                action: "purge",
                ..row
            },
            Planned::Skip { to, why } => PlanRow {
                to: to.as_deref(),
                action: "skip",
                skip_reason: Some(why),
                ..row
            },
            Planned::Fail { to, error } => PlanRow {
                to: to.as_deref(),
                action: "fail",
                error: Some(error),
                ..row
            },
        }
    }
}

/// Prints a dry-run plan.
pub fn print_plan(ctx: &Ctx, plan: &[PlanItem], report: &BulkReport, verb: Action) -> Result<()> {
    let p = &ctx.printer;
    let rows: Vec<_> = plan.iter().map(|i| PlanRow::of(&i.id, &i.what)).collect();
    match p.format {
        OutputFormat::Table | OutputFormat::Wide => {
            if !plan.is_empty() {
                let second = if verb == Action::Moved {
                    "WOULD GO TO"
                } else {
                    "BODY"
                };
                let mut t = p.table(&["ID", second, "NOTE"]);
                for i in plan {
                    let (shown, note) = match &i.what {
                        Planned::Move { to } => (to.as_str(), ""),
                        Planned::Purge { body } => (body.as_str(), ""),
                        Planned::Skip { to, why } => (to.as_deref().unwrap_or(""), why.as_str()),
                        Planned::Fail { error, .. } => ("", error.as_str()),
                    };
                    t.add_row(vec![
                        escape(&i.id, false),
                        escape(shown, false),
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

/// How a re-drive runs.
#[derive(Debug, Clone, Copy)]
pub struct Drive {
    /// The command as the journal names it: retry, retry-all, edit.
    pub command: &'static str,
    pub rate: Option<f64>,
    /// How many messages are expected, for the progress bar.
    pub total: Option<u64>,
}

/// Runs the re-drive (by dlq, or `--native` by the broker) and prints its
/// summary.
pub async fn execute(
    ctx: &Ctx,
    broker: &dyn Broker,
    queue: &str,
    selection: Selection,
    opts: &RedriveOptions,
    Drive {
        command,
        rate,
        total,
    }: Drive,
) -> Result<Exit> {
    let run = ctx.ledger(BulkRun {
        command,
        queue,
        action: Action::Moved,
        total,
        rate,
        backup: None,
        selection,
    });
    let result = if opts.native {
        broker.native_move(queue, opts, &run).await
    } else {
        broker.redrive(queue, opts, &run).await
    };
    ctx.conclude(run, result, Action::Moved)
}
