//! The one Kafka harness of the tests (`kafka_cli.rs`, the conformance
//! fixture, conventions): rdkafka used directly, not dlq's code, for topics,
//! producing records with headers, reading them back and reading or setting
//! committed offsets, and `dlq` with the tansu test profile.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::common::{self, dlq, wait_for};

pub fn url() -> String {
    format!("kafka://{}", common::kafka_bootstrap())
}

/// The flags dlq needs on the test server: on tansu 0.6.0, which miscounts
/// multi-record batches (the high watermark moves by one per batch), a
/// profile that sends one record per batch, like any librdkafka property.
pub fn profile_args() -> Vec<String> {
    if common::kafka_server() != "tansu" {
        return Vec::new();
    }
    let path = std::env::temp_dir().join(format!("dlq-kafka-test-{}.toml", std::process::id()));
    if !path.exists() {
        let profile = "[profiles.tansu.kafka]\n\"batch.num.messages\" = \"1\"\n";
        std::fs::write(&path, profile).unwrap();
    }
    let path = path.display().to_string();
    vec!["--config".into(), path, "-p".into(), "tansu".into()]
}

/// dlq on the test broker, with `profile_args`.
pub fn k() -> std::process::Command {
    let mut c = dlq(&url());
    c.args(profile_args());
    c
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

pub fn config() -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", common::kafka_bootstrap());
    c.set("batch.num.messages", "1")
        .set("message.max.bytes", "4000000");
    c
}

pub fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config().create().unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let res = rt()
        .block_on(admin.create_topics([&topic], &AdminOptions::new()))
        .unwrap();
    for r in res {
        r.unwrap();
    }
    let c = consumer("t");
    wait_for("topic metadata", Duration::from_secs(10), || {
        let md = c.fetch_metadata(Some(name), Duration::from_secs(2)).ok()?;
        let t = md.topics().iter().find(|t| t.name() == name)?;
        (t.error().is_none() && t.partitions().len() == partitions as usize).then_some(())
    });
}

pub fn delete_topic(name: &str) {
    let admin: AdminClient<DefaultClientContext> = config().create().unwrap();
    let _ = rt().block_on(admin.delete_topics(&[name], &AdminOptions::new()));
}

/// A record as the tests write and read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub body: Vec<u8>,
}

pub fn rec(key: &str, body: &[u8], headers: &[(&str, &[u8])]) -> Rec {
    Rec {
        key: Some(key.as_bytes().to_vec()),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_vec())))
            .collect(),
        body: body.to_vec(),
    }
}

/// Produces each record, one per batch, to `partition` (or by key).
pub fn produce(topic: &str, recs: &[Rec], partition: Option<i32>) {
    let producer: FutureProducer = config().set("linger.ms", "0").create().unwrap();
    rt().block_on(async {
        for r in recs {
            let mut h = OwnedHeaders::new();
            for (k, v) in &r.headers {
                h = h.insert(Header {
                    key: k,
                    value: v.as_deref(),
                });
            }
            let mut record = FutureRecord::to(topic).payload(&r.body).headers(h);
            if let Some(k) = &r.key {
                record = record.key(k);
            }
            if let Some(p) = partition {
                record = record.partition(p);
            }
            producer
                .send(record, Duration::from_secs(10))
                .await
                .unwrap();
        }
    });
}

pub fn consumer(group: &str) -> BaseConsumer {
    config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .unwrap()
}

/// Every record of the topic, partition by partition, with its offset.
pub fn read_all(topic: &str) -> Vec<(i32, i64, Rec)> {
    let c = consumer("dlq-test-reader");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    let parts: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut out = Vec::new();
    for p in parts {
        for (o, r) in read_partition(topic, p, None) {
            out.push((p, o, r));
        }
    }
    out
}

/// The records of one partition from `from` (or its start) to its end, with offsets.
pub fn read_partition(topic: &str, p: i32, from: Option<i64>) -> Vec<(i64, Rec)> {
    let c = consumer(&common::unique("dlq-test-reader"));
    let (low, high) = c
        .fetch_watermarks(topic, p, Duration::from_secs(5))
        .unwrap();
    let start = from.map_or(low, |f| f.max(low));
    let mut out = Vec::new();
    if start >= high {
        return out;
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, p, Offset::Offset(start))
        .unwrap();
    c.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = start;
    while next < high {
        assert!(
            Instant::now() < deadline,
            "reading {topic}/{p} timed out at {next}/{high}"
        );
        let m = match c.poll(Duration::from_millis(200)) {
            // Transaction markers take offsets but are never delivered.
            None => {
                let at = c.position().ok().and_then(|tpl| {
                    tpl.find_partition(topic, p)
                        .and_then(|e| e.offset().to_raw())
                });
                next = next.max(at.unwrap_or(next));
                continue;
            }
            // A dropped connection is an event, not the end: librdkafka
            // reconnects, and the deadline above still bounds the read.
            Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure,
            ))) => continue,
            Some(m) => m.unwrap(),
        };
        next = m.offset() + 1;
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        let body = m.payload().unwrap_or_default().to_vec();
        let key = m.key().map(<[u8]>::to_vec);
        out.push((m.offset(), Rec { key, headers, body }));
    }
    out
}

/// The committed offset and metadata of `group` on each partition of `topic` (-1 when none).
pub fn committed_with_metadata(group: &str, topic: &str, partitions: i32) -> Vec<(i64, String)> {
    let c = consumer(group);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    (0..partitions)
        .map(|p| match got.find_partition(topic, p) {
            Some(e) => match e.offset() {
                Offset::Offset(o) => (o, e.metadata().to_owned()),
                _ => (-1, e.metadata().to_owned()),
            },
            None => (-1, String::new()),
        })
        .collect()
}

/// The committed offsets of `group` on `topic`, by partition (-1 when none).
pub fn committed(group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    committed_with_metadata(group, topic, partitions)
        .into_iter()
        .map(|(o, _)| o)
        .collect()
}

pub fn commit(group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let c = consumer(group);
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
            .unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();
}

/// The copy as it should arrive: the original plus the re-drive header.
pub fn redriven(r: &Rec, count: &str) -> Rec {
    let mut r = r.clone();
    r.headers
        .push(("dlq-redrive-count".into(), Some(count.as_bytes().to_vec())));
    r
}

pub fn bodies(recs: &[(i32, i64, Rec)]) -> Vec<Vec<u8>> {
    recs.iter().map(|(_, _, r)| r.body.clone()).collect()
}
