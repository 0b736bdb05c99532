//! Taking messages off a queue in order without acknowledging them.
//!
//! A [`Reader`] hands out deliveries one at a time and never acks: the caller
//! acks what it removes, and every other message goes back to its place when
//! the channel closes (RabbitMQ keeps a classic queue in publication order
//! through requeues). It stops after the messages present at the start, so a
//! message dead-lettered again meanwhile is not read twice.
//!
//! Memory stays flat however deep the queue: lapin buffers consumer
//! deliveries without bound, so the reader keeps at most a window of messages
//! in flight, and fits the window to the message size (about 16 MiB of
//! messages; see [`Reader::fit_to`]). [`Mode::Get`] pipelines a window of `basic.get`s (which ignore
//! prefetch), right for reads that keep every message unacknowledged.
//! [`Mode::Consume`] is faster for bulk removal: a consumer with a prefetch of
//! one window; a message the caller keeps (see [`Reader::hold`]) still holds
//! a prefetch slot, so after an eighth of a window of those the consumer is cancelled
//! and, once its buffered deliveries are drained, a fresh one starts after
//! them.
//!
//! Giving back is explicit: [`Reader::finish`] waits for the gets still in
//! flight, then nacks with requeue what it was told to keep. A classic queue
//! puts requeued messages back in their places, so one `multiple` nack does.
//! A quorum queue (3.x) requeues a closed channel's messages, or any batch
//! of more than 32 returns, in no particular order (the batch becomes an
//! Erlang map); batches up to 32 keep their order. So on a quorum queue the
//! kept messages are nacked one by one, in queue order, 16 at a time, each
//! group awaited until the queue counts those messages as ready again before
//! the next goes out: slower, but in order.

use std::pin::Pin;
use std::time::Duration;

use futures::stream::FuturesOrdered;
use futures::{Future, FutureExt, StreamExt};
use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};

use super::convert::Delivery;

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

type GetFuture = Pin<Box<dyn Future<Output = lapin::Result<Option<BasicGetMessage>>> + Send>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Get,
    Consume,
}

pub struct Reader {
    channel: Channel,
    queue: String,
    mode: Mode,
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
    requested: u64,
    received: u64,
    empty: bool,
    gets: FuturesOrdered<GetFuture>,
    consumer: Option<Consumer>,
    consumer_tag: String,
    consumers_started: u32,
    held_in_consumer: u32,
    cancelling: bool,
    last_tag: u64,
    /// Quorum queue: give back one message at a time.
    ordered_return: bool,
    /// Delivery tags kept (not to be acked), as ranges.
    held: Vec<(u64, u64)>,
}

fn from_lapin(d: lapin::message::Delivery) -> Delivery {
    Delivery {
        delivery_tag: d.delivery_tag,
        exchange: d.exchange.as_str().to_owned(),
        routing_key: d.routing_key.as_str().to_owned(),
        redelivered: d.redelivered,
        properties: d.properties,
        data: d.data,
    }
}

impl Reader {
    /// Gives messages back one by one, as a quorum queue needs.
    pub fn ordered_return(mut self, on: bool) -> Self {
        self.ordered_return = on;
        self
    }

    pub fn new(channel: Channel, queue: &str, mode: Mode, window: u16, limit: u64) -> Self {
        Reader {
            channel,
            queue: queue.to_owned(),
            mode,
            window: window.max(2),
            cap: window.max(2),
            sized: true,
            largest: 0,
            qos_due: true,
            limit,
            requested: 0,
            received: 0,
            empty: false,
            gets: FuturesOrdered::new(),
            consumer: None,
            consumer_tag: String::new(),
            consumers_started: 0,
            held_in_consumer: 0,
            cancelling: false,
            last_tag: 0,
            ordered_return: false,
            held: Vec::new(),
        }
    }

    /// Fits the window to the message size: to `mean` bytes when the
    /// queue's mean is known, else narrow until the first delivery shows a
    /// size; then narrower whenever a bigger message comes, so the messages
    /// in flight stay near [`WINDOW_BYTES`] however big they are.
    pub fn fit_to(mut self, mean: Option<u64>) -> Self {
        self.window = match mean {
            Some(m) => window_for(m).min(self.cap),
            None => MIN_WINDOW.min(self.cap),
        };
        self.sized = mean.is_some();
        self
    }

    /// Messages in flight at most now.
    pub fn window(&self) -> u16 {
        self.window
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
        self.replace_consumer().await
    }

    /// Cancels the consumer, if one runs: once its buffered deliveries are
    /// taken, [`Reader::next`] starts a fresh one after them (with the new
    /// prefetch, when one is due). Its unacked messages stay where they are.
    async fn replace_consumer(&mut self) -> lapin::Result<()> {
        if self.mode == Mode::Consume && self.consumer.is_some() && !self.cancelling {
            self.cancelling = true;
            self.channel
                .basic_cancel(&self.consumer_tag, BasicCancelOptions::default())
                .await?;
        }
        Ok(())
    }

