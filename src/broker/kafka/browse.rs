//! Reading a topic from dlq's cursor (or its start) to the end offsets taken
//! when the read begins, committing nothing.
//!
//! A reader thread owns a consumer that assigns one partition at a time (so
//! messages come in partition order, then offset order), or for a bulk run
//! ([`Plan::together`]) up to [`TOGETHER`] partitions at once, so that one
//! fetch brings records of all of them and the partitions move in parallel,
//! each still in offset order. Over a plain connection (no TLS, no SASL) the
//! ranges are read first by [`stream`], which takes each fetch answer off the
//! socket a record batch at a time; librdkafka reads whatever it leaves (see
//! there). With librdkafka, memory is bounded by the consumer's settings:
//! Kafka honours the fetch sizes, and an answer over
//! `receive.message.max.bytes` is refused by librdkafka before it is read. A
//! broker that ignores the fetch sizes (noida-db answers with whole
//! partitions) can send such an answer: the same partitions are then read
//! again from where they got to, half as many at a time, down to one; only
//! a single partition's answer over the limit ends the read, saying which
//! setting to raise. It hands each record,
//! already turned into a [`Message`], through a small bounded channel: memory
//! stays flat however long the log, and the async side never blocks on
//! librdkafka. Offsets the cursor records as handled are left out unless the
//! read is `--all`. With ID hints, the reader seeks straight to each offset.
//!
//! With a `--since` hint, each partition starts at the first offset whose
//! timestamp is at or after it (ListOffsets by time), so a window at the end
//! of a deep log reads only the window; a broker that cannot answer that is
//! read from the cursor, and the filter still decides. `list --follow` goes
//! on past the end offsets: the reader assigns every partition at its end
//! and hands on each record as it is written, until the receiver goes away.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::Result;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::topic_partition_list::TopicPartitionListElem;
use rdkafka::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::{
    blocking, cursor_group, envelope, parse_id, Cursors, Kafka, Opened, Part, Quiet, Reader, NAME,
    RECEIVE_REFUSED,
};
use crate::broker::{Flow, Message, ReadOptions, Visitor};
use crate::exit::broker;

mod stream;
pub use stream::{leaders_in, Direct};

/// Partitions a bulk read assigns at once.
const TOGETHER: usize = 4;

/// How long the reader waits for the consumer's next event before it looks
/// at the stall clock and whether anyone still listens.
const WAIT: Duration = Duration::from_millis(200);

/// One record read: its partition and offset, and the message.
pub type Read = (i32, i64, Message);

/// What a reader goes through: per partition, where to start and the end
/// offset (exclusive), offsets to leave out, or exact offsets to fetch.
#[derive(Default)]
pub struct Plan {
    pub topic: String,
    pub ranges: Vec<(i32, i64, i64)>,
    pub skip: HashMap<i32, BTreeSet<i64>>,
    pub exact: Option<BTreeMap<i32, BTreeSet<i64>>>,
    pub stall: Duration,
    /// Read all partitions at once, interleaved (each in offset order): for
    /// bulk runs, where the order across partitions means nothing and a
    /// distant broker's round trip is paid once per fetch for all of them.
    pub together: bool,
    /// `--follow`: once the ranges are read, from where to read on, per
    /// partition.
    pub follow_from: Option<Vec<(i32, i64)>>,
    /// Each partition's leader, when the metadata that listed the partitions
    /// said (the direct read then asks no metadata of its own: a fresh
    /// consumer's metadata is three round trips).
    pub leaders: HashMap<i32, String>,
}

impl Plan {
    /// The plan for a read with these options: from the cursor unless `all`,
    /// or straight to the hinted IDs when every hint is a `P:O` (those the
    /// cursor marks handled are no longer on the DLQ, unless `all`).
    pub fn new(
        topic: &str,
        parts: &[Part],
        cursors: &Cursors,
        opts: &ReadOptions,
        stall: Duration,
    ) -> Plan {
        let mut plan = Plan {
            topic: topic.to_owned(),
            stall,
            ..Default::default()
        };
        let hinted: Option<Vec<(i32, i64)>> = (!opts.ids.is_empty())
            .then(|| opts.ids.iter().map(|id| parse_id(id)).collect())
            .flatten();
        if let Some(ids) = hinted {
            let mut exact: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
            for (p, o) in ids {
                // What was handled is no longer on the DLQ, unless the whole log is asked for.
                let handled = !opts.all && cursors.get(&p).is_some_and(|c| c.has_handled(o));
                let stored = parts
                    .iter()
                    .any(|x| x.partition == p && (x.low..x.high).contains(&o));
                if stored && !handled {
                    exact.entry(p).or_default().insert(o);
                }
            }
            plan.exact = Some(exact);
            return plan;
        }
        for part in parts {
            let cursor = cursors.get(&part.partition).filter(|_| !opts.all);
            let start = cursor.map_or(part.low, |c| c.start(part.low));
            if start < part.high {
                plan.ranges.push((part.partition, start, part.high));
            }
            if let Some(c) = cursor.filter(|c| !c.handled.is_empty()) {
                plan.skip.insert(part.partition, c.handled.clone());
            }
        }
        plan
    }

