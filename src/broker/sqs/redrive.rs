//! `retry`, `retry-all` and filtered `purge`: receive, act in batches of 10,
//! delete only what is safe, give the rest back.
//!
//! Several pipelines run at once (8 for a standard queue near the broker,
//! more as far away as the round trip to the queue says, see
//! `Sqs::round_trip`; only as many receive at the end as the messages
//! left can fill, see [`Gate`]), each looping
//! ReceiveMessage (10) → SendMessageBatch to the target → DeleteMessageBatch
//! of exactly the entries whose send succeeded. A FIFO DLQ gets one pipeline,
//! so that order within a message group is kept: SQS hands out a group's
//! messages in order and no more of the group while some are in flight.
//! Messages that are not selected, skipped or failed are held invisible
//! (so no pipeline receives them twice) and made visible again all at once
//! when the run ends, on error and on Ctrl-C too; on a FIFO queue this also
//! means a group's later messages never overtake one that stays. A killed run
//! loses nothing: what was not deleted reappears after the visibility timeout.
//! A request that fails as a whole (the target queue was deleted, the
//! connection is gone) stops every pipeline; the report lists the messages
//! of that batch as failures and says why it stopped.
//!
//! `--native` hands the move to SQS (StartMessageMoveTask) and follows
//! ListMessageMoveTasks; Ctrl-C cancels the task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::delete_message_batch::{
    DeleteMessageBatchError, DeleteMessageBatchOutput,
};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, QueueAttributeName, SendMessageBatchRequestEntry,
};

use super::browse::{change_visibility, fifo_unread, receive, Gate, Held};
use super::codec::{self, BATCH_BYTES};
use super::deliveries::Deliveries;
use super::errors::{describe, entry_failure, is_not_found};
use super::{fail, lock, Queue, Sqs, CAPABILITIES, NAME};
use crate::broker::{Message, OutgoingMessage, RedriveOptions};
use crate::bulk::Ledger;
use crate::exit::{broker_msg, broker_with};
use crate::select::Decision;

/// Pipelines for a standard queue on loopback, and at most however far:
/// each holds one batch (10 messages), so memory stays within 64 batches.
const PIPELINES: usize = 16;
const MAX_PIPELINES: usize = 64;

/// What a run does with the messages it takes.
pub enum Action<'a> {
    /// Copy each to `--to` (resolved here) or to its own origin, rewritten.
    Redrive(&'a RedriveOptions),
    /// Save to the backup, then delete.
    Purge,
}

/// State shared by the pipelines of one run.
struct Run<'a> {
    sqs: &'a Sqs,
    dlq: Queue,
    action: Action<'a>,
    run: &'a Ledger,
    held: Held,
    gate: Gate,
    source: Option<String>,
    /// The source queues, when more than one dead-letters into the DLQ.
    several: Option<String>,
    /// Distinct messages received.
    seen: AtomicU64,
    /// The messages taken, to tell a second delivery of one.
    deliveries: Deliveries,
    /// Origin queues already resolved to URLs (or why not).
    origins: Mutex<HashMap<String, Result<Queue, String>>>,
}

/// A taken message and the handle that deletes it.
struct Taken {
    msg: Message,
    receipt: String,
    received: Instant,
}

/// A run of `action` on the DLQ `queue`: see the module docs.
pub async fn execute(
    sqs: &Sqs,
    queue: &str,
    force: bool,
    action: Action<'_>,
    run: &Ledger,
) -> Result<()> {
    let o = sqs.open(queue, force).await?;
    // `--to` must exist before anything moves; an origin is resolved when
    // its first message goes (see `crate::conventions`).
    if let Action::Redrive(RedriveOptions { to: Some(to), .. }) = action {
        sqs.queue(to).await?;
    }
    let pipelines = if o.q.is_fifo() {
        1
    } else {
        o.rt.scale(PIPELINES, MAX_PIPELINES)
    };
    let (at_start, source) = (o.at_start, o.source().map(str::to_owned));
    let r = Run {
        sqs,
        gate: Gate::new(o.at_start),
        dlq: o.q,
        action,
        run,
        held: Held::new(sqs.visibility, o.rt),
        source,
        several: (o.sources.len() > 1).then(|| o.sources.join(", ")),
        seen: AtomicU64::new(0),
        deliveries: Deliveries::default(),
        origins: Mutex::new(HashMap::new()),
    };
    futures::future::join_all((0..pipelines).map(|_| r.pipeline())).await;
    r.settle_deliveries_again().await;
    r.held.release_all(sqs, &r.dlq).await;
    let seen = r.seen.load(Ordering::Relaxed);
    if let Some(why) = fifo_unread(&r.dlq, seen, at_start).filter(|_| !run.stopped()) {
        run.note(why);
    }
    Ok(())
}

