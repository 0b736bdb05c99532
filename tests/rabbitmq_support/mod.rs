//! The one RabbitMQ harness of the tests (the per-broker files and the
//! conformance fixture): lapin used directly to build real dead-lettering
//! setups and to check queue state, independent of dlq's code, and the
//! management API read with curl. It reconnects when the broker went away
//! (tests/restart.rs stops it).
#![allow(dead_code)]

use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::runtime::Runtime;

pub use lapin;

/// A message as the test reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Got {
    pub body: Vec<u8>,
    pub props: BasicProperties,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<AMQPValue> {
        self.props.headers().as_ref()?.inner().get(name).cloned()
    }
}

pub struct Rmq {
    pub rt: Runtime,
    url: String,
    conn: std::cell::RefCell<Connection>,
    /// A channel in confirm mode, for publishes.
    pub ch: Channel,
    created: std::cell::RefCell<Vec<String>>,
}

async fn connect(url: &str) -> Connection {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (scripts/brokers/rabbitmq.sh)")
}

pub fn ls(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

pub fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

impl Rmq {
    pub fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let url = crate::common::amqp_url();
        let (conn, ch) = rt.block_on(async {
            let conn = connect(&url).await;
            let ch = conn.create_channel().await.unwrap();
            ch.confirm_select(ConfirmSelectOptions::default())
                .await
                .unwrap();
            (conn, ch)
        });
        Rmq {
            rt,
            url,
            conn: conn.into(),
            ch,
            created: Default::default(),
        }
    }

    /// A fresh channel, on a new connection if the broker dropped the old one.
    pub fn channel(&self) -> Channel {
        if !self.conn.borrow().status().connected() {
            let conn = self.rt.block_on(connect(&self.url));
            *self.conn.borrow_mut() = conn;
        }
        let conn = self.conn.borrow();
        self.rt.block_on(conn.create_channel()).unwrap()
    }

    /// Declares a durable queue, deleted again when the test ends.
    pub fn declare(&self, name: &str, args: FieldTable) {
        self.rt
            .block_on(self.ch.queue_declare(
                name,
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            ))
            .unwrap();
        self.created.borrow_mut().push(name.to_owned());
    }

    /// A work queue that dead-letters through the default exchange into a DLQ.
    pub fn dead_letter_pair(&self, prefix: &str) -> (String, String) {
        let work = crate::common::unique(prefix);
        let dlq = format!("{work}.dlq");
        self.declare(&dlq, FieldTable::default());
        self.declare(
            &work,
            table(&[
                ("x-dead-letter-exchange", ls("")),
                ("x-dead-letter-routing-key", ls(&dlq)),
            ]),
        );
        (work, dlq)
    }

    pub fn publish(&self, queue: &str, body: &[u8], props: BasicProperties) {
        self.publish_to("", queue, body, props);
    }

    pub fn publish_to(&self, exchange: &str, key: &str, body: &[u8], props: BasicProperties) {
        self.rt.block_on(async {
            self.ch
                .basic_publish(exchange, key, BasicPublishOptions::default(), body, props)
                .await
                .unwrap()
                .await
                .unwrap();
        });
    }

    /// Publishes many bodies with a confirm window.
    pub fn publish_many(&self, queue: &str, bodies: impl IntoIterator<Item = Vec<u8>>) {
        let props = BasicProperties::default().with_delivery_mode(2);
        self.publish_many_with(queue, bodies, props);
    }

    /// As [`Rmq::publish_many`], each message with `props`.
    pub fn publish_many_with(
        &self,
        queue: &str,
        bodies: impl IntoIterator<Item = Vec<u8>>,
        props: BasicProperties,
    ) {
        self.rt.block_on(async {
            let mut pending = Vec::new();
            for b in bodies {
                let c = self
                    .ch
                    .basic_publish("", queue, BasicPublishOptions::default(), &b, props.clone())
                    .await
                    .unwrap();
                pending.push(c);
                if pending.len() >= 500 {
                    for c in pending.drain(..) {
                        c.await.unwrap();
                    }
                }
            }
            for c in pending {
                c.await.unwrap();
            }
        });
    }

    /// Takes `n` messages off `work` and rejects them without requeue, so
    /// RabbitMQ dead-letters them with real x-death headers.
    pub fn reject(&self, work: &str, n: usize) {
        let ch = self.channel();
        self.rt.block_on(async {
            for _ in 0..n {
                let m = ch
                    .basic_get(work, BasicGetOptions::default())
                    .await
                    .unwrap()
                    .expect("a message to reject");
                ch.basic_reject(
                    m.delivery.delivery_tag,
                    BasicRejectOptions { requeue: false },
                )
                .await
                .unwrap();
            }
            ch.close(200, "done").await.unwrap();
        });
        crate::common::wait_for("dead-lettering", std::time::Duration::from_secs(10), || {
            (self.count(work) == 0).then_some(())
        });
    }

    /// Consumers of a queue, as the queue itself counts them: once a killed
    /// client's consumer is gone, its unacknowledged messages are back.
    pub fn consumers(&self, queue: &str) -> u32 {
        self.passive(queue).consumer_count()
    }

    /// Messages ready in a queue.
    pub fn count(&self, queue: &str) -> u32 {
        self.passive(queue).message_count()
    }

    /// The queue as a passive declare answers for it.
    fn passive(&self, queue: &str) -> lapin::Queue {
        let ch = self.channel();
        self.rt.block_on(async {
            let q = ch
                .queue_declare(
                    queue,
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .unwrap();
            let _ = ch.close(200, "done").await;
            q
        })
    }

    /// Every message of a queue, in order, left in place (got unacked, then
    /// given back by closing the channel).
    pub fn peek_all(&self, queue: &str) -> Vec<Got> {
        self.read(queue, false)
    }

    /// Every message of a queue, in order, removed.
    pub fn drain(&self, queue: &str) -> Vec<Got> {
        self.read(queue, true)
    }

    fn read(&self, queue: &str, remove: bool) -> Vec<Got> {
        let ch = self.channel();
        self.rt.block_on(async {
            let mut out = Vec::new();
            while let Some(m) = ch
                .basic_get(queue, BasicGetOptions { no_ack: remove })
                .await
                .unwrap()
            {
                out.push(Got {
                    body: m.delivery.data,
                    props: m.delivery.properties,
                });
            }
            ch.close(200, "done").await.unwrap();
            out
        })
    }

    /// Every message of a queue, in order, removed by a consumer (quicker
    /// than gets on a quorum queue, and no requeue that could reorder it).
    pub fn consume_all(&self, queue: &str) -> Vec<Got> {
        use futures::StreamExt;
        let n = self.count(queue) as usize;
        let ch = self.channel();
        self.rt.block_on(async {
            let mut c = ch
                .basic_consume(
                    queue,
                    "test-consume-all",
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .unwrap();
            let mut out = Vec::new();
            while out.len() < n {
                let d = tokio::time::timeout(std::time::Duration::from_secs(10), c.next())
                    .await
                    .expect("a delivery within 10 s")
                    .expect("the consumer runs")
                    .unwrap();
                out.push(Got {
                    body: d.data,
                    props: d.properties,
                });
            }
            ch.close(200, "done").await.unwrap();
            out
        })
    }

    pub fn delete(&self, queue: &str) {
        let ch = self.channel();
        let _ = self
            .rt
            .block_on(ch.queue_delete(queue, QueueDeleteOptions::default()));
    }
}

impl Drop for Rmq {
    fn drop(&mut self) {
        for q in self.created.borrow().iter() {
            self.delete(q);
        }
    }
}

/// A management API resource as JSON (`api/overview`, ...).
pub fn mgmt_get(path: &str) -> Option<serde_json::Value> {
    let out = std::process::Command::new("curl")
        .args(["-fsS", "-u", "guest:guest"])
        .arg(format!("{}/{path}", crate::common::amqp_management_url()))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).ok()
}

/// The server's version (`rabbitmq_version` of the overview), said on stderr
/// since the test matrix runs the tests on several.
pub fn server_version() -> String {
    let v = mgmt_get("api/overview").expect("RabbitMQ management API answers");
    let version = v["rabbitmq_version"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned();
    eprintln!("rabbitmq: server {version}");
    version
}

/// `--config` with a profile naming the management API, when it is not the
/// one dlq assumes (port 15672 of the AMQP host).
pub fn management_args() -> Vec<String> {
    let mgmt = crate::common::amqp_management_url();
    if mgmt == "http://127.0.0.1:15672" {
        return Vec::new();
    }
    let path = std::env::temp_dir().join(format!("dlq-test-rabbit-{}.toml", std::process::id()));
    if !path.exists() {
        let profile = format!("[profiles.rabbit]\nmanagement_url = \"{mgmt}\"\n");
        std::fs::write(&path, profile).expect("test profile");
    }
    let path = path.display().to_string();
    vec!["--config".into(), path, "-p".into(), "rabbit".into()]
}

/// The dlq command for the test broker and its management API.
pub fn dlq() -> std::process::Command {
    let mut c = crate::common::dlq(&crate::common::amqp_url());
    c.args(management_args());
    c
}

/// The bodies of messages.
pub fn bodies(got: &[Got]) -> Vec<Vec<u8>> {
    got.iter().map(|g| g.body.clone()).collect()
}
