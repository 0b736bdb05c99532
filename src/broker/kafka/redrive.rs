//! `retry`, `retry-all` and `purge`: act on messages read from the cursor,
//! then move the cursor past what was handled.
//!
//! Re-drive keeps a window of unconfirmed deliveries in flight (librdkafka
//! batches them) and marks a DLQ offset handled only when its copy's delivery
//! is confirmed; the cursor (offset plus out-of-order record, see `cursor`)
//! is committed every second and at the end. A SIGKILL can therefore only
//! lose the marks of the last second: those messages are sent again by the
//! next run (duplicates), never lost. Offsets the read steps over between
//! two records are no messages (transaction markers, aborted or compacted
//! records, offsets handled before): they are marked with the record after
//! them, and after a read to the end, the ones after the last record, so the
//! cursor does not stop at each marker of a DLQ written in transactions.
//! Purge marks the selected messages
//! handled once the backup holds them; a full purge without backup moves the
//! cursor to the end offsets without reading, and `--delete-records` then
//! truncates the log up to the cursor.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::browse::{self, Plan};
use super::cursor::Budget;
use super::{
    blocking, cursor_group, envelope, Cursors, Kafka, Leaders, Linger, Part, Reader, CAPABILITIES,
    NAME,
};
use crate::broker::{Message, OutgoingMessage, PurgeOptions, RedriveOptions};
use crate::bulk::Ledger;
use crate::exit::broker_msg;
use crate::report::Stopped;
use crate::select::Decision;

/// Unconfirmed deliveries in flight at most...
const WINDOW: usize = 20_000;
/// ...and the bytes of their bodies, which librdkafka holds until confirmed.
const WINDOW_BYTES: usize = 6 << 20;
/// How often the cursor is committed during a run.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// A copy's delivery report: which DLQ message, where it went, how it went.
struct Delivered {
    partition: i32,
    /// The first offset of the gap before `offset` (see [`Gaps`]).
    from: i64,
    offset: i64,
    id: String,
    target: String,
    /// The body's size, held by librdkafka until now.
    bytes: usize,
    result: Result<(), String>,
}

type Delivery = BoxFuture<'static, Delivered>;

/// The cursors of one run and whether they changed since the last commit.
struct Marks<'a> {
    kafka: &'a Kafka,
    topic: String,
    committer: Arc<Reader>,
    cursors: Cursors,
    lows: HashMap<i32, i64>,
    budgets: HashMap<i32, Budget>,
    dirty: bool,
    last_commit: Instant,
}

impl Marks<'_> {
    /// Plans to mark `o` of partition `p`; false when the cursor's record
    /// could outgrow Kafka's metadata limit.
    fn budget(&mut self, p: i32, from: i64, o: i64) -> bool {
        let low = self.lows.get(&p).copied().unwrap_or(0);
        let cursor = self.cursors.entry(p).or_default();
        self.budgets
            .entry(p)
            .or_insert_with(|| Budget::new(cursor, low))
            .take(cursor, from, o)
    }

    /// Marks `from..=o` handled: a record and the gap before it.
    fn mark(&mut self, p: i32, from: i64, o: i64) {
        let low = self.lows.get(&p).copied().unwrap_or(0);
        self.cursors.entry(p).or_default().mark_range(from, o, low);
        self.dirty = true;
    }

    /// After a read to the end: the offsets after each partition's last record.
    fn mark_tails(&mut self, gaps: &Gaps) {
        for (&p, &(next, end)) in &gaps.next {
            if next < end {
                self.mark(p, next, end - 1);
            }
        }
    }

    fn commit_now(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let kafka = self.kafka;
        blocking(|| kafka.commit(&self.committer, &self.topic, &self.cursors))?;
        self.dirty = false;
        self.last_commit = Instant::now();
        Ok(())
    }

    fn commit_due(&mut self) -> Result<()> {
        if self.last_commit.elapsed() >= COMMIT_EVERY {
            self.commit_now()?;
        }
        Ok(())
    }

    /// The closing commit; a failure stops the run rather than going unsaid.
    /// Then the cursor is read back: a broker that drops commit metadata
    /// loses the record of out-of-order handled offsets, and the user must know.
    fn finish(&mut self, run: &Ledger) {
        if let Err(e) = self.commit_now() {
            run.stop_broker(&e.context(
                "messages handled since the last commit may be handled again by a later run",
            ));
            return;
        }
        let recorded: usize = self.cursors.values().map(|c| c.handled.len()).sum();
        if recorded == 0 {
            return;
        }
        let parts: Vec<i32> = self.cursors.keys().copied().collect();
        let Ok(back) = blocking(|| self.kafka.cursors(&self.committer, &self.topic, &parts)) else {
            return;
        };
        let kept: usize = back.values().map(|c| c.handled.len()).sum();
        if kept < recorded {
            run.note(format!(
                "the broker did not keep dlq's record of {recorded} message(s) handled ahead of the cursor \
                 (offset commit metadata): a later retry-all or list may show them again"
            ));
        }
    }
}

