//! `dlq queues`: every queue, topic or stream with its depth, dead-letter
//! queues marked and linked to their sources.

use anyhow::Result;
use serde_json::Value;

use super::Ctx;
use crate::broker::QueueInfo;
use crate::cli::OutputFormat;
use crate::exit::Exit;
use crate::prometheus;
use crate::sanitize::escape;

pub async fn run(ctx: &Ctx) -> Result<Exit> {
    let broker = ctx.connect().await?;
    let mut queues = broker.queues().await?;
    queues.sort_by(|a, b| a.name.cmp(&b.name));
    let p = &ctx.printer;
    if p.format == OutputFormat::Prometheus {
        let text = prometheus::render(&prometheus::queue_families(&ctx.broker_label()?, &queues));
        p.raw(&text)?;
        return Ok(Exit::Ok);
    }
    if !p.is_table() {
        p.values(&queues)?;
        return Ok(Exit::Ok);
    }
    if queues.is_empty() {
        p.note("no queues");
        return Ok(Exit::Ok);
    }
    let extra_keys = extra_columns(&queues);
    let mut header = vec!["NAME", "KIND", "DEPTH", "DLQ", "DEAD-LETTERS TO / FROM"];
    header.extend(extra_keys.iter().map(String::as_str));
    let upper: Vec<String> = header
        .iter()
        .map(|h| h.to_uppercase().replace('_', " "))
        .collect();
    let mut table = p.table(&upper.iter().map(String::as_str).collect::<Vec<_>>());
    for q in &queues {
        let link = if q.is_dlq {
            if q.sources.is_empty() {
                String::new()
            } else {
                format!("← {}", q.sources.join(", "))
            }
        } else {
            q.dead_letter_queue
                .as_ref()
                .map(|d| format!("→ {d}"))
                .unwrap_or_default()
        };
        let mut row = vec![
            p.cell(escape(&q.name, false), None),
            p.cell(q.kind.as_str(), None),
            p.cell(
                q.depth.map(|d| d.to_string()).unwrap_or_else(|| "?".into()),
                None,
            ),
            p.cell(
                if q.is_dlq { "DLQ" } else { "" },
                Some(comfy_table::Color::Yellow),
            ),
            p.cell(escape(&link, false), None),
        ];
        for k in &extra_keys {
            row.push(p.cell(q.extra.get(k).map(cell).unwrap_or_default(), None));
        }
        table.add_row(row);
    }
    p.print_table(&table)?;
    Ok(Exit::Ok)
}

fn extra_columns(queues: &[QueueInfo]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for q in queues {
        for k in q.extra.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

/// A JSON value as a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => escape(s, false),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => escape(&other.to_string(), false),
    }
}

/// The stable JSON shape of one queue.
pub fn to_json(q: &QueueInfo) -> Value {
    serde_json::to_value(q).expect("a queue row is plain JSON")
}
