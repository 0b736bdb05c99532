//! The one Pub/Sub harness of the tests: the emulator's REST API through
//! reqwest, not dlq's gRPC code, blocking wrappers over it, and a `dlq`
//! command wired to the test server (the emulator on 127.0.0.1:8085, or
//! `DLQ_TEST_PUBSUB`; `scripts/brokers/pubsub.sh` starts it).
//!
//! Dead letters are made as the server makes them: a subscription with a
//! dead-letter policy (5 delivery attempts, the least Pub/Sub allows) is
//! pulled and every message given back (deadline 0) until the server has
//! forwarded each one to the dead-letter topic, with its own attributes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::common;

/// The project every test resource lives in.
pub const PROJECT: &str = "dlq-test";

/// The emulator's endpoint.
pub fn endpoint() -> String {
    std::env::var("DLQ_TEST_PUBSUB").unwrap_or_else(|_| "http://127.0.0.1:8085".into())
}

/// A message as the tests publish it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Out {
    pub data: Vec<u8>,
    pub attributes: BTreeMap<String, String>,
    pub ordering_key: Option<String>,
}

impl Out {
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        Out {
            data: data.into(),
            ..Default::default()
        }
    }
    pub fn attr(mut self, k: &str, v: &str) -> Self {
        self.attributes.insert(k.into(), v.into());
        self
    }
}

/// A pulled message.
#[derive(Debug, Clone)]
pub struct Received {
    pub ack_id: String,
    pub message_id: String,
    pub data: Vec<u8>,
    pub attributes: BTreeMap<String, String>,
    pub ordering_key: Option<String>,
    pub delivery_attempt: Option<u64>,
}

/// A topic whose subscription dead-letters into a topic with a
/// subscription of its own (the DLQ).
#[derive(Debug, Clone)]
pub struct Setup {
    pub topic: String,
    pub source: String,
    pub dead_letter_topic: String,
    pub dlq: String,
}

pub struct Emulator {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

impl Emulator {
    pub fn new() -> Self {
        Emulator {
            rt: tokio::runtime::Runtime::new().unwrap(),
            http: reqwest::Client::new(),
            base: format!("{}/v1/projects/{PROJECT}", endpoint()),
        }
    }

    /// `dlq -b pubsub://dlq-test --endpoint-url ...`, with no emulator
    /// variable of the caller's own.
    pub fn dlq(&self) -> Command {
        let mut c = common::dlq(&format!("pubsub://{PROJECT}"));
        c.env_remove("PUBSUB_EMULATOR_HOST")
            .arg("--endpoint-url")
            .arg(endpoint());
        c
    }

    /// One REST call; the JSON answer, or the status and body of a refusal.
    pub fn call(&self, method: &str, path: &str, body: Value) -> Result<Value, (u16, String)> {
        let url = format!("{}/{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.rt.block_on(async {
            let resp = self
                .http
                .request(method, url)
                .json(&body)
                .send()
                .await
                .map_err(|e| (0, e.to_string()))?;
            let status = resp.status().as_u16();
            let text = resp.text().await.map_err(|e| (status, e.to_string()))?;
            if status >= 300 {
                return Err((status, text));
            }
            Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }

    fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"))
    }

    pub fn create_topic(&self, name: &str) {
        self.ok("PUT", &format!("topics/{name}"), json!({}));
    }

    /// A subscription of `topic`; with `dead_letter`, a policy that sends a
    /// message to that topic after 5 delivery attempts.
    pub fn create_subscription(&self, name: &str, topic: &str, dead_letter: Option<&str>) {
        let mut body = json!({"topic": format!("projects/{PROJECT}/topics/{topic}"), "ackDeadlineSeconds": 10});
        if let Some(dl) = dead_letter {
            body["deadLetterPolicy"] = json!({
                "deadLetterTopic": format!("projects/{PROJECT}/topics/{dl}"),
                "maxDeliveryAttempts": 5,
            });
        }
        self.ok("PUT", &format!("subscriptions/{name}"), body);
    }

    pub fn delete_subscription(&self, name: &str) {
        let _ = self.call("DELETE", &format!("subscriptions/{name}"), json!({}));
    }

    pub fn delete_topic(&self, name: &str) {
        let _ = self.call("DELETE", &format!("topics/{name}"), json!({}));
    }

