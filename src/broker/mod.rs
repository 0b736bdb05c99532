//! The one connection layer: the [`Broker`] trait and what a backend can do;
//! `registry.rs` picks the backend from the URL scheme.
//!
//! Commands are written against `dyn Broker` and never name a broker. Read
//! paths hand messages to a visitor one at a time, so memory stays flat
//! however deep the queue. Re-drive and purge are whole operations on the
//! trait, because each broker pipelines them its own way (publisher
//! confirms, batch calls, async delivery, async acks); they report to the
//! run's [`Ledger`], which keeps the rules (what to act on, counts, journal,
//! progress, pacing, Ctrl-C, backup). Publishing is one loop for every
//! broker (`bulk::publish`): a backend supplies a [`Publisher`] that sends
//! and confirms. What a backend cannot do is data in [`Capabilities`], so a
//! command refuses early instead of failing halfway.

pub mod capability;
#[cfg(test)]
pub mod memory;
pub mod registry;

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

use crate::bulk::publish::Publisher;
use crate::bulk::Ledger;

pub use crate::message::{
    DeadLetter, Headers, Message, Origin, OriginKind, OutgoingMessage, REDRIVE_HEADER,
};
pub use capability::{Capabilities, Flag, Setting};
pub use registry::BrokerKind;

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
    /// `--since`: a hint that messages stored before it are not wanted, so
    /// a log can start reading there (Kafka offsets for a time, a JetStream
    /// sequence found by time) instead of at its start.
    pub since: Option<std::time::SystemTime>,
    /// `list --follow`: once at the end, wait for new messages and hand
    /// them on as they come, until the visitor stops.
    pub follow: bool,
}

impl ReadOptions {
    /// The broker-specific flags these options stand for.
    pub fn flags(&self) -> Vec<Flag> {
        given([
            (Flag::All, self.all),
            (Flag::Group, self.group.is_some()),
            (Flag::Force, self.force),
            (Flag::Follow, self.follow),
        ])
    }
}

/// The flags of `pairs` that were given.
fn given<const N: usize>(pairs: [(Flag, bool); N]) -> Vec<Flag> {
    pairs
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect()
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
    /// `--native`: let the broker move the messages server-side.
    pub native: bool,
    /// With `--native`: start the move and return without following it.
    pub detach: bool,
}

impl RedriveOptions {
    /// Where a taken message goes (`--to`, else the origin its convention
    /// records, of one of the kinds `caps` has) and the copy to send there;
    /// or why it cannot go, so that it stays and is listed as failed.
    pub fn copy_of(
        &self,
        m: &Message,
        caps: &Capabilities,
    ) -> std::result::Result<(Origin, OutgoingMessage), String> {
        Ok((self.target(m, caps)?, self.rewrite.copy_of(m)?))
    }

    /// [`RedriveOptions::copy_of`] a message the caller has done with (it
    /// keeps only the ID, returned beside the outcome).
    pub fn copy_from(
        &self,
        mut m: Message,
        caps: &Capabilities,
    ) -> (
        String,
        std::result::Result<(Origin, OutgoingMessage), String>,
    ) {
        let id = std::mem::take(&mut m.id);
        let copy = self
            .target(&m, caps)
            .and_then(|to| Ok((to, self.rewrite.copy_from(m)?)));
        (id, copy)
    }

    /// Where a taken message goes: `--to`, else the origin its convention
    /// records, of one of the kinds `caps` has.
    fn target(&self, m: &Message, caps: &Capabilities) -> std::result::Result<Origin, String> {
        Ok(match &self.to {
            Some(t) => Origin {
                kind: caps.origins[0],
                name: t.clone(),
                routing_key: None,
            },
            None => crate::conventions::origin_for(&m.dead_letter, caps.origins)?.clone(),
        })
    }

    /// The broker-specific flags these options stand for.
    pub fn flags(&self) -> Vec<Flag> {
        let mut f = self.read.flags();
        f.extend(given([
            (Flag::Native, self.native),
            (Flag::Detach, self.detach),
        ]));
        f
    }
}

/// Options of `purge`.
#[derive(Debug, Clone, Default)]
pub struct PurgeOptions {
    pub read: ReadOptions,
    /// Kafka: also truncate the log with DeleteRecords.
    pub delete_records: bool,
}