/// Per partition, the offset after the last record read and the end of the
/// read: what the reader steps over between records is no message (it hands
/// on every message of its ranges but those handled before).
struct Gaps {
    next: HashMap<i32, (i64, i64)>,
}

impl Gaps {
    fn new(plan: &Plan) -> Gaps {
        let next = plan
            .ranges
            .iter()
            .map(|&(p, start, end)| (p, (start, end)))
            .collect();
        Gaps { next }
    }

    /// The first offset of the gap before record `o` of partition `p`.
    fn before(&mut self, p: i32, o: i64) -> i64 {
        match self.next.get_mut(&p) {
            Some((next, _)) => std::mem::replace(next, o + 1).min(o),
            None => o,
        }
    }
}

/// The reader, the marks, each partition's offsets and their leaders for a
/// run on `topic` (it blocks: call it off the async loop).
fn setup<'a>(
    kafka: &'a Kafka,
    topic: &str,
    group: &str,
) -> Result<(Reader, Marks<'a>, Vec<Part>, Leaders)> {
    let opened = kafka.open(topic, group)?;
    let reader = kafka.reader(group)?;
    let marks = Marks {
        kafka,
        topic: topic.to_owned(),
        committer: opened.consumer,
        lows: opened.parts.iter().map(|p| (p.partition, p.low)).collect(),
        cursors: opened.cursors,
        budgets: HashMap::new(),
        dirty: false,
        last_commit: Instant::now(),
    };
    Ok((reader, marks, opened.parts, opened.leaders))
}

pub async fn redrive(
    kafka: &Kafka,
    topic: &str,
    opts: &RedriveOptions,
    run: &Ledger,
) -> Result<()> {
    // First, so that it connects while the cursor is read; `ready` then gets
    // its producer ID at once.
    let producer = blocking(|| kafka.producer(Linger::Long))?;
    let group = cursor_group(topic, &opts.read);
    // The producer gets ready while the cursor is read: each waits round trips.
    let (reader, mut marks, parts, leaders) = blocking(|| {
        std::thread::scope(|s| {
            s.spawn(|| kafka.ready(&producer, topic));
            setup(kafka, topic, &group)
        })
    })?;
    let lookup = marks.committer.clone();
    // Which topics exist, asked once per name.
    let mut topics: HashMap<String, bool> = HashMap::new();
    // `--to` must exist before anything moves, as on every broker.
    if let Some(to) = &opts.to {
        blocking(|| kafka.partitions(&lookup, to))?;
        topics.insert(to.clone(), true);
    }
    let mut plan = Plan::new(topic, &parts, &marks.cursors, &opts.read, kafka.timeout);
    plan.together = true;
    plan.leaders = leaders;
    let mut gaps = Gaps::new(&plan);
    let mut rx = browse::spawn(kafka, reader, plan);
    let mut read_to_end = false;
    let mut inflight: FuturesUnordered<Delivery> = FuturesUnordered::new();
    // Bytes of bodies not yet confirmed (shared with `send`'s wait for room).
    let held = AtomicUsize::new(0);
    let settle = |d: Delivered, marks: &mut Marks| {
        held.fetch_sub(d.bytes, Ordering::Relaxed);
        match d.result {
            Ok(()) => {
                marks.mark(d.partition, d.from, d.offset);
                run.done(&d.id, Some(&d.target));
            }
            Err(e) => run.failed(d.id, format!("{NAME}: producing to {}: {e}", d.target)),
        }
    };

    loop {
        if let Some(e) = kafka.quiet.lost() {
            run.stop_broker(&e);
        }
        if run.interrupted() || run.stopped() {
            break;
        }
        let item = tokio::select! {
            biased;
            Some(done) = inflight.next(), if !inflight.is_empty() => {
                settle(done, &mut marks);
                if let Err(e) = marks.commit_due() {
                    run.stop_broker(&e);
                    break;
                }
                continue;
            }
            item = rx.recv() => item,
        };
        let Some(item) = item else {
            read_to_end = true;
            break;
        };
        // A failed read stops the run.
        let Ok((p, o, m)) = item.map_err(|e| run.stop_broker(&e)) else {
            break;
        };
        let from = gaps.before(p, o);
        if run.decide(&m) == Decision::Take {
            let (id, copy) = opts.copy_from(m, &CAPABILITIES);
            let (target, out) = match copy {
                Ok((to, out)) => (to.name, out),
                Err(why) => {
                    run.failed(id, why);
                    continue;
                }
            };
            let known = match topics.get(&target) {
                Some(&known) => known,
                None => {
                    let known = blocking(|| kafka.partitions(&lookup, &target)).is_ok();
                    topics.insert(target.clone(), known);
                    known
                }
            };
            if !known {
                run.failed(id, format!("{NAME}: target topic {target} not found"));
                continue;
            }
            if !marks.budget(p, from, o) {
                run.stop_broker(&too_scattered(p));
                break;
            }
            run.pace().await;
            while inflight.len() >= WINDOW || held.load(Ordering::Relaxed) >= WINDOW_BYTES {
                if let Some(done) = inflight.next().await {
                    settle(done, &mut marks);
                }
            }
            match send(&producer, &target, &out, &mut inflight, &mut marks, &settle).await {
                Ok(fut) => {
                    let bytes = out.body.len();
                    held.fetch_add(bytes, Ordering::Relaxed);
                    inflight.push(Box::pin(async move {
                        let result = match fut.await {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err((e, _))) => Err(e.to_string()),
                            Err(_) => Err("the producer went away before confirming".to_owned()),
                        };
                        Delivered {
                            partition: p,
                            from,
                            offset: o,
                            id,
                            target,
                            bytes,
                            result,
                        }
                    }));
                }
                Err(e) => run.failed(id, format!("{NAME}: producing to {target}: {e}")),
            }
        }
        if run.selection().exhausted() {
            break;
        }
    }
    drop(rx);
    // With the broker gone, a delivery would wait for librdkafka's message
    // timeout: wait a bounded time, and leave the rest unmarked (at worst a
    // duplicate on the next run, never a loss).
    let bound = if run.stopped() {
        kafka.timeout
    } else {
        Duration::from_secs(365 * 86_400)
    };
    let drain = async {
        while let Some(done) = inflight.next().await {
            settle(done, &mut marks);
        }
    };
    if tokio::time::timeout(bound, drain).await.is_err() {
        run.note(format!(
            "{} copies were not confirmed in time: their originals stay on {topic}",
            inflight.len()
        ));
    }
    if read_to_end && !run.stopped() && !run.interrupted() {
        marks.mark_tails(&gaps);
    }
    marks.finish(run);
    Ok(())
}

