//! `publish`: SendMessageBatch of 10, several batches in flight.
//!
//! Each message counts once SQS confirmed it in the batch answer; a failed
//! entry is a failure of that message alone. Headers become String message
//! attributes (or their recorded type, for replayed envelopes: see `codec`).
//! FIFO queues: the group is `--group-id`, else the envelope's
//! `broker.MessageGroupId`; the deduplication ID is `--dedup-id` (as given,
//! for every message), else none when the queue has ContentBasedDeduplication,
//! else a fresh one per message. Batches go one at a time on a FIFO queue so
//! that order within a group is the input order; a standard queue gets 16 in
//! flight near the broker, more far from it (scaled from the round trip to
//! the queue, see `Sqs::round_trip`). The loop itself is `bulk::publish`: a
//! batch goes out when it is full, or when the loop is about to wait.

use anyhow::Result;
use async_trait::async_trait;
use aws_sdk_sqs::types::builders::SendMessageBatchRequestEntryBuilder;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use tokio::sync::oneshot;

use super::codec::{self, BATCH_BYTES};
use super::errors::{describe, entry_failure};
use super::redrive::fresh_dedup_id;
use super::{Queue, Sqs, NAME};
use crate::broker::{OutgoingMessage, PublishOptions};
use crate::bulk::publish::{Confirm, Publisher, Refusal};
use crate::exit::{broker_msg, usage};

/// Batches in flight on loopback, and at most however far (each up to
/// [`BATCH_BYTES`], so memory stays bounded).
const WINDOW: usize = 16;
const MAX_WINDOW: usize = 64;

type Answer = oneshot::Sender<Result<Option<String>, Refusal>>;

/// Publishes to one queue in batches.
pub struct Sender {
    client: Client,
    q: Queue,
    opts: PublishOptions,
    content_dedup: bool,
    delay: Option<i32>,
    /// Batches awaited at once.
    batches: usize,
    batch: Vec<(SendMessageBatchRequestEntry, Answer)>,
    bytes: usize,
    sent: u64,
}

impl Sender {
    /// Finds the queue and checks the flags against its kind.
    pub async fn open(sqs: &Sqs, target: &str, opts: &PublishOptions) -> Result<Sender> {
        let q = sqs.queue(target).await?;
        let fifo = q.is_fifo();
        let content_dedup = fifo
            && sqs
                .attributes(&q)
                .await?
                .get(&QueueAttributeName::ContentBasedDeduplication)
                .is_some_and(|v| v == "true");
        let delay = match opts.delay {
            Some(_) if fifo => {
                return Err(usage(format!(
                    "--delay: {} is a FIFO queue, which takes no per-message delay (set the queue's DelaySeconds instead)",
                    q.name
                )))
            }
            Some(d) if d.as_secs() > 900 => {
                return Err(usage(
                    "--delay: SQS delays a message by at most 15m (900 seconds)",
                ))
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
        let batches = if fifo {
            1
        } else {
            sqs.round_trip(&q).await.scale(WINDOW, MAX_WINDOW)
        };
        Ok(Sender {
            client: sqs.client.clone(),
            q,
            opts: opts.clone(),
            content_dedup,
            delay,
            batches,
            batch: Vec::new(),
            bytes: 0,
            sent: 0,
        })
    }

    /// The entry for one message at position `index` of its batch.
    fn entry(
        &self,
        msg: &OutgoingMessage,
        e: SendMessageBatchRequestEntryBuilder,
        index: usize,
    ) -> Result<SendMessageBatchRequestEntry, Refusal> {
        let given = self.opts.group_id.as_deref();
        let mut e = e.id(index.to_string()).set_delay_seconds(self.delay);
        e = e.set_message_group_id(given.map(str::to_owned));
        if self.q.is_fifo() {
            let Some(group) = given.or_else(|| codec::group_id(&msg.broker)) else {
                return Err(Refusal::Input(usage(format!(
                    "{} is a FIFO queue: pass --group-id GROUP (or publish envelopes whose broker.MessageGroupId is set)",
                    self.q.name
                ))));
            };
            let dedup = match &self.opts.dedup_id {
                Some(d) => Some(d.clone()),
                None if self.content_dedup => None,
                None => Some(fresh_dedup_id(&format!("dlq-publish-{}", self.sent), 0)),
            };
            e = e
                .message_group_id(group)
                .set_message_deduplication_id(dedup);
        }
        e.build().map_err(|e| Refusal::Message(e.to_string()))
    }

    /// Sends the batch on a task of its own and answers each message.
    fn dispatch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        self.bytes = 0;
        let batch = std::mem::take(&mut self.batch);
        let client = self.client.clone();
        let q = self.q.clone();
        tokio::spawn(async move {
            let (entries, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let sent = client
                .send_message_batch()
                .queue_url(&q.url)
                .set_entries(Some(entries))
                .send()
                .await;
            match sent {
                Err(e) => {
                    let why = format!("{NAME}: sending to {}: {}", q.name, describe(&e));
                    for a in answers {
                        let _ = a.send(Err(Refusal::Broker(broker_msg(why.clone()))));
                    }
                }
                Ok(out) => {
                    let mut answers: Vec<Option<Answer>> = answers.into_iter().map(Some).collect();
                    let mut answer = |id: &str, r| {
                        let slot = id.parse::<usize>().ok().and_then(|i| answers.get_mut(i));
                        if let Some(a) = slot.and_then(Option::take) {
                            let _ = a.send(r);
                        }
                    };
                    for s in out.successful() {
                        answer(s.id(), Ok(Some(s.message_id().to_owned())));
                    }
                    for f in out.failed() {
                        let why = format!("sending to {}: {}", q.name, entry_failure(f));
                        answer(f.id(), Err(Refusal::Message(why)));
                    }
                }
            }
        });
    }
}

#[async_trait]
impl Publisher for Sender {
    fn destination(&self) -> String {
        self.q.name.clone()
    }

    fn window(&self) -> usize {
        self.batches * 10
    }

    async fn send(&mut self, msg: OutgoingMessage) -> Result<Confirm, Refusal> {
        let (entry, size) = codec::entry(&msg).map_err(Refusal::Message)?;
        // SQS's limit on one request: a big message goes in a batch of its own.
        if !self.batch.is_empty() && self.bytes + size > BATCH_BYTES {
            self.dispatch();
        }
        self.sent += 1;
        let entry = self.entry(&msg, entry, self.batch.len())?;
        let (tx, rx) = oneshot::channel();
        self.batch.push((entry, tx));
        self.bytes += size;
        if self.batch.len() == 10 {
            self.dispatch();
        }
        Ok(Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(Refusal::Message("the batch went unanswered".into())))
        }))
    }

    async fn flush(&mut self) {
        self.dispatch();
    }
}
