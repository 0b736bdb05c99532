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

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message as SqsMessage, MessageSystemAttributeName,
    QueueAttributeName,
};
use futures::StreamExt;

use super::{codec, count, fail, Queue, Sqs};
use crate::broker::{Flow, ReadOptions, Visitor};
use crate::exit::interrupted;

/// Messages a run keeps invisible, by MessageId, with their latest receipt.
pub(crate) struct Held {
    visibility: i32,
    receipts: Mutex<HashMap<String, (String, Instant)>>,
}

impl Held {
    pub fn new(visibility: i32) -> Self {
        Held {
            visibility,
            receipts: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps a message invisible until [`Held::release_all`].
    pub fn hold(&self, id: &str, receipt: &str) {
        self.lock()
            .insert(id.to_owned(), (receipt.to_owned(), Instant::now()));
    }

    /// Whether a message is held.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Refreshes the receipt of a message that came back.
    pub fn refresh(&self, id: &str, receipt: &str) {
        if let Some(entry) = self.lock().get_mut(id) {
            *entry = (receipt.to_owned(), Instant::now());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.receipts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Extends the messages held for more than half the visibility timeout.
    pub async fn extend_due(&self, sqs: &Sqs, q: &Queue) {
        let half = Duration::from_secs(self.visibility as u64 / 2);
        let due: Vec<String> = {
            let mut map = self.lock();
            map.values_mut()
                .filter(|(_, at)| at.elapsed() >= half)
                .map(|(r, at)| {
                    *at = Instant::now();
                    r.clone()
                })
                .collect()
        };
        if !due.is_empty() {
            change_visibility(sqs, q, due, self.visibility).await;
        }
    }

    /// Makes every held message visible again at once.
    pub async fn release_all(&self, sqs: &Sqs, q: &Queue) {
        let receipts: Vec<String> = self.lock().drain().map(|(_, (r, _))| r).collect();
        let failed = change_visibility(sqs, q, receipts, 0).await;
        if failed > 0 {
            sqs.warner.warn(&format!(
                "sqs: {failed} message(s) of {} could not be made visible again now; \
                 they reappear when their visibility timeout ({} s) ends",
                q.name, self.visibility
            ));
        }
    }
}

/// Sets the visibility of messages, 10 a call, several calls at once;
/// returns how many could not be changed.
pub(crate) async fn change_visibility(
    sqs: &Sqs,
    q: &Queue,
    receipts: Vec<String>,
    secs: i32,
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
        .buffer_unordered(8)
        .fold(0, |a, b| async move { a + b })
        .await
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

/// The one queue that dead-letters into `q`, when there is exactly one.
pub(crate) async fn single_source(sqs: &Sqs, q: &Queue) -> Result<Option<Queue>> {
    let mut sources = sqs.sources_of(q).await?;
    Ok(if sources.len() == 1 {
        sources.pop()
    } else {
        None
    })
}

/// See the module docs.
pub async fn browse(
    sqs: &Sqs,
    queue: &str,
    opts: &ReadOptions,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let (q, attrs) = sqs.readable(queue, opts.force).await?;
    let at_start = count(&attrs, QueueAttributeName::ApproximateNumberOfMessages).unwrap_or(0);
    let source = single_source(sqs, &q).await?.map(|s| s.name);
    let held = Held::new(sqs.visibility);
    let result = tokio::select! {
        r = read(sqs, &q, at_start, source.as_deref(), &held, visit) => r,
        _ = tokio::signal::ctrl_c() => Err(interrupted()),
    };
    held.release_all(sqs, &q).await;
    result
}

async fn read(
    sqs: &Sqs,
    q: &Queue,
    at_start: u64,
    source: Option<&str>,
    held: &Held,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        if at_start > 0 && seen.len() as u64 >= at_start {
            return Ok(());
        }
        held.extend_due(sqs, q).await;
        let batch = receive(sqs, q, sqs.visibility).await?;
        if batch.is_empty() {
            return Ok(());
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
        for m in fresh {
            if visit(codec::to_message(m, &q.name, source))? == Flow::Stop {
                return Ok(());
            }
        }
    }
}
