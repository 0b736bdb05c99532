//! `queues` and `lag`: streams, consumers, and which stream dead-letters
//! where.
//!
//! A DLQ stream is one that captures consumer advisories (its sources are the
//! streams whose advisories its subjects catch), or one whose name or
//! subjects say `dlq` or `dead` (its source comes from the headers of its
//! first message: `Nats-Stream`, or the stream capturing the original
//! subject). `lag` reads consumer info only; the oldest pending message is
//! read by sequence, which delivers nothing.

use std::collections::HashMap;
use std::time::SystemTime;

use anyhow::Result;
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::stream::Info;
use async_nats::jetstream::ErrorCode;
use futures::stream::TryStreamExt;
use serde_json::{json, Map, Value};

use super::convert::{self, header};
use super::rows::{infos, raw_get, Getter};
use super::subjects;
use super::{js_code, stream_missing, Nats, NAME};
use crate::broker::{LagQuery, LagRow, QueueInfo, QueueKind};
use crate::dlq_names;
use crate::exit::{is_not_found, not_found, Context as _};
use crate::message::rfc3339;

/// The streams with their DLQ marks and links.
async fn topology(nats: &Nats, infos: &[Info]) -> Result<Vec<QueueInfo>> {
    let subject_map: Vec<(String, Vec<String>)> = infos
        .iter()
        .map(|i| (i.config.name.clone(), i.config.subjects.clone()))
        .collect();
    let mut out: Vec<QueueInfo> = Vec::new();
    for info in infos {
        let c = &info.config;
        let advisories = subjects::captures_advisories_of(&c.subjects, "*", "*");
        // Named like a DLQ, or capturing subjects named so (`dlq.>`).
        let named = |s: &String| s.split('.').any(|w| dlq_names::is_dlq(w, &[]));
        let is_dlq = advisories || dlq_names::is_dlq(&c.name, &[]) || c.subjects.iter().any(named);
        let mut sources = Vec::new();
        if advisories {
            sources = infos
                .iter()
                .map(|i| &i.config.name)
                .filter(|n| *n != &c.name)
                .filter(|n| subjects::captures_advisories_of(&c.subjects, n, "*"))
                .cloned()
                .collect();
        } else if is_dlq && info.state.messages > 0 {
            match copy_source(nats, info, &subject_map).await {
                Ok(src) => sources.extend(src),
                // A stream deleted since the listing is no longer there to show.
                Err(e) if vanished(nats, &c.name, is_not_found(&e)).await => continue,
                Err(e) => return Err(e),
            }
        }
        let mut extra = Map::new();
        extra.insert("bytes".into(), json!(info.state.bytes));
        extra.insert("subjects".into(), json!(c.subjects));
        extra.insert("consumers".into(), json!(info.state.consumer_count));
        extra.insert(
            "pattern".into(),
            match (is_dlq, advisories) {
                (true, true) => json!("advisories"),
                (true, false) => json!("copies"),
                _ => Value::Null,
            },
        );
        out.push(QueueInfo {
            name: c.name.clone(),
            kind: QueueKind::Stream,
            depth: Some(info.state.messages),
            is_dlq,
            sources,
            extra,
            ..Default::default()
        });
    }
    QueueInfo::link_sources(&mut out);
    Ok(out)
}

/// The source stream of a stream of copies, from its first message.
async fn copy_source(
    nats: &Nats,
    info: &Info,
    streams: &[(String, Vec<String>)],
) -> Result<Option<String>> {
    let name = &info.config.name;
    let getter = Getter::new(nats, info).await?;
    let Some(m) = getter.get(info.state.first_sequence, false).await? else {
        return Ok(None);
    };
    if let Some(s) = header(&m.headers, "Nats-Stream").filter(|s| s != name) {
        return Ok(Some(s.to_owned()));
    }
    let original =
        header(&m.headers, "dlq-original-subject").or_else(|| header(&m.headers, "Nats-Subject"));
    Ok(original
        .and_then(|s| subjects::stream_for(streams, s))
        .filter(|s| s != name)
        .map(str::to_owned))
}

/// Whether a failed read of stream `name` (`gone`: the server said it is
/// not there) means it was deleted since the streams were listed (a read of
/// a stream being deleted can also time out instead of saying so, hence the
/// second look).
async fn vanished(nats: &Nats, name: &str, gone: bool) -> bool {
    gone || matches!(nats.js.get_stream(name).await, Err(e) if stream_missing(&e))
}

pub(super) async fn queues(nats: &Nats) -> Result<Vec<QueueInfo>> {
    topology(nats, &infos(&nats.js).await?).await
}

/// Messages a DLQ stream holds for `stream`'s consumer `consumer` (`*`: any).
async fn advisory_count(nats: &Nats, dlq: &str, stream: &str, consumer: &str) -> Result<u64> {
    let filter = format!("$JS.EVENT.ADVISORY.CONSUMER.*.{stream}.{consumer}");
    let reply: Value = nats
        .js
        .request(
            format!("STREAM.INFO.{dlq}"),
            &json!({"subjects_filter": filter}),
        )
        .await
        .broker_err(NAME, format!("reading stream '{dlq}'"))?;
    let subjects = reply["state"]["subjects"].as_object().into_iter().flatten();
    Ok(subjects
        .filter(|(s, _)| {
            s.starts_with(subjects::MAX_DELIVERIES) || s.starts_with(subjects::MSG_TERMINATED)
        })
        .filter_map(|(_, n)| n.as_u64())
        .sum())
}

