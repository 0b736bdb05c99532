//! RabbitMQ fixture on the RabbitMQ harness (`tests/rabbitmq_support`): an
//! origin queue whose `x-dead-letter-*` arguments route to its DLQ; messages
//! are published to the origin and rejected, so RabbitMQ itself writes their
//! `x-death` history.

use std::collections::BTreeMap;
use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;

use super::common;
use super::fixture::{edge_set, Fixture, Msg, Pair};
use super::rabbitmq_support::{self as rmq, lapin, Got, Rmq};

pub struct Rabbit {
    r: Rmq,
    url: String,
}

impl Rabbit {
    pub fn new() -> Self {
        rmq::server_version();
        Rabbit {
            r: Rmq::new(),
            url: common::amqp_url(),
        }
    }

    fn publish(&self, queue: &str, m: &Msg) {
        let mut headers = FieldTable::default();
        for (k, v) in &m.headers {
            headers.insert(
                ShortString::from(k.as_str()),
                AMQPValue::LongString(LongString::from(v.as_bytes())),
            );
        }
        let props = BasicProperties::default()
            .with_headers(headers)
            .with_delivery_mode(2);
        self.r.publish(queue, &m.body, props);
    }

    fn read(&self, queue: &str) -> Vec<Msg> {
        self.r.peek_all(queue).iter().map(to_msg).collect()
    }
}

/// messages_ready as the management API reports it (its statistics lag a few seconds).
fn mgmt_ready(queue: &str) -> u64 {
    rmq::mgmt_get(&format!("api/queues/%2F/{queue}"))
        .and_then(|v| v["messages_ready"].as_u64())
        .unwrap_or(0)
}

fn to_msg(got: &Got) -> Msg {
    let mut headers = BTreeMap::new();
    if let Some(h) = got.props.headers() {
        for (k, v) in h.inner() {
            let text = match v {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.as_str().to_owned(),
                other => format!("{other:?}"),
            };
            headers.insert(k.as_str().to_owned(), text);
        }
    }
    Msg {
        body: got.body.clone(),
        headers,
        key: None,
    }
}

impl Fixture for Rabbit {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    fn args(&self) -> Vec<String> {
        let mut args = rmq::management_args();
        args.extend(["-b".into(), self.url.clone()]);
        args
    }

    fn edge_messages(&self) -> Vec<Msg> {
        edge_set(1 << 20, true, true)
    }

    fn dead_letters(&self, msgs: &[Msg]) -> Pair {
        let (origin, dlq) = self.r.dead_letter_pair("cf-orders");
        for m in msgs {
            self.publish(&origin, m);
        }
        // Reject each in order, so RabbitMQ dead-letters it with an x-death history.
        self.r.reject(&origin, msgs.len());
        common::wait_for("dead letters", Duration::from_secs(20), || {
            (self.r.count(&dlq) as usize == msgs.len()).then_some(())
        });
        Pair {
            dlq,
            origin,
            extra: BTreeMap::new(),
        }
    }

    fn settle(&self, pair: &Pair) {
        // A killed run's messages come back when the broker has dropped its consumer.
        for q in [&pair.dlq, &pair.origin] {
            common::wait_for(
                "the killed run's consumer to go",
                std::time::Duration::from_secs(60),
                || (self.r.consumers(q) == 0).then_some(()),
            );
        }
    }

    fn read_dlq(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&pair.dlq)
    }

    fn read_origin(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&pair.origin)
    }

    fn empty_target(&self) -> Pair {
        let origin = common::unique("cf-target");
        self.r.declare(&origin, FieldTable::default());
        Pair {
            dlq: origin.clone(),
            origin,
            extra: BTreeMap::new(),
        }
    }

    fn refusing_target(&self) -> (Pair, String) {
        // A message larger than the queue's byte limit is nacked (overflow reject-publish).
        let origin = common::unique("cf-small");
        let mut args = FieldTable::default();
        args.insert("x-max-length-bytes".into(), AMQPValue::LongLongInt(1000));
        args.insert(
            "x-overflow".into(),
            AMQPValue::LongString("reject-publish".into()),
        );
        self.r.declare(&origin, args);
        let pair = Pair {
            dlq: origin.clone(),
            origin,
            extra: BTreeMap::new(),
        };
        let big = "x".repeat(2000);
        (pair, serde_json::json!({ "body": big }).to_string())
    }

    fn lagging(&self) -> (String, Pair) {
        let pair = self.empty_target();
        self.publish(&pair.origin, &Msg::new("waiting"));
        common::wait_for(
            "management API to see the message",
            Duration::from_secs(30),
            || (mgmt_ready(&pair.origin) >= 1).then_some(()),
        );
        (pair.origin.clone(), pair)
    }

    fn relay_target(&self) -> String {
        common::host_port(&self.url)
    }

    fn args_via(&self, port: u16) -> Vec<String> {
        let mut args = rmq::management_args();
        args.extend([
            "-b".into(),
            format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        ]);
        args
    }

    fn cleanup(&self, pair: &Pair) {
        self.r.delete(&pair.origin);
        self.r.delete(&pair.dlq);
    }
}