    /// The next message in queue order, None after the last one present at
    /// the start (or when the queue ran dry).
    pub async fn next(&mut self) -> lapin::Result<Option<Delivery>> {
        if self.received >= self.limit {
            return Ok(None);
        }
        let d = match self.mode {
            Mode::Get => self.next_get().await?,
            Mode::Consume => self.next_consumed().await?,
        };
        if let Some(d) = &d {
            self.received += 1;
            self.last_tag = self.last_tag.max(d.delivery_tag);
            self.fit(d.data.len() as u64).await?;
        }
        Ok(d)
    }

    /// Gives back every message handed out and not acked, in queue order.
    /// Call it after the last ack was written.
    pub async fn finish(&mut self) -> lapin::Result<()> {
        while let Some(r) = self.gets.next().await {
            if let Ok(Some(m)) = r {
                self.last_tag = self.last_tag.max(m.delivery.delivery_tag);
                self.keep(m.delivery.delivery_tag);
            }
        }
        if let Some(c) = self.consumer.take() {
            if !self.cancelling {
                self.channel
                    .basic_cancel(&self.consumer_tag, BasicCancelOptions::default())
                    .await?;
            }
            // Deliveries still buffered count for the nack below.
            let mut c = c;
            while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(5), c.next()).await
            {
                self.last_tag = self.last_tag.max(d.delivery_tag);
                self.keep(d.delivery_tag);
            }
        }
        if self.ordered_return {
            self.held.sort_unstable();
            let tags = self
                .held
                .iter()
                .flat_map(|(a, b)| *a..=*b)
                .collect::<Vec<_>>();
            // Frames go out in the order the futures are first polled, which
            // join_all does in order for small batches. Each group waits
            // until the queue counts it as ready again (applied), so no
            // returns pile up into one unordered batch.
            let base = u64::from(queue_ready(&self.channel, &self.queue).await?);
            let mut returned = 0u64;
            for chunk in tags.chunks(16) {
                let nacks = chunk.iter().map(|t| {
                    self.channel.basic_nack(
                        *t,
                        BasicNackOptions {
                            multiple: false,
                            requeue: true,
                        },
                    )
                });
                for r in futures::future::join_all(nacks).await {
                    r?;
                }
                returned += chunk.len() as u64;
                let deadline = std::time::Instant::now() + Duration::from_secs(2);
                while u64::from(queue_ready(&self.channel, &self.queue).await?) < base + returned
                    && std::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            self.held.clear();
            return Ok(());
        }
        if self.last_tag > 0 {
            self.channel
                .basic_nack(
                    self.last_tag,
                    BasicNackOptions {
                        multiple: true,
                        requeue: true,
                    },
                )
                .await?;
        }
        Ok(())
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
        if self.mode != Mode::Consume || self.consumer.is_none() {
            return Ok(());
        }
        self.held_in_consumer += 1;
        if self.held_in_consumer >= (u32::from(self.window) / HOLDS_PER_CONSUMER as u32).max(1) {
            self.replace_consumer().await?;
        }
        Ok(())
    }

    async fn next_get(&mut self) -> lapin::Result<Option<Delivery>> {
        loop {
            while !self.empty
                && self.requested < self.limit
                && self.gets.len() < usize::from(self.window)
            {
                let ch = self.channel.clone();
                let q = self.queue.clone();
                self.gets.push_back(Box::pin(async move {
                    ch.basic_get(&q, BasicGetOptions { no_ack: false }).await
                }));
                self.requested += 1;
            }
            match self.gets.next().await {
                None => return Ok(None),
                Some(Ok(Some(m))) => return Ok(Some(from_lapin(m.delivery))),
                Some(Ok(None)) => self.empty = true,
                Some(Err(e)) => return Err(e),
            }
        }
    }

    async fn next_consumed(&mut self) -> lapin::Result<Option<Delivery>> {
        loop {
            if self.consumer.is_none() {
                if self.qos_due {
                    self.channel
                        .basic_qos(self.window, BasicQosOptions { global: false })
                        .await?;
                    self.qos_due = false;
                }
                self.consumers_started += 1;
                self.consumer_tag =
                    format!("dlq-{}-{}", std::process::id(), self.consumers_started);
                let c = self
                    .channel
                    .basic_consume(
                        &self.queue,
                        &self.consumer_tag,
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
                self.consumer = Some(c);
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
                Ok(Some(Ok(d))) => return Ok(Some(from_lapin(d))),
                Ok(Some(Err(e))) => return Err(e),
                // Cancelled and drained: start the next consumer after it.
                Ok(None) => self.consumer = None,
                Err(_idle) => {
                    // Nothing arrives: another consumer may have taken the rest.
                    if queue_ready(&self.channel, &self.queue).await? == 0 {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

async fn queue_ready(channel: &Channel, queue: &str) -> lapin::Result<u32> {
    {
        let q = channel
            .queue_declare(
                queue,
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(q.message_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
