//! Reading a stream by sequence, and turning what is stored into dlq rows.
//!
//! [`Rows`] walks the sequences present at the start (first..last from the
//! stream info) with a window of gets in flight, in order, so a deep stream
//! reads fast and memory stays bounded by the window. Deleted sequences come
//! back as "not found"; after a long run of them the walk jumps to the next
//! stored message with one next-by-subject get. Reading by sequence never
//! creates a consumer, so it works on every retention policy (an ordered
//! consumer on a work-queue or interest stream could remove messages).
//!
//! A re-drive or purge of a whole limits-retention stream of small messages
//! ([`Rows::through_consumer`]) reads through an ephemeral pull consumer
//! that acknowledges nothing instead: the server sends batches of up to
//! [`PULL`] messages and [`PULL_BYTES`] (more far away, so that the pulls
//! cover the round trip), the next asked for when half of one has come,
//! without a request per message; on such a stream that removes nothing
//! (limits retention keeps what a consumer was sent). It is taken only when
//! 500 average messages fit in [`CONSUMER_BYTES`]. Each delivery's consumer
//! sequence follows the last one: after a gap (deliveries lost to a
//! reconnect) or an error, the walk goes on with gets from the next sequence
//! wanted, as after a quiet consumer. The walk ends at the last
//! sequence present at the start, or when the consumer says nothing more is
//! pending; a consumer that cannot be created (permissions) leaves the walk
//! to the gets. The first [`HEAD`] messages (scaled by the round trip) are
//! read by gets while the consumer is being created at the sequence after
//! them, so its creation costs no round trip of its own; a stream no longer
//! than that is read by gets alone, with no consumer to create or delete.
//!
//! A stored message becomes a [`Row`]: a copy (its own body and headers,
//! origin from `dlq-original-subject` or `Nats-Subject`), or an advisory
//! (`MAX_DELIVERIES`/`MSG_TERMINATED`), shown as the original message it
//! points at, fetched from the source stream by sequence. When the original
//! is gone the row still comes, with an empty body and `original_missing`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::Result;
use async_nats::jetstream;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::stream::{DirectGetErrorKind, Info, RetentionPolicy, Stream};
use async_nats::HeaderMap;
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt, TryStreamExt};
use futures::FutureExt;
use serde_json::{json, Map, Value};
use tokio::sync::OnceCell;

use super::convert::{self, header};
use super::subjects;
use super::{Nats, NAME};
use crate::broker::{Headers, Message, OriginKind};
use crate::conventions;
use crate::exit::{broker, not_found, Context as _};
use crate::message::b64_decode;

/// Gets in flight at most on loopback (more far away, scaled by the round
/// trip, up to [`FAR_WINDOW`]); fewer for big messages (see `window_for`).
const MAX_WINDOW: usize = 256;
/// A read alone goes further than one that feeds a window of publishes or
/// deletes, which holds its own messages: both stay under 50 MiB at 20 ms.
pub(super) const FAR_WINDOW: usize = 2048;
pub(super) const FAR_WINDOW_BULK: usize = 1024;
/// Consecutive missing sequences after which the walk jumps ahead.
const JUMP_AFTER: usize = 64;
/// The most a consumer's batch of 500 average messages may hold.
const CONSUMER_BYTES: u64 = 8 << 20;
/// Messages one pull asks for on loopback, and at most however far...
const PULL: usize = 1024;
const FAR_PULL: usize = 4096;
/// ...and the bytes it may bring.
const PULL_BYTES: usize = 2 << 20;
/// Messages read by gets while the consumer is created, on loopback (more
/// far away: about what arrives in one round trip, at most a pull).
const HEAD: usize = 64;
/// How long a consumer may deliver nothing while messages are said to be
/// pending before the walk goes on with gets.
const QUIET: std::time::Duration = std::time::Duration::from_secs(5);

/// Where a row goes back to without `--to`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Origin {
    Subject(String),
    /// No header names the original subject.
    Unknown,
    /// The advisory's original message is no longer in its stream.
    Missing(String),
}