impl Run<'_> {
    fn done_reading(&self) -> bool {
        self.run.should_stop() || self.gate.all_seen(self.seen.load(Ordering::SeqCst))
    }

    /// Stops every pipeline, recording why.
    fn halt(&self, why: String) {
        self.run.stop_broker(&broker_msg(why));
    }

    /// Gives a message back at the end and records its failure.
    fn fail(&self, t: &Taken, error: impl Into<String>) {
        self.held.hold(&t.msg.id, &t.receipt);
        self.run.failed(t.msg.id.clone(), error);
    }

    async fn pipeline(&self) {
        while !self.done_reading() {
            self.held.extend_due(self.sqs, &self.dlq).await;
            // The other receives in flight cover what is left.
            if !self.gate.enter(self.seen.load(Ordering::SeqCst)) {
                return;
            }
            let batch = match receive(self.sqs, &self.dlq, self.sqs.visibility).await {
                Ok(b) if !b.is_empty() => b,
                got => {
                    self.gate.leave();
                    if let Err(e) = got {
                        self.halt(format!("{e:#}"));
                    }
                    return;
                }
            };
            let mut taken = Vec::new();
            for m in &batch {
                let (Some(id), Some(receipt)) = (m.message_id(), m.receipt_handle()) else {
                    continue;
                };
                if self.held.refresh(id, receipt) || !self.deliveries.first(id, receipt) {
                    continue;
                }
                self.seen.fetch_add(1, Ordering::SeqCst);
                let msg = codec::to_message(m, &self.dlq.name, self.source.as_deref());
                match self.run.decide(&msg) {
                    Decision::Take => taken.push(Taken {
                        msg,
                        receipt: receipt.to_owned(),
                        received: Instant::now(),
                    }),
                    _ => self.held.hold(id, receipt),
                }
            }
            self.gate.leave();
            if taken.is_empty() {
                continue;
            }
            match self.action {
                Action::Redrive(opts) => self.send_to_origins(opts, taken).await,
                Action::Purge => self.save_and_delete(taken).await,
            }
        }
    }

    /// Copies each message to `--to` or its recorded origin, one batch per
    /// queue.
    async fn send_to_origins(&self, opts: &RedriveOptions, taken: Vec<Taken>) {
        let mut by_queue: Vec<(String, Vec<(Taken, OutgoingMessage)>)> = Vec::new();
        for t in taken {
            match opts.copy_of(&t.msg, &CAPABILITIES) {
                Ok((to, copy)) => match by_queue.iter_mut().find(|(n, _)| *n == to.name) {
                    Some((_, group)) => group.push((t, copy)),
                    None => by_queue.push((to.name, vec![(t, copy)])),
                },
                Err(why) => {
                    // Without a recorded origin, the sources are what the operator must choose from.
                    let why = match &self.several {
                        Some(all) if opts.to.is_none() && t.msg.dead_letter.origin.is_none() => {
                            format!(
                                "several queues dead-letter into {} ({all}) and the message does not record which it came from: pass --to",
                                self.dlq.name
                            )
                        }
                        _ => why,
                    };
                    self.fail(&t, why)
                }
            }
        }
        for (name, group) in by_queue {
            let cached = lock(&self.origins).get(&name).cloned();
            let queue = match cached {
                Some(q) => q,
                None => {
                    let q = self.sqs.queue(&name).await.map_err(|e| format!("{e:#}"));
                    lock(&self.origins).insert(name.clone(), q.clone());
                    q
                }
            };
            match queue {
                Ok(q) => self.send_and_delete(&q, group).await,
                Err(why) => {
                    for (t, _) in &group {
                        self.fail(t, format!("origin queue {name}: {why}"));
                    }
                }
            }
        }
    }

    /// Copies a batch to the target; deletes exactly what was copied.
    async fn send_and_delete(&self, target: &Queue, taken: Vec<(Taken, OutgoingMessage)>) {
        let mut ready: Vec<(SendMessageBatchRequestEntry, Taken, usize)> = Vec::new();
        for (t, copy) in taken {
            match entry_for(&t.msg, &copy, target, ready.len()) {
                Ok((entry, size)) => ready.push((entry, t, size)),
                Err(e) => self.fail(&t, e),
            }
        }
        // Split by SQS's total request size; a big message goes alone.
        let mut groups: Vec<Vec<(SendMessageBatchRequestEntry, Taken)>> = Vec::new();
        let mut bytes = 0;
        for (entry, t, size) in ready {
            if groups.is_empty() || bytes + size > BATCH_BYTES {
                groups.push(Vec::new());
                bytes = 0;
            }
            bytes += size;
            if let Some(g) = groups.last_mut() {
                g.push((entry, t));
            }
        }
        for group in groups {
            if self.run.stopped() {
                for (_, t) in &group {
                    self.held.hold(&t.msg.id, &t.receipt);
                    self.run.untake();
                }
                continue;
            }
            for _ in &group {
                self.run.pace().await;
            }
            // A slow --rate must not let the batch reappear for another loop.
            let half = Duration::from_secs(self.sqs.visibility as u64 / 2);
            if group.iter().any(|(_, t)| t.received.elapsed() >= half) {
                let receipts = group.iter().map(|(_, t)| t.receipt.clone()).collect();
                change_visibility(self.sqs, &self.dlq, receipts, self.sqs.visibility, 1).await;
            }
            let (entries, taken): (Vec<_>, Vec<_>) = group.into_iter().unzip();
            let sent = self
                .sqs
                .client
                .send_message_batch()
                .queue_url(&target.url)
                .set_entries(Some(entries.clone()))
                .send()
                .await;
            let by_id: HashMap<&str, &Taken> =
                entries.iter().map(|e| e.id()).zip(taken.iter()).collect();
            match sent {
                Err(e) => {
                    let why = format!("sending to {}: {}", target.name, describe(&e));
                    for t in &taken {
                        self.fail(t, why.clone());
                    }
                    self.halt(format!("{NAME}: {why}"));
                }
                Ok(out) => {
                    for f in out.failed() {
                        if let Some(t) = by_id.get(f.id()) {
                            let why = format!("sending to {}: {}", target.name, entry_failure(f));
                            self.fail(t, why);
                        }
                    }
                    let copied: Vec<&Taken> = out
                        .successful()
                        .iter()
                        .filter_map(|s| by_id.get(s.id()).copied())
                        .collect();
                    self.delete(&copied, Some(&target.name)).await;
                }
            }
        }
    }

    /// Saves a batch to the backup (synced), then deletes it.
    async fn save_and_delete(&self, taken: Vec<Taken>) {
        if !self.run.backup(taken.iter().map(|t| &t.msg)) {
            for t in &taken {
                self.held.hold(&t.msg.id, &t.receipt);
            }
            return;
        }
        let all: Vec<&Taken> = taken.iter().collect();
        self.delete(&all, None).await;
    }

    /// Deletes the later deliveries of moved messages with their own
    /// receipts, and holds those of messages not moved, to give back.
    async fn settle_deliveries_again(&self) {
        let (delete, give_back) = self.deliveries.settle();
        for (id, receipt) in &give_back {
            self.held.hold(id, receipt);
        }
        let mut left = 0;
        for chunk in delete.chunks(10) {
            left += match self.delete_batch(chunk.iter().map(String::as_str)).await {
                Ok(out) => out.failed().len(),
                Err(_) => chunk.len(),
            };
        }
        if left > 0 {
            self.sqs.warner.warn(&format!(
                "sqs: {left} message(s) moved from {} were delivered to dlq a second time and that \
                 delivery could not be deleted: they may still be on {}",
                self.dlq.name, self.dlq.name
            ));
        }
    }

    /// One DeleteMessageBatch from the DLQ of up to 10 receipts, each
    /// entry's ID its position.
    async fn delete_batch(
        &self,
        receipts: impl Iterator<Item = &str>,
    ) -> Result<DeleteMessageBatchOutput, SdkError<DeleteMessageBatchError, HttpResponse>> {
        let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
            .enumerate()
            .filter_map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .build()
                    .ok()
            })
            .collect();
        self.sqs
            .client
            .delete_message_batch()
            .queue_url(&self.dlq.url)
            .set_entries(Some(entries))
            .send()
            .await
    }

    /// Deletes messages from the DLQ, copied to `to` when re-driven; each
    /// success counts as done.
    async fn delete(&self, items: &[&Taken], to: Option<&str>) {
        if items.is_empty() {
            return;
        }
        let dlq = &self.dlq.name;
        let why = |detail: String| match to {
            None => format!("deleting from {dlq}: {detail}"),
            Some(t) => format!(
                "copied to {t}, but deleting from {dlq} failed ({detail}): it is now in both queues"
            ),
        };
        match self
            .delete_batch(items.iter().map(|t| t.receipt.as_str()))
            .await
        {
            Err(e) => {
                let detail = describe(&e);
                for t in items {
                    self.fail(t, why(detail.clone()));
                }
                self.halt(format!("{NAME}: {}", why(detail)));
            }
            Ok(out) => {
                let failed: HashMap<&str, String> = out
                    .failed()
                    .iter()
                    .map(|f| (f.id(), entry_failure(f)))
                    .collect();
                for (i, t) in items.iter().enumerate() {
                    match failed.get(i.to_string().as_str()) {
                        Some(detail) => self.fail(t, why(detail.clone())),
                        None => {
                            self.deliveries.moved(&t.msg.id);
                            self.run.done(&t.msg.id, to);
                        }
                    }
                }
                self.run.flush();
            }
        }
    }
}

