//! Kafka fixture on the Kafka harness (`tests/kafka_support`): a one-partition DLQ topic whose records name their origin
//! in `dlq-original-topic`, read back with a plain rdkafka consumer from
//! dlq's cursor (the committed offset of group `dlq.<topic>`). The server
//! is noida-db, or tansu with `DLQ_TEST_KAFKA_SERVER=tansu` (its gaps skipped).

use std::collections::BTreeMap;

use super::common;
use super::common::relay::Relay;
use super::fixture::{edge_set, Fixture, Msg, Pair};
use super::kafka_support::{self as kafka, Rec};

pub struct Kafka;

impl Kafka {
    pub fn new() -> Self {
        Kafka
    }

    fn produce(&self, topic: &str, msgs: &[Msg], extra: &[(&str, &str)]) {
        let recs: Vec<Rec> = msgs
            .iter()
            .map(|m| Rec {
                key: m.key.clone(),
                headers: m
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .chain(extra.iter().copied())
                    .map(|(k, v)| (k.to_owned(), Some(v.as_bytes().to_vec())))
                    .collect(),
                body: m.body.clone(),
            })
            .collect();
        kafka::produce(topic, &recs, Some(0));
    }

    /// Records of partition 0 from dlq's cursor (group `cursor_group`), or
    /// from the start, to the end.
    fn read(&self, topic: &str, cursor_group: Option<&str>) -> Vec<Msg> {
        let (mut start, mut handled) = (None, Vec::new());
        if let Some(group) = cursor_group {
            let (offset, metadata) = kafka::committed_with_metadata(group, topic, 1).remove(0);
            start = (offset >= 0).then_some(offset);
            // Offsets dlq recorded as handled ahead of its cursor, in the commit
            // metadata as `dlq1:5-7,9` (a broker that drops metadata loses them).
            let ranges = metadata.strip_prefix("dlq1:").unwrap_or_default();
            for r in ranges.split(',').filter(|r| !r.is_empty()) {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                handled.push((
                    a.parse::<i64>().expect("range"),
                    b.parse::<i64>().expect("range"),
                ));
            }
        }
        kafka::read_partition(topic, 0, start)
            .into_iter()
            .filter(|(o, _)| !handled.iter().any(|&(a, b)| a <= *o && *o <= b))
            .map(|(_, r)| Msg {
                body: r.body,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            String::from_utf8_lossy(&v.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect(),
                key: r.key,
            })
            .collect()
    }
}

impl Fixture for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn args(&self) -> Vec<String> {
        let mut args = kafka::profile_args();
        args.extend(["-b".into(), kafka::url()]);
        args
    }

    fn has_keys(&self) -> bool {
        true
    }

    fn relay_target(&self) -> String {
        common::kafka_bootstrap()
    }

    fn relay(&self) -> Relay {
        Relay::start_kafka(&self.relay_target())
    }

    fn args_via(&self, port: u16) -> Vec<String> {
        let mut args = kafka::profile_args();
        args.extend(["-b".into(), format!("kafka://127.0.0.1:{port}")]);
        args
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
        kafka::create_topic(&origin, 1);
        kafka::create_topic(&dlq, 1);
        self.produce(&dlq, msgs, &[("dlq-original-topic", &origin)]);
        Pair {
            dlq,
            origin,
            extra: BTreeMap::new(),
        }
    }

    fn follow_target(&self, pair: &Pair) -> Option<String> {
        Some(pair.dlq.clone())
    }

    fn read_dlq(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&pair.dlq, Some(&format!("dlq.{}", pair.dlq)))
    }

    fn read_origin(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&pair.origin, None)
    }

    fn empty_target(&self) -> Pair {
        let origin = common::unique("cf-target");
        kafka::create_topic(&origin, 1);
        Pair {
            dlq: origin.clone(),
            origin,
            extra: BTreeMap::new(),
        }
    }

    fn kill_size(&self) -> usize {
        // noida-db takes tens of thousands a second; tansu is written one record a batch.
        if common::kafka_server() == "tansu" {
            2000
        } else {
            10_000
        }
    }

    fn refusing_target(&self) -> (Pair, String) {
        // A binary header value that does not decode cannot be carried.
        let line = serde_json::json!({
            "body": "bad header",
            "headers": { "h": { "$bytes": "not base64!" } }
        });
        (self.empty_target(), line.to_string())
    }

    fn lagging(&self) -> (String, Pair) {
        let pair = self.empty_target();
        let msgs = [Msg::new("done"), Msg::new("waiting")];
        self.produce(&pair.origin, &msgs, &[]);
        let group = common::unique("cf-group");
        kafka::commit(&group, &pair.origin, &[(0, 1)]);
        (group, pair)
    }

    fn cleanup(&self, pair: &Pair) {
        kafka::delete_topic(&pair.dlq);
        if pair.origin != pair.dlq {
            kafka::delete_topic(&pair.origin);
        }
    }
}

/// The checks the Kafka server under test cannot pass, with why.
pub fn gaps() -> Vec<(&'static str, &'static str)> {
    if common::kafka_server() != "tansu" {
        return Vec::new();
    }
    const METADATA: &str =
        "tansu 0.6.0 drops offset-commit metadata, where dlq records messages handled out of order";
    vec![
        ("retry_one_moves_only_that_one", METADATA),
        ("filtered_purge_keeps_the_rest", METADATA),
        ("max_redrives_skips", METADATA),
        ("filtered_retry_all_keeps_the_rest", METADATA),
        ("journal_records_purge_and_retry_all", METADATA),
        ("select_purge_and_retry_exactly_the_reviewed_ids", METADATA),
    ]
}
