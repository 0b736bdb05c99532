//! `publish`: SendMessageBatch of 10, several batches in flight.
//!
//! Each message counts once SQS confirmed it in the batch answer; a failed
//! entry is a failure of that message alone. Headers become String message
//! attributes (or their recorded type, for replayed envelopes: see `codec`).
//! FIFO queues: the group is `--group-id`, else the envelope's
//! `broker.MessageGroupId`; the deduplication ID is `--dedup-id` (as given,
//! for every message), else none when the queue has ContentBasedDeduplication,
//! else a fresh one per message. Batches go one at a time on a FIFO queue so
//! that order within a group is the input order; a standard queue gets 8 in
//! flight near the broker, more far from it (scaled from the round trip to
//! the queue, see `Sqs::round_trip`).

use std::collections::HashMap;

use anyhow::Result;
use aws_sdk_sqs::types::{
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use super::codec::{self, broker_str};
use super::errors::{describe, explain};
use super::redrive::fresh_dedup_id;
use super::{Queue, Sqs, NAME};
use crate::broker::{MessageInput, PublishOptions};
use crate::bulk::{BulkContext, BulkReport};
use crate::exit::usage;

/// Batches in flight on loopback, and at most however far (each up to
/// [`BATCH_BYTES`], so memory stays bounded).
const WINDOW: usize = 16;
const MAX_WINDOW: usize = 64;
const BATCH_BYTES: usize = 1_048_576;

/// What one batch ended as: (done, failures).
type Outcome = (u64, Vec<(String, String)>, Option<String>);

pub async fn publish(
    sqs: &Sqs,
    target: &str,
    opts: &PublishOptions,
    input: &mut dyn MessageInput,
    ctx: &BulkContext,
) -> Result<BulkReport> {
    let q = sqs.queue(target).await?;
    let fifo = q.is_fifo();
    let content_dedup = if fifo {
        sqs.attributes(&q)
            .await?
            .get(&QueueAttributeName::ContentBasedDeduplication)
            .is_some_and(|v| v == "true")
    } else {
        false
    };
    let delay = match opts.delay {
        Some(_) if fifo => {
            return Err(usage(format!(
                "--delay: {} is a FIFO queue, which takes no per-message delay (set the queue's DelaySeconds instead)",
                q.name
            )))
        }
        Some(d) if d.as_secs() > 900 => {
            return Err(usage("--delay: SQS delays a message by at most 15m (900 seconds)"))
        }
        Some(d) => Some(d.as_secs() as i32),
        None => None,
    };
    if !fifo && opts.dedup_id.is_some() {
        return Err(usage(format!(
            "--dedup-id applies to FIFO queues and {} is a standard queue",
            q.name
        )));
    }
    let window = if fifo {
        1
    } else {
        sqs.round_trip(&q).await.scale(WINDOW, MAX_WINDOW)
    };
    let mut report = BulkReport::default();
    let mut in_flight = FuturesUnordered::new();
    let mut batch: Vec<(SendMessageBatchRequestEntry, String)> = Vec::new();
    let mut bytes = 0usize;
    let mut n = 0usize;
    let mut ended = false;
    while !ended {
        let mut flush = false;
        if ctx.interrupted() {
            ended = true;
            flush = true;
        } else {
            match input.next().await {
                None => {
                    ended = true;
                    flush = true;
                }
                Some(Err(e)) => {
                    report.stopped_by = Some(format!("{e:#}"));
                    ended = true;
                    flush = true;
                }
                Some(Ok(msg)) => {
                    n += 1;
                    let label = if msg.line > 0 {
                        format!("line {}", msg.line)
                    } else {
                        format!("message {n}")
                    };
                    let group = opts.group_id.clone().or_else(|| {
                        broker_str(
                            &msg.broker,
                            MessageSystemAttributeName::MessageGroupId.as_str(),
                        )
                        .map(str::to_owned)
                    });
                    if fifo && group.is_none() {
                        let why = format!(
                            "{} is a FIFO queue: pass --group-id GROUP (or publish envelopes whose broker.MessageGroupId is set)",
                            q.name
                        );
                        if report.done == 0
                            && report.failed == 0
                            && in_flight.is_empty()
                            && batch.is_empty()
                        {
                            return Err(usage(why));
                        }
                        report.fail(label, why);
                        continue;
                    }
                    let entry = (|| -> Result<(SendMessageBatchRequestEntry, usize), String> {
                        let body = codec::body_text(&msg.body)?;
                        let attrs = codec::attributes(&msg)?;
                        let size = codec::size(body, &attrs);
                        let mut e = SendMessageBatchRequestEntry::builder()
                            .id(batch.len().to_string())
                            .message_body(body)
                            .set_message_attributes(Some(attrs).filter(|a| !a.is_empty()))
                            .set_delay_seconds(delay);
                        if fifo {
                            e = e.set_message_group_id(group.clone());
                            let dedup = match &opts.dedup_id {
                                Some(d) => Some(d.clone()),
                                None if content_dedup => None,
                                None => Some(fresh_dedup_id(&format!("dlq-publish-{n}"), 0)),
                            };
                            e = e.set_message_deduplication_id(dedup);
                        } else if let Some(g) = &opts.group_id {
                            e = e.message_group_id(g);
                        }
                        Ok((e.build().map_err(|e| e.to_string())?, size))
                    })();
                    match entry {
                        Err(why) => report.fail(label, why),
                        Ok((entry, size)) => {
                            if !batch.is_empty() && bytes + size > BATCH_BYTES {
                                in_flight.push(send(sqs, &q, std::mem::take(&mut batch), ctx));
                                bytes = 0;
                            }
                            let entry = renumber(entry, batch.len());
                            bytes += size;
                            batch.push((entry, label));
                            flush = batch.len() == 10;
                        }
                    }
                }
            }
        }
        if flush && !batch.is_empty() {
            in_flight.push(send(sqs, &q, std::mem::take(&mut batch), ctx));
            bytes = 0;
        }
        while in_flight.len() >= window || (ended && !in_flight.is_empty()) {
            if let Some((done, failures, stop)) = in_flight.next().await {
                report.done += done;
                for (id, e) in failures {
                    report.fail(id, e);
                }
                if let Some(s) = stop {
                    report.stopped_by.get_or_insert(s);
                    ended = true;
                }
            }
        }
    }
    Ok(report)
}

/// Gives an entry the batch position as its ID.
fn renumber(entry: SendMessageBatchRequestEntry, id: usize) -> SendMessageBatchRequestEntry {
    let mut b = SendMessageBatchRequestEntry::builder()
        .id(id.to_string())
        .message_body(entry.message_body())
        .set_message_attributes(entry.message_attributes().cloned())
        .set_delay_seconds(entry.delay_seconds())
        .set_message_group_id(entry.message_group_id().map(str::to_owned))
        .set_message_deduplication_id(entry.message_deduplication_id().map(str::to_owned));
    if let Some(s) = entry.message_system_attributes() {
        b = b.set_message_system_attributes(Some(s.clone()));
    }
    b.build().unwrap_or(entry)
}

async fn send(
    sqs: &Sqs,
    q: &Queue,
    batch: Vec<(SendMessageBatchRequestEntry, String)>,
    ctx: &BulkContext,
) -> Outcome {
    for _ in &batch {
        ctx.pace().await;
    }
    let labels: HashMap<String, String> = batch
        .iter()
        .map(|(e, l)| (e.id().to_owned(), l.clone()))
        .collect();
    let entries: Vec<_> = batch.into_iter().map(|(e, _)| e).collect();
    match sqs
        .client
        .send_message_batch()
        .queue_url(&q.url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Err(e) => {
            let why = format!("sending to {}: {}", q.name, describe(&e));
            let failures = labels.values().map(|l| (l.clone(), why.clone())).collect();
            (0, failures, Some(format!("{NAME}: {why}")))
        }
        Ok(out) => {
            let done = out.successful().len() as u64;
            for s in out.successful() {
                ctx.done(s.message_id(), Some(&q.name));
            }
            ctx.tick(done);
            let failures = out
                .failed()
                .iter()
                .map(|f| {
                    (
                        labels
                            .get(f.id())
                            .cloned()
                            .unwrap_or_else(|| f.id().to_owned()),
                        format!(
                            "sending to {}: {}",
                            q.name,
                            explain(f.code(), f.message().unwrap_or(""))
                        ),
                    )
                })
                .collect();
            (done, failures, None)
        }
    }
}
