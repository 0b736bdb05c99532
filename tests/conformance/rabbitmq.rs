//! RabbitMQ fixture: an origin queue whose `x-dead-letter-*` arguments route
//! to its DLQ; messages are published to the origin and rejected, so
//! RabbitMQ itself writes their `x-death` history.

use std::collections::BTreeMap;
use std::time::Duration;

use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use super::common;
use super::fixture::{edge_set, Fixture, Msg, Pair};

pub struct Rabbit {
    rt: tokio::runtime::Runtime,
    url: String,
}

impl Rabbit {
    pub fn new() -> Self {
        // The test matrix runs this suite on several versions: say which.
        eprintln!("rabbitmq: server {}", server_version());
        Rabbit {
            rt: tokio::runtime::Runtime::new().unwrap(),
            url: common::amqp_url(),
        }
    }

    /// `--config` with a profile naming the management API, when it is not
    /// the one dlq assumes (port 15672 of the AMQP host).
    fn management_args(&self) -> Vec<String> {
        let mgmt = common::amqp_management_url();
        if mgmt == "http://127.0.0.1:15672" {
            return Vec::new();
        }
        let path = std::env::temp_dir().join(format!("dlq-cf-rabbit-{}.toml", std::process::id()));
        if !path.exists() {
            std::fs::write(
                &path,
                format!("[profiles.rabbit]\nmanagement_url = \"{mgmt}\"\n"),
            )
            .expect("test profile");
        }
        vec![
            "--config".into(),
            path.display().to_string(),
            "-p".into(),
            "rabbit".into(),
        ]
    }

    fn channel(&self) -> (Connection, Channel) {
        self.rt.block_on(async {
            let conn = Connection::connect(&self.url, ConnectionProperties::default())
                .await
                .expect("connect to RabbitMQ");
            let ch = conn.create_channel().await.unwrap();
            (conn, ch)
        })
    }

    fn declare(&self, ch: &Channel, name: &str, args: FieldTable) {
        self.rt
            .block_on(ch.queue_declare(
                name,
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            ))
            .unwrap();
    }

    fn publish(&self, ch: &Channel, queue: &str, m: &Msg) {
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
        self.rt.block_on(async {
            ch.basic_publish("", queue, BasicPublishOptions::default(), &m.body, props)
                .await
                .unwrap()
                .await
                .unwrap();
        });
    }

    /// Every message, read with basic.get and given back by closing the channel.
    fn read(&self, queue: &str, take: bool) -> Vec<Msg> {
        let (conn, ch) = self.channel();
        let out = self.rt.block_on(async {
            let mut out = Vec::new();
            while let Some(got) = ch
                .basic_get(queue, BasicGetOptions { no_ack: take })
                .await
                .unwrap()
            {
                out.push(to_msg(&got.delivery.data, &got.delivery.properties));
            }
            out
        });
        self.rt.block_on(async {
            let _ = ch.close(200, "done").await;
            let _ = conn.close(200, "done").await;
        });
        out
    }

    fn depth(&self, queue: &str) -> u32 {
        let (_conn, ch) = self.channel();
        self.rt
            .block_on(ch.queue_declare(
                queue,
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            ))
            .map(|q| q.message_count())
            .unwrap_or(0)
    }
}

/// A management API resource as JSON (`api/overview`, ...).
fn mgmt_get(path: &str) -> Option<serde_json::Value> {
    let out = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-u",
            "guest:guest",
            &format!("{}/{path}", common::amqp_management_url()),
        ])
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).ok()
}

/// messages_ready as the management API reports it (its statistics lag a few seconds).
fn mgmt_ready(queue: &str) -> u64 {
    mgmt_get(&format!("api/queues/%2F/{queue}"))
        .and_then(|v| v["messages_ready"].as_u64())
        .unwrap_or(0)
}

/// The server's version (`rabbitmq_version` of the overview).
fn server_version() -> String {
    let v = mgmt_get("api/overview").expect("RabbitMQ management API answers");
    v["rabbitmq_version"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned()
}

fn to_msg(body: &[u8], props: &BasicProperties) -> Msg {
    let mut headers = BTreeMap::new();
    if let Some(h) = props.headers() {
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
        body: body.to_vec(),
        headers,
        key: None,
    }
}

impl Fixture for Rabbit {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    fn args(&self) -> Vec<String> {
        let mut args = self.management_args();
        args.extend(["-b".into(), self.url.clone()]);
        args
    }

    fn edge_messages(&self) -> Vec<Msg> {
        edge_set(1 << 20, true, true)
    }

    fn dead_letters(&self, msgs: &[Msg]) -> Pair {
        let origin = common::unique("cf-orders");
        let dlq = format!("{origin}.dlq");
        let (conn, ch) = self.channel();
        self.declare(&ch, &dlq, FieldTable::default());
        let mut args = FieldTable::default();
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(dlq.as_str().into()),
        );
        self.declare(&ch, &origin, args);
        self.rt
            .block_on(ch.confirm_select(ConfirmSelectOptions::default()))
            .unwrap();
        for m in msgs {
            self.publish(&ch, &origin, m);
        }
        // Reject each in order, so RabbitMQ dead-letters it with an x-death history.
        self.rt.block_on(async {
            for _ in msgs {
                let got = ch
                    .basic_get(&origin, BasicGetOptions::default())
                    .await
                    .unwrap()
                    .expect("message on origin");
                got.delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await
                    .unwrap();
            }
        });
        common::wait_for("dead letters", Duration::from_secs(20), || {
            (self.depth(&dlq) as usize == msgs.len()).then_some(())
        });
        self.rt.block_on(async {
            let _ = conn.close(200, "done").await;
        });
        Pair {
            dlq,
            origin,
            extra: BTreeMap::new(),
        }
    }

    fn read_dlq(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&pair.dlq, false)
    }

    fn read_origin(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&pair.origin, false)
    }

    fn empty_target(&self) -> Pair {
        let origin = common::unique("cf-target");
        let (_conn, ch) = self.channel();
        self.declare(&ch, &origin, FieldTable::default());
        Pair {
            dlq: origin.clone(),
            origin,
            extra: BTreeMap::new(),
        }
    }

    fn lagging(&self) -> (String, Pair) {
        let pair = self.empty_target();
        let (_conn, ch) = self.channel();
        self.rt
            .block_on(ch.confirm_select(ConfirmSelectOptions::default()))
            .unwrap();
        self.publish(&ch, &pair.origin, &Msg::new("waiting"));
        common::wait_for(
            "management API to see the message",
            Duration::from_secs(30),
            || (mgmt_ready(&pair.origin) >= 1).then_some(()),
        );
        (pair.origin.clone(), pair)
    }

    fn relay_target(&self) -> Option<String> {
        Some(common::host_port(&self.url))
    }

    fn args_via(&self, port: u16) -> Vec<String> {
        let mut args = self.management_args();
        args.extend([
            "-b".into(),
            format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        ]);
        args
    }

    fn cleanup(&self, pair: &Pair) {
        let (_conn, ch) = self.channel();
        self.rt.block_on(async {
            let _ = ch
                .queue_delete(&pair.origin, QueueDeleteOptions::default())
                .await;
            let _ = ch
                .queue_delete(&pair.dlq, QueueDeleteOptions::default())
                .await;
        });
    }
}