/// The SendMessageBatch entry for the copy of a message, with its size.
fn entry_for(
    msg: &Message,
    out: &OutgoingMessage,
    target: &Queue,
    index: usize,
) -> Result<(SendMessageBatchRequestEntry, usize), String> {
    let (mut entry, size) = codec::entry(out)?;
    if target.is_fifo() {
        let group = codec::group_id(&out.broker).ok_or_else(|| {
            format!(
                "{} is a FIFO queue and this message has no MessageGroupId to keep",
                target.name
            )
        })?;
        entry = entry
            .message_group_id(group)
            .message_deduplication_id(fresh_dedup_id(&msg.id, msg.redrives() + 1));
    }
    let entry = entry.id(index.to_string()).build();
    Ok((entry.map_err(|e| e.to_string())?, size))
}

/// A deduplication ID no earlier copy used: the message ID, the re-drive
/// count and the time, so SQS does not drop the copy as a duplicate.
pub(crate) fn fresh_dedup_id(id: &str, redrives: u32) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut s = format!("{id}-r{redrives}-{nanos}");
    s.retain(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    s.truncate(128);
    s
}

/// `retry-all --native`: StartMessageMoveTask, followed to its end.
pub async fn native(sqs: &Sqs, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
    let dlq = sqs.queue(queue).await?;
    let source_arn = arn(sqs, &dlq).await?;
    let destination_arn = match &opts.to {
        Some(to) => Some(arn(sqs, &sqs.queue(to).await?).await?),
        None => None,
    };
    let started = sqs
        .client
        .start_message_move_task()
        .source_arn(&source_arn)
        .set_destination_arn(destination_arn)
        .send()
        .await;
    let handle = match started {
        Ok(out) => out.task_handle().unwrap_or_default().to_owned(),
        Err(e) => {
            let unsupported = match e.code() {
                Some(code) => !is_known_refusal(code),
                None => matches!(&e, SdkError::ResponseError(_) | SdkError::ServiceError(_)),
            };
            if unsupported {
                return Err(broker_with(
                    NAME,
                    format!("moving {} server-side", dlq.name),
                    format!(
                        "this endpoint does not support StartMessageMoveTask; run without --native (it answered: {})",
                        describe(&e)
                    ),
                    e,
                ));
            }
            return Err(fail(
                &format!("starting a message move task on {}", dlq.name),
                e,
            ));
        }
    };
    run.note("SQS moved the messages server-side (StartMessageMoveTask, at most 500 a second)");
    let mut moved_before = 0u64;
    let mut cancelled = false;
    loop {
        if run.interrupted() && !cancelled {
            cancelled = true;
            sqs.client
                .cancel_message_move_task()
                .task_handle(&handle)
                .send()
                .await
                .map_err(|e| fail("cancelling the message move task", e))?;
            run.note("the move task was cancelled");
        }
        let tasks = sqs
            .client
            .list_message_move_tasks()
            .source_arn(&source_arn)
            .max_results(1)
            .send()
            .await
            .map_err(|e| fail(&format!("following the move task of {}", dlq.name), e))?;
        let Some(task) = tasks.results().first() else {
            break;
        };
        let moved = task.approximate_number_of_messages_moved().max(0) as u64;
        run.done_unnamed(moved.saturating_sub(moved_before));
        moved_before = moved.max(moved_before);
        match task.status().unwrap_or("") {
            "RUNNING" | "CANCELLING" => {}
            "FAILED" => {
                run.stop_broker(&broker_msg(format!(
                    "{NAME}: the move task failed: {}",
                    task.failure_reason().unwrap_or("no reason given")
                )));
                break;
            }
            _ => break,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

async fn arn(sqs: &Sqs, q: &Queue) -> Result<String> {
    let attrs = sqs.attributes(q).await?;
    let arn = attrs.get(&QueueAttributeName::QueueArn).cloned();
    arn.ok_or_else(|| broker_msg(format!("{NAME}: {} has no QueueArn attribute", q.name)))
}

/// Errors of StartMessageMoveTask that mean "supported, but not now".
fn is_known_refusal(code: &str) -> bool {
    is_not_found(code)
        || matches!(
            code,
            "AccessDenied"
                | "AccessDeniedException"
                | "ResourceNotFoundException"
                | "UnsupportedOperation"
                | "InvalidParameterValue"
                | "InvalidAddress"
                | "InvalidSecurity"
                | "RequestThrottled"
                | "ThrottlingException"
                | "InvalidClientTokenId"
                | "UnrecognizedClientException"
                | "SignatureDoesNotMatch"
        )
}
