//! Pub/Sub fixture on the Pub/Sub harness (`tests/pubsub_support`): a topic
//! whose subscription dead-letters into a topic after 5 delivery attempts,
//! read through that topic's own subscription (the DLQ); messages are
//! nacked past the limit so the server forwards them itself. The origin is
//! the topic, read back through a subscription made after the dead letters
//! (so it sees only what is published there later).

use std::collections::BTreeMap;

use super::common;
use super::fixture::{edge_set, Fixture, Msg, Pair};
use super::pubsub_support::{endpoint, Emulator, Out, Received, PROJECT};

pub struct PubSub {
    e: Emulator,
}

impl PubSub {
    pub fn new() -> Self {
        PubSub { e: Emulator::new() }
    }

    fn out(m: &Msg) -> Out {
        Out {
            data: m.body.clone(),
            attributes: m.headers.clone(),
            ordering_key: m
                .key
                .as_ref()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
        }
    }

    fn msg(r: Received) -> Msg {
        Msg {
            body: r.data,
            headers: r.attributes,
            key: r.ordering_key.map(String::into_bytes),
        }
    }

    fn read(&self, sub: &str) -> Vec<Msg> {
        self.e.peek_all(sub).into_iter().map(Self::msg).collect()
    }

    /// A subscription of `topic` that only reads what comes after it.
    fn watch(&self, topic: &str) -> String {
        let sub = format!("{topic}-watch");
        self.e.create_subscription(&sub, topic, None);
        sub
    }
}

impl Fixture for PubSub {
    fn name(&self) -> &'static str {
        "pubsub"
    }

    fn args(&self) -> Vec<String> {
        vec![
            "-b".into(),
            format!("pubsub://{PROJECT}"),
            "--endpoint-url".into(),
            endpoint(),
        ]
    }

    fn ordered(&self) -> bool {
        false
    }

    fn edge_messages(&self) -> Vec<Msg> {
        // A message needs data or an attribute; every edge message has both.
        edge_set(1024 * 1024, true, true)
    }

    fn dead_letters(&self, msgs: &[Msg]) -> Pair {
        let s = self.e.setup("cf-orders");
        let outs: Vec<Out> = msgs.iter().map(Self::out).collect();
        self.e.dead_letter(&s, &outs);
        let watch = self.watch(&s.topic);
        Pair {
            dlq: s.dlq,
            origin: s.topic,
            extra: BTreeMap::from([
                ("source".into(), s.source),
                ("dead_letter_topic".into(), s.dead_letter_topic),
                ("watch".into(), watch),
            ]),
        }
    }

    fn read_dlq(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&pair.dlq)
    }

    fn read_origin(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&pair.extra["watch"])
    }

    fn empty_target(&self) -> Pair {
        let topic = common::unique("cf-target");
        self.e.create_topic(&topic);
        let watch = self.watch(&topic);
        Pair {
            dlq: watch.clone(),
            origin: topic,
            extra: BTreeMap::from([("watch".into(), watch)]),
        }
    }

    fn lagging(&self) -> (String, Pair) {
        let pair = self.empty_target();
        self.e.publish(&pair.origin, &[Out::new("waiting")]);
        (pair.extra["watch"].clone(), pair)
    }

    fn settle(&self, _pair: &Pair) {
        // Messages a stopped run had leased come back when their
        // acknowledgement deadline (10 s, see the harness) ends, which the
        // emulator does not show: seeing every body on the DLQ or the origin
        // is not enough (a copy may be on the origin while its original is
        // still leased), so the fixture waits the deadline out.
        std::thread::sleep(std::time::Duration::from_secs(12));
    }

    fn relay_target(&self) -> String {
        common::host_port(&endpoint())
    }

    fn args_via(&self, port: u16) -> Vec<String> {
        vec![
            "-b".into(),
            format!("pubsub://{PROJECT}?endpoint=http://127.0.0.1:{port}"),
        ]
    }

    fn refusing_target(&self) -> (Pair, String) {
        // Pub/Sub takes attribute values of at most 1,024 bytes.
        let line =
            serde_json::json!({ "body": "long attribute", "headers": { "h": "v".repeat(2000) } });
        (self.empty_target(), line.to_string())
    }

    fn cleanup(&self, pair: &Pair) {
        for key in ["source", "watch"] {
            if let Some(sub) = pair.extra.get(key) {
                self.e.delete_subscription(sub);
            }
        }
        self.e.delete_subscription(&pair.dlq);
        self.e.delete_topic(&pair.origin);
        if let Some(t) = pair.extra.get("dead_letter_topic") {
            self.e.delete_topic(t);
        }
    }
}

/// The fixture itself: the server's dead letters arrive intact, and the
/// harness reads them back without taking them.
pub fn fixture_makes_real_dead_letters() {
    let f = PubSub::new();
    let msgs = f.edge_messages();
    let pair = f.dead_letters(&msgs);
    let strip = |mut m: Msg| {
        m.headers
            .retain(|k, _| !k.starts_with("CloudPubSubDeadLetter"));
        m
    };
    let mut got: Vec<Msg> = f.read_dlq(&pair).into_iter().map(strip).collect();
    let mut want = msgs.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(f.read_dlq(&pair).len(), msgs.len(), "read again");
    assert!(f.read_origin(&pair).is_empty());
    f.cleanup(&pair);
}

/// The checks the emulator cannot pass, with why.
pub fn gaps() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "lag_threshold_exits_1",
            "the emulator has no Cloud Monitoring, so lag is unknown (null) and --max-lag only warns",
        ),
        (
            "lag_watch_repeats_until_ctrl_c",
            "the emulator has no Cloud Monitoring, so no report has a lag of 1 or more to repeat",
        ),
        (
            "prometheus_passes_promtool",
            "the emulator has no Cloud Monitoring: every lag and depth is unknown, so -o prometheus \
             rightly writes no sample to check (tests/pubsub_read.rs checks that none is written)",
        ),
    ]
}
