//! `dlq history [RUN_ID]`: what dlq changed, from the journal.
//!
//! Without RUN_ID, the runs, newest first (run IDs sort by time); with one,
//! that run's message records in the order they were written; with
//! `--prune --older-than D`, the runs that started longer ago than D are
//! removed. It reads the local journal only and needs no broker, and reads
//! what it shows through the journal's index, not the whole journal. A run
//! that has no `run_end` record was killed: it shows as unfinished, with
//! the records it left.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;
use serde_json::{json, Value};

use super::Ctx;
use crate::cli::{HistoryArgs, OutputFormat};
use crate::exit::{usage, Exit};
use crate::journal::{self, RunSummary, View};
use crate::message::rfc3339;
use crate::output::human_size;
use crate::sanitize::escape;

pub async fn run(ctx: &Ctx, a: &HistoryArgs) -> Result<Exit> {
    let (run_id, limit) = (a.run_id.as_deref(), a.limit);
    let Some(path) = journal::path() else {
        return Err(usage(
            "no state or data directory for the journal: set DLQ_JOURNAL",
        ));
    };
    if let Some(w) = journal::privacy_warning(&path) {
        ctx.printer.warn(&w);
    }
    if let (true, Some(age)) = (a.prune, a.older_than) {
        return prune(ctx, &path, age, a.dry_run);
    }
    let unreadable =
        |e: std::io::Error| usage(format!("cannot read journal {}: {e}", path.display()));
    let mut view = View::open(&path).map_err(unreadable)?;
    let p = &ctx.printer;
    if let Some(id) = run_id {
        return print_messages(ctx, &mut view, id, limit, &path);
    }
    let runs = view.runs(limit).map_err(unreadable)?;
    match p.format {
        OutputFormat::Table => {}
        _ => {
            p.values(&runs.iter().map(RunSummary::to_json).collect::<Vec<_>>())?;
            return Ok(Exit::Ok);
        }
    }
    if runs.is_empty() {
        p.note(&format!("no runs in {}", path.display()));
        return Ok(Exit::Ok);
    }
    let mut table = p.table(&[
        "RUN ID", "STARTED", "COMMAND", "QUEUE", "DONE", "SKIPPED", "FAILED", "EXIT", "BROKER",
    ]);
    for r in &runs {
        let v = r.to_json();
        let action = text(&v["action"]);
        let count = |k: &str| match &v["counts"] {
            Value::Object(c) => c.get(k).map(text).unwrap_or_default(),
            // A killed run: what it recorded.
            _ => format!("{}?", r.recorded.get(k).copied().unwrap_or(0)),
        };
        let exit = match &v["exit_code"] {
            Value::Null => "killed?".to_owned(),
            other => text(other),
        };
        table.add_row(vec![
            escape(r.run_id(), false),
            text(&v["started_at"]),
            text(&v["command"]),
            escape(&text(&v["queue"]), false),
            format!("{} {action}", count(&action)),
            count("skipped"),
            count("failed"),
            exit,
            escape(&text(&v["broker"]), false),
        ]);
    }
    p.print_table(&table)?;
    Ok(Exit::Ok)
}

/// The message records of one run: streamed in JSON modes, a table else.
fn print_messages(
    ctx: &Ctx,
    view: &mut View,
    id: &str,
    limit: Option<usize>,
    path: &Path,
) -> Result<Exit> {
    let p = &ctx.printer;
    let limit = limit.unwrap_or(usize::MAX);
    let mut printed = 0usize;
    let mut failed: Option<anyhow::Error> = None;
    let mut rows: Vec<Value> = Vec::new();
    let mut stream = (!p.is_table()).then(|| p.stream());
    let found = view
        .messages(id, |m| {
            printed += 1;
            match stream.as_mut() {
                Some(s) => {
                    if let Err(e) = s.push(&m) {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                }
                None => rows.push(m),
            }
            if printed >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .map_err(|e| usage(format!("cannot read journal {}: {e}", path.display())))?;
    if let Some(e) = failed {
        return Err(e);
    }
    if !found {
        return Err(usage(format!(
            "no run {id} in {}; `dlq history` lists the runs",
            path.display()
        )));
    }
    if let Some(s) = stream {
        s.finish()?;
        return Ok(Exit::Ok);
    }
    if rows.is_empty() {
        p.note(&format!(
            "run {id} recorded no messages (a full purge records only its count)"
        ));
        return Ok(Exit::Ok);
    }
    let mut table = p.table(&["ID", "ACTION", "TO", "ERROR", "AT"]);
    for m in &rows {
        table.add_row(vec![
            escape(&text(&m["id"]), false),
            text(&m["action"]),
            escape(&text(&m["to"]), false),
            escape(&text(&m["error"]), false),
            text(&m["at"]),
        ]);
    }
    p.print_table(&table)?;
    p.note(&format!(
        "{} message record{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    Ok(Exit::Ok)
}

/// `--prune --older-than AGE [--dry-run]`: the summary on stderr, or as
/// one JSON object on stdout.
fn prune(ctx: &Ctx, path: &Path, age: std::time::Duration, dry_run: bool) -> Result<Exit> {
    let p = &ctx.printer;
    let cutoff = SystemTime::now()
        .checked_sub(age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let done = journal::prune(path, cutoff, dry_run)
        .map_err(|e| usage(format!("cannot prune journal {}: {e}", path.display())))?;
    if !p.is_table() {
        let mut v = json!(done);
        v["started_before"] = json!(rfc3339(cutoff));
        if p.format == OutputFormat::Ndjson {
            p.ndjson(&v)?;
        } else {
            p.json(&v)?;
        }
        return Ok(Exit::Ok);
    }
    let freed = done.bytes_before - done.bytes_after;
    p.note(&format!(
        "{} {} run{} that started before {} ({} records, {}{}); {} run{} kept",
        if dry_run { "would prune" } else { "pruned" },
        done.pruned_runs,
        if done.pruned_runs == 1 { "" } else { "s" },
        rfc3339(cutoff),
        done.pruned_records,
        human_size(freed as usize),
        match done.files_removed {
            0 => String::new(),
            1 => ", 1 file removed".into(),
            n => format!(", {n} files removed"),
        },
        done.kept_runs,
        if done.kept_runs == 1 { "" } else { "s" },
    ));
    Ok(Exit::Ok)
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
