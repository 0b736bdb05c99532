//! The one connection layer: the [`Broker`] trait, what a backend can do, and
//! [`connect`], which picks the backend from the URL scheme.
//!
//! Commands are written against `dyn Broker` and never name a broker. Read
//! paths hand messages to a visitor one at a time, so memory stays flat
//! however deep the queue. Bulk paths (redrive, purge, publish) are whole
//! operations on the trait, because each broker pipelines them its own way
//! (publisher confirms, batch calls, async delivery, async acks); the shared
//! rules they follow live in `select` (what to act on) and `bulk` (progress,
//! pacing, Ctrl-C, backup, summary). What a backend cannot do is data in
//! [`Capabilities`], so a command refuses early instead of failing halfway.

pub mod capability;
#[cfg(test)]
pub mod memory;

pub mod kafka;
pub mod nats;
pub mod pubsub;
pub mod rabbitmq;
pub mod round_trip;
pub mod sqs;

use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::bulk::{BulkContext, BulkReport};
use crate::config::BrokerSettings;
use crate::select::Selection;

pub use crate::message::{
    DeadLetter, Headers, Message, Origin, OriginKind, OutgoingMessage, REDRIVE_HEADER,
};
pub use capability::{Capabilities, Flag, Setting};

/// How to read a queue. Every field has a meaning on some brokers only; a
/// backend ignores what does not apply to it.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Kafka: read the whole log instead of what follows dlq's cursor.
    pub all: bool,
    /// Kafka: the consumer group whose cursor marks what was handled.
    pub group: Option<String>,
    /// SQS: read a queue even though it has a RedrivePolicy of its own.
    pub force: bool,
    /// IDs the caller looks for: a hint that lets a backend fetch them
    /// directly (Kafka offsets, NATS sequences) instead of scanning.
    pub ids: Vec<String>,
}

/// Whether a visitor wants more messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Called with each message a read finds, in queue order.
pub type Visitor<'a> = dyn FnMut(Message) -> Result<Flow> + Send + 'a;

/// Options of `retry` and `retry-all`.
#[derive(Debug, Clone, Default)]
pub struct RedriveOptions {
    pub read: ReadOptions,
    /// Where to send instead of the message's origin.
    pub to: Option<String>,
    /// What changes on each copy (`--set-header`, `--transform`, `edit`).
    pub rewrite: crate::rewrite::Rewrite,
    /// With `--native`: start the move and return without following it.
    pub detach: bool,
}

/// Options of `purge`.
#[derive(Debug, Clone, Default)]
pub struct PurgeOptions {
    pub read: ReadOptions,
    /// Kafka: also truncate the log with DeleteRecords.
    pub delete_records: bool,
}

/// Options of `publish`; each applies to the brokers that have the notion.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// RabbitMQ: exchange to publish through (default exchange when None).
    pub exchange: Option<String>,
    /// RabbitMQ: routing key (TARGET when None).
    pub routing_key: Option<String>,
    /// Kafka: message key, unless the input message has one.
    pub key: Option<String>,
    /// Kafka: partition to produce to.
    pub partition: Option<i32>,
    /// SQS FIFO: message group.
    pub group_id: Option<String>,
    /// SQS FIFO: deduplication ID.
    pub dedup_id: Option<String>,
    /// SQS: delivery delay.
    pub delay: Option<Duration>,
}

/// Where `publish` reads its messages from; yields them one at a time.
#[async_trait]
pub trait MessageInput: Send {
    /// The next message, an input error naming its line, or None at the end.
    async fn next(&mut self) -> Option<Result<OutgoingMessage>>;
}

/// What a broker calls the things dlq reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueKind {
    #[default]
    Queue,
    Topic,
    Stream,
    /// A Pub/Sub subscription: what its QUEUE argument names.
    Subscription,
}

impl QueueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueKind::Queue => "queue",
            QueueKind::Topic => "topic",
            QueueKind::Stream => "stream",
            QueueKind::Subscription => "subscription",
        }
    }
}

/// One queue, topic or stream in `dlq queues`, serialized as its JSON row
/// (SPEC.md): these fields in this order, then the broker's own columns.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueInfo {
    pub name: String,
    pub kind: QueueKind,
    /// Messages in it, when the broker says.
    pub depth: Option<u64>,
    /// It is a dead-letter queue.
    pub is_dlq: bool,
    /// For a DLQ: the queues that dead-letter into it.
    pub sources: Vec<String>,
    /// For a source: its dead-letter queue.
    pub dead_letter_queue: Option<String>,
    /// The broker's own columns (consumers, in flight, partitions, ...).
    #[serde(flatten, serialize_with = "extra_queue_columns")]
    pub extra: Map<String, Value>,
}

/// What `lag` is asked about.
#[derive(Debug, Clone, Default)]
pub struct LagQuery {
    /// Groups, queues or streams; empty means every one the broker lists.
    pub names: Vec<String>,
    /// Kafka: narrow to one topic.
    pub topic: Option<String>,
}

