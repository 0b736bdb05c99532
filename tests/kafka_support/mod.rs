//! An independent Kafka client for the tests (rdkafka used directly, not
//! dlq's code): topics, producing records with headers, reading them back,
//! and a `dlq` command with the tansu test profile. The same helpers as in
//! `kafka_cli.rs`, shared.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::common::{self, dlq, wait_for};

pub fn url() -> String {
    format!("kafka://{}", common::kafka_bootstrap())
}

/// dlq with the test profile: tansu 0.6.0 miscounts multi-record batches
/// (the high watermark moves by one per batch), so the tests send one
/// record per batch, through the profile like any librdkafka property.
pub fn k() -> std::process::Command {
    let path = std::env::temp_dir().join(format!("dlq-kafka-test-{}.toml", std::process::id()));
    if !path.exists() {
        std::fs::write(
            &path,
            "[profiles.tansu.kafka]\n\"batch.num.messages\" = \"1\"\n",
        )
        .unwrap();
    }
    let mut c = dlq(&url());
    c.env("DLQ_CONFIG", &path).args(["-p", "tansu"]);
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
        let (low, high) = c
            .fetch_watermarks(topic, p, Duration::from_secs(5))
            .unwrap();
        if low >= high {
            continue;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(low))
            .unwrap();
        c.assign(&tpl).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut next = low;
        while next < high {
            assert!(
                Instant::now() < deadline,
                "reading {topic}/{p} timed out at {next}/{high}"
            );
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.unwrap();
                next = m.offset() + 1;
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((
                    p,
                    m.offset(),
                    Rec {
                        key: m.key().map(<[u8]>::to_vec),
                        headers,
                        body: m.payload().unwrap_or_default().to_vec(),
                    },
                ));
            }
        }
    }
    out
}
