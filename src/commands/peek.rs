//! `dlq peek QUEUE [ID...]`: whole messages, read without changing the queue.
//!
//! With IDs, each must name exactly one message. Without, the first message
//! the filters match (or `--limit N` of them). Bodies show as pretty JSON,
//! as text, or as hex/base64 when they are not UTF-8; a schema-encoded body
//! as its decoded value, pretty, under `body (avro, schema 42)`.

use std::time::SystemTime;

use anyhow::Result;
use serde_json::Value;

use super::{criteria, read_options, selected, warn_where_failures, Ctx};
use crate::broker::{Capabilities, Flow, Message};
use crate::cli::{BinaryFormat, FilterArgs, PeekArgs};
use crate::exit::Exit;
use crate::message::{b64, rfc3339};
use crate::output::{human_age, human_size, Printer};
use crate::sanitize::{escape, hex_dump};
use crate::schema::Decoder;
use crate::select::Decision;

/// How much of a body a card shows at a terminal without `--full`.
const BODY_CAP: usize = 64 * 1024;

pub async fn run(ctx: &Ctx, a: &PeekArgs) -> Result<Exit> {
    let (queue, filters, read) = (a.queue.as_str(), &a.filters, &a.read);
    let ids: &[String] = &crate::ids_from::gather(&a.ids, a.ids_from.as_deref())?;
    if ids.is_empty() && a.ids_from.is_some() {
        return Err(crate::exit::usage(
            "no message IDs: the --ids-from file has none",
        ));
    }
    let (all, binary) = (a.all, a.binary);
    // Filters (a `--where` that does not compile) are refused before connecting.
    super::filter(filters)?;
    let decoder = ctx.decoder(&a.schema)?;
    let broker = ctx
        .connect_with(&read_options(read, all, &[]).flags())
        .await?;
    let p = &ctx.printer;
    let messages = find(&*broker, queue, ids, a, decoder.as_ref(), p).await?;
    if !p.is_table() {
        p.values(&messages.iter().map(Message::envelope).collect::<Vec<_>>())?;
        return Ok(Exit::Ok);
    }
    if messages.is_empty() {
        p.note(&format!(
            "{}: no messages{}",
            escape(queue, false),
            if filters_given(filters) { " match" } else { "" }
        ));
    }
    let now = SystemTime::now();
    // At a terminal a body shows its first part; the rest is a flag away.
    let cap = (p.stdout_tty && !a.full).then_some(BODY_CAP);
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            p.line("")?;
        }
        p.line(&card(p, m, now, binary, broker.capabilities(), cap))?;
    }
    Ok(Exit::Ok)
}

fn filters_given(f: &FilterArgs) -> bool {
    super::filter(f).is_ok_and(|f| !f.is_empty())
}

/// The messages `ids` name (each exactly once), or the first ones that match.
pub async fn find(
    broker: &dyn crate::broker::Broker,
    queue: &str,
    ids: &[String],
    a: &PeekArgs,
    decoder: Option<&Decoder>,
    p: &Printer,
) -> Result<Vec<Message>> {
    let (read, all) = (&a.read, a.all);
    let mut args = a.filters.clone();
    if ids.is_empty() && args.limit.is_none() {
        args.limit = Some(1);
    }
    let wanted = (!ids.is_empty()).then_some(ids);
    let sel = criteria(&args, wanted, None)?.start();
    // Peeking by ID finds a message dlq already handled too: reading changes nothing.
    let opts = read_options(read, all || !ids.is_empty(), ids);
    let mut found: Vec<Message> = Vec::new();
    selected::browse_decoded(broker, queue, &opts, &sel, decoder, &mut |m, d| {
        if d == Decision::Take {
            found.push(m);
        }
        Ok(Flow::Continue)
    })
    .await?;
    warn_where_failures(p, &sel.criteria);
    selected::check_ids(queue, &sel)?;
    // With a repeated ID, show the message once.
    if !ids.is_empty() {
        let mut shown = std::collections::HashSet::new();
        found.retain(|m| shown.insert(m.id.clone()));
    }
    Ok(found)
}

