//! Taking messages off a queue in order without acknowledging them.
//!
//! A [`Reader`] hands out deliveries one at a time and never acks: the caller
//! acks what it removes, and [`Reader::finish`] gives every other message
//! back to its place. It stops after the messages present at the start, so a
//! message dead-lettered again meanwhile is not read twice.
//!
//! Messages come from a consumer, never from `basic.get`: RabbitMQ (3.10,
//! classic queues) takes time quadratic in their number to requeue messages
//! taken with `basic.get` (10,000 in 10 s), and linear time for consumer
//! deliveries (50,000 in about 2 s), in order on classic and quorum queues
//! alike. Memory stays flat however deep the queue: lapin buffers consumer
//! deliveries without bound, so the consumer's prefetch is a window fitted to
//! the message size (about 16 MiB of messages; see [`Reader::new`]). A
//! message the caller keeps (see [`Reader::hold`]) still holds a prefetch
//! slot, so after an eighth of a window of those the consumer is cancelled
//! and a fresh one starts after it; the kept messages stay unacked on the
//! channel. The cancel and the next consumer's `basic.qos`/`basic.consume`
//! go out together on a task of their own while the old consumer's buffered
//! deliveries are read: the channel runs them in order, so the new
//! consumer's deliveries all follow the old one's, and far from the broker
//! the switch costs no round trips of waiting.
//!
//! A quorum queue (3.10) sends on the deliveries that reach the channel
//! after it cancelled their consumer, not to the client, but back to the
//! queue, where they come again only at some later point: a filtered run
//! saw them out of order, or not at all, and gave them back out of place.
//! So on a quorum queue nothing is in flight when a consumer is cancelled:
//! acks of its messages wait until then (see [`Reader::acks_allowed`]), so
//! it is sent its prefetch once and no more, and it is replaced once every
//! message of that prefetch arrived, held or not.
//!
//! Giving back is one `basic.nack` with `multiple` and `requeue` up to the
//! highest kept tag: every lower tag still unacked is kept too (the caller
//! acked the rest), so the broker puts them all back in their places at
//! once. The queue does that after the channel took the nack (50,000 take
//! about a second), so the read ends once the queue counts them ready
//! again: a command run right after a read finds every message back, not a
//! queue short by those in transit.

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use tokio::sync::watch;

use lapin::message::Delivery;

use super::declare;

/// Bytes of messages a window may hold: it narrows for big messages.
const WINDOW_BYTES: u64 = 16 * 1024 * 1024;

/// The narrowest window, and the first one while message sizes are unknown.
const MIN_WINDOW: u16 = 32;

/// A window that keeps about [`WINDOW_BYTES`] of messages of `size` bytes
/// in flight, at least [`MIN_WINDOW`].
fn window_for(size: u64) -> u16 {
    (WINDOW_BYTES / size.max(1)).clamp(u64::from(MIN_WINDOW), u64::from(u16::MAX)) as u16
}

/// A consumer is restarted after holding this fraction of the window
/// (`window / HOLDS_PER_CONSUMER` messages), so held messages never fill
/// its prefetch.
pub const HOLDS_PER_CONSUMER: usize = 8;

/// Fresh consumers tried when nothing arrives, none is ready, and the read
/// has not had all the messages counted at its start.
const RESUBSCRIBES: u32 = 2;

