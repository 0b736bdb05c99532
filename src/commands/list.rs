//! `dlq list QUEUE`: one row per message, read without changing the queue.
//! A schema-encoded body previews as its decoded value.

use std::time::SystemTime;

use anyhow::Result;

use super::{read_options, selected, selection, Ctx};
use crate::broker::{Flow, Message};
use crate::cli::ListArgs;
use crate::exit::Exit;
use crate::output::{human_age, human_size};
use crate::sanitize::{escape, preview};
use crate::select::Decision;

pub async fn run(ctx: &Ctx, a: &ListArgs) -> Result<Exit> {
    let (queue, filters, read, all) = (a.queue.as_str(), &a.filters, &a.read, a.all);
    let opts = read_options(read, all, &[]);
    let decoder = ctx.decoder(&a.schema)?;
    let broker = ctx.connect_with(&opts.flags()).await?;
    let sel = selection(filters, None);
    let p = &ctx.printer;
    let now = SystemTime::now();

    if !p.is_table() {
        let mut stream = p.stream();
        let mut err = None;
        selected::browse_decoded(
            &*broker,
            queue,
            &opts,
            &sel,
            decoder.as_ref(),
            &mut |m, d| {
                if d == Decision::Take {
                    if let Err(e) = stream.push(&m.envelope()) {
                        err = Some(e);
                        return Ok(Flow::Stop);
                    }
                }
                Ok(Flow::Continue)
            },
        )
        .await?;
        if let Some(e) = err {
            return Err(e);
        }
        stream.finish()?;
        return Ok(Exit::Ok);
    }

    let mut rows: Vec<Vec<String>> = Vec::new();
    selected::browse_decoded(
        &*broker,
        queue,
        &opts,
        &sel,
        decoder.as_ref(),
        &mut |m, d| {
            if d == Decision::Take {
                rows.push(row(&m, now));
            }
            Ok(Flow::Continue)
        },
    )
    .await?;
    if rows.is_empty() {
        p.note(&format!(
            "{}: no messages{}",
            escape(queue, false),
            if sel.criteria.filter.is_empty() {
                ""
            } else {
                " match"
            }
        ));
        return Ok(Exit::Ok);
    }
    let mut table = p.table(&["ID", "AGE", "REASON", "SOURCE", "ATTEMPTS", "SIZE", "BODY"]);
    let count = rows.len();
    for r in rows {
        table.add_row(r);
    }
    p.print_table(&table)?;
    p.note(&format!(
        "{count} message{}",
        if count == 1 { "" } else { "s" }
    ));
    Ok(Exit::Ok)
}

/// One message's row: ID, age, reason, source, attempts, size, body preview,
/// each escaped for a terminal (`dlq browse` shows the same row).
pub fn row(m: &Message, now: SystemTime) -> Vec<String> {
    let dl = &m.dead_letter;
    vec![
        escape(&m.id, false),
        m.age(now).map(human_age).unwrap_or_else(|| "?".into()),
        escape(dl.reason.as_deref().unwrap_or("-"), false),
        escape(dl.source.as_deref().unwrap_or("-"), false),
        dl.attempts
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into()),
        human_size(m.body.len()),
        // A schema-encoded body previews as its decoded value.
        match m.decoded.as_ref().and_then(|d| d.value_text()) {
            Some(text) => preview(text.as_bytes(), 60),
            None => preview(&m.body, 60),
        },
    ]
}
