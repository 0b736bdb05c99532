//! Reading a queue without changing it, on a broker that has no peek.
//!
//! SQS can only receive: a received message turns invisible for a visibility
//! timeout and its ApproximateReceiveCount rises. A read therefore receives
//! in batches of 10 with a visibility timeout (60 s, `DLQ_SQS_VISIBILITY_TIMEOUT`),
//! keeps every message it saw invisible while it pages on (so the next
//! receive returns new ones; [`Held::extend_due`] extends the ones held for
//! long), and then makes all of them visible again at once with
//! ChangeMessageVisibilityBatch to 0: after the last message, on an error,
//! and on Ctrl-C alike. It stops when a receive (1 s wait) returns nothing or
//! when as many distinct messages as ApproximateNumberOfMessages said at the
//! start were seen; a message that comes back is recognised by its
//! MessageId. Memory is one receipt handle per message seen.
//!
//! FIFO queues return no more messages of a group while some of it is in
//! flight, so a read of a FIFO queue sees at most one batch per group.
//!
//! Far from the broker a read keeps several receives in flight (scaled from
//! the round trip to the queue, see `Sqs::round_trip`), but only as
//! many as the messages still expected can fill ([`Gate`]): a receive on an
//! emptied queue would wait out its long poll for nothing. Receives in flight
//! when the read stops are awaited and their messages held too, so that each
//! one is made visible again.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message as SqsMessage, MessageSystemAttributeName,
};
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use super::{codec, fail, lock, Opened, Queue, Sqs};
use crate::broker::round_trip::RoundTrip;
use crate::broker::{Flow, ReadOptions, Visitor};
use crate::exit::interrupted;

/// Messages a run keeps invisible, by MessageId, with their latest receipt.
pub(crate) struct Held {
    visibility: i32,
    /// ChangeMessageVisibilityBatch calls at once when many change.
    calls: usize,
    receipts: Mutex<HashMap<String, (String, Instant)>>,
}

/// Visibility changes in flight near the broker, and at most however far.
const VISIBILITY_CALLS: usize = 8;
const MAX_VISIBILITY_CALLS: usize = 64;

impl Held {
    pub fn new(visibility: i32, rt: RoundTrip) -> Self {
        Held {
            visibility,
            calls: rt.scale(VISIBILITY_CALLS, MAX_VISIBILITY_CALLS),
            receipts: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps a message invisible until [`Held::release_all`].
    pub fn hold(&self, id: &str, receipt: &str) {
        lock(&self.receipts).insert(id.to_owned(), (receipt.to_owned(), Instant::now()));
    }

    /// Refreshes the receipt of a message that came back; false when the
    /// message is not held.
    pub fn refresh(&self, id: &str, receipt: &str) -> bool {
        let mut receipts = lock(&self.receipts);
        let Some(entry) = receipts.get_mut(id) else {
            return false;
        };
        *entry = (receipt.to_owned(), Instant::now());
        true
    }

    /// Extends the messages held for more than half the visibility timeout.
    pub async fn extend_due(&self, sqs: &Sqs, q: &Queue) {
        let half = Duration::from_secs(self.visibility as u64 / 2);
        let due: Vec<String> = {
            let mut map = lock(&self.receipts);
            map.values_mut()
                .filter(|(_, at)| at.elapsed() >= half)
                .map(|(r, at)| {
                    *at = Instant::now();
                    r.clone()
                })
                .collect()
        };
        if !due.is_empty() {
            change_visibility(sqs, q, due, self.visibility, self.calls).await;
        }
    }

    /// Makes every held message visible again at once.
    pub async fn release_all(&self, sqs: &Sqs, q: &Queue) {
        let receipts: Vec<String> = lock(&self.receipts).drain().map(|(_, (r, _))| r).collect();
        let failed = change_visibility(sqs, q, receipts, 0, self.calls).await;
        if failed > 0 {
            sqs.warner.warn(&format!(
                "sqs: {failed} message(s) of {} could not be made visible again now; \
                 they reappear when their visibility timeout ({} s) ends",
                q.name, self.visibility
            ));
        }
    }
}

/// Sets the visibility of messages, 10 a call, `calls` at once; returns
/// how many could not be changed.
pub(crate) async fn change_visibility(
    sqs: &Sqs,
    q: &Queue,
    receipts: Vec<String>,
    secs: i32,
    calls: usize,
) -> usize {
    let chunks: Vec<Vec<String>> = receipts.chunks(10).map(<[String]>::to_vec).collect();
    futures::stream::iter(chunks)
        .map(|chunk| async move {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(secs)
                        .build()
                        .ok()
                })
                .collect();
            match sqs
                .client
                .change_message_visibility_batch()
                .queue_url(&q.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => out.failed().len(),
                Err(_) => chunk.len(),
            }
        })
        .buffer_unordered(calls.max(1))
        .fold(0, |a, b| async move { a + b })
        .await
}

/// Receives in flight for one read near the broker, and at most however far.
const RECEIVES: usize = 2;
const MAX_RECEIVES: usize = 16;