pub struct Reader {
    channel: Channel,
    queue: String,
    window: u16,
    /// The widest window asked for.
    cap: u16,
    /// Whether the window has been fitted to a delivery's size yet.
    sized: bool,
    /// The largest body read so far.
    largest: u64,
    /// A new prefetch to set before the next consumer starts.
    qos_due: bool,
    /// Messages present at the start; the read ends after this many.
    limit: u64,
    received: u64,
    consumer: Option<Consumer>,
    consumer_tag: String,
    /// The next consumer, being started after the cancel of this one.
    next: Option<tokio::task::JoinHandle<lapin::Result<(Consumer, String, u16)>>>,
    consumers_started: u32,
    held_in_consumer: u32,
    cancelling: bool,
    /// Delivery tags kept (not to be acked), as ranges.
    held: Vec<(u64, u64)>,
    /// Quorum queue: give back one consumer's messages at a time.
    per_consumer: bool,
    /// The first delivery tag of each consumer.
    starts: Vec<u64>,
    /// The current consumer has delivered nothing yet.
    fresh: bool,
    /// Quorum queue: delivery tags below this may be acked now (see
    /// [`Reader::acks_allowed`]).
    ackable: Option<watch::Sender<u64>>,
    /// Quorum queue: the current consumer's prefetch, and how many of it arrived.
    prefetch: u16,
    arrived: u64,
    /// The highest delivery tag handed out.
    top: u64,
    /// Consumers cancelled and drained for good.
    stopped: bool,
    /// Consumers replaced because nothing came while messages were missing.
    resubscribes: u32,
    /// The read ended because nothing came and none was ready.
    dried_up: bool,
}

impl Reader {
    /// A reader of the first `limit` messages of `queue`, at most `cap` in
    /// flight. The window fits the message size: to `mean` bytes when the
    /// queue's mean is known, else narrow until the first delivery shows a
    /// size; then narrower whenever a bigger message comes, so the messages
    /// in flight stay near [`WINDOW_BYTES`] however big they are.
    /// `per_consumer` gives back one consumer's messages at a time, each
    /// batch counted ready again before the next: a quorum queue returns
    /// one nack that spans several consumers out of order.
    pub fn new(
        channel: Channel,
        queue: &str,
        cap: u16,
        limit: u64,
        mean: Option<u64>,
        per_consumer: bool,
    ) -> Self {
        let cap = cap.max(2);
        Reader {
            channel,
            queue: queue.to_owned(),
            window: mean.map_or(MIN_WINDOW, window_for).min(cap),
            cap,
            sized: mean.is_some(),
            largest: 0,
            qos_due: true,
            limit,
            received: 0,
            consumer: None,
            consumer_tag: String::new(),
            next: None,
            consumers_started: 0,
            held_in_consumer: 0,
            cancelling: false,
            held: Vec::new(),
            per_consumer,
            starts: Vec::new(),
            fresh: false,
            ackable: per_consumer.then(|| watch::channel(0).0),
            prefetch: 0,
            arrived: 0,
            top: 0,
            stopped: false,
            resubscribes: 0,
            dried_up: false,
        }
    }

    /// Messages in flight at most now.
    pub fn window(&self) -> u16 {
        self.window
    }

    /// On a quorum queue, the tags below which an ack may go out now: those
    /// of consumers already cancelled, all of them once
    /// [`Reader::release_acks`] or [`Reader::finish`] ran. An ack to a live
    /// consumer would make room for a delivery that can be in flight when it
    /// is cancelled. None: acks go out at once.
    pub fn acks_allowed(&self) -> Option<watch::Receiver<u64>> {
        self.ackable.as_ref().map(watch::Sender::subscribe)
    }

    /// Narrows (or, on the first delivery, sets) the window for a body of
    /// `size` bytes. A consumer keeps the prefetch it started with, so it
    /// is replaced by one with the new prefetch after its deliveries.
    async fn fit(&mut self, size: u64) -> lapin::Result<()> {
        self.largest = self.largest.max(size);
        let want = window_for(self.largest).min(self.cap);
        if want == self.window || (self.sized && want > self.window) {
            self.sized = true;
            return Ok(());
        }
        self.sized = true;
        self.window = want;
        self.qos_due = true;
        // A quorum queue's consumer is sent no more than its prefetch anyway.
        if self.ackable.is_some() {
            return Ok(());
        }
        self.replace_consumer().await
    }

