//! `dlq history [RUN_ID]`: what dlq changed, from the journal.
//!
//! Without RUN_ID, the runs, newest first (run IDs sort by time); with one,
//! that run's message records in the order they were written. It reads the
//! local journal only and needs no broker. A run that has no `run_end`
//! record was killed: it shows as unfinished, with the records it left.

use anyhow::Result;
use serde_json::Value;

use super::Ctx;
use crate::cli::{HistoryArgs, OutputFormat};
use crate::exit::{usage, Exit};
use crate::journal::{self, RunSummary};
use crate::sanitize::escape;

pub async fn run(ctx: &Ctx, a: &HistoryArgs) -> Result<Exit> {
    let (run_id, limit) = (a.run_id.as_deref(), a.limit);
    let Some(path) = journal::path() else {
        return Err(usage(
            "no state or data directory for the journal: set DLQ_JOURNAL",
        ));
    };
    let (mut runs, mut messages) = journal::read(&path, run_id)
        .map_err(|e| usage(format!("cannot read journal {}: {e}", path.display())))?;
    let p = &ctx.printer;
    if let Some(id) = run_id {
        if !runs.iter().any(|r| r.run_id() == id) {
            return Err(usage(format!(
                "no run {id} in {}; `dlq history` lists the runs",
                path.display()
            )));
        }
        if let Some(n) = limit {
            messages.truncate(n);
        }
        return print_messages(ctx, id, &messages);
    }
    runs.sort_by(|a, b| b.run_id().cmp(a.run_id()));
    if let Some(n) = limit {
        runs.truncate(n);
    }
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

fn print_messages(ctx: &Ctx, id: &str, messages: &[Value]) -> Result<Exit> {
    let p = &ctx.printer;
    if !p.is_table() {
        p.values(messages)?;
        return Ok(Exit::Ok);
    }
    if messages.is_empty() {
        p.note(&format!(
            "run {id} recorded no messages (a full purge records only its count)"
        ));
        return Ok(Exit::Ok);
    }
    let mut table = p.table(&["ID", "ACTION", "TO", "ERROR", "AT"]);
    for m in messages {
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
        messages.len(),
        if messages.len() == 1 { "" } else { "s" }
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
