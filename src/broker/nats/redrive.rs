//! `retry` and `retry-all` on a stream: publish each selected row to its
//! original subject (or `--to`) with a JetStream publish, and delete it from
//! the DLQ stream by sequence once the publish is acknowledged.
//!
//! Publishes go out in read order; their acks and the deletes that follow are
//! awaited in a window of up to [`WINDOW`] at a time. A message is removed
//! only after the stream that captures its subject stored the copy, so a
//! crash at any point leaves at most a duplicate. The copy's `Nats-Msg-Id` is
//! derived from the DLQ stream, sequence and stored time: re-running after a
//! crash within the target's duplicate window does not store it twice, and an
//! original `Nats-Msg-Id` (kept as `dlq-original-msg-id`) cannot get the copy
//! dropped as a duplicate of the message that failed. `Nats-Expected-*` and
//! `Nats-Rollup` are never forwarded. For an advisory row, the advisory is
//! deleted from the DLQ stream; the original stays in its source stream.

use std::future::Future;
use std::pin::Pin;

use anyhow::Result;
use async_nats::connection::State;
use async_nats::jetstream::context::PublishErrorKind;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Value};

use super::convert;
use super::rows::{Origin, Row, Rows};
use super::subjects;
use super::{Nats, NAME};
use crate::broker::{OutgoingMessage, RedriveOptions};
use crate::bulk::{BulkContext, BulkReport};
use crate::exit::{broker, usage};
use crate::select::{Decision, Selection};

/// Publishes awaiting their ack (and then their delete) at most.
const WINDOW: usize = 512;

type Pending = Pin<Box<dyn Future<Output = (String, Result<(), String>)> + Send>>;

pub(super) async fn run(
    nats: &Nats,
    queue: &str,
    opts: &RedriveOptions,
    sel: &Selection,
    ctx: &BulkContext,
) -> Result<BulkReport> {
    if let Some(to) = &opts.to {
        if !subjects::is_publishable(to) {
            return Err(usage(format!(
                "--to {to:?} is not a subject dlq can publish to (no spaces, no wildcards, no empty tokens)"
            )));
        }
    }
    let stream = nats.stream(queue).await?;
    let mut rows = Rows::open(nats, stream, &opts.read.ids).await?;
    let mut report = BulkReport::default();
    let mut inflight: FuturesUnordered<Pending> = FuturesUnordered::new();

    loop {
        while inflight.len() >= WINDOW {
            if let Some(done) = inflight.next().await {
                settle(nats, &mut report, ctx, done);
            }
        }
        if ctx.interrupted() || report.stopped_by.is_some() || sel.exhausted() {
            break;
        }
        let row = match rows.next().await {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) if report.done == 0 && report.failed == 0 && inflight.is_empty() => return Err(e),
            Err(e) => {
                report.stopped_by = Some(format!("{e:#}"));
                break;
            }
        };
        match sel.decide(&row.message) {
            Decision::Leave => continue,
            Decision::Skip(_) => {
                report.skipped += 1;
                ctx.tick(1);
                continue;
            }
            Decision::Take => {}
        }
        let subject = match (&opts.to, &row.origin) {
            (_, Origin::Missing(why)) => {
                report.fail(&row.message.id, format!("cannot re-drive: {}", why.trim_start_matches("nothing: ")));
                ctx.tick(1);
                continue;
            }
            (Some(to), _) => to.clone(),
            (None, Origin::Subject(s)) => s.clone(),
            (None, Origin::Unknown) => {
                report.fail(
                    &row.message.id,
                    "no origin recorded (no dlq-original-subject or Nats-Subject header): pass --to",
                );
                ctx.tick(1);
                continue;
            }
        };
        let headers = match copy_headers(queue, &row) {
            Ok(h) => h,
            Err(e) => {
                report.fail(&row.message.id, e);
                ctx.tick(1);
                continue;
            }
        };
        ctx.pace().await;
        let id = row.message.id.clone();
        let sent = nats
            .js
            .publish_with_headers(subject.clone(), headers, row.message.body.into())
            .await;
        match sent {
            Err(e) => {
                report.fail(&id, format!("publishing to {subject}: {e}"));
                ctx.tick(1);
                if nats.client.connection_state() != State::Connected {
                    report.stopped_by = Some(format!("nats: lost the connection to the server: {e}"));
                }
            }
            Ok(ack) => {
                let js = nats.js.clone();
                let dlq = queue.to_owned();
                let seq = row.seq;
                inflight.push(Box::pin(async move {
                    let outcome = match ack.await {
                        Err(e) if e.kind() == PublishErrorKind::StreamNotFound => Err(format!(
                            "no stream captures subject {subject}: the message stays on the DLQ"
                        )),
                        Err(e) => Err(format!(
                            "publishing to {subject}: {e}: the message stays on the DLQ"
                        )),
                        Ok(_) => delete(&js, &dlq, seq).await.map_err(|e| {
                            format!("published to {subject}, but removing it from {dlq} failed ({e}): it stays there as well")
                        }),
                    };
                    (id, outcome)
                }));
            }
        }
    }
    while let Some(done) = inflight.next().await {
        settle(nats, &mut report, ctx, done);
    }
    Ok(report)
}

fn settle(nats: &Nats, report: &mut BulkReport, ctx: &BulkContext, (id, outcome): (String, Result<(), String>)) {
    ctx.tick(1);
    match outcome {
        Ok(()) => report.done += 1,
        Err(e) => {
            if report.stopped_by.is_none() && nats.client.connection_state() != State::Connected {
                report.stopped_by = Some("nats: lost the connection to the server".into());
            }
            report.fail(id, e);
        }
    }
}

/// The copy's headers: the row's, the re-drive count raised, control
/// headers dropped, a Nats-Msg-Id that names this DLQ message.
fn copy_headers(queue: &str, row: &Row) -> Result<async_nats::HeaderMap, String> {
    let mut out = OutgoingMessage::redrive_of(&row.message);
    if let Some(old) = out
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Nats-Msg-Id"))
        .map(|(_, v)| v.clone())
    {
        if !out.headers.contains_key("dlq-original-msg-id") {
            out.headers.insert("dlq-original-msg-id".into(), old);
        }
    }
    let mut headers = convert::headers_from_json(&out.headers, convert::is_control_header)?;
    headers.insert(
        "Nats-Msg-Id",
        format!("dlq:{queue}:{}:{}", row.seq, row.stored_nanos).as_str(),
    );
    Ok(headers)
}

/// Deletes one message of a stream by sequence, without the slow secure
/// erase; a message that is already gone counts as deleted.
pub(super) async fn delete(js: &async_nats::jetstream::Context, stream: &str, seq: u64) -> Result<()> {
    let op = || format!("deleting sequence {seq} from stream '{stream}'");
    let reply: Value = js
        .request(
            format!("STREAM.MSG.DELETE.{stream}"),
            &json!({"seq": seq, "no_erase": true}),
        )
        .await
        .map_err(|e| broker(NAME, op(), e))?;
    if let Some(err) = reply.get("error") {
        // 10037: no message found.
        if err.get("err_code").and_then(Value::as_u64) == Some(10037) {
            return Ok(());
        }
        let text = err
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("error");
        return Err(broker(NAME, op(), text));
    }
    Ok(())
}