    /// Cancels the consumer, if one runs, and starts the next one after it
    /// (with the new prefetch, when one is due) on a task: once the old
    /// one's buffered deliveries are taken, [`Reader::next`] reads the new
    /// one. Its unacked messages stay where they are.
    async fn replace_consumer(&mut self) -> lapin::Result<()> {
        if self.consumer.is_some() && !self.cancelling {
            self.cancelling = true;
            let channel = self.channel.clone();
            let queue = self.queue.clone();
            let old = self.consumer_tag.clone();
            let qos = std::mem::take(&mut self.qos_due).then_some(self.window);
            let prefetch = qos.unwrap_or(self.prefetch);
            let tag = self.next_tag();
            // Polled in order, so the frames go out in order: cancel first.
            self.next = Some(tokio::spawn(async move {
                let (cancelled, started) = tokio::join!(
                    channel.basic_cancel(&old, BasicCancelOptions::default()),
                    start(&channel, &queue, qos, &tag)
                );
                cancelled?;
                started.map(|c| (c, tag, prefetch))
            }));
        }
        Ok(())
    }

    fn next_tag(&mut self) -> String {
        self.consumers_started += 1;
        format!("dlq-{}-{}", std::process::id(), self.consumers_started)
    }

    /// Takes a consumer started by [`Reader::replace_consumer`], if any.
    async fn take_next(&mut self) -> lapin::Result<Option<(Consumer, String, u16)>> {
        let Some(h) = self.next.take() else {
            return Ok(None);
        };
        // The task only ends by returning; a panic there is a bug.
        let started = h.await.map_err(|e| {
            let e = std::io::Error::other(format!("starting the next consumer: {e}"));
            lapin::Error::IOError(std::sync::Arc::new(e))
        })?;
        started.map(Some)
    }

    /// The next message in queue order, None after the last one present at
    /// the start (or when the queue ran dry).
    pub async fn next(&mut self) -> lapin::Result<Option<Delivery>> {
        if self.received >= self.limit {
            return Ok(None);
        }
        let d = self.next_consumed().await?;
        if let Some(d) = &d {
            self.received += 1;
            self.top = self.top.max(d.delivery_tag);
            self.fit(d.data.len() as u64).await?;
            if self.ackable.is_some() {
                self.arrived += 1;
                if self.arrived >= u64::from(self.prefetch) {
                    self.replace_consumer().await?;
                }
            }
        }
        Ok(d)
    }

    /// When the read ended before every message counted at its start came
    /// (nothing arrived and none was ready): how many it had, and of how many.
    pub fn short(&self) -> Option<(u64, u64)> {
        (self.dried_up && self.received < self.limit).then_some((self.received, self.limit))
    }

    /// Gives back every message handed out and not acked, in queue order.
    /// Call it after the last ack was written; a delivery neither kept nor
    /// acked goes back when the channel closes.
    pub async fn finish(&mut self) -> lapin::Result<()> {
        // Nothing kept: the caller closes the channel, which gives back any
        // delivery beyond the last one read, in place; no cancel to wait for.
        if self.held.is_empty() && self.next.is_none() && !self.per_consumer {
            return Ok(());
        }
        self.stop().await?;
        self.give_back().await
    }

    /// Lets the last acks go out: on a quorum queue they wait for the
    /// consumers' cancel, so this stops the read. Call it before waiting for
    /// them. Elsewhere it changes nothing.
    pub async fn release_acks(&mut self) -> lapin::Result<()> {
        if self.ackable.is_none() {
            return Ok(());
        }
        self.stop().await
    }

    /// Cancels the consumers and keeps what they still had buffered; then
    /// every ack may go out.
    async fn stop(&mut self) -> lapin::Result<()> {
        if std::mem::replace(&mut self.stopped, true) {
            return Ok(());
        }
        let stopped = self.cancel_all().await;
        if let Some(a) = &self.ackable {
            a.send_replace(u64::MAX);
        }
        stopped
    }

