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
//! in flight. [`Mode::Get`] pipelines a window of `basic.get`s (which ignore
//! prefetch), right for reads that keep every message unacknowledged.
//! [`Mode::Consume`] is faster for bulk removal: a consumer with a prefetch of
//! one window; a message the caller keeps (see [`Reader::hold`]) still holds
//! a prefetch slot, so after half a window of those the consumer is cancelled
//! and, once its buffered deliveries are drained, a fresh one starts after
//! them.

use std::pin::Pin;
use std::time::Duration;

use futures::stream::FuturesOrdered;
use futures::{Future, StreamExt};
use lapin::message::BasicGetMessage;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};

use super::convert::Delivery;

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
    pub fn new(channel: Channel, queue: &str, mode: Mode, window: u16, limit: u64) -> Self {
        Reader {
            channel,
            queue: queue.to_owned(),
            mode,
            window: window.max(2),
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
        }
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
        if d.is_some() {
            self.received += 1;
        }
        Ok(d)
    }

    /// Says the last message handed out will not be acked while the read
    /// goes on (left in place, skipped, or its copy failed).
    pub async fn hold(&mut self) -> lapin::Result<()> {
        if self.mode != Mode::Consume || self.consumer.is_none() {
            return Ok(());
        }
        self.held_in_consumer += 1;
        if !self.cancelling && self.held_in_consumer >= u32::from(self.window / 2) {
            self.cancelling = true;
            self.channel
                .basic_cancel(&self.consumer_tag, BasicCancelOptions::default())
                .await?;
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
                if self.consumers_started == 0 {
                    self.channel
                        .basic_qos(self.window, BasicQosOptions { global: false })
                        .await?;
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
            match tokio::time::timeout(Duration::from_secs(2), consumer.next()).await {
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