/// One message of a DLQ stream, as dlq shows and re-drives it.
#[derive(Debug)]
pub(super) struct Row {
    pub message: Message,
    /// The DLQ stream sequence (the ID).
    pub seq: u64,
    pub origin: Origin,
    /// Stored time in nanoseconds, part of the re-drive copy's Nats-Msg-Id.
    pub stored_nanos: i128,
}

/// A message as stored: subject, stored headers, body, time.
pub(super) struct Stored {
    pub seq: u64,
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Vec<u8>,
    pub time_nanos: i128,
}

impl Stored {
    /// A message a consumer delivered, with its consumer sequence and how
    /// many are pending after it; None without its metadata.
    fn from_delivered(m: jetstream::Message) -> Option<(Self, u64, u64)> {
        let info = m.info().ok()?;
        let (seq, pending, published) = (info.stream_sequence, info.pending, info.published);
        let delivered = info.consumer_sequence;
        let m = m.split().0;
        let stored = Stored {
            seq,
            subject: m.subject.to_string(),
            headers: m.headers.unwrap_or_default(),
            payload: m.payload.to_vec(),
            time_nanos: published.unix_timestamp_nanos(),
        };
        Some((stored, delivered, pending))
    }
}

/// Reads one stream by sequence; shared by the tasks of a window.
pub(super) struct Getter {
    js: jetstream::Context,
    stream: Stream<()>,
    name: String,
    direct: bool,
    /// Every stream's name and subjects, loaded when a copy needs its source.
    streams: OnceCell<Vec<(String, Vec<String>)>>,
    /// The stream found for each original subject (matching every stream's
    /// patterns per message costs more than the rest of a row on a busy server).
    sources: Mutex<HashMap<String, String>>,
}

/// Original subjects whose stream is remembered, at most (memory stays flat).
const SOURCES_KEPT: usize = 4096;

/// A row's origin (None: a copy, whose origin its convention records), the
/// time, headers and body it is shown with.
type Shown = (Option<Origin>, SystemTime, Headers, Vec<u8>);

impl Getter {
    pub async fn new(nats: &Nats, info: &Info) -> Result<Self> {
        let name = info.config.name.clone();
        let stream = (nats.js.get_stream_no_info(&name).await)
            .broker_err(NAME, format!("opening stream '{name}'"))?;
        Ok(Getter {
            js: nats.js.clone(),
            stream,
            direct: info.config.allow_direct,
            name,
            streams: OnceCell::new(),
            sources: Mutex::default(),
        })
    }

    /// The message at `seq`, or (`next`) the first one at or after it; None
    /// when there is none.
    pub async fn get(&self, seq: u64, next: bool) -> Result<Option<Stored>> {
        let at = if next { "from" } else { "at" };
        let op = || format!("reading stream '{}' {at} sequence {seq}", self.name);
        if self.direct {
            let got = if next {
                let get = self.stream.direct_get_builder().sequence(seq);
                get.next_by_subject(">").send().await
            } else {
                self.stream.direct_get(seq).await
            };
            match got {
                Ok(m) => Ok(Some(Stored {
                    seq: m.sequence,
                    subject: m.subject.to_string(),
                    headers: convert::strip_direct_get(&m.headers),
                    payload: m.payload.to_vec(),
                    time_nanos: m.time.unix_timestamp_nanos(),
                })),
                Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
                Err(e) => Err(broker(NAME, op(), e)),
            }
        } else {
            match raw_get(&self.js, &self.name, seq, next.then_some(">")).await {
                Ok(m) => Ok(Some(m)),
                Err(RawGetError::NoMessage) => Ok(None),
                Err(RawGetError::NoStream) if !next => Err(not_found(
                    format!("{NAME}: stream '{}' not found", self.name),
                    None,
                )),
                Err(e) => Err(broker(NAME, op(), e)),
            }
        }
    }