impl PurgeOptions {
    /// The broker-specific flags these options stand for.
    pub fn flags(&self) -> Vec<Flag> {
        let mut f = self.read.flags();
        f.extend(given([(Flag::DeleteRecords, self.delete_records)]));
        f
    }
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

impl PublishOptions {
    /// The broker-specific flags these options stand for.
    pub fn flags(&self) -> Vec<Flag> {
        given([
            (Flag::Exchange, self.exchange.is_some()),
            (Flag::RoutingKey, self.routing_key.is_some()),
            (Flag::Key, self.key.is_some()),
            (Flag::Partition, self.partition.is_some()),
            (Flag::GroupId, self.group_id.is_some()),
            (Flag::DedupId, self.dedup_id.is_some()),
            (Flag::Delay, self.delay.is_some()),
        ])
    }
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

impl QueueInfo {
    /// Sets each source's `dead_letter_queue` from the DLQs that name it
    /// among their sources, where the broker did not say.
    pub fn link_sources(queues: &mut [QueueInfo]) {
        let links: Vec<(String, String)> = queues
            .iter()
            .flat_map(|q| q.sources.iter().map(|s| (s.clone(), q.name.clone())))
            .collect();
        for (source, dlq) in links {
            if let Some(q) = queues.iter_mut().find(|q| q.name == source) {
                q.dead_letter_queue.get_or_insert(dlq);
            }
        }
    }
}

/// What `lag` is asked about.
#[derive(Debug, Clone, Default)]
pub struct LagQuery {
    /// Groups, queues or streams; empty means every one the broker lists.
    pub names: Vec<String>,
    /// Kafka: narrow to one topic.
    pub topic: Option<String>,
}

impl LagQuery {
    /// The broker-specific flags this query stands for.
    pub fn flags(&self) -> Vec<Flag> {
        given([(Flag::Topic, self.topic.is_some())])
    }
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

    /// Fails as a re-drive would when `to` (`--to`) names no destination,
    /// so a dry run says so too. It changes nothing.
    async fn check_target(&self, to: &str) -> Result<()>;

    /// Sends the messages the run selects back to their origin (or
    /// `opts.to`) and removes each from `queue` only after its copy is
    /// confirmed, reporting each to `run`. An error means the run could not
    /// start (or failed before it changed anything).
    async fn redrive(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()>;

    /// Removes the messages the run selects; each is saved with
    /// `run.backup` first.
    async fn purge(&self, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()>;

    /// Removes every message of `queue` with the broker's own operation
    /// (queue.purge, PurgeQueue, stream purge; on a log, the cursor moves to
    /// its end). The command calls it when `capabilities().purge_all` and
    /// nothing is filtered or backed up.
    async fn purge_all(&self, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        let _ = (queue, opts, run);
        Err(unsupported(
            self.capabilities(),
            "purge a whole queue at once",
        ))
    }

    /// Lets the broker itself move every message of `queue` to its origin
    /// (or `opts.to`), followed to its end (`retry-all --native`).
    async fn native_move(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        let _ = (queue, opts, run);
        Err(unsupported(
            self.capabilities(),
            "move messages server-side",
        ))
    }

    /// What sends and confirms each message `publish` reads, for the one
    /// publish loop (`bulk::publish`). An error means nothing can be sent
    /// (an unknown target).
    async fn publisher<'a>(
        &'a self,
        target: &str,
        opts: &PublishOptions,
    ) -> Result<Box<dyn Publisher + 'a>>;

    /// The lag report rows.
    async fn lag(&self, query: &LagQuery) -> Result<Vec<LagRow>>;

    /// Lines naming who else receives the copies a re-drive sends, given
    /// each destination and the queue its message died on (Pub/Sub: the
    /// other subscriptions of a topic), for the dry run's summary.
    async fn fan_out(&self, copies: &[(String, Option<String>)]) -> Vec<String> {
        let _ = copies;
        Vec::new()
    }
}

/// The error of an operation a backend does not have.
fn unsupported(caps: &Capabilities, what: &str) -> anyhow::Error {
    crate::exit::usage(format!("{} cannot {what}", caps.name))
}
