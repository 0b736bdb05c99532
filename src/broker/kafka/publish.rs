//! `publish`: produce each input message to a topic and count it only once
//! its delivery is confirmed, with a window of deliveries in flight.
//!
//! The topic must exist: dlq never relies on the broker creating topics on
//! first use (a typo would silently create a new topic), so an unknown topic
//! is a broker error before anything is sent. A message's own key (from an
//! NDJSON envelope, including a binary key in `broker.key_base64`) wins over
//! `--key`; `--partition` pins the partition, else the key picks it.

use std::time::Duration;

use anyhow::Result;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;

use super::{blocking, envelope, Kafka, NAME};
use crate::broker::{MessageInput, PublishOptions};
use crate::bulk::{BulkContext, BulkReport};
use crate::exit::usage;

const WINDOW: usize = 5_000;

pub async fn publish(
    kafka: &Kafka,
    topic: &str,
    opts: &PublishOptions,
    input: &mut dyn MessageInput,
    ctx: &BulkContext,
) -> Result<BulkReport> {
    // First, so that its producer ID is fetched while the topic is checked.
    let producer = blocking(|| kafka.producer())?;
    let partitions = blocking(|| {
        let c = kafka.consumer("dlq")?;
        kafka.partitions(&c, topic)
    })?;
    if let Some(p) = opts.partition {
        if !partitions.contains(&p) {
            return Err(usage(format!(
                "--partition {p}: topic {topic} has partitions 0 to {}",
                partitions.len().saturating_sub(1)
            )));
        }
    }
    let mut report = BulkReport::default();
    let mut inflight = FuturesUnordered::new();
    let mut line = 0usize;
    let settle = |r: (usize, Result<(), String>), report: &mut BulkReport| {
        let label = |n: usize| {
            if n == 0 {
                "-".to_owned()
            } else {
                format!("line {n}")
            }
        };
        match r {
            (n, Ok(())) => {
                report.done += 1;
                ctx.done(&label(n), Some(topic));
            }
            (n, Err(e)) => report.fail(label(n), format!("{NAME}: producing to {topic}: {e}")),
        }
        ctx.tick(1);
    };
    loop {
        if ctx.interrupted() {
            break;
        }
        let msg = match input.next().await {
            None => break,
            Some(Err(e)) => {
                report.stopped_by = Some(format!("{e:#}"));
                break;
            }
            Some(Ok(m)) => m,
        };
        line += 1;
        let n = if msg.line > 0 { msg.line } else { line };
        let headers = match envelope::headers_to_record(&msg.headers) {
            Ok(h) => h,
            Err(e) => {
                report.stopped_by = Some(format!("line {n}: {e}"));
                break;
            }
        };
        let key = envelope::key_bytes(&msg, opts.key.as_deref());
        ctx.pace().await;
        while inflight.len() >= WINDOW {
            if let Some(r) = inflight.next().await {
                settle(r, &mut report);
            }
        }
        loop {
            let mut record = FutureRecord::to(topic)
                .payload(&msg.body)
                .headers(headers.clone());
            if let Some(k) = &key {
                record = record.key(k);
            }
            if let Some(p) = opts.partition {
                record = record.partition(p);
            }
            match producer.send_result(record) {
                Ok(fut) => {
                    inflight.push(async move {
                        let r = match fut.await {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err((e, _))) => Err(e.to_string()),
                            Err(_) => Err("the producer went away before confirming".to_owned()),
                        };
                        (n, r)
                    });
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    match inflight.next().await {
                        Some(r) => settle(r, &mut report),
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
                Err((e, _)) => {
                    settle((n, Err(e.to_string())), &mut report);
                    break;
                }
            }
        }
    }
    while let Some(r) = inflight.next().await {
        settle(r, &mut report);
    }
    Ok(report)
}
