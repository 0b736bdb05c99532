//! The one SQS harness of the tests (the per-broker files, the conformance
//! fixture, conventions, TLS): aws-sdk-sqs used directly, not dlq's code,
//! blocking wrappers over it, and a `dlq` command wired to the test server
//! (moto on 127.0.0.1:4566, or `DLQ_TEST_SQS_ENDPOINT`).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};
use aws_sdk_sqs::Client;

use crate::common;

pub const ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
];

pub struct Moto {
    pub rt: tokio::runtime::Runtime,
    pub c: Client,
}

/// An attribute as the tests write it: (name, data type, value); Binary
/// values are given as raw bytes in `value`.
pub type Attr<'a> = (&'a str, &'a str, &'a [u8]);

impl Moto {
    pub fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(common::sqs_endpoint())
            .build();
        Moto {
            rt,
            c: Client::from_conf(conf),
        }
    }

    /// `dlq -b sqs://us-east-1 --endpoint-url ...` with test credentials.
    pub fn dlq(&self) -> Command {
        let mut c = common::dlq("sqs://us-east-1");
        for (k, v) in ENV {
            c.env(k, v);
        }
        c.env_remove("AWS_ENDPOINT_URL").env_remove("AWS_PROFILE");
        c.arg("--endpoint-url").arg(common::sqs_endpoint());
        c
    }

    /// The URL of the queue `name`, None when there is none.
    pub fn url_of(&self, name: &str) -> Option<String> {
        let out = self
            .rt
            .block_on(self.c.get_queue_url().queue_name(name).send());
        Some(out.ok()?.queue_url()?.to_owned())
    }

    pub fn set_attr(&self, url: &str, name: QueueAttributeName, value: &str) {
        let req = self.c.set_queue_attributes().queue_url(url);
        self.rt
            .block_on(req.attributes(name, value).send())
            .expect("set queue attributes");
    }

    pub fn create(&self, name: &str, attrs: &[(QueueAttributeName, String)]) -> String {
        self.rt.block_on(async {
            let mut req = self.c.create_queue().queue_name(name);
            for (k, v) in attrs {
                req = req.attributes(k.clone(), v);
            }
            req.send().await.unwrap().queue_url().unwrap().to_owned()
        })
    }

    pub fn attr(&self, url: &str, name: QueueAttributeName) -> String {
        self.rt.block_on(async {
            let out = self
                .c
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
                .unwrap();
            out.attributes()
                .and_then(|a| a.get(&name))
                .cloned()
                .unwrap_or_default()
        })
    }

    /// (visible, in flight).
    pub fn counts(&self, url: &str) -> (u64, u64) {
        (
            self.attr(url, QueueAttributeName::ApproximateNumberOfMessages)
                .parse()
                .unwrap(),
            self.attr(
                url,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            )
            .parse()
            .unwrap(),
        )
    }

    /// A DLQ and a source queue dead-lettering into it after one receive;
    /// returns (source name, source URL, DLQ name, DLQ URL).
    pub fn pair(&self, prefix: &str, fifo: bool) -> (String, String, String, String) {
        let sfx = if fifo { ".fifo" } else { "" };
        let base = common::unique(prefix);
        let dlq_name = format!("{base}-dlq{sfx}");
        let src_name = format!("{base}{sfx}");
        let mut attrs = vec![];
        if fifo {
            attrs.push((QueueAttributeName::FifoQueue, "true".to_owned()));
        }
        let dlq = self.create(&dlq_name, &attrs);
        let arn = self.attr(&dlq, QueueAttributeName::QueueArn);
        attrs.push((
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"1"}}"#),
        ));
        attrs.push((QueueAttributeName::VisibilityTimeout, "0".to_owned()));
        let src = self.create(&src_name, &attrs);
        (src_name, src, dlq_name, dlq)
    }

    pub fn send(&self, url: &str, body: &str, attrs: &[Attr], group: Option<&str>) -> String {
        self.rt.block_on(async {
            let mut req = self.c.send_message().queue_url(url).message_body(body);
            for (name, ty, value) in attrs {
                let v = MessageAttributeValue::builder().data_type(*ty);
                let v = if ty.starts_with("Binary") {
                    v.binary_value(Blob::new(value.to_vec()))
                } else {
                    v.string_value(String::from_utf8(value.to_vec()).unwrap())
                };
                req = req.message_attributes(*name, v.build().unwrap());
            }
            if let Some(g) = group {
                req = req
                    .message_group_id(g)
                    .message_deduplication_id(common::unique("d"));
            }
            req.send().await.unwrap().message_id().unwrap().to_owned()
        })
    }

    /// Receives from the source (visibility 0) until `n` messages sit in
    /// the DLQ: a real RedrivePolicy at work.
    pub fn dead_letter(&self, src: &str, dlq: &str, n: u64) {
        common::wait_for("messages to dead-letter", Duration::from_secs(60), || {
            self.rt.block_on(async {
                self.c
                    .receive_message()
                    .queue_url(src)
                    .max_number_of_messages(10)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            });
            (self.counts(dlq).0 >= n).then_some(())
        });
    }

    /// One receive of up to 10 messages with all attributes, kept invisible
    /// for 60 s, waiting up to `wait` seconds for the first.
    fn receive(&self, url: &str, wait: i32) -> Vec<Message> {
        self.rt.block_on(async {
            self.c
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .wait_time_seconds(wait)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default()
        })
    }

    /// Receives every message of a queue (kept invisible for 60 s so each
    /// comes once), with all attributes, in receive order.
    pub fn take_all(&self, url: &str) -> Vec<Message> {
        let mut out: Vec<Message> = Vec::new();
        let mut seen = HashSet::new();
        loop {
            let batch = self.receive(url, 1);
            if batch.is_empty() {
                return out;
            }
            out.extend(
                batch
                    .into_iter()
                    .filter(|m| seen.insert(m.message_id().map(str::to_owned))),
            );
        }
    }

    /// Every message of a queue, received once each with all attributes and
    /// made visible again at once.
    pub fn peek_all(&self, url: &str) -> Vec<Message> {
        let mut out: Vec<Message> = Vec::new();
        let mut seen = HashSet::new();
        let mut handles = Vec::new();
        let mut empty = 0;
        while empty < 2 {
            let batch = self.receive(url, 0);
            if batch.is_empty() {
                empty += 1;
            }
            for m in batch {
                handles.extend(m.receipt_handle().map(str::to_owned));
                if seen.insert(m.message_id().map(str::to_owned)) {
                    out.push(m);
                }
            }
        }
        for h in handles {
            let req = self.c.change_message_visibility().queue_url(url);
            let _ = self
                .rt
                .block_on(req.receipt_handle(h).visibility_timeout(0).send());
        }
        out
    }

    pub fn delete_queue(&self, url: &str) {
        self.rt.block_on(async {
            let _ = self.c.delete_queue().queue_url(url).send().await;
        });
    }
}

/// A message's attributes as (type, bytes), for byte-for-byte comparison.
pub fn attrs_of(m: &Message) -> HashMap<String, (String, Vec<u8>)> {
    m.message_attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| {
                    let bytes = match v.binary_value() {
                        Some(b) => b.as_ref().to_vec(),
                        None => v.string_value().unwrap_or_default().as_bytes().to_vec(),
                    };
                    (k.clone(), (v.data_type().to_owned(), bytes))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn group_of(m: &Message) -> Option<String> {
    m.attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
        .cloned()
}