    async fn cancel_all(&mut self) -> lapin::Result<()> {
        if let Some(mut c) = self.consumer.take() {
            if !self.cancelling {
                self.channel
                    .basic_cancel(&self.consumer_tag, BasicCancelOptions::default())
                    .await?;
            }
            // Deliveries still buffered are kept too, for the nack below.
            while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(5), c.next()).await
            {
                self.keep(d.delivery_tag);
            }
        }
        // A consumer started after it: cancelled too, its deliveries kept.
        if let Some((mut c, tag, _)) = self.take_next().await? {
            self.channel
                .basic_cancel(&tag, BasicCancelOptions::default())
                .await?;
            let mut first = true;
            while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(5), c.next()).await
            {
                if std::mem::take(&mut first) {
                    self.starts.push(d.delivery_tag);
                }
                self.keep(d.delivery_tag);
            }
        }
        Ok(())
    }

    /// Gives back what was kept, in queue order.
    async fn give_back(&mut self) -> lapin::Result<()> {
        let held = std::mem::take(&mut self.held);
        let starts = self.per_consumer.then_some(&self.starts[..]);
        let batches = segments(&held, starts.unwrap_or_default());
        if batches.is_empty() {
            return Ok(());
        }
        let base = self.ready().await?;
        let mut returned = 0;
        for (top, n) in batches {
            // A multiple nack names a tag still unacked, or the broker closes the channel.
            self.channel
                .basic_nack(
                    top,
                    BasicNackOptions {
                        multiple: true,
                        requeue: true,
                    },
                )
                .await?;
            returned += n;
            if self.per_consumer {
                self.wait_ready(base + returned, n).await?;
            }
        }
        if !self.per_consumer {
            self.wait_ready(base + returned, returned).await?;
        }
        Ok(())
    }

    /// Waits until the queue counts `ready` messages again after giving
    /// back `n` (the queue requeues after the channel took the nack, and
    /// answers a passive declare ahead of that work), so that a command run
    /// next finds them in place; bounded, in case another consumer takes
    /// some meanwhile.
    async fn wait_ready(&self, ready: u64, n: u64) -> lapin::Result<()> {
        let deadline =
            std::time::Instant::now() + Duration::from_secs(5) + Duration::from_micros(40 * n);
        while self.ready().await? < ready && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Messages ready in the queue now.
    async fn ready(&self) -> lapin::Result<u64> {
        let q = declare(&self.channel, &self.queue).await?;
        Ok(u64::from(q.message_count()))
    }

    /// Whether any message handed out is being kept (not to be acked).
    pub fn keeps_any(&self) -> bool {
        !self.held.is_empty()
    }

    fn keep(&mut self, tag: u64) {
        match self.held.last_mut() {
            Some((_, end)) if *end + 1 == tag => *end = tag,
            _ => self.held.push((tag, tag)),
        }
    }

    /// Says a message handed out will not be acked while the read
    /// goes on (left in place, skipped, or its copy failed).
    pub async fn hold(&mut self, tag: u64) -> lapin::Result<()> {
        self.keep(tag);
        // A quorum queue's consumer is replaced once its prefetch arrived.
        if self.consumer.is_none() || self.ackable.is_some() {
            return Ok(());
        }
        self.held_in_consumer += 1;
        if self.held_in_consumer >= (u32::from(self.window) / HOLDS_PER_CONSUMER as u32).max(1) {
            self.replace_consumer().await?;
        }
        Ok(())
    }

    async fn next_consumed(&mut self) -> lapin::Result<Option<Delivery>> {
        loop {
            if self.consumer.is_none() {
                let (c, tag, prefetch) = match self.take_next().await? {
                    Some(next) => next,
                    None => {
                        let qos = std::mem::take(&mut self.qos_due).then_some(self.window);
                        let prefetch = qos.unwrap_or(self.prefetch);
                        let tag = self.next_tag();
                        let c = start(&self.channel, &self.queue, qos, &tag).await?;
                        (c, tag, prefetch)
                    }
                };
                self.consumer_tag = tag;
                self.consumer = Some(c);
                self.prefetch = prefetch;
                self.arrived = 0;
                self.fresh = true;
                self.held_in_consumer = 0;
                self.cancelling = false;
            }
            let Some(consumer) = self.consumer.as_mut() else {
                continue;
            };
            // A delivery already buffered needs no timer (one per message adds up).
            let next = match consumer.next().now_or_never() {
                Some(ready) => Ok(ready),
                None => tokio::time::timeout(Duration::from_secs(2), consumer.next()).await,
            };
            match next {
                Ok(Some(Ok(d))) => {
                    if self.fresh {
                        self.fresh = false;
                        self.starts.push(d.delivery_tag);
                    }
                    return Ok(Some(d));
                }
                Ok(Some(Err(e))) => return Err(e),
                // Cancelled and drained: start the next consumer after it.
                Ok(None) => {
                    self.consumer = None;
                    // Its cancel-ok came: its messages may be acked.
                    if let Some(a) = &self.ackable {
                        a.send_replace(self.top + 1);
                    }
                }
                // Cancelled but no cancel-ok yet (a quorum queue's can take seconds):
                // none ready then means the next consumer has them.
                Err(_idle) if self.cancelling => {}
                Err(_idle) => {
                    // Nothing arrives: another consumer may have taken the rest.
                    if self.ready().await? == 0 {
                        // Or the queue sends this consumer nothing: a quorum queue (3.10)
                        // held 4,008 for 20 s from a fresh consumer; a new one got them.
                        if self.received < self.limit && self.resubscribes < RESUBSCRIBES {
                            self.resubscribes += 1;
                            self.replace_consumer().await?;
                            continue;
                        }
                        self.dried_up = true;
                        return Ok(None);
                    }
                }
            }
        }
    }
}