    async fn streams(&self) -> Result<&[(String, Vec<String>)]> {
        let list = (self.streams)
            .get_or_try_init(|| async {
                let infos = infos(&self.js).await?;
                let named = infos
                    .into_iter()
                    .map(|i| (i.config.name, i.config.subjects));
                Ok::<_, anyhow::Error>(named.collect())
            })
            .await?;
        Ok(list)
    }

    /// The stream that captures an original subject, when it is not this
    /// one; else the subject itself.
    async fn source_of(&self, subject: &str) -> Result<String> {
        let known = self
            .sources
            .lock()
            .ok()
            .and_then(|m| m.get(subject).cloned());
        if let Some(stream) = known {
            return Ok(stream);
        }
        let stream = subjects::stream_for(self.streams().await?, subject)
            .filter(|n| *n != self.name)
            .unwrap_or(subject)
            .to_owned();
        if let Ok(mut m) = self.sources.lock() {
            if m.len() < SOURCES_KEPT {
                m.insert(subject.to_owned(), stream.clone());
            }
        }
        Ok(stream)
    }

    /// Turns a stored message into a row: an advisory shows the original
    /// message it points at, anything else (a copy) shows itself.
    pub async fn row(&self, s: Stored) -> Result<Row> {
        let (seq, stored_nanos) = (s.seq, s.time_nanos);
        let stored_at = convert::from_nanos(stored_nanos);
        let mut props = Map::new();
        props.insert("stream".into(), json!(self.name));
        props.insert("sequence".into(), json!(seq));
        let mut facts = Map::new();
        let advisory = Some(&s)
            .filter(|s| s.subject.starts_with("$JS.EVENT.ADVISORY.CONSUMER."))
            .and_then(|s| serde_json::from_slice::<Value>(&s.payload).ok())
            .filter(|adv| adv["stream"].is_string() && adv["stream_seq"].is_u64());
        let (origin, timestamp, headers, body) = match advisory {
            Some(adv) => self.advisory(&s, adv, &mut props, &mut facts).await?,
            None => {
                props.insert("subject".into(), json!(s.subject));
                props.insert("pattern".into(), json!("copy"));
                let named = header(&s.headers, "dlq-original-subject")
                    .or_else(|| header(&s.headers, "Nats-Subject"));
                if let (None, Some(subject)) = (header(&s.headers, "Nats-Stream"), named) {
                    let stream = self.source_of(subject).await?;
                    facts.insert("source_stream".into(), json!(stream));
                }
                let headers = convert::headers_to_json(&s.headers);
                (None, stored_at, headers, s.payload)
            }
        };
        let mut dead_letter = conventions::read(&conventions::Input {
            headers: &headers,
            broker: &props,
            body: &body,
            stored_at: Some(stored_at),
            facts: &facts,
        });
        let origin = match (origin, &dead_letter.origin) {
            (Some(o), _) => o,
            (None, Some(o))
                if o.kind == OriginKind::Subject && subjects::is_publishable(&o.name) =>
            {
                Origin::Subject(o.name.clone())
            }
            (None, _) => {
                dead_letter.origin = None;
                Origin::Unknown
            }
        };
        let message = Message {
            id: seq.to_string(),
            queue: self.name.clone(),
            timestamp: Some(timestamp),
            headers,
            body,
            dead_letter,
            broker: props,
            ..Default::default()
        };
        Ok(Row {
            message,
            seq,
            origin,
            stored_nanos,
        })
    }