/// One row of the lag report, serialized as its JSON row (SPEC.md).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LagRow {
    /// The group, queue, stream or `STREAM/CONSUMER` the row is about.
    pub name: String,
    /// Messages waiting (Kafka: end minus committed; queues: ready/visible;
    /// NATS: pending); None when the broker cannot say (Pub/Sub without
    /// Cloud Monitoring), never 0 for unknown.
    pub lag: Option<u64>,
    /// Age of the oldest waiting message, when known.
    #[serde(rename = "oldest_age_seconds", serialize_with = "whole_seconds")]
    pub oldest_age: Option<Duration>,
    /// Depth of the dead-letter queue that serves it, when there is one.
    pub dlq_depth: Option<u64>,
    /// Thresholds are checked on this row (Kafka checks group totals, not
    /// each partition).
    #[serde(skip)]
    pub checked: bool,
    /// The broker's own columns, in display order.
    #[serde(flatten, serialize_with = "extra_lag_columns")]
    pub extra: Map<String, Value>,
}

/// A broker's own columns never shadow the fields every broker has.
fn extra_columns<S: serde::Serializer>(
    extra: &Map<String, Value>,
    fixed: &[&str],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(extra.iter().filter(|(k, _)| !fixed.contains(&k.as_str())))
}

fn extra_queue_columns<S: serde::Serializer>(
    extra: &Map<String, Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let fixed = [
        "name",
        "kind",
        "depth",
        "is_dlq",
        "sources",
        "dead_letter_queue",
    ];
    extra_columns(extra, &fixed, s)
}

fn extra_lag_columns<S: serde::Serializer>(
    extra: &Map<String, Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    extra_columns(
        extra,
        &["name", "lag", "oldest_age_seconds", "dlq_depth"],
        s,
    )
}

fn whole_seconds<S: serde::Serializer>(age: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match age {
        Some(a) => s.serialize_u64(a.as_secs()),
        None => s.serialize_none(),
    }
}

/// A broker backend. See the module docs for the shape.
#[async_trait]
pub trait Broker: Send + Sync {
    fn capabilities(&self) -> &Capabilities;

    /// Every queue, topic or stream, with depth and dead-letter links.
    async fn queues(&self) -> Result<Vec<QueueInfo>>;

    /// How many messages a read of `queue` would go through, when known
    /// cheaply; used for confirmation prompts and progress bars. It must
    /// fail with a broker error when the queue does not exist.
    async fn depth(&self, queue: &str, opts: &ReadOptions) -> Result<Option<u64>>;

    /// Reads `queue` without changing it (SPEC.md, Non-destructive reads),
    /// handing each message to `visit` until it returns [`Flow::Stop`] or the
    /// messages present at the start have all been seen.
    async fn browse(&self, queue: &str, opts: &ReadOptions, visit: &mut Visitor<'_>) -> Result<()>;

    /// Sends the selected messages back to their origin (or `opts.to`) and
    /// removes each from `queue` only after its copy is confirmed.
    async fn redrive(
        &self,
        queue: &str,
        opts: &RedriveOptions,
        selection: &Selection,
        ctx: &BulkContext,
    ) -> Result<BulkReport>;

    /// Removes the selected messages, one by one; with `ctx.backup`, each
    /// message is saved before it is removed.
    async fn purge(
        &self,
        queue: &str,
        opts: &PurgeOptions,
        selection: &Selection,
        ctx: &BulkContext,
    ) -> Result<BulkReport>;

    /// Removes every message of `queue` with the broker's own operation
    /// (queue.purge, PurgeQueue, stream purge; on a log, the cursor moves to
    /// its end). The command calls it when `capabilities().purge_all` and
    /// nothing is filtered or backed up.
    async fn purge_all(
        &self,
        queue: &str,
        opts: &PurgeOptions,
        ctx: &BulkContext,
    ) -> Result<BulkReport> {
        let _ = (queue, opts, ctx);
        Err(unsupported(
            self.capabilities(),
            "purge a whole queue at once",
        ))
    }

    /// Lets the broker itself move every message of `queue` to its origin
    /// (or `opts.to`), followed to its end. The command calls it for
    /// `retry-all --native` when `capabilities().native_move`.
    async fn native_move(
        &self,
        queue: &str,
        opts: &RedriveOptions,
        ctx: &BulkContext,
    ) -> Result<BulkReport> {
        let _ = (queue, opts, ctx);
        Err(unsupported(
            self.capabilities(),
            "move messages server-side",
        ))
    }

    /// Publishes every message of `input` to `target`, each confirmed by the
    /// broker before it counts. An input error stops the run: the report's
    /// `stopped_by` holds it and `done` says how many went out before it.
    async fn publish(
        &self,
        target: &str,
        opts: &PublishOptions,
        input: &mut dyn MessageInput,
        ctx: &BulkContext,
    ) -> Result<BulkReport>;

    /// The lag report rows.
    async fn lag(&self, query: &LagQuery) -> Result<Vec<LagRow>>;
}

/// The error of an operation a backend does not have.
fn unsupported(caps: &Capabilities, what: &str) -> anyhow::Error {
    crate::exit::usage(format!("{} cannot {what}", caps.name))
}

/// Connects to the broker the settings name, by URL scheme.
pub async fn connect(settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
    match settings.scheme().as_str() {
        "amqp" | "amqps" => rabbitmq::connect(settings).await,
        "sqs" => sqs::connect(settings).await,
        "kafka" => kafka::connect(settings).await,
        "nats" | "tls" => nats::connect(settings).await,
        "pubsub" => pubsub::connect(settings).await,
        other => Err(crate::exit::usage(format!(
            "unsupported broker URL scheme {other:?}: use amqp://, amqps://, sqs://, kafka://, nats://, tls:// or pubsub://"
        ))),
    }
}