/// Starts a consumer, setting the prefetch first when `qos` says; both
/// go out together (the channel runs them in order).
async fn start(
    channel: &Channel,
    queue: &str,
    qos: Option<u16>,
    tag: &str,
) -> lapin::Result<Consumer> {
    let consume = channel.basic_consume(
        queue,
        tag,
        BasicConsumeOptions::default(),
        FieldTable::default(),
    );
    match qos {
        None => consume.await,
        Some(window) => {
            let (set, started) = tokio::join!(
                channel.basic_qos(window, BasicQosOptions { global: false }),
                consume
            );
            set?;
            started
        }
    }
}

/// The kept tags split at each consumer's first tag: per part, the highest
/// tag and how many are kept, in tag order.
fn segments(held: &[(u64, u64)], starts: &[u64]) -> Vec<(u64, u64)> {
    let mut ranges = held.to_vec();
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    let part = |tag: u64| starts.partition_point(|s| *s <= tag);
    let mut current: Option<usize> = None;
    for (a, b) in ranges {
        let mut a = a;
        while a <= b {
            let p = part(a);
            // The end of this part within the range.
            let end = starts.get(p).map_or(b, |next| b.min(next - 1));
            match (current, out.last_mut()) {
                (Some(c), Some(last)) if c == p => {
                    last.0 = end;
                    last.1 += end - a + 1;
                }
                _ => out.push((end, end - a + 1)),
            }
            current = Some(p);
            a = end + 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_tags_split_by_consumer() {
        assert_eq!(segments(&[], &[1, 5]), vec![]);
        assert_eq!(segments(&[(1, 3), (5, 9)], &[]), vec![(9, 8)]);
        // Consumers start at tags 1, 5 and 8.
        assert_eq!(
            segments(&[(1, 2), (4, 6), (9, 9)], &[1, 5, 8]),
            vec![(4, 3), (6, 2), (9, 1)]
        );
        assert_eq!(segments(&[(6, 7)], &[1, 5, 8]), vec![(7, 2)]);
    }

    #[test]
    fn window_holds_about_16_mib() {
        assert_eq!(window_for(1024), 16 * 1024);
        assert_eq!(window_for(64 * 1024), 256);
        // Never narrower than MIN_WINDOW, even for 128 MiB messages.
        assert_eq!(window_for(1024 * 1024), MIN_WINDOW);
        assert_eq!(window_for(128 * 1024 * 1024), MIN_WINDOW);
        assert_eq!(window_for(0), u16::MAX);
    }
}