    /// An advisory's facts; it is shown as the original message it points
    /// at, or empty when that is gone.
    async fn advisory(
        &self,
        s: &Stored,
        adv: Value,
        props: &mut Map<String, Value>,
        facts: &mut Map<String, Value>,
    ) -> Result<Shown> {
        let source = adv["stream"].as_str().unwrap_or_default().to_owned();
        let source_seq = adv["stream_seq"].as_u64().unwrap_or_default();
        let terminated = s.subject.starts_with(subjects::MSG_TERMINATED)
            || adv["type"]
                .as_str()
                .is_some_and(|t| t.ends_with(".terminated"));
        let reason = match (terminated, adv.get("reason").and_then(Value::as_str)) {
            (true, Some(text)) if !text.is_empty() => format!("terminated: {text}"),
            (true, _) => "terminated".to_owned(),
            (false, _) => "max_deliveries".to_owned(),
        };
        facts.insert("advisory_reason".into(), json!(reason));
        // None when the original or its stream is gone.
        let original = match raw_get(&self.js, &source, source_seq, None).await {
            Ok(m) => Some(m),
            Err(RawGetError::NoMessage | RawGetError::NoStream) => None,
            Err(e) => {
                let op = format!("reading the original message {source} #{source_seq}");
                return Err(broker(NAME, op, e));
            }
        };
        let subject = original.as_ref().map(|o| o.subject.clone());
        props.insert("subject".into(), json!(subject));
        props.insert("pattern".into(), json!("advisory"));
        props.insert("advisory_subject".into(), json!(s.subject));
        props.insert("advisory".into(), adv);
        props.insert("original_stream".into(), json!(source));
        props.insert("original_sequence".into(), json!(source_seq));
        props.insert("original_missing".into(), json!(original.is_none()));
        Ok(match original {
            Some(o) => (
                Some(Origin::Subject(o.subject)),
                convert::from_nanos(o.time_nanos),
                convert::headers_to_json(&o.headers),
                o.payload,
            ),
            None => {
                let why = format!(
                    "nothing: the original message ({source} #{source_seq}) is gone from its stream"
                );
                let stored_at = convert::from_nanos(s.time_nanos);
                (
                    Some(Origin::Missing(why)),
                    stored_at,
                    Map::new(),
                    Vec::new(),
                )
            }
        })
    }
}

/// The walk over a stream's sequences, one row at a time, in order. It can
/// start at a time ([`Rows::seek_time`]) and be extended past the last
/// sequence it was opened with ([`Rows::extend_to`], for `--follow`).
pub(super) struct Rows {
    getter: Arc<Getter>,
    next: u64,
    last: u64,
    window: usize,
    ids: Option<VecDeque<u64>>,
    misses: usize,
    inflight: FuturesOrdered<BoxFuture<'static, Result<Option<Row>>>>,
    /// Read through a consumer, until one is started.
    consumer_due: bool,
    /// Messages one pull asks for.
    pull: usize,
    /// Messages read by gets while the consumer is created.
    head: usize,
    /// Gets stop before this sequence while a consumer is being created
    /// there (`starting`); u64::MAX otherwise.
    until: u64,
    starting: Option<tokio::task::JoinHandle<Result<Option<Feed>>>>,
    /// The stream as opened, for the consumer.
    stream: Stream,
    feed: Option<Feed>,
}

/// A consumer's deliveries, and whether the walk has reached its end.
struct Feed {
    messages: pull::Stream,
    done: bool,
    /// The consumer sequence of the last delivery taken.
    delivered: u64,
    /// A delivery was missed or the consumer failed: gets go on.
    broken: bool,
    /// Its name, to delete it once the walk is done (else the server does
    /// 30 s after its last delivery).
    name: String,
}

impl Rows {
    /// Starts a walk over what `stream` holds now; with `ids`, over those
    /// sequences only (an ID that is not a number names no message).
    pub async fn open(nats: &Nats, stream: Stream, ids: &[String], far: usize) -> Result<Rows> {
        let info = stream.cached_info();
        let state = &info.state;
        let ids = (!ids.is_empty()).then(|| {
            // Sequences start at 1: `0` names no message, like any other ID that is not one.
            let mut seqs: Vec<u64> = ids
                .iter()
                .filter_map(|i| i.trim().parse().ok())
                .filter(|&s| s > 0)
                .collect();
            seqs.sort_unstable();
            seqs.dedup();
            seqs.into_iter().collect::<VecDeque<u64>>()
        });
        let (next, last) = if state.messages == 0 {
            (1, 0)
        } else {
            (state.first_sequence, state.last_sequence)
        };
        let rt = nats.rt().await;
        let window = window_for(state.bytes, state.messages, rt.scale(MAX_WINDOW, far));
        let pull = rt.scale(PULL, FAR_PULL);
        Ok(Rows {
            getter: Arc::new(Getter::new(nats, info).await?),
            stream: stream.clone(),
            next,
            last,
            window,
            ids,
            misses: 0,
            inflight: FuturesOrdered::new(),
            consumer_due: false,
            pull,
            head: rt.scale(HEAD, pull).min(window),
            until: u64::MAX,
            starting: None,
            feed: None,
        })
    }