    /// Starts each partition no earlier than `starts` says (the first
    /// offset at or after `--since`).
    pub fn start_at(&mut self, starts: &HashMap<i32, i64>) {
        for range in &mut self.ranges {
            if let Some(&at) = starts.get(&range.0) {
                range.1 = range.1.max(at);
            }
        }
        self.ranges.retain(|&(_, start, end)| start < end);
    }

    /// Messages the plan goes through.
    pub fn count(&self) -> u64 {
        if let Some(exact) = &self.exact {
            return exact.values().map(|v| v.len() as u64).sum();
        }
        self.ranges
            .iter()
            .map(|&(p, start, end)| {
                let skipped = self.skip.get(&p).map_or(0, |s| s.range(start..end).count());
                (end - start) as u64 - skipped as u64
            })
            .sum()
    }
}

/// Starts the reader thread; its messages come through the returned
/// [`Records`], ending with an error if the read fails. Dropping it stops
/// the thread.
pub fn spawn(kafka: &Kafka, consumer: Reader, plan: Plan) -> Records {
    let (tx, rx) = mpsc::channel(BATCHES);
    let quiet = kafka.quiet.clone();
    let direct = kafka.direct();
    std::thread::spawn(move || {
        let mut tx = Sink {
            tx,
            batch: Vec::with_capacity(BATCH),
            bytes: 0,
        };
        let result = match plan.exact {
            Some(_) => read_exact(&consumer, &plan, &mut tx),
            None => {
                let left = match direct {
                    Some(d) => stream::read(&consumer, d, &plan, &plan.ranges, &mut tx),
                    None => Ok(plan.ranges.clone()),
                };
                left.and_then(|left| match plan.together {
                    true => read_windows(&consumer, &plan, &left, &quiet, &mut tx),
                    false => read_ranges(&consumer, &plan, &left, &quiet, &mut tx),
                })
            }
        };
        let result = match (result, &plan.follow_from) {
            (Ok(()), Some(from)) => read_on(&consumer, &plan.topic, from, &mut tx),
            (r, _) => r,
        };
        if let Err(e) = result.and_then(|()| tx.flush()) {
            let e = match e {
                Stop::Closed => return,
                Stop::Kafka(op, err) => broker(NAME, op, quiet.explain(&err)),
                Stop::Stalled(msg) => crate::exit::broker_msg(msg),
                Stop::TooLarge(left) => too_large(&plan.topic, &left, &quiet),
            };
            tx.end_with(e);
        }
    });
    Records {
        rx,
        batch: VecDeque::new(),
    }
}

/// Records handed on at once, at most: a batch is one wake-up of the async
/// side instead of one a record (which tripled the context switches of a
/// read whose consumer is busier, such as a decoding `list`).
const BATCH: usize = 64;
/// Body bytes after which a batch is handed on however few records it has.
const BATCH_BYTES: usize = 256 * 1024;
/// Batches waiting in the channel: with [`BATCH`], about as many records as
/// the record-at-a-time channel held.
const BATCHES: usize = 4;

/// The reader thread's end of the channel: records gathered into batches,
/// handed on when a batch is full or when the consumer has nothing more at
/// once (so `--follow` and a slow broker still see each record promptly).
struct Sink {
    tx: mpsc::Sender<Result<Vec<Read>>>,
    batch: Vec<Read>,
    bytes: usize,
}

impl Sink {
    fn send(&mut self, read: Read) -> Result<(), Stop> {
        self.bytes += read.2.body.len();
        self.batch.push(read);
        if self.batch.len() >= BATCH || self.bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if !self.batch.is_empty() {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            self.bytes = 0;
            self.tx.blocking_send(Ok(batch)).map_err(|_| Stop::Closed)?;
        }
        Ok(())
    }

    /// Hands on what is gathered, then the error that ended the read.
    fn end_with(mut self, e: anyhow::Error) {
        if self.flush().is_ok() {
            let _ = self.tx.blocking_send(Err(e));
        }
    }

