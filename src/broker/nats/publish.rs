//! `publish` to a subject: a JetStream publish with its ack when a stream
//! captures the subject, else a core publish (confirmed by a flush) with a
//! note that nothing stored the messages.
//!
//! Acks are awaited in a window of up to [`WINDOW`], so the input streams
//! through at the broker's pace and memory stays flat.

use std::future::Future;
use std::pin::Pin;

use anyhow::Result;
use async_nats::jetstream::context::GetStreamByNameErrorKind;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;

use super::convert;
use super::subjects;
use super::{Nats, NAME};
use crate::broker::MessageInput;
use crate::bulk::{BulkContext, BulkReport};
use crate::exit::{broker, usage};

const WINDOW: usize = 1024;
/// The most in flight however far (the window scales by the round trip).
const MAX_WINDOW: usize = 8192;
/// Core publishes between flushes.
const FLUSH_EVERY: u64 = 1000;

type Pending = Pin<Box<dyn Future<Output = (String, Result<(), String>)> + Send>>;

pub(super) async fn run(
    nats: &Nats,
    target: &str,
    input: &mut dyn MessageInput,
    ctx: &BulkContext,
) -> Result<BulkReport> {
    if !subjects::is_publishable(target) {
        return Err(usage(format!(
            "{target:?} is not a subject dlq can publish to (no spaces, no wildcards, no empty tokens)"
        )));
    }
    let stored_by = match nats.js.stream_by_subject(target).await {
        Ok(name) => Some(name),
        Err(e) if e.kind() == GetStreamByNameErrorKind::NotFound => None,
        Err(e) => {
            return Err(broker(
                NAME,
                format!("looking for the stream that captures {target}"),
                e,
            ))
        }
    };
    let mut report = BulkReport::default();
    if stored_by.is_none() {
        report.notes.push(format!(
            "no stream captures subject {target}: sent with core NATS publish, so only subscribers listening at that moment got the messages and nothing stored them"
        ));
    }
    let mut inflight: FuturesUnordered<Pending> = FuturesUnordered::new();
    let window = nats.window(WINDOW, MAX_WINDOW);
    let mut unflushed = 0u64;
    let mut n = 0u64;
    loop {
        while let Some(Some(done)) = inflight.next().now_or_never() {
            settle(&mut report, ctx, done);
        }
        while inflight.len() >= window {
            if let Some(done) = inflight.next().await {
                settle(&mut report, ctx, done);
            }
        }
        if ctx.interrupted() {
            break;
        }
        let m = match input.next().await {
            None => break,
            Some(Err(e)) => {
                report.stopped_by = Some(format!("{e:#}"));
                break;
            }
            Some(Ok(m)) => m,
        };
        n += 1;
        let id = if m.line > 0 {
            format!("line {}", m.line)
        } else {
            n.to_string()
        };
        let headers = match convert::headers_from_json(&m.headers, |_| false) {
            Ok(h) => h,
            Err(e) => {
                report.fail(id, e);
                continue;
            }
        };
        ctx.pace().await;
        if let Some(stream) = &stored_by {
            match nats
                .js
                .publish_with_headers(target.to_owned(), headers, m.body.into())
                .await
            {
                Err(e) => {
                    report.fail(id, format!("publishing to {target}: {e}"));
                    ctx.tick(1);
                }
                Ok(ack) => {
                    let stream = stream.clone();
                    let target = target.to_owned();
                    inflight.push(Box::pin(async move {
                        let r = match ack.await {
                            Ok(a) if a.duplicate => Err(format!(
                                "stream {stream} dropped it as a duplicate (same Nats-Msg-Id within its duplicate window)"
                            )),
                            Ok(_) => Ok(()),
                            Err(e) => Err(format!("publishing to {target}: {e}")),
                        };
                        (id, r)
                    }));
                }
            }
        } else {
            let sent = if headers.is_empty() {
                nats.client.publish(target.to_owned(), m.body.into()).await
            } else {
                nats.client
                    .publish_with_headers(target.to_owned(), headers, m.body.into())
                    .await
            };
            if let Err(e) = sent {
                report.fail(id, format!("publishing to {target}: {e}"));
                continue;
            }
            unflushed += 1;
            if unflushed >= FLUSH_EVERY {
                flush(nats, &mut report, ctx, &mut unflushed).await?;
            }
        }
    }
    while let Some(done) = inflight.next().await {
        settle(&mut report, ctx, done);
    }
    flush(nats, &mut report, ctx, &mut unflushed).await?;
    Ok(report)
}

fn settle(report: &mut BulkReport, ctx: &BulkContext, (id, r): (String, Result<(), String>)) {
    match r {
        Ok(()) => {
            report.done += 1;
            ctx.done(&id, None);
        }
        Err(e) => report.fail(id, e),
    }
    ctx.tick(1);
}

/// Confirms core publishes: the server has read everything before the flush.
async fn flush(
    nats: &Nats,
    report: &mut BulkReport,
    ctx: &BulkContext,
    unflushed: &mut u64,
) -> Result<()> {
    if *unflushed == 0 {
        return Ok(());
    }
    match nats.client.flush().await {
        Ok(()) => {
            report.done += *unflushed;
            ctx.tick(*unflushed);
        }
        Err(e) => {
            report.failed += *unflushed;
            report.stopped_by = Some(format!("nats: flushing core publishes: {e}"));
        }
    }
    *unflushed = 0;
    Ok(())
}