    /// Reads through an ordered consumer where that is safe and bounded (see
    /// the module docs): a whole limits-retention stream of small messages.
    pub fn through_consumer(mut self) -> Self {
        let info = self.stream.cached_info();
        let avg = info.state.bytes / info.state.messages.max(1);
        self.consumer_due = self.ids.is_none()
            && info.config.retention == RetentionPolicy::Limits
            && avg * 500 <= CONSUMER_BYTES;
        if self.consumer_due {
            // The first copy's row needs the streams: asked beside the consumer, not after its first delivery.
            let g = self.getter.clone();
            tokio::spawn(async move { g.streams().await.map(|_| ()) });
        }
        self
    }

    /// Starts creating the consumer after the head, which gets read
    /// meanwhile; a walk no longer than the head needs none.
    fn start_feed(&mut self) {
        let from = self.next.saturating_add(self.head as u64);
        if from > self.last {
            return;
        }
        self.until = from;
        let (stream, pull, name) = (self.stream.clone(), self.pull, self.getter.name.clone());
        self.starting = Some(tokio::spawn(feed(stream, from, pull, name)));
    }

    /// The consumer started after the head, once the head is read.
    async fn take_feed(&mut self) -> Result<()> {
        self.until = u64::MAX;
        if let Some(starting) = self.starting.take() {
            self.feed = starting
                .await
                .map_err(|e| broker(NAME, "starting a consumer", e))??;
        }
        Ok(())
    }

    /// Queues the row of a delivered message; marks the end after the last
    /// sequence of the walk or when nothing more is pending, and a break
    /// when a delivery was missed.
    fn take_delivered(&mut self, m: jetstream::Message) {
        let feed = self.feed.as_mut().expect("a feed");
        let Some((stored, delivered, pending)) = Stored::from_delivered(m) else {
            feed.broken = true;
            return;
        };
        if delivered != feed.delivered + 1 {
            feed.broken = true;
            return;
        }
        feed.delivered = delivered;
        if stored.seq > self.last {
            feed.done = true;
            return;
        }
        feed.done = stored.seq >= self.last || pending == 0;
        self.next = stored.seq + 1;
        let g = self.getter.clone();
        self.inflight
            .push_back(Box::pin(async move { Ok(Some(g.row(stored).await?)) }));
    }

    /// The next row from the consumer: rows are built in order, a window at
    /// a time, from what it has delivered. None when the consumer went
    /// quiet with messages still said to be pending (deleted meanwhile by
    /// someone else), or broke: the walk goes on from there with gets.
    async fn next_delivered(&mut self) -> Result<Option<Option<Row>>> {
        loop {
            while self.inflight.len() < self.window {
                let feed = self.feed.as_mut().expect("a feed");
                if feed.done || feed.broken {
                    break;
                }
                let delivered = if self.inflight.is_empty() {
                    // Nothing to hand out: wait for the server, not forever.
                    match tokio::time::timeout(QUIET, feed.messages.next()).await {
                        Ok(d) => d,
                        Err(_) => {
                            self.end_feed().await;
                            return Ok(None);
                        }
                    }
                } else {
                    match feed.messages.next().now_or_never() {
                        Some(d) => d,
                        None => break,
                    }
                };
                match delivered {
                    Some(Ok(m)) => self.take_delivered(m),
                    // Gets go on from the next sequence wanted.
                    Some(Err(_)) => self.feed.as_mut().expect("a feed").broken = true,
                    None => self.feed.as_mut().expect("a feed").done = true,
                }
            }
            match self.inflight.next().await {
                Some(row) => return row.map(Some),
                None if self.feed.as_ref().is_some_and(|f| f.broken) => {
                    self.end_feed().await;
                    return Ok(None);
                }
                None if self.feed.as_ref().is_some_and(|f| f.done) => {
                    self.end_feed().await;
                    // The walk is over; a later call must not walk on with gets.
                    self.next = self.last.saturating_add(1);
                    return Ok(Some(None));
                }
                None => {}
            }
        }
    }

