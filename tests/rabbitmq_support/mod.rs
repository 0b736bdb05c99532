//! A second path to RabbitMQ for the tests: lapin used directly to build real
//! dead-lettering setups and to check queue state, independent of dlq's code.
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
    pub conn: Connection,
    pub ch: Channel,
    pub created: std::cell::RefCell<Vec<String>>,
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
            let conn = Connection::connect(&url, ConnectionProperties::default())
                .await
                .expect("RabbitMQ on 127.0.0.1:5672 (scripts/brokers/rabbitmq.sh)");
            let ch = conn.create_channel().await.unwrap();
            ch.confirm_select(ConfirmSelectOptions::default())
                .await
                .unwrap();
            (conn, ch)
        });
        Rmq {
            rt,
            conn,
            ch,
            created: Default::default(),
        }
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
        self.rt.block_on(async {
            let mut pending = Vec::new();
            for b in bodies {
                let c = self
                    .ch
                    .basic_publish(
                        "",
                        queue,
                        BasicPublishOptions::default(),
                        &b,
                        BasicProperties::default().with_delivery_mode(2),
                    )
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
        self.rt.block_on(async {
            let ch = self.conn.create_channel().await.unwrap();
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

    /// Messages ready in a queue.
    pub fn count(&self, queue: &str) -> u32 {
        self.rt.block_on(async {
            let ch = self.conn.create_channel().await.unwrap();
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
            q.message_count()
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
        self.rt.block_on(async {
            let ch = self.conn.create_channel().await.unwrap();
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
        self.rt.block_on(async {
            let ch = self.conn.create_channel().await.unwrap();
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
        let _ = self.rt.block_on(async {
            let ch = self.conn.create_channel().await?;
            ch.queue_delete(queue, QueueDeleteOptions::default()).await
        });
    }
}

impl Drop for Rmq {
    fn drop(&mut self) {
        for q in self.created.borrow().iter() {
            self.delete(q);
        }
    }
}

/// The dlq command for the test broker.
pub fn dlq() -> std::process::Command {
    crate::common::dlq(&crate::common::amqp_url())
}

/// The bodies of messages.
pub fn bodies(got: &[Got]) -> Vec<Vec<u8>> {
    got.iter().map(|g| g.body.clone()).collect()
}
