//! `publish`: produce each input message to a topic; it counts once its
//! delivery is confirmed (the loop itself is `bulk::publish`).
//!
//! The topic must exist: dlq never relies on the broker creating topics on
//! first use (a typo would silently create a new topic), so an unknown topic
//! is a broker error before anything is sent. A message's own key (from an
//! NDJSON envelope, including a binary key in `broker.key_base64`) wins over
//! `--key`; `--partition` pins the partition, else the key picks it. A
//! header Kafka cannot carry fails that message alone.

use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::{blocking, envelope, Kafka, Linger, Quiet, NAME};
use crate::broker::{OutgoingMessage, PublishOptions};
use crate::bulk::publish::{Confirm, Publisher, Refusal};
use crate::exit::{broker, usage};

/// Deliveries awaited at once.
const WINDOW: usize = 5_000;

/// Produces to one topic.
pub struct Sender {
    producer: FutureProducer<Quiet>,
    topic: String,
    key: Option<String>,
    partition: Option<i32>,
}

impl Sender {
    /// Checks the topic (and `--partition`) and makes the producer.
    pub fn open(kafka: &Kafka, topic: &str, opts: &PublishOptions) -> Result<Sender> {
        // First, so that it connects while the topic is checked; `ready` then
        // gets its producer ID at once.
        let producer = blocking(|| kafka.producer(Linger::Short))?;
        let partitions = blocking(|| kafka.partitions(&*kafka.kept("dlq")?, topic))?;
        blocking(|| kafka.ready(&producer, topic));
        if let Some(p) = opts.partition.filter(|p| !partitions.contains(p)) {
            return Err(usage(format!(
                "--partition {p}: topic {topic} has partitions 0 to {}",
                partitions.len().saturating_sub(1)
            )));
        }
        Ok(Sender {
            producer,
            topic: topic.to_owned(),
            key: opts.key.clone(),
            partition: opts.partition,
        })
    }
}

#[async_trait]
impl Publisher for Sender {
    fn destination(&self) -> String {
        self.topic.clone()
    }

    fn window(&self) -> usize {
        WINDOW
    }

    async fn send(&mut self, msg: OutgoingMessage) -> Result<Confirm, Refusal> {
        let headers = envelope::headers_to_record(&msg.headers).map_err(Refusal::Message)?;
        let key = envelope::key_bytes(&msg, self.key.as_deref());
        let topic = &self.topic;
        loop {
            let mut record = FutureRecord::to(topic)
                .payload(&msg.body)
                .headers(headers.clone());
            record.key = key.as_ref();
            record.partition = self.partition;
            if envelope::is_tombstone(&msg) {
                record.payload = None;
            }
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    let topic = topic.clone();
                    return Ok(Box::pin(async move {
                        match delivery.await {
                            Ok(Ok(d)) => Ok(Some(format!("{}:{}", d.partition, d.offset))),
                            Ok(Err((e, _))) => Err(Refusal::Message(format!(
                                "{NAME}: producing to {topic}: {e}"
                            ))),
                            Err(_) => Err(Refusal::Broker(broker(
                                NAME,
                                format!("producing to {topic}"),
                                "the producer went away before confirming",
                            ))),
                        }
                    }));
                }
                // librdkafka's queue drains as deliveries complete, polled by its own thread.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => {
                    return Err(Refusal::Message(format!(
                        "{NAME}: producing to {topic}: {e}"
                    )))
                }
            }
        }
    }
}
