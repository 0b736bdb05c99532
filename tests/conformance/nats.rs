//! NATS fixture: a DLQ stream of copies, each carrying the subject it was
//! first published to in `dlq-original-subject`, and an origin stream that
//! captures that subject.

use std::collections::BTreeMap;

use async_nats::jetstream::{self, consumer, stream};
use async_nats::HeaderMap;

use super::common;
use super::fixture::{edge_set, Fixture, Msg, Pair};

pub struct Nats {
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
    url: String,
}

impl Nats {
    pub fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let url = common::nats_url();
        let js = rt.block_on(async {
            let client = async_nats::connect(&url).await.expect("connect to NATS");
            // The test matrix runs this suite on several versions: say which.
            eprintln!("nats: server {}", client.server_info().version);
            jetstream::new(client)
        });
        Nats { rt, js, url }
    }

    fn stream(&self, name: &str, subject: &str) {
        self.rt
            .block_on(self.js.create_stream(stream::Config {
                name: name.into(),
                subjects: vec![subject.into()],
                ..Default::default()
            }))
            .expect("create stream");
    }

    fn publish(&self, subject: &str, m: &Msg, extra: &[(&str, &str)]) {
        let mut headers = HeaderMap::new();
        for (k, v) in &m.headers {
            headers.insert(k.as_str(), v.as_str());
        }
        for (k, v) in extra {
            headers.insert(*k, *v);
        }
        self.rt.block_on(async {
            self.js
                .publish_with_headers(subject.to_owned(), headers, m.body.clone().into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        });
    }

    fn read_stream(&self, name: &str) -> Vec<Msg> {
        self.rt.block_on(async {
            let mut s = self.js.get_stream(name).await.expect("stream");
            let info = s.info().await.expect("info").clone();
            let mut out = Vec::new();
            if info.state.messages == 0 {
                return out;
            }
            for seq in info.state.first_sequence..=info.state.last_sequence {
                let Ok(m) = s.get_raw_message(seq).await else {
                    continue;
                };
                let mut headers = BTreeMap::new();
                for (k, vs) in m.headers.iter() {
                    if let Some(v) = vs.first() {
                        headers.insert(k.to_string(), v.as_str().to_owned());
                    }
                }
                out.push(Msg {
                    body: m.payload.to_vec(),
                    headers,
                    key: None,
                });
            }
            out
        })
    }
}

impl Fixture for Nats {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn args(&self) -> Vec<String> {
        vec!["-b".into(), self.url.clone()]
    }

    fn edge_messages(&self) -> Vec<Msg> {
        // The server's default max_payload is 1 MiB, headers included.
        edge_set((1 << 20) - 4096, true, false)
    }

    fn dead_letters(&self, msgs: &[Msg]) -> Pair {
        let base = common::unique("cf").replace('-', "_");
        let (origin_stream, dlq_stream) =
            (base.to_uppercase(), format!("{}_DLQ", base.to_uppercase()));
        let (origin_subject, dlq_subject) = (format!("{base}.orders"), format!("{base}.dlq"));
        self.stream(&origin_stream, &origin_subject);
        self.stream(&dlq_stream, &dlq_subject);
        for m in msgs {
            self.publish(
                &dlq_subject,
                m,
                &[("dlq-original-subject", &origin_subject)],
            );
        }
        let mut extra = BTreeMap::new();
        extra.insert("origin_stream".into(), origin_stream);
        Pair {
            dlq: dlq_stream,
            origin: origin_subject,
            extra,
        }
    }

    fn read_dlq(&self, pair: &Pair) -> Vec<Msg> {
        self.read_stream(&pair.dlq)
    }

    fn read_origin(&self, pair: &Pair) -> Vec<Msg> {
        self.read_stream(&pair.extra["origin_stream"])
    }

    fn empty_target(&self) -> Pair {
        let base = common::unique("cft").replace('-', "_");
        let name = base.to_uppercase();
        let subject = format!("{base}.in");
        self.stream(&name, &subject);
        let mut extra = BTreeMap::new();
        extra.insert("origin_stream".into(), name.clone());
        Pair {
            dlq: name,
            origin: subject,
            extra,
        }
    }

    fn lagging(&self) -> (String, Pair) {
        let pair = self.empty_target();
        self.publish(&pair.origin, &Msg::new("waiting"), &[]);
        self.rt.block_on(async {
            let s = self.js.get_stream(&pair.dlq).await.unwrap();
            s.create_consumer(consumer::pull::Config {
                durable_name: Some("worker".into()),
                ..Default::default()
            })
            .await
            .expect("consumer");
        });
        (pair.dlq.clone(), pair)
    }

    fn relay_target(&self) -> Option<String> {
        Some(common::host_port(&self.url))
    }

    fn args_via(&self, port: u16) -> Vec<String> {
        vec!["-b".into(), format!("nats://127.0.0.1:{port}")]
    }

    fn missing_target(&self) -> String {
        format!(
            "no.stream.captures.{}",
            common::unique("x").replace('-', "_")
        )
    }

    fn cleanup(&self, pair: &Pair) {
        self.rt.block_on(async {
            let _ = self.js.delete_stream(&pair.dlq).await;
            let _ = self.js.delete_stream(&pair.extra["origin_stream"]).await;
        });
    }
}