fn too_scattered(p: i32) -> anyhow::Error {
    broker_msg(format!(
        "{NAME}: too many messages handled out of order to record in dlq's cursor (Kafka's \
         offset metadata limit); handle or purge the earlier messages of partition {p}, then run again"
    ))
}

/// Queues one copy; when librdkafka's queue is full, waits for deliveries.
async fn send(
    producer: &FutureProducer<super::Quiet>,
    target: &str,
    out: &OutgoingMessage,
    inflight: &mut FuturesUnordered<Delivery>,
    marks: &mut Marks<'_>,
    settle: &impl Fn(Delivered, &mut Marks),
) -> Result<DeliveryFuture, String> {
    let headers = envelope::headers_to_record(&out.headers)?;
    let key = envelope::key_bytes(out, None);
    let mut record = FutureRecord::to(target).payload(&out.body).headers(headers);
    record.key = key.as_ref();
    if envelope::is_tombstone(out) {
        record.payload = None;
    }
    loop {
        // A refused record comes back whole: it is sent again as it is.
        match producer.send_result(record) {
            Ok(fut) => return Ok(fut),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), again)) => {
                record = again;
                match inflight.next().await {
                    Some(done) => settle(done, marks),
                    None => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
            Err((e, _)) => return Err(e.to_string()),
        }
    }
}

/// A whole-topic purge: dlq's cursor moves to the end of every partition.
pub async fn purge_all(
    kafka: &Kafka,
    topic: &str,
    opts: &PurgeOptions,
    run: &Ledger,
) -> Result<()> {
    let group = cursor_group(topic, &opts.read);
    let (_, mut marks, parts, _) = blocking(|| setup(kafka, topic, &group))?;
    let plan = Plan::new(topic, &parts, &marks.cursors, &opts.read, kafka.timeout);
    for part in &parts {
        let cursor = marks.cursors.entry(part.partition).or_default();
        cursor.advance_to(part.high);
    }
    marks.dirty = true;
    marks.finish(run);
    if !run.stopped() {
        run.done_unnamed(plan.count());
        if opts.delete_records {
            delete_records(&marks, &parts, run).await;
        }
    }
    Ok(())
}