/// Admits receives while the messages expected can fill them: one more
/// only when those seen plus 10 per receive in flight stay below the count
/// taken at the start, or when none is in flight (the last receive then
/// finds the end). An unknown count (0) admits every receive.
pub(crate) struct Gate {
    at_start: u64,
    inflight: Mutex<u64>,
}

impl Gate {
    pub fn new(at_start: u64) -> Self {
        Gate {
            at_start,
            inflight: Mutex::new(0),
        }
    }

    /// Whether as many messages as counted at the start were seen.
    pub fn all_seen(&self, seen: u64) -> bool {
        self.at_start > 0 && seen >= self.at_start
    }

    /// Whether to receive now, `seen` messages in; true counts one in flight
    /// until [`Gate::leave`].
    pub fn enter(&self, seen: u64) -> bool {
        let mut n = lock(&self.inflight);
        let admit = self.at_start == 0 || *n == 0 || seen + 10 * *n < self.at_start;
        if admit {
            *n += 1;
        }
        admit
    }

    /// A receive came back and its messages were counted.
    pub fn leave(&self) {
        let mut n = lock(&self.inflight);
        *n = n.saturating_sub(1);
    }
}

/// One ReceiveMessage call: up to 10 messages with every attribute.
pub(crate) async fn receive(sqs: &Sqs, q: &Queue, visibility: i32) -> Result<Vec<SqsMessage>> {
    let out = sqs
        .client
        .receive_message()
        .queue_url(&q.url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(|e| fail(&format!("receiving from {}", q.name), e))?;
    Ok(out.messages.unwrap_or_default())
}

/// See the module docs.
pub async fn browse(
    sqs: &Sqs,
    queue: &str,
    opts: &ReadOptions,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let o = sqs.open(queue, opts.force).await?;
    let held = Held::new(sqs.visibility, o.rt);
    // A FIFO queue gives no more of a group while some is in flight anyway.
    let width = if o.q.is_fifo() {
        1
    } else {
        o.rt.scale(RECEIVES, MAX_RECEIVES)
    };
    let result = tokio::select! {
        r = read(sqs, &o, &held, width, visit) => r,
        _ = tokio::signal::ctrl_c() => Err(interrupted()),
    };
    held.release_all(sqs, &o.q).await;
    result
}

async fn read(
    sqs: &Sqs,
    o: &Opened,
    held: &Held,
    width: usize,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let q = &o.q;
    let mut seen: HashSet<String> = HashSet::new();
    let gate = Gate::new(o.at_start);
    let mut inflight = FuturesUnordered::new();
    // Set once the read is over: an empty receive, the count reached, or the
    // visitor had enough; receives in flight are still taken in and held.
    let mut ended = false;
    let mut stopped = false;
    let mut failure = None;
    loop {
        if gate.all_seen(seen.len() as u64) {
            ended = true;
        }
        if !ended {
            held.extend_due(sqs, q).await;
            while inflight.len() < width.max(1) && gate.enter(seen.len() as u64) {
                inflight.push(receive(sqs, q, sqs.visibility));
            }
        }
        let Some(got) = inflight.next().await else {
            break;
        };
        gate.leave();
        let batch = match got {
            Ok(b) => b,
            Err(e) => {
                ended = true;
                failure.get_or_insert(e);
                continue;
            }
        };
        if batch.is_empty() {
            ended = true;
        }
        let mut fresh = Vec::new();
        for m in &batch {
            let (Some(id), Some(receipt)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            if seen.insert(id.to_owned()) {
                held.hold(id, receipt);
                fresh.push(m);
            } else {
                held.refresh(id, receipt);
            }
        }
        if stopped || failure.is_some() {
            continue;
        }
        for m in fresh {
            match visit(codec::to_message(m, &q.name, o.source())) {
                Ok(Flow::Continue) => continue,
                Ok(Flow::Stop) => {}
                Err(e) => failure = Some(e),
            }
            stopped = failure.is_none();
            ended = true;
            break;
        }
    }
    if let Some(why) = fifo_unread(q, seen.len() as u64, o.at_start).filter(|_| !stopped) {
        sqs.warner.warn(&why);
    }
    match failure {
        Some(e) if !stopped => Err(e),
        _ => Ok(()),
    }
}

/// What a run on a FIFO queue could not read: SQS hands out no more of a
/// message group while some of it is held, so a run that keeps messages (a
/// read, a filter) sees the first of each group only. Said, never silent.
pub(crate) fn fifo_unread(q: &Queue, seen: u64, at_start: u64) -> Option<String> {
    (q.is_fifo() && seen < at_start).then(|| {
        format!(
            "sqs: {} held {at_start} messages and {seen} could be read: a FIFO queue hands out no more of a \
             message group while earlier ones of it are held, so only the first of each group (up to 10) \
             can be read without removing them; the rest were not read (a retry-all or purge without \
             filters moves them all)",
            q.name
        )
    })
}