/// The card of one message, escaped for a terminal (`dlq browse` opens the same).
pub fn card(
    p: &Printer,
    m: &Message,
    now: SystemTime,
    binary: BinaryFormat,
    caps: &Capabilities,
    cap: Option<usize>,
) -> String {
    let mut out = String::new();
    let label = |s: &str| p.bold(&format!("{s:<12}"));
    out.push_str(&p.paint(&format!("── message {} ", escape(&m.id, false)), "36"));
    out.push('\n');
    out.push_str(&format!("{}{}\n", label("queue"), escape(&m.queue, false)));
    if let Some(t) = m.timestamp {
        out.push_str(&format!(
            "{}{} ({} ago)\n",
            label("timestamp"),
            rfc3339(t),
            m.age(now).map(human_age).unwrap_or_default()
        ));
    }
    out.push_str(&format!("{}{}\n", label("size"), human_size(m.body.len())));
    if let Some(k) = &m.key {
        out.push_str(&format!("{}{}\n", label("key"), escape(k, false)));
    }
    let dl = &m.dead_letter;
    if dl.reason.is_some() || dl.source.is_some() || dl.attempts.is_some() {
        out.push_str(&format!(
            "{}reason {}, source {}, attempts {}{}\n",
            label("dead letter"),
            escape(dl.reason.as_deref().unwrap_or("?"), false),
            escape(dl.source.as_deref().unwrap_or("?"), false),
            dl.attempts
                .map(|a| a.to_string())
                .unwrap_or_else(|| "?".into()),
            dl.first_death_at
                .map(|t| format!(", first death {}", rfc3339(t)))
                .unwrap_or_default()
        ));
    }
    if let Some(t) = &dl.error_type {
        out.push_str(&format!("{}{}\n", label("error type"), escape(t, false)));
    }
    if let Some(c) = dl.convention {
        out.push_str(&format!("{}{}\n", label("convention"), c));
    }
    let retry = m
        .redrive_to(caps.origin_kinds_shown())
        .unwrap_or_else(|| crate::conventions::no_origin(dl));
    if dl.convention.is_some() || dl.origin.is_some() {
        out.push_str(&format!(
            "{}{}\n",
            label("retry goes"),
            escape(&retry, false)
        ));
    }
    section(&mut out, p, "headers", &m.headers);
    section(&mut out, p, "broker", &m.broker);
    if let Some(d) = &m.decoded {
        match &d.value {
            Ok(_) => {
                out.push_str(&p.bold("body"));
                out.push_str(&format!(" ({})\n", escape(&d.label(), false)));
                let pretty = d.value_json().map(|v| serde_json::to_string_pretty(&v));
                out.push_str(&escape(
                    &pretty.and_then(Result::ok).unwrap_or_default(),
                    true,
                ));
                return out;
            }
            Err(e) => out.push_str(&format!("{}{}\n", label("decoded"), escape(e, false))),
        }
    }
    out.push_str(&p.bold("body"));
    let whole = m.body.len();
    let body = cap.map_or(&m.body[..], |c| &m.body[..whole.min(c)]);
    let start = out.len();
    match m.body_text() {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(json) if text.trim_start().starts_with(['{', '[']) => {
                out.push_str(" (json)\n");
                out.push_str(&escape(
                    &serde_json::to_string_pretty(&json).unwrap_or_default(),
                    true,
                ));
            }
            _ => {
                out.push_str(" (text)\n");
                out.push_str(&escape(text, true));
            }
        },
        None => match binary {
            BinaryFormat::Hex => {
                out.push_str(" (binary, hex)\n");
                out.push_str(hex_dump(body).trim_end());
            }
            BinaryFormat::Base64 => {
                out.push_str(" (binary, base64)\n");
                out.push_str(&b64(body));
            }
        },
    }
    if let Some(c) = cap {
        // Binary was cut before it was rendered; text is cut as rendered.
        let is_text = m.body_text().is_some();
        let cut = if is_text {
            out.len() - start > c
        } else {
            whole > c
        };
        if is_text && cut {
            let mut end = start + c;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
        }
        if cut {
            out.push_str(&format!(
                "\n… {} body, its first {} shown; --full shows it all",
                human_size(whole),
                human_size(c.min(whole))
            ));
        }
    }
    out
}

fn section(out: &mut String, p: &Printer, name: &str, map: &serde_json::Map<String, Value>) {
    if map.is_empty() {
        return;
    }
    out.push_str(&p.bold(name));
    out.push('\n');
    for (k, v) in map.iter().filter(|(_, v)| !v.is_null()) {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!(
            "  {}: {}\n",
            escape(k, false),
            escape(&text, false)
        ));
    }
}
