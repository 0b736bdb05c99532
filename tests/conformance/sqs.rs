//! SQS fixture on the SQS harness (`tests/sqs_support`): an origin queue with a RedrivePolicy (maxReceiveCount 1)
//! into its DLQ; messages are received past that count so the server moves
//! them itself. Reads receive and make visible again at once.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;

use super::common;
use super::fixture::{edge_set, Fixture, Msg, Pair};
use super::sqs_support::Moto;

pub struct Sqs {
    m: Moto,
    /// `moto` or `fauxqs` (`DLQ_TEST_SQS_SERVER`), for its gaps.
    server: String,
}

impl Sqs {
    pub fn new() -> Self {
        // dlq reads its credentials from the environment, as the suite runs it.
        for (k, v) in super::sqs_support::ENV {
            if std::env::var_os(k).is_none() {
                std::env::set_var(k, v);
            }
        }
        Sqs {
            m: Moto::new(),
            server: common::sqs_server(),
        }
    }

    fn url(&self, name: &str) -> String {
        self.m.url_of(name).expect("queue url")
    }

    fn send(&self, url: &str, m: &Msg) {
        let attrs: Vec<(&str, &str, &[u8])> = m
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), "String", v.as_bytes()))
            .collect();
        let body = std::str::from_utf8(&m.body).expect("SQS bodies are text");
        self.m.send(url, body, &attrs, None);
    }

    /// Every message, received and made visible again at once.
    fn read(&self, url: &str) -> Vec<Msg> {
        self.m
            .peek_all(url)
            .iter()
            .map(|m| Msg {
                body: m.body().unwrap_or_default().as_bytes().to_vec(),
                headers: m
                    .message_attributes()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_owned()))
                    .collect(),
                key: None,
            })
            .collect()
    }
}

impl Fixture for Sqs {
    fn name(&self) -> &'static str {
        "sqs"
    }

    fn args(&self) -> Vec<String> {
        vec![
            "-b".into(),
            "sqs://us-east-1".into(),
            "--endpoint-url".into(),
            common::sqs_endpoint(),
        ]
    }

    fn ordered(&self) -> bool {
        false
    }

    fn edge_messages(&self) -> Vec<Msg> {
        // SQS bodies are non-empty XML text (no NUL, no C0 controls but tab and
        // newlines) of at most 256 KiB with attributes; at most 10 attributes.
        edge_set(200 * 1024, false, false)
            .into_iter()
            .filter(|m| !m.body.is_empty())
            .filter(|m| {
                String::from_utf8_lossy(&m.body)
                    .chars()
                    .all(|c| !c.is_control() || "\t\n\r".contains(c))
            })
            // fauxqs refuses characters past U+FFFF (emoji), which SQS takes.
            .filter(|m| {
                self.server != "fauxqs"
                    || String::from_utf8_lossy(&m.body)
                        .chars()
                        .all(|c| c <= '\u{ffff}')
            })
            .collect()
    }

    fn dead_letters(&self, msgs: &[Msg]) -> Pair {
        let (origin, origin_url, dlq, dlq_url) = self.m.pair("cf-orders", false);
        for m in msgs {
            self.send(&origin_url, m);
        }
        self.m.dead_letter(&origin_url, &dlq_url, msgs.len() as u64);
        // Keep the link to the DLQ (its source queue) but let later reads of the
        // origin receive without pushing anything back into the DLQ.
        let arn = self.m.attr(&dlq_url, QueueAttributeName::QueueArn);
        let relaxed = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"1000"}}"#);
        self.m
            .set_attr(&origin_url, QueueAttributeName::RedrivePolicy, &relaxed);
        Pair {
            dlq,
            origin,
            extra: BTreeMap::new(),
        }
    }

    fn read_dlq(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&self.url(&pair.dlq))
    }

    fn read_origin(&self, pair: &Pair) -> Vec<Msg> {
        self.read(&self.url(&pair.origin))
    }

    fn empty_target(&self) -> Pair {
        let origin = common::unique("cf-target");
        self.m.create(&origin, &[]);
        Pair {
            dlq: origin.clone(),
            origin,
            extra: BTreeMap::new(),
        }
    }

    fn refusing_target(&self) -> (Pair, String) {
        // SQS carries at most 10 message attributes.
        let headers: serde_json::Map<String, serde_json::Value> = (0..11)
            .map(|i| (format!("h{i}"), serde_json::json!("v")))
            .collect();
        let line = serde_json::json!({ "body": "eleven headers", "headers": headers });
        (self.empty_target(), line.to_string())
    }

    fn lagging(&self) -> (String, Pair) {
        let pair = self.empty_target();
        self.send(&self.url(&pair.origin), &Msg::new("waiting"));
        (pair.origin.clone(), pair)
    }

    fn bulk_size(&self) -> usize {
        60
    }

    fn kill_points(&self) -> usize {
        2
    }

    fn slow_rate(&self) -> u32 {
        10
    }

    fn clean_stop_duplicates(&self) -> usize {
        10
    }

    fn settle(&self, pair: &Pair) {
        // Messages a killed run received come back when their visibility timeout ends.
        for name in [&pair.dlq, &pair.origin] {
            let url = self.url(name);
            common::wait_for(
                "in-flight messages to come back",
                Duration::from_secs(180),
                || {
                    // fauxqs counts a message visible again only at the next
                    // receive, and counts what that receive took as not visible.
                    let mut taken = 0;
                    if self.server == "fauxqs" {
                        let req = self.m.c.receive_message().queue_url(&url);
                        let req = req.max_number_of_messages(1).visibility_timeout(0);
                        taken = self.m.rt.block_on(req.send()).ok()?.messages().len() as u64;
                    }
                    (self.m.counts(&url).1 <= taken).then_some(())
                },
            );
        }
    }

    fn relay_target(&self) -> String {
        common::sqs_endpoint()
            .trim_start_matches("http://")
            .to_owned()
    }

    fn args_via(&self, port: u16) -> Vec<String> {
        vec![
            "-b".into(),
            "sqs://us-east-1".into(),
            "--endpoint-url".into(),
            format!("http://127.0.0.1:{port}"),
        ]
    }

    fn cleanup(&self, pair: &Pair) {
        for name in [&pair.dlq, &pair.origin] {
            if let Some(url) = self.m.url_of(name) {
                self.m.delete_queue(&url);
            }
        }
    }
}