    /// Publishes `msgs` in batches of 500; returns their message IDs.
    pub fn publish(&self, topic: &str, msgs: &[Out]) -> Vec<String> {
        let mut ids = Vec::new();
        for chunk in msgs.chunks(500) {
            let messages: Vec<Value> = chunk
                .iter()
                .map(|m| {
                    let mut v = json!({"data": b64(&m.data), "attributes": m.attributes});
                    if let Some(k) = &m.ordering_key {
                        v["orderingKey"] = json!(k);
                    }
                    v
                })
                .collect();
            let out = self.ok(
                "POST",
                &format!("topics/{topic}:publish"),
                json!({ "messages": messages }),
            );
            ids.extend(
                out["messageIds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_str().unwrap().to_owned()),
            );
        }
        ids
    }

    /// One pull that does not wait.
    pub fn pull(&self, sub: &str, max: u32) -> Vec<Received> {
        let out = self.ok(
            "POST",
            &format!("subscriptions/{sub}:pull"),
            json!({"maxMessages": max, "returnImmediately": true}),
        );
        out["receivedMessages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let m = &r["message"];
                Received {
                    ack_id: r["ackId"].as_str().unwrap().to_owned(),
                    message_id: m["messageId"].as_str().unwrap().to_owned(),
                    data: base64::engine::general_purpose::STANDARD
                        .decode(m["data"].as_str().unwrap_or(""))
                        .unwrap(),
                    attributes: m["attributes"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect(),
                    ordering_key: m["orderingKey"].as_str().map(str::to_owned),
                    delivery_attempt: r["deliveryAttempt"].as_u64(),
                }
            })
            .collect()
    }

    fn ack_ids(msgs: &[Received]) -> Vec<&str> {
        msgs.iter().map(|m| m.ack_id.as_str()).collect()
    }

    /// Gives messages back at once.
    pub fn nack(&self, sub: &str, msgs: &[Received]) {
        for chunk in msgs.chunks(1000) {
            self.ok(
                "POST",
                &format!("subscriptions/{sub}:modifyAckDeadline"),
                json!({"ackIds": Self::ack_ids(chunk), "ackDeadlineSeconds": 0}),
            );
        }
    }

    pub fn ack(&self, sub: &str, msgs: &[Received]) {
        for chunk in msgs.chunks(1000) {
            self.ok(
                "POST",
                &format!("subscriptions/{sub}:acknowledge"),
                json!({"ackIds": Self::ack_ids(chunk)}),
            );
        }
    }

    /// Everything on a subscription, read without changing it: pulled
    /// until nothing comes, then every message given back at once (on a
    /// subscription with a dead-letter policy that is a delivery attempt).
    pub fn peek_all(&self, sub: &str) -> Vec<Received> {
        let mut all: Vec<Received> = Vec::new();
        loop {
            let got = self.pull(sub, 1000);
            if got.is_empty() {
                break;
            }
            all.extend(got);
        }
        self.nack(sub, &all);
        all.sort_by(|a, b| a.message_id.cmp(&b.message_id));
        all.dedup_by(|a, b| a.message_id == b.message_id);
        all
    }

    /// A fresh topic, its subscription with a dead-letter policy, the
    /// dead-letter topic and the DLQ subscription of it.
    pub fn setup(&self, prefix: &str) -> Setup {
        let base = common::unique(prefix);
        let s = Setup {
            topic: base.clone(),
            source: format!("{base}-sub"),
            dead_letter_topic: format!("{base}-dl"),
            dlq: format!("{base}-dlq"),
        };
        self.create_topic(&s.topic);
        self.create_topic(&s.dead_letter_topic);
        self.create_subscription(&s.dlq, &s.dead_letter_topic, None);
        self.create_subscription(&s.source, &s.topic, Some(&s.dead_letter_topic));
        s
    }

    /// Publishes `msgs` to the topic and has the server dead-letter every
    /// one of them into the DLQ; returns the dead letters' message IDs.
    pub fn dead_letter(&self, s: &Setup, msgs: &[Out]) -> Vec<String> {
        self.publish(&s.topic, msgs);
        // The server forwards a message at the pull after its last attempt.
        common::wait_for(
            "every message to be dead-lettered",
            Duration::from_secs(120),
            || {
                let got = self.pull(&s.source, 1000);
                self.nack(&s.source, &got);
                got.is_empty().then_some(())
            },
        );
        let on_dlq = common::wait_for(
            "the dead letters on the DLQ subscription",
            Duration::from_secs(30),
            || {
                let all = self.peek_all(&s.dlq);
                (all.len() >= msgs.len()).then_some(all)
            },
        );
        assert_eq!(on_dlq.len(), msgs.len(), "dead letters on {}", s.dlq);
        on_dlq.into_iter().map(|m| m.message_id).collect()
    }

    pub fn cleanup(&self, s: &Setup) {
        for sub in [&s.source, &s.dlq] {
            self.delete_subscription(sub);
        }
        for t in [&s.topic, &s.dead_letter_topic] {
            self.delete_topic(t);
        }
    }
}