pub async fn purge(kafka: &Kafka, topic: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
    let group = cursor_group(topic, &opts.read);
    let (reader, mut marks, parts, leaders) = blocking(|| setup(kafka, topic, &group))?;
    let mut plan = Plan::new(topic, &parts, &marks.cursors, &opts.read, kafka.timeout);
    plan.leaders = leaders;
    plan.together = true;
    let mut gaps = Gaps::new(&plan);
    let mut rx = browse::spawn(kafka, reader, plan);
    let mut read_to_end = false;
    let mut batch: Vec<(i32, i64, i64, Message)> = Vec::new();
    loop {
        if let Some(e) = kafka.quiet.lost() {
            run.stop_broker(&e);
        }
        let stop = run.interrupted() || run.stopped();
        let item = if stop { None } else { rx.recv().await };
        // A failed read stops the run.
        let ended = item.is_none() && !stop;
        let done_reading = match item.and_then(|r| r.map_err(|e| run.stop_broker(&e)).ok()) {
            None => {
                read_to_end = ended;
                true
            }
            Some((p, o, m)) => {
                let from = gaps.before(p, o);
                if run.decide(&m) == Decision::Take {
                    if marks.budget(p, from, o) {
                        batch.push((p, from, o, m));
                    } else {
                        run.stop_broker(&too_scattered(p));
                    }
                }
                run.selection().exhausted() || run.stopped()
            }
        };
        if batch.len() >= 500 || (done_reading && !batch.is_empty()) {
            if !run.backup(batch.iter().map(|(_, _, _, m)| m)) {
                break;
            }
            for (p, from, o, m) in batch.drain(..) {
                marks.mark(p, from, o);
                run.done(&m.id, None);
            }
            if let Err(e) = marks.commit_due() {
                run.stop_broker(&e);
                break;
            }
        }
        if done_reading {
            break;
        }
    }
    drop(rx);
    if read_to_end && !run.stopped() && !run.interrupted() {
        marks.mark_tails(&gaps);
    }
    marks.finish(run);
    if opts.delete_records && !run.stopped() {
        delete_records(&marks, &parts, run).await;
    }
    Ok(())
}

fn refusal(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::BrokerTransportFailure) => {
            "the broker dropped the connection: it may not implement DeleteRecords".to_owned()
        }
        Some(code) => code.to_string(),
        None => e.to_string(),
    }
}

/// Truncates each partition up to the cursor with DeleteRecords; a broker
/// that refuses leaves the cursor moved and says so in the report.
async fn delete_records(marks: &Marks<'_>, parts: &[Part], run: &Ledger) {
    let (kafka, topic) = (marks.kafka, &marks.topic);
    let mut tpl = TopicPartitionList::new();
    for part in parts {
        let cursor = marks.cursors.get(&part.partition).and_then(|c| c.committed);
        if let Some(c) = cursor.filter(|&c| c > part.low) {
            let _ =
                tpl.add_partition_offset(topic, part.partition, Offset::Offset(c.min(part.high)));
        }
    }
    if tpl.count() == 0 {
        run.note("nothing to delete: the log starts at dlq's cursor already");
        return;
    }
    let made = kafka.base.create_with_context(kafka.quiet.clone());
    let admin: AdminClient<super::Quiet> = match made {
        Ok(a) => a,
        Err(e) => {
            run.stop_broker(&crate::exit::broker(NAME, "DeleteRecords", e));
            return;
        }
    };
    let options = AdminOptions::new()
        .request_timeout(Some(kafka.timeout))
        .operation_timeout(Some(kafka.timeout));
    let outcome = tokio::time::timeout(
        kafka.timeout + Duration::from_secs(1),
        admin.delete_records(&tpl, &options),
    )
    .await;
    let failure = match outcome {
        Err(_) => Some("no answer from the broker".to_owned()),
        Ok(Err(e)) => Some(refusal(&e)),
        Ok(Ok(result)) => {
            let errs: HashSet<String> = result
                .elements()
                .iter()
                .filter_map(|el| el.error().err().map(|e| refusal(&e)))
                .collect();
            (!errs.is_empty()).then(|| errs.into_iter().collect::<Vec<_>>().join("; "))
        }
    };
    match failure {
        None => run.note(format!(
            "deleted the records before dlq's cursor from {topic}"
        )),
        Some(why) => run.stop(Stopped::refused(&broker_msg(format!(
            "{NAME}: the broker did not delete records (DeleteRecords: {why}); dlq's cursor moved, the log was not truncated"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_run_from_the_last_record_to_the_next_then_to_the_end() {
        let plan = Plan {
            ranges: vec![(0, 5, 20), (1, 0, 3)],
            ..Default::default()
        };
        let mut gaps = Gaps::new(&plan);
        assert_eq!(
            gaps.before(0, 5),
            5,
            "the first record at the start: no gap"
        );
        assert_eq!(gaps.before(0, 7), 6, "a marker at 6");
        assert_eq!(gaps.before(0, 8), 8);
        assert_eq!(gaps.before(9, 4), 4, "a partition not read: no gap");
        assert_eq!(gaps.next[&0], (9, 20), "9..20 after the last record");
        assert_eq!(gaps.next[&1], (0, 3), "nothing read: all of it");
    }
}
