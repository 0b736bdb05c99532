//! `dlq list QUEUE`: one row per message, read without changing the queue.
//! A schema-encoded body previews as its decoded value.
//!
//! `--follow` (Kafka, NATS) reads on as the log grows: one aligned line (or
//! one envelope) a message, flushed at once, until Ctrl-C (exit 130) or
//! `--limit N` messages (exit 0). Queue brokers cannot be watched without
//! taking messages, so there it is refused before connecting.

use std::io::Write;
use std::time::SystemTime;

use anyhow::Result;

use super::{read_options, selected, selection, warn_where_failures, Ctx};
use crate::broker::{registry, Flag, Flow, Message};
use crate::cli::{ListArgs, OutputFormat};
use crate::exit::{interrupted, usage, Exit};
use crate::output::{human_age, human_size};
use crate::sanitize::{escape, preview};
use crate::select::Decision;

pub async fn run(ctx: &Ctx, a: &ListArgs) -> Result<Exit> {
    let (queue, filters, read, all) = (a.queue.as_str(), &a.filters, &a.read, a.all);
    let mut opts = read_options(read, all, &[]);
    opts.follow = a.follow;
    let sel = selection(filters, None)?;
    if a.follow {
        check_follow(ctx, queue)?;
    }
    let decoder = ctx.decoder(&a.schema)?;
    let broker = ctx.connect_with(&opts.flags()).await?;
    let p = &ctx.printer;
    let now = SystemTime::now();

    if a.follow {
        ctx.interrupt.install();
        let table = p.is_table();
        if table {
            follow_line(&HEADER.map(String::from))?;
        }
        let mut print = |m: Message, d: Decision| -> Result<Flow> {
            if d == Decision::Take {
                if table {
                    follow_line(&row(&m, SystemTime::now()))?;
                } else {
                    p.ndjson(&m.envelope())?;
                    std::io::stdout().flush()?;
                }
            }
            Ok(Flow::Continue)
        };
        let read =
            selected::browse_decoded(&*broker, queue, &opts, &sel, decoder.as_ref(), &mut print);
        tokio::select! {
            r = read => r?,
            _ = ctx.interrupt.wait() => return Err(interrupted()),
        }
        warn_where_failures(p, &sel.criteria);
        return Ok(Exit::Ok);
    }

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
        warn_where_failures(p, &sel.criteria);
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
    warn_where_failures(p, &sel.criteria);
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
    let mut table = p.table(&HEADER);
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

const HEADER: [&str; 7] = ["ID", "AGE", "REASON", "SOURCE", "ATTEMPTS", "SIZE", "BODY"];

/// `--follow` where the broker can honour it, and in a format that can be
/// printed a message at a time; refused before connecting otherwise.
fn check_follow(ctx: &Ctx, queue: &str) -> Result<()> {
    if ctx.printer.format == OutputFormat::Json {
        return Err(usage(
            "--follow prints a message at a time: use -o ndjson (or the table), not -o json",
        ));
    }
    let (_, caps) = ctx.check(&[])?;
    registry::check_flags(caps, &[Flag::Follow]).map_err(|e| {
        usage(format!(
            "{e}: {} cannot be watched without taking its messages; watch its depth with `dlq lag {} --watch 5s --max-dlq 0`",
            caps.name,
            escape(queue, false)
        ))
    })
}

/// Column widths of a followed line (the body takes the rest).
const WIDTHS: [usize; 6] = [14, 5, 16, 16, 8, 7];

/// One aligned line of `--follow`, flushed at once.
fn follow_line(cells: &[String]) -> Result<()> {
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(WIDTHS) {
        let shown: String = if cell.chars().count() > width {
            let mut s: String = cell.chars().take(width - 1).collect();
            s.push('…');
            s
        } else {
            cell.clone()
        };
        line.push_str(&format!("{shown:<width$}  "));
    }
    if let Some(body) = cells.get(WIDTHS.len()) {
        line.push_str(body);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", line.trim_end())?;
    out.flush()?;
    Ok(())
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
