//! SQS fixture: an origin queue with a RedrivePolicy (maxReceiveCount 1)
//! into its DLQ; messages are received past that count so the server moves
//! them itself. Reads receive and make visible again at once.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;

use super::common;
use super::fixture::{edge_set, Fixture, Msg, Pair};

pub struct Sqs {
    rt: tokio::runtime::Runtime,
    client: Client,
    /// `moto` or `fauxqs` (`DLQ_TEST_SQS_SERVER`), for its gaps.
    server: String,
}

fn set_env() {
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ] {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, v);
        }
    }
}

impl Sqs {
    pub fn new() -> Self {
        set_env();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let conf = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(common::sqs_endpoint())
                .region(aws_config::Region::new("us-east-1"))
                .load(),
        );
        Sqs {
            rt,
            client: Client::new(&conf),
            server: common::sqs_server(),
        }
    }

    fn create(&self, name: &str, attrs: Vec<(QueueAttributeName, String)>) -> String {
        let mut req = self.client.create_queue().queue_name(name);
        for (k, v) in attrs {
            req = req.attributes(k, v);
        }
        self.rt
            .block_on(req.send())
            .expect("create queue")
            .queue_url()
            .unwrap()
            .to_owned()
    }

    fn url(&self, name: &str) -> String {
        self.rt
            .block_on(self.client.get_queue_url().queue_name(name).send())
            .expect("queue url")
            .queue_url()
            .unwrap()
            .to_owned()
    }

    fn depth(&self, url: &str) -> usize {
        let out = self
            .rt
            .block_on(
                self.client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .send(),
            )
            .expect("attributes");
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn send(&self, url: &str, m: &Msg) {
        let mut req = self
            .client
            .send_message()
            .queue_url(url)
            .message_body(String::from_utf8(m.body.clone()).expect("SQS bodies are text"));
        for (k, v) in &m.headers {
            req = req.message_attributes(
                k,
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .unwrap(),
            );
        }
        self.rt.block_on(req.send()).expect("send");
    }

    /// Every message, received and made visible again at once.
    fn read(&self, url: &str) -> Vec<Msg> {
        self.rt.block_on(async {
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            let mut handles = Vec::new();
            let mut empty = 0;
            while empty < 2 {
                let got = self
                    .client
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .visibility_timeout(60)
                    .wait_time_seconds(0)
                    .message_attribute_names("All")
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .send()
                    .await
                    .expect("receive");
                let msgs = got.messages();
                if msgs.is_empty() {
                    empty += 1;
                    continue;
                }
                for m in msgs {
                    handles.push(m.receipt_handle().unwrap().to_owned());
                    if !seen.insert(m.message_id().unwrap().to_owned()) {
                        continue;
                    }
                    let mut headers = BTreeMap::new();
                    for (k, v) in m.message_attributes().into_iter().flatten() {
                        headers.insert(k.clone(), v.string_value().unwrap_or_default().to_owned());
                    }
                    out.push(Msg {
                        body: m.body().unwrap_or_default().as_bytes().to_vec(),
                        headers,
                        key: None,
                    });
                }
            }
            for h in handles {
                let _ = self
                    .client
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(h)
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
            out
        })
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
        let origin = common::unique("cf-orders");
        let dlq = format!("{origin}-dlq");
        let dlq_url = self.create(&dlq, vec![]);
        let arn = self
            .rt
            .block_on(
                self.client
                    .get_queue_attributes()
                    .queue_url(&dlq_url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send(),
            )
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let policy = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"1"}}"#);
        let origin_url = self.create(&origin, vec![(QueueAttributeName::RedrivePolicy, policy)]);
        for m in msgs {
            self.send(&origin_url, m);
        }
        common::wait_for("dead letters", Duration::from_secs(60), || {
            let _ = self.rt.block_on(
                self.client
                    .receive_message()
                    .queue_url(&origin_url)
                    .max_number_of_messages(10)
                    .visibility_timeout(0)
                    .send(),
            );
            (self.depth(&dlq_url) >= msgs.len()).then_some(())
        });
        // Keep the link to the DLQ (its source queue) but let later reads of the
        // origin receive without pushing anything back into the DLQ.
        let relaxed = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"1000"}}"#);
        self.rt
            .block_on(
                self.client
                    .set_queue_attributes()
                    .queue_url(&origin_url)
                    .attributes(QueueAttributeName::RedrivePolicy, relaxed)
                    .send(),
            )
            .expect("relax redrive policy");
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
        self.create(&origin, vec![]);
        Pair {
            dlq: origin.clone(),
            origin,
            extra: BTreeMap::new(),
        }
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
                        taken = self
                            .rt
                            .block_on(
                                self.client
                                    .receive_message()
                                    .queue_url(&url)
                                    .max_number_of_messages(1)
                                    .visibility_timeout(0)
                                    .send(),
                            )
                            .ok()?
                            .messages()
                            .len() as u64;
                    }
                    let out = self
                        .rt
                        .block_on(
                            self.client
                                .get_queue_attributes()
                                .queue_url(&url)
                                .attribute_names(
                                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                                )
                                .send(),
                        )
                        .ok()?;
                    let n: u64 = out
                        .attributes()?
                        .get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?
                        .parse()
                        .ok()?;
                    (n <= taken).then_some(())
                },
            );
        }
    }

    fn relay_target(&self) -> Option<String> {
        Some(
            common::sqs_endpoint()
                .trim_start_matches("http://")
                .to_owned(),
        )
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
            if let Ok(out) = self
                .rt
                .block_on(self.client.get_queue_url().queue_name(name).send())
            {
                let _ = self.rt.block_on(
                    self.client
                        .delete_queue()
                        .queue_url(out.queue_url().unwrap_or_default())
                        .send(),
                );
            }
        }
    }
}