/// The DLQ depth for `stream`/`consumer`: advisories captured for it, or the
/// depth of a stream of copies linked to the stream; None when no DLQ serves it.
async fn dlq_depth(
    nats: &Nats,
    infos: &[Info],
    topo: &[QueueInfo],
    stream: &str,
    consumer: &str,
) -> Result<Option<u64>> {
    let mut depth = None;
    for info in infos {
        let c = &info.config;
        if c.name != stream && subjects::captures_advisories_of(&c.subjects, stream, consumer) {
            // A DLQ stream deleted since the listing counts nothing; it is gone.
            let n = match advisory_count(nats, &c.name, stream, consumer).await {
                Ok(n) => n,
                Err(e) if vanished(nats, &c.name, is_not_found(&e)).await => continue,
                Err(e) => return Err(e),
            };
            *depth.get_or_insert(0) += n;
        }
    }
    if depth.is_none() {
        for q in topo {
            if q.is_dlq
                && q.extra.get("pattern") == Some(&json!("copies"))
                && q.sources.iter().any(|s| s == stream)
            {
                *depth.get_or_insert(0) += q.depth.unwrap_or(0);
            }
        }
    }
    Ok(depth)
}

pub(super) async fn lag(nats: &Nats, query: &LagQuery) -> Result<Vec<LagRow>> {
    let infos = infos(&nats.js).await?;
    let topo = topology(nats, &infos).await?;
    let by_name: HashMap<&str, &Info> = infos.iter().map(|i| (i.config.name.as_str(), i)).collect();
    let all = infos.iter().map(|i| (i.config.name.clone(), None, false));
    let named = query.names.iter().map(|n| match n.split_once('/') {
        Some((s, c)) => (s.to_owned(), Some(c.to_owned()), true),
        None => (n.clone(), None, true),
    });
    let wanted: Vec<(String, Option<String>, bool)> = if query.names.is_empty() {
        all.collect()
    } else {
        named.collect()
    };
    let now = SystemTime::now();
    let mut rows = Vec::new();
    for (stream_name, consumer, named) in wanted {
        let Some(info) = by_name.get(stream_name.as_str()) else {
            return Err(not_found(
                format!("nats: stream '{stream_name}' not found"),
                None,
            ));
        };
        let stream = nats
            .js
            .get_stream_no_info(&stream_name)
            .await
            .broker_err(NAME, format!("opening stream '{stream_name}'"))?;
        let consumers: Vec<async_nats::jetstream::consumer::Info> = match &consumer {
            Some(c) => match stream.consumer_info(c).await {
                Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => {
                    return Err(not_found(
                        format!("nats: consumer '{c}' not found on stream '{stream_name}'"),
                        Some(Box::new(e)),
                    ))
                }
                read => {
                    vec![read.broker_err(NAME, format!("reading consumer '{stream_name}/{c}'"))?]
                }
            },
            None => match stream.consumers().try_collect().await {
                Ok(all) => all,
                // Unnamed, a stream deleted since the listing is simply left out.
                Err(e)
                    if !named
                        && vanished(
                            nats,
                            &stream_name,
                            js_code(&e) == Some(ErrorCode::STREAM_NOT_FOUND),
                        )
                        .await =>
                {
                    continue
                }
                listed => {
                    listed.broker_err(NAME, format!("listing the consumers of '{stream_name}'"))?
                }
            },
        };
        if consumers.is_empty() && named {
            let mut extra = Map::new();
            extra.insert("stream".into(), json!(stream_name));
            extra.insert("consumer".into(), Value::Null);
            extra.insert("messages".into(), json!(info.state.messages));
            rows.push(LagRow {
                name: stream_name.clone(),
                lag: Some(0),
                oldest_age: None,
                dlq_depth: dlq_depth(nats, &infos, &topo, &stream_name, "*").await?,
                checked: true,
                extra,
            });
            continue;
        }
        for ci in consumers {
            let filter = Some(ci.config.filter_subject.as_str()).filter(|f| !f.is_empty());
            let oldest = if ci.num_pending + ci.num_ack_pending as u64 > 0 {
                // Awaiting an ack, the oldest is past the ack floor; else it is the next
                // to deliver (what lies before it, this consumer never delivers).
                let first = match ci.num_ack_pending {
                    0 => ci.delivered.stream_sequence + 1,
                    _ => ci.ack_floor.stream_sequence + 1,
                };
                raw_get(&nats.js, &stream_name, first, filter.or(Some(">")))
                    .await
                    .ok()
                    .map(|m| convert::from_nanos(m.time_nanos))
            } else {
                None
            };
            let mut extra = Map::new();
            extra.insert("stream".into(), json!(stream_name));
            extra.insert("consumer".into(), json!(ci.name));
            extra.insert("ack_pending".into(), json!(ci.num_ack_pending));
            extra.insert("redelivered".into(), json!(ci.num_redelivered));
            extra.insert("waiting".into(), json!(ci.num_waiting));
            extra.insert(
                "last_active".into(),
                json!(ci
                    .delivered
                    .last_active
                    .map(|t| rfc3339(convert::from_nanos(t.unix_timestamp_nanos())))),
            );
            rows.push(LagRow {
                name: format!("{stream_name}/{}", ci.name),
                lag: Some(ci.num_pending),
                oldest_age: oldest.map(|t| now.duration_since(t).unwrap_or_default()),
                dlq_depth: dlq_depth(nats, &infos, &topo, &stream_name, &ci.name).await?,
                checked: true,
                extra,
            });
        }
    }
    Ok(rows)
}