    /// The consumer's next event: what it holds already, else (with the
    /// batch handed on first) what comes within [`WAIT`].
    fn poll<'c>(
        &mut self,
        consumer: &'c Reader,
    ) -> Result<Option<KafkaResult<BorrowedMessage<'c>>>, Stop> {
        if let Some(event) = consumer.poll(Duration::ZERO) {
            return Ok(Some(event));
        }
        self.flush()?;
        Ok(consumer.poll(WAIT))
    }
}

/// The async side's end: one record at a time, out of the batches.
pub struct Records {
    rx: mpsc::Receiver<Result<Vec<Read>>>,
    batch: VecDeque<Read>,
}

impl Records {
    /// The next record, an error that ended the read, or None at the end.
    pub async fn recv(&mut self) -> Option<Result<Read>> {
        loop {
            if let Some(read) = self.batch.pop_front() {
                return Some(Ok(read));
            }
            match self.rx.recv().await? {
                Ok(batch) => self.batch = batch.into(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

enum Stop {
    /// The receiver went away: nobody wants more.
    Closed,
    Kafka(String, KafkaError),
    Stalled(String),
    /// The broker's answer was over `receive.message.max.bytes`; what was
    /// left of each partition asked for: (partition, next offset, end).
    TooLarge(Vec<(i32, i64, i64)>),
}

/// librdkafka refused an answer over `receive.message.max.bytes` (it
/// reports "Invalid response size" as a bad message, before reading it).
fn over_limit(e: &KafkaError, quiet: &Quiet) -> bool {
    e.rdkafka_error_code() == Some(RDKafkaErrorCode::BadMessage)
        && quiet
            .last()
            .is_some_and(|(_, why)| why.contains(RECEIVE_REFUSED))
}

impl Stop {
    /// The same stop, naming the partition read when it is a Kafka error.
    fn at(self, topic: &str, p: i32) -> Stop {
        match self {
            Stop::Kafka(_, e) => Stop::Kafka(format!("reading {topic}/{p}"), e),
            other => other,
        }
    }
}

/// The error when even one partition's answer is over the limit.
fn too_large(topic: &str, left: &[(i32, i64, i64)], quiet: &Quiet) -> anyhow::Error {
    let p = left.first().map_or(0, |r| r.0);
    let said = quiet.last().map(|(_, why)| why).unwrap_or_default();
    crate::exit::broker_msg(format!(
        "{NAME}: reading {topic}/{p}: the broker's answer for this one partition is over dlq's \
         receive limit ({said}); this broker ignores the fetch sizes: set a higher \
         \"receive.message.max.bytes\" in the profile's kafka table"
    ))
}

/// Reads the ranges a window of partitions at a time, narrowing the window
/// when an answer is over the receive limit.
fn read_windows(
    consumer: &Reader,
    plan: &Plan,
    ranges: &[(i32, i64, i64)],
    quiet: &Quiet,
    tx: &mut Sink,
) -> Result<(), Stop> {
    if ranges.len() < 2 {
        return read_ranges(consumer, plan, ranges, quiet, tx);
    }
    let mut todo: VecDeque<(i32, i64, i64)> = ranges.iter().copied().collect();
    let mut width = TOGETHER;
    while !todo.is_empty() {
        let set: Vec<_> = todo.drain(..width.min(todo.len())).collect();
        match read_together(consumer, plan, &set, quiet, tx) {
            Err(Stop::TooLarge(left)) if set.len() > 1 => {
                width = (set.len() / 2).max(1);
                left.into_iter().rev().for_each(|r| todo.push_front(r));
                // Drops the assignment and the errors queued for it, so that
                // the refusal of the wider window is not taken for one of the narrower.
                let _ = consumer.unassign();
                while consumer.poll(Duration::from_millis(50)).is_some() {}
                quiet.clear();
            }
            other => other?,
        }
    }
    Ok(())
}

/// Assigns each partition from its offset.
fn assign(
    consumer: &Reader,
    topic: &str,
    from: impl IntoIterator<Item = (i32, i64)>,
) -> Result<(), Stop> {
    let mut tpl = TopicPartitionList::new();
    for (p, at) in from {
        tpl.add_partition_offset(topic, p, Offset::Offset(at))
            .map_err(|e| Stop::Kafka(format!("reading {topic}/{p}"), e))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| Stop::Kafka(format!("reading {topic}"), e))
}

/// Reads each partition's range in turn.
fn read_ranges(
    consumer: &Reader,
    plan: &Plan,
    ranges: &[(i32, i64, i64)],
    quiet: &Quiet,
    tx: &mut Sink,
) -> Result<(), Stop> {
    for &range in ranges {
        read_together(consumer, plan, &[range], quiet, tx)
            .map_err(|s| s.at(&plan.topic, range.0))?;
    }
    Ok(())
}

/// Reads a set of partitions' ranges at once; in a bulk read a partition is
/// paused when its range is done, so the fetches bring only what is still wanted.
fn read_together(
    consumer: &Reader,
    plan: &Plan,
    set: &[(i32, i64, i64)],
    quiet: &Quiet,
    tx: &mut Sink,
) -> Result<(), Stop> {
    let topic = &plan.topic;
    assign(consumer, topic, set.iter().map(|&(p, start, _)| (p, start)))?;
    // Per partition: the next offset wanted and the end (exclusive).
    let mut left: HashMap<i32, (i64, i64)> = set
        .iter()
        .map(|&(p, start, end)| (p, (start, end)))
        .collect();
    let done = |p: i32, left: &mut HashMap<i32, (i64, i64)>| {
        left.remove(&p);
        // A paused partition that still delivers is ignored below anyway; only
        // a bulk read pauses (`--follow` assigns the partitions again).
        if plan.together {
            let mut one = TopicPartitionList::new();
            one.add_partition(topic, p);
            let _ = consumer.pause(&one);
        }
    };
    let mut last_progress = Instant::now();
    while !left.is_empty() {
        match tx.poll(consumer)? {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                let (p, o) = (m.partition(), m.offset());
                let Some(&(next, end)) = left.get(&p) else {
                    continue;
                };
                if o < next {
                    continue;
                }
                if o + 1 >= end {
                    done(p, &mut left);
                } else {
                    left.insert(p, (o + 1, end));
                }
                if o >= end || plan.skip.get(&p).is_some_and(|s| s.contains(&o)) {
                    continue;
                }
                tx.send((p, o, envelope::to_message(&m)))?;
            }
            Some(Err(KafkaError::PartitionEOF(p))) if left.contains_key(&p) => done(p, &mut left),
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) if over_limit(&e, quiet) => {
                let mut rest: Vec<(i32, i64, i64)> = left
                    .iter()
                    .map(|(&p, &(next, end))| (p, next, end))
                    .collect();
                rest.sort_unstable();
                return Err(Stop::TooLarge(rest));
            }
            Some(Err(e)) => return Err(Stop::Kafka(format!("reading {topic}"), e)),
            None => {
                if tx.tx.is_closed() {
                    return Err(Stop::Closed);
                }
                // Control records (transactions) take offsets but are never delivered.
                let finished: Vec<i32> = left
                    .iter()
                    .filter(|(&p, &(_, end))| {
                        position(consumer, topic, p).is_some_and(|pos| pos >= end)
                    })
                    .map(|(&p, _)| p)
                    .collect();
                for p in finished {
                    done(p, &mut left);
                }
                let stalled = left
                    .iter()
                    .next()
                    .filter(|_| last_progress.elapsed() > plan.stall);
                if let Some((p, (next, end))) = stalled {
                    return Err(Stop::Stalled(format!(
                        "{NAME}: reading {topic}/{p}: no record came for {} at offset {next} (end {end})",
                        humantime::format_duration(plan.stall)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `--follow`: every partition from `from` on, each record as it comes,
/// until the receiver goes away.
fn read_on(consumer: &Reader, topic: &str, from: &[(i32, i64)], tx: &mut Sink) -> Result<(), Stop> {
    assign(consumer, topic, from.iter().copied())?;
    loop {
        match tx.poll(consumer)? {
            Some(Ok(m)) => tx.send((m.partition(), m.offset(), envelope::to_message(&m)))?,
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => return Err(Stop::Kafka(format!("reading {topic}"), e)),
            None if tx.tx.is_closed() => return Err(Stop::Closed),
            None => {}
        }
    }
}

/// Per partition, the first offset whose timestamp is at or after `since`
/// (the end offset when there is none); empty when the broker cannot say.
fn offsets_at(
    kafka: &Kafka,
    consumer: &Reader,
    topic: &str,
    parts: &[Part],
    since: std::time::SystemTime,
) -> HashMap<i32, i64> {
    let ms = since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut tpl = TopicPartitionList::new();
    let found = parts
        .iter()
        .try_for_each(|part| tpl.add_partition_offset(topic, part.partition, Offset::Offset(ms)))
        .and_then(|()| consumer.offsets_for_times(tpl, kafka.timeout));
    let Ok(found) = found else {
        return HashMap::new();
    };
    let high = |p: i32| parts.iter().find(|x| x.partition == p).map(|x| x.high);
    let at = |e: &TopicPartitionListElem| match (e.error(), e.offset(), high(e.partition())) {
        (Ok(()), Offset::Offset(o), _) if o >= 0 => Some(o),
        (Ok(()), Offset::End, Some(h)) => Some(h),
        _ => None,
    };
    let elements = found.elements();
    elements
        .iter()
        .filter_map(|e| Some((e.partition(), at(e)?)))
        .collect()
}

fn position(consumer: &Reader, topic: &str, p: i32) -> Option<i64> {
    match consumer.position().ok()?.find_partition(topic, p)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// Fetches exactly the offsets asked for.
fn read_exact(consumer: &Reader, plan: &Plan, tx: &mut Sink) -> Result<(), Stop> {
    let topic = &plan.topic;
    for (&p, offsets) in plan.exact.iter().flatten() {
        for &want in offsets {
            assign(consumer, topic, [(p, want)]).map_err(|s| s.at(topic, p))?;
            let deadline = Instant::now() + plan.stall;
            loop {
                match tx.poll(consumer)? {
                    Some(Ok(m)) if m.partition() == p && m.offset() == want => {
                        tx.send((p, want, envelope::to_message(&m)))?;
                        break;
                    }
                    // Compacted away or a control record: it is not there.
                    Some(Ok(m)) if m.partition() == p && m.offset() > want => break,
                    Some(Ok(_) | Err(KafkaError::PartitionEOF(_))) | None => {
                        if Instant::now() > deadline {
                            break;
                        }
                    }
                    Some(Err(e)) => return Err(Stop::Kafka(format!("reading {topic}/{p}"), e)),
                }
            }
        }
    }
    Ok(())
}

/// `list`, `peek`, `export`: hands each message to `visit`.
pub async fn browse(
    kafka: &Kafka,
    topic: &str,
    opts: &ReadOptions,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let group = cursor_group(topic, opts);
    let Opened {
        consumer,
        parts,
        cursors,
        leaders,
    } = blocking(|| kafka.open(topic, &group))?;
    let mut plan = Plan::new(topic, &parts, &cursors, opts, kafka.timeout);
    plan.leaders = leaders;
    if let (Some(since), None) = (opts.since, &plan.exact) {
        let starts = blocking(|| offsets_at(kafka, &consumer, topic, &parts, since));
        plan.start_at(&starts);
    }
    if opts.follow && plan.exact.is_none() {
        plan.follow_from = Some(parts.iter().map(|p| (p.partition, p.high)).collect());
    }
    // The one that looked up the offsets, when no one else holds it.
    drop(consumer);
    let reader = blocking(|| kafka.reader(&group))?;
    let mut rx = spawn(kafka, reader, plan);
    while let Some(item) = rx.recv().await {
        let (_, _, m) = item?;
        if visit(m)? == Flow::Stop {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_since_window_starts_each_partition_at_its_offset_for_that_time() {
        let parts = [(0, 0, 100), (1, 10, 50), (2, 0, 30)].map(|(partition, low, high)| Part {
            partition,
            low,
            high,
        });
        let opts = ReadOptions {
            all: true,
            ..Default::default()
        };
        let mut plan = Plan::new("t", &parts, &HashMap::new(), &opts, Duration::from_secs(1));
        assert_eq!(plan.count(), 100 + 40 + 30);
        // Partition 1's time is before its start; partition 2 has nothing then.
        let starts = HashMap::from([(0, 90), (1, 5), (2, 30)]);
        plan.start_at(&starts);
        assert_eq!(plan.ranges, [(0, 90, 100), (1, 10, 50)]);
        assert_eq!(plan.count(), 10 + 40);
    }

    #[test]
    fn an_id_behind_the_cursor_names_no_message_unless_all() {
        let parts = [Part {
            partition: 0,
            low: 0,
            high: 10,
        }];
        let cursors = HashMap::from([(
            0,
            super::super::cursor::Cursor::from_committed(Some(3), "dlq1:5"),
        )]);
        let ids = ["0:1", "0:4", "0:5", "0:6", "0:12"]
            .map(String::from)
            .to_vec();
        let exact = |all| {
            let opts = ReadOptions {
                all,
                ids: ids.clone(),
                ..Default::default()
            };
            let plan = Plan::new("t", &parts, &cursors, &opts, Duration::from_secs(1));
            plan.exact.unwrap()[&0].iter().copied().collect::<Vec<_>>()
        };
        assert_eq!(exact(false), [4, 6]);
        assert_eq!(exact(true), [1, 4, 5, 6]);
    }
}
