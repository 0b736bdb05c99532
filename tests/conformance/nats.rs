//! NATS fixture on the NATS harness (`tests/nats/support.rs`): a DLQ stream of copies, each carrying the subject it was
//! first published to in `dlq-original-subject`, and an origin stream that
//! captures that subject.

use std::collections::BTreeMap;

use async_nats::jetstream::{self, consumer};
use async_nats::HeaderMap;

use super::common;
use super::fixture::{edge_set, Fixture, Msg, Pair};
use super::nats_support as nats;

pub struct Nats {
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
    url: String,
}

impl Nats {
    pub fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let js = rt.block_on(nats::js());
        // The test matrix runs this suite on several versions: say which.
        eprintln!("nats: server {}", js.client().server_info().version);
        Nats {
            rt,
            js,
            url: common::nats_url(),
        }
    }

    fn stream(&self, name: &str, subject: &str) {
        let subjects = vec![subject.to_owned()];
        self.rt
            .block_on(nats::stream(&self.js, name, subjects, false));
    }

    fn publish(&self, subject: &str, m: &Msg, extra: &[(&str, &str)]) {
        let mut headers = HeaderMap::new();
        for (k, v) in m.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())) {
            headers.insert(k, v);
        }
        for (k, v) in extra {
            headers.insert(*k, *v);
        }
        self.rt
            .block_on(nats::publish(&self.js, subject, headers, &m.body));
    }

    fn read_stream(&self, name: &str) -> Vec<Msg> {
        let all = self.rt.block_on(nats::messages(&self.js, name));
        all.into_iter()
            .map(|(_, _, h, body)| Msg {
                body,
                headers: h
                    .iter()
                    .filter_map(|(k, vs)| Some((k.to_string(), vs.first()?.as_str().to_owned())))
                    .collect(),
                key: None,
            })
            .collect()
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
        extra.insert("dlq_subject".into(), dlq_subject);
        Pair {
            dlq: dlq_stream,
            origin: origin_subject,
            extra,
        }
    }

    fn follow_target(&self, pair: &Pair) -> Option<String> {
        pair.extra.get("dlq_subject").cloned()
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

    fn kill_size(&self) -> usize {
        // Re-driven copies are taken off in purges of up to 4096.
        10_000
    }

    fn refusing_target(&self) -> (Pair, String) {
        // A header value with a line break cannot be carried over NATS.
        let line = serde_json::json!({ "body": "line break", "headers": { "h": "a\nb" } });
        (self.empty_target(), line.to_string())
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

    fn relay_target(&self) -> String {
        common::host_port(&self.url)
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

    fn missing_publish_exit(&self) -> i32 {
        0
    }

    fn cleanup(&self, pair: &Pair) {
        self.rt.block_on(async {
            let _ = self.js.delete_stream(&pair.dlq).await;
            let _ = self.js.delete_stream(&pair.extra["origin_stream"]).await;
        });
    }
}
