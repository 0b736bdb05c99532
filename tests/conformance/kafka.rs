//! Kafka fixture: a one-partition DLQ topic whose records name their origin
//! in `dlq-original-topic`, read back with a plain rdkafka consumer from
//! dlq's cursor (the committed offset of group `dlq.<topic>`). The server
//! is noida-db, or tansu with `DLQ_TEST_KAFKA_SERVER=tansu` (its gaps skipped).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::common;
use super::fixture::{edge_set, Fixture, Msg, Pair};

const T: Duration = Duration::from_secs(10);

pub struct Kafka {
    rt: tokio::runtime::Runtime,
    bootstrap: String,
    /// `noida` or `tansu` (`DLQ_TEST_KAFKA_SERVER`), for its gaps.
    server: String,
    producer: FutureProducer,
}

impl Kafka {
    pub fn new() -> Self {
        let bootstrap = common::kafka_bootstrap();
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("linger.ms", "0")
            .set("message.max.bytes", "2000000")
            .create()
            .expect("producer");
        Kafka {
            rt: tokio::runtime::Runtime::new().unwrap(),
            bootstrap,
            server: common::kafka_server(),
            producer,
        }
    }

    fn consumer(&self, group: &str) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("fetch.message.max.bytes", "2000000")
            .create()
            .expect("consumer")
    }

    fn topic(&self, name: &str) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("admin");
        let topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
        let res = self
            .rt
            .block_on(admin.create_topics([&topic], &AdminOptions::new()))
            .expect("create topic");
        for r in res {
            r.expect("topic created");
        }
    }

    fn produce(&self, topic: &str, m: &Msg, extra: &[(&str, &str)]) {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &m.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        for (k, v) in extra {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        let mut rec = FutureRecord::to(topic).payload(&m.body).headers(headers);
        if let Some(k) = &m.key {
            rec = rec.key(k);
        }
        self.rt
            .block_on(self.producer.send(rec, T))
            .map_err(|(e, _)| e)
            .expect("delivered");
    }

    /// Records of partition 0 from `from` (or dlq's cursor) to the end.
    fn read(&self, topic: &str, cursor_group: Option<&str>) -> Vec<Msg> {
        let probe = self.consumer(cursor_group.unwrap_or("cf-reader"));
        let (low, high) = probe.fetch_watermarks(topic, 0, T).expect("watermarks");
        let mut start = low;
        // Offsets dlq recorded as handled ahead of its cursor, in the commit
        // metadata as `dlq1:5-7,9` (a broker that drops metadata loses them).
        let mut handled: Vec<(i64, i64)> = Vec::new();
        if cursor_group.is_some() {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, 0);
            let committed = probe.committed_offsets(tpl, T).expect("committed offsets");
            if let Some(el) = committed.elements().first() {
                if let Offset::Offset(o) = el.offset() {
                    start = start.max(o);
                }
                let ranges = el.metadata().strip_prefix("dlq1:").unwrap_or_default();
                for r in ranges.split(',').filter(|r| !r.is_empty()) {
                    let (a, b) = r.split_once('-').unwrap_or((r, r));
                    handled.push((a.parse().expect("range"), b.parse().expect("range")));
                }
            }
        }
        drop(probe);
        let mut out = Vec::new();
        if start >= high {
            return out;
        }
        let c = self.consumer(&common::unique("cf-reader"));
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(start))
            .unwrap();
        c.assign(&tpl).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut next = start;
        while next < high && std::time::Instant::now() < deadline {
            let Some(r) = c.poll(Duration::from_millis(500)) else {
                continue;
            };
            let m = r.expect("record");
            next = m.offset() + 1;
            if handled
                .iter()
                .any(|&(a, b)| a <= m.offset() && m.offset() <= b)
            {
                continue;
            }
            let mut headers = BTreeMap::new();
            if let Some(hs) = m.headers() {
                for h in hs.iter() {
                    headers.insert(
                        h.key.to_owned(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    );
                }
            }
            out.push(Msg {
                body: m.payload().unwrap_or_default().to_vec(),
                headers,
                key: m.key().map(<[u8]>::to_vec),
            });
        }
        out
    }
}

impl Fixture for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    /// On tansu 0.6.0, which miscounts multi-record batches (the high
    /// watermark moves by one per batch), dlq runs with a profile that sends
    /// one record per batch, as any librdkafka property can be set.
    fn args(&self) -> Vec<String> {
        let url = vec!["-b".into(), format!("kafka://{}", self.bootstrap)];
        if self.server != "tansu" {
            return url;
        }
        let path = std::env::temp_dir().join(format!("dlq-cf-kafka-{}.toml", std::process::id()));
        if !path.exists() {
            std::fs::write(
                &path,
                "[profiles.tansu.kafka]\n\"batch.num.messages\" = \"1\"\n",
            )
            .expect("test profile");
        }
        let mut args: Vec<String> = vec![
            "--config".into(),
            path.display().to_string(),
            "-p".into(),
            "tansu".into(),
        ];
        args.extend(url);
        args
    }

    fn has_keys(&self) -> bool {
        true
    }

    fn edge_messages(&self) -> Vec<Msg> {
        edge_set(900_000, true, true)
            .into_iter()
            .enumerate()
            .map(|(i, m)| m.key(&format!("key-{i}")))
            .collect()
    }

    fn dead_letters(&self, msgs: &[Msg]) -> Pair {
        let origin = common::unique("cf-orders");
        let dlq = format!("{origin}.dlq");
        self.topic(&origin);
        self.topic(&dlq);
        for m in msgs {
            self.produce(&dlq, m, &[("dlq-original-topic", &origin)]);
        }
        Pair {
            dlq,
            origin,
            extra: BTreeMap::new(),
        }
    }

    fn read_dlq(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&pair.dlq, Some(&format!("dlq.{}", pair.dlq)))
    }

    fn read_origin(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&pair.origin, None)
    }

    fn empty_target(&self) -> Pair {
        let origin = common::unique("cf-target");
        self.topic(&origin);
        Pair {
            dlq: origin.clone(),
            origin,
            extra: BTreeMap::new(),
        }
    }

    fn lagging(&self) -> (String, Pair) {
        let pair = self.empty_target();
        self.produce(&pair.origin, &Msg::new("done"), &[]);
        self.produce(&pair.origin, &Msg::new("waiting"), &[]);
        let group = common::unique("cf-group");
        let c = self.consumer(&group);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&pair.origin, 0, Offset::Offset(1))
            .unwrap();
        c.commit(&tpl, CommitMode::Sync).expect("commit");
        (group, pair)
    }

    fn server_gaps(&self) -> Vec<(&'static str, &'static str)> {
        if self.server != "tansu" {
            return Vec::new();
        }
        const METADATA: &str = "tansu 0.6.0 drops offset-commit metadata, where dlq records messages handled out of order";
        vec![
            ("retry_one_moves_only_that_one", METADATA),
            ("filtered_purge_keeps_the_rest", METADATA),
            ("max_redrives_skips", METADATA),
            ("journal_records_purge_and_retry_all", METADATA),
        ]
    }

    fn cleanup(&self, pair: &Pair) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("admin");
        let names = if pair.dlq == pair.origin {
            vec![pair.dlq.as_str()]
        } else {
            vec![pair.dlq.as_str(), pair.origin.as_str()]
        };
        let _ = self
            .rt
            .block_on(admin.delete_topics(&names, &AdminOptions::new()));
    }
}