    /// Deletes the consumer (best effort: else the server does, 30 s later).
    async fn end_feed(&mut self) {
        if let Some(f) = self.feed.take() {
            drop(f.messages);
            let _ = self.stream.delete_consumer(&f.name).await;
        }
    }

    fn fill(&mut self) {
        while self.inflight.len() < self.window {
            let seq = match &mut self.ids {
                Some(ids) => match ids.pop_front() {
                    Some(s) => s,
                    None => return,
                },
                None => {
                    if self.next > self.last || self.next >= self.until || self.misses >= JUMP_AFTER
                    {
                        return;
                    }
                    self.next += 1;
                    self.next - 1
                }
            };
            let g = self.getter.clone();
            self.inflight.push_back(Box::pin(async move {
                match g.get(seq, false).await? {
                    Some(stored) => Ok(Some(g.row(stored).await?)),
                    None => Ok(None),
                }
            }));
        }
    }

    /// The last sequence the walk goes to.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Walks on to `last` (the stream grew), from where it stopped.
    pub fn extend_to(&mut self, last: u64) {
        if last > self.last {
            self.last = last;
            self.misses = 0;
        }
    }

    /// Starts the walk at the first message stored at or after `since`,
    /// found by bisecting the sequences (a stream stores in time order), so
    /// a window at the end of a deep stream reads only the window, with no
    /// consumer created. An earlier message may still come (a copy's time is
    /// the original's); the filter decides.
    pub async fn seek_time(&mut self, since: SystemTime) -> Result<()> {
        if self.ids.is_some() {
            return Ok(());
        }
        let target = convert::to_nanos(since);
        let (mut lo, mut hi) = (self.next, self.last.saturating_add(1));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.getter.get(mid, true).await? {
                Some(s) if s.seq <= self.last && s.time_nanos < target => lo = s.seq + 1,
                _ => hi = mid,
            }
        }
        self.next = lo;
        Ok(())
    }

    /// The next row, None at the end of what was there at the start.
    pub async fn next(&mut self) -> Result<Option<Row>> {
        if std::mem::take(&mut self.consumer_due) {
            self.start_feed();
        }
        loop {
            if self.feed.is_some() {
                if let Some(row) = self.next_delivered().await? {
                    return Ok(row);
                }
            }
            self.fill();
            match self.inflight.next().await {
                Some(result) => match result? {
                    Some(row) => {
                        self.misses = 0;
                        return Ok(Some(row));
                    }
                    None => self.misses += 1,
                },
                // The head is read: the consumer goes on from there.
                None if self.next >= self.until && self.next <= self.last => {
                    self.take_feed().await?;
                }
                None => {
                    if self.ids.is_some() || self.next > self.last {
                        self.drop_starting().await;
                        return Ok(None);
                    }
                    self.misses = 0;
                    match self.getter.get(self.next, true).await? {
                        Some(s) if s.seq <= self.last => self.next = s.seq,
                        _ => {
                            self.drop_starting().await;
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }

    /// A walk that ended within its head deletes the consumer started after it.
    async fn drop_starting(&mut self) {
        if self.starting.is_some() {
            let _ = self.take_feed().await;
            self.end_feed().await;
        }
    }
}

/// Creates a consumer at `start` and its pulls; None when it cannot be
/// created (the walk then uses gets) or nothing is pending.
async fn feed(stream: Stream, start: u64, pull: usize, name: String) -> Result<Option<Feed>> {
    let nanos = convert::to_nanos(SystemTime::now());
    let consumer_name = format!("dlq-{}-{nanos}", std::process::id());
    let config = pull::Config {
        name: Some(consumer_name.clone()),
        deliver_policy: DeliverPolicy::ByStartSequence {
            start_sequence: start,
        },
        ack_policy: AckPolicy::None,
        // As an ordered consumer is: in memory, one replica, gone when idle.
        memory_storage: true,
        num_replicas: 1,
        inactive_threshold: std::time::Duration::from_secs(30),
        ..Default::default()
    };
    let Ok(consumer) = stream.create_consumer(config).await else {
        return Ok(None);
    };
    let done = consumer.cached_info().num_pending == 0;
    let messages = consumer
        .stream()
        .max_messages_per_batch(pull)
        .max_bytes_per_batch(PULL_BYTES)
        .messages()
        .await
        .broker_err(NAME, format!("reading stream '{name}'"))?;
    Ok(Some(Feed {
        messages,
        done,
        delivered: 0,
        broken: false,
        name: consumer_name,
    }))
}

/// Gets in flight for a stream of that size: about 4 MiB of bodies, at
/// most `most`.
fn window_for(bytes: u64, messages: u64, most: usize) -> usize {
    let avg = bytes / messages.max(1);
    ((4 << 20) / avg.max(1)).clamp(8, most.max(8) as u64) as usize
}

/// Why a STREAM.MSG.GET found nothing or failed.
#[derive(Debug)]
pub(super) enum RawGetError {
    NoMessage,
    NoStream,
    Other(String),
}

impl std::fmt::Display for RawGetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawGetError::NoMessage => f.write_str("no message found"),
            RawGetError::NoStream => f.write_str("stream not found"),
            RawGetError::Other(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for RawGetError {}

/// STREAM.MSG.GET by sequence (or the next message at or after it on
/// `next`), parsed here: the client's own parser keeps only the last value of
/// a repeated header.
pub(super) async fn raw_get(
    js: &jetstream::Context,
    stream: &str,
    seq: u64,
    next: Option<&str>,
) -> Result<Stored, RawGetError> {
    let mut request = json!({"seq": seq});
    if let Some(filter) = next {
        request["next_by_subj"] = json!(filter);
    }
    let reply: Value = js
        .request(format!("STREAM.MSG.GET.{stream}"), &request)
        .await
        .map_err(|e| RawGetError::Other(e.to_string()))?;
    if let Some(err) = reply.get("error") {
        return Err(match err["err_code"].as_u64() {
            Some(10037) => RawGetError::NoMessage,
            Some(10059) => RawGetError::NoStream,
            _ => RawGetError::Other(err["description"].as_str().unwrap_or("error").to_owned()),
        });
    }
    let m = &reply["message"];
    let b64 = |v: &Value| {
        b64_decode(v.as_str().unwrap_or(""))
            .map_err(|e| RawGetError::Other(format!("bad base64 from the server: {e}")))
    };
    let headers = match m.get("hdrs") {
        Some(Value::String(_)) => convert::parse_header_block(&b64(&m["hdrs"])?),
        _ => HeaderMap::new(),
    };
    Ok(Stored {
        seq: m["seq"].as_u64().unwrap_or(seq),
        subject: m["subject"].as_str().unwrap_or_default().to_owned(),
        headers,
        payload: b64(&m["data"])?,
        time_nanos: m["time"]
            .as_str()
            .and_then(crate::message::parse_time)
            .map_or(0, convert::to_nanos),
    })
}

/// Every stream's info.
pub(super) async fn infos(js: &jetstream::Context) -> Result<Vec<Info>> {
    js.streams()
        .try_collect()
        .await
        .broker_err(NAME, "listing streams")
}
