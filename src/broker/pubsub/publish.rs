//! Publishing to a topic: batched Publish calls whose answers confirm each
//! message, for `publish` (through the one publish loop, `bulk::publish`)
//! and for the copies `retry` sends.
//!
//! A [`Batch`] gathers messages for one topic until it holds `BATCH`
//! messages or `BATCH_BYTES` (under Pub/Sub's 1,000 messages and 10 MB a
//! call), then sends them in one Publish call on a task of its own; each
//! message gets a [`Confirm`] that resolves when the call answers, with the
//! messageId the server gave it. Calls run side by side, so as many
//! confirms are in flight as the caller's window allows. A call the server
//! refuses as a whole for a message's sake (InvalidArgument) is sent again
//! one message a call, so only the refused message fails; a topic that is
//! gone or a server that fails stops the run. Pub/Sub's limits on
//! attributes (names up to 256 bytes, values up to 1,024, at most 100, no
//! `goog` prefix) and its rule that a message has data or an attribute are
//! checked before sending ([`message`]), since the emulator does not check
//! them and Google's service would refuse the whole call.

use std::collections::HashMap;

use anyhow::Result;
use async_trait::async_trait;
use gcloud_gax::conn::Channel;
use gcloud_gax::grpc::{Code, Request, Status};
use gcloud_googleapis::pubsub::v1::publisher_client::PublisherClient as Raw;
use gcloud_googleapis::pubsub::v1::{GetTopicRequest, PublishRequest, PubsubMessage};
use tokio::sync::oneshot;

use super::errors::{fail, is_not_found};
use super::names::Kind;
use super::{PubSub, NAME};
use crate::broker::OutgoingMessage;
use crate::bulk::publish::{Confirm, Publisher, Refusal};
use crate::exit::{broker_msg, not_found};
use crate::message::value_text;

/// Messages and bytes in one Publish call at most.
const BATCH: usize = 1000;
const BATCH_BYTES: usize = 8 << 20;
/// Confirms `publish` awaits at once.
const WINDOW: usize = 8 * BATCH;
/// Pub/Sub's limits on one message.
const MAX_ATTRIBUTES: usize = 100;
const MAX_ATTRIBUTE_NAME: usize = 256;
const MAX_ATTRIBUTE_VALUE: usize = 1024;
const MAX_ORDERING_KEY: usize = 1024;
const MAX_MESSAGE: usize = 10_000_000;

/// A message's confirm as the caller awaits it.
type Answer = Result<String, Refusal>;

/// dlq's message as a Pub/Sub message, or why Pub/Sub would refuse it.
pub fn message(out: OutgoingMessage) -> Result<PubsubMessage, String> {
    if out.headers.len() > MAX_ATTRIBUTES {
        return Err(format!(
            "Pub/Sub takes at most {MAX_ATTRIBUTES} attributes a message; this one has {}",
            out.headers.len()
        ));
    }
    let mut attributes = HashMap::with_capacity(out.headers.len());
    let mut size = out.body.len();
    for (k, v) in &out.headers {
        let v = value_text(v);
        if k.is_empty() || k.len() > MAX_ATTRIBUTE_NAME {
            return Err(format!(
                "attribute name {k:?} is not 1 to {MAX_ATTRIBUTE_NAME} bytes long, as Pub/Sub requires"
            ));
        }
        if k.to_ascii_lowercase().starts_with("goog") {
            return Err(format!(
                "attribute name {k:?} starts with \"goog\", which Pub/Sub reserves"
            ));
        }
        if v.len() > MAX_ATTRIBUTE_VALUE {
            return Err(format!(
                "attribute {k:?} is {} bytes long; Pub/Sub takes at most {MAX_ATTRIBUTE_VALUE}",
                v.len()
            ));
        }
        size += k.len() + v.len();
        attributes.insert(k.clone(), v);
    }
    if out.body.is_empty() && attributes.is_empty() {
        return Err("Pub/Sub needs a message to have a body or an attribute".into());
    }
    let ordering_key = out.key.unwrap_or_default();
    if ordering_key.len() > MAX_ORDERING_KEY {
        return Err(format!(
            "the ordering key is {} bytes long; Pub/Sub takes at most {MAX_ORDERING_KEY}",
            ordering_key.len()
        ));
    }
    size += ordering_key.len();
    if size > MAX_MESSAGE {
        return Err(format!(
            "the message is {size} bytes long; Pub/Sub takes at most {MAX_MESSAGE}"
        ));
    }
    Ok(PubsubMessage {
        data: out.body,
        attributes,
        ordering_key,
        ..Default::default()
    })
}

/// Messages for one topic, gathered into Publish calls; see the module docs.
pub struct Batch {
    client: Raw<Channel>,
    /// The topic's path, and its name as the operator gave it.
    topic: String,
    shown: String,
    timeout: std::time::Duration,
    waiting: Vec<(PubsubMessage, oneshot::Sender<Answer>)>,
    bytes: usize,
}

impl Batch {
    pub fn new(ps: &PubSub, topic: String) -> Self {
        Batch {
            client: ps.topics().max_decoding_message_size(64 << 20),
            shown: ps.names.short(&topic),
            topic,
            timeout: ps.timeout,
            waiting: Vec::new(),
            bytes: 0,
        }
    }

    /// The topic, as shown.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Adds a message; the answer comes once its call answers (after
    /// [`Batch::flush`] at the latest).
    pub fn add(&mut self, m: PubsubMessage) -> oneshot::Receiver<Answer> {
        let size = m.data.len()
            + m.attributes
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        if !self.waiting.is_empty() && self.bytes + size > BATCH_BYTES {
            self.flush();
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.push((m, tx));
        self.bytes += size;
        if self.waiting.len() >= BATCH {
            self.flush();
        }
        rx
    }

    /// Sends what is gathered in one call, on a task of its own.
    pub fn flush(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.waiting);
        self.bytes = 0;
        let (client, topic, shown, timeout) = (
            self.client.clone(),
            self.topic.clone(),
            self.shown.clone(),
            self.timeout,
        );
        tokio::spawn(async move {
            let (msgs, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            match call(client.clone(), &topic, msgs.clone(), timeout).await {
                Ok(ids) if ids.len() == answers.len() => {
                    for (tx, id) in answers.into_iter().zip(ids) {
                        let _ = tx.send(Ok(id));
                    }
                }
                Ok(_) => {
                    for tx in answers {
                        let _ = tx.send(Err(Refusal::Broker(broker_msg(format!(
                            "{NAME}: publishing to {shown}: the server answered with a wrong number of message IDs"
                        )))));
                    }
                }
                // Find the message refused: each alone.
                Err(s) if s.code() == Code::InvalidArgument && msgs.len() > 1 => {
                    for (m, tx) in msgs.into_iter().zip(answers) {
                        let r = call(client.clone(), &topic, vec![m], timeout).await;
                        let _ = tx.send(answer(r, &shown));
                    }
                }
                Err(s) => {
                    for tx in answers {
                        let _ = tx.send(answer(Err(s.clone()), &shown));
                    }
                }
            }
        });
    }
}

/// One Publish call.
async fn call(
    mut client: Raw<Channel>,
    topic: &str,
    messages: Vec<PubsubMessage>,
    timeout: std::time::Duration,
) -> Result<Vec<String>, Status> {
    let mut req = Request::new(PublishRequest {
        topic: topic.to_owned(),
        messages,
    });
    req.set_timeout(timeout);
    if let Ok(v) = format!("topic={topic}").parse() {
        req.metadata_mut().insert("x-goog-request-params", v);
    }
    Ok(client.publish(req).await?.into_inner().message_ids)
}

/// The answer for one message of a call.
fn answer(r: Result<Vec<String>, Status>, shown: &str) -> Answer {
    match r {
        Ok(ids) => Ok(ids.into_iter().next().unwrap_or_default()),
        Err(s) if s.code() == Code::InvalidArgument => Err(Refusal::Message(format!(
            "{NAME} refused it: {}",
            s.message().trim()
        ))),
        Err(s) if is_not_found(&s) => Err(Refusal::Broker(not_found(
            format!("{NAME}: topic '{shown}' not found (it was deleted during the run)"),
            None,
        ))),
        Err(s) => Err(Refusal::Broker(fail(&format!("publishing to {shown}"), s))),
    }
}

impl PubSub {
    /// The path of topic `name`, which must exist (exit 4 when it does not).
    pub async fn existing_topic(&self, name: &str) -> Result<String> {
        let path = self.names.path(Kind::Topic, name)?;
        let req = gcloud_gax::create_request(
            format!("topic={path}"),
            GetTopicRequest {
                topic: path.clone(),
            },
        );
        match self.topics().get_topic(req).await {
            Ok(_) => Ok(path),
            Err(s) if is_not_found(&s) => {
                let project = path.split('/').nth(1).unwrap_or(&self.names.project);
                Err(not_found(
                    format!("{NAME}: topic '{name}' not found in project '{project}'"),
                    Some(Box::new(s)),
                ))
            }
            Err(s) => Err(fail(&format!("reading topic '{name}'"), s)),
        }
    }
}

/// What `publish` sends through.
pub struct Sender {
    batch: Batch,
    /// `--key`: the ordering key of a message that has none of its own.
    key: Option<String>,
}

impl Sender {
    pub async fn open(ps: &PubSub, target: &str, key: Option<String>) -> Result<Sender> {
        let topic = ps.existing_topic(target).await?;
        Ok(Sender {
            batch: Batch::new(ps, topic),
            key,
        })
    }
}

#[async_trait]
impl Publisher for Sender {
    fn destination(&self) -> String {
        self.batch.shown().to_owned()
    }

    fn window(&self) -> usize {
        WINDOW
    }

    async fn send(&mut self, mut msg: OutgoingMessage) -> Result<Confirm, Refusal> {
        if msg.key.is_none() {
            msg.key.clone_from(&self.key);
        }
        let m = message(msg).map_err(Refusal::Message)?;
        let rx = self.batch.add(m);
        Ok(Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| {
                    Err(Refusal::Broker(broker_msg(format!(
                        "{NAME}: the publish call ended without an answer"
                    ))))
                })
                .map(Some)
        }))
    }

    async fn flush(&mut self) {
        self.batch.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn out(body: &str, headers: &[(&str, String)]) -> OutgoingMessage {
        OutgoingMessage {
            body: body.as_bytes().to_vec(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn limits_are_checked_before_sending() {
        let m = message(OutgoingMessage {
            key: Some("customer-7".into()),
            ..out("x", &[("tenant", "acme".into())])
        })
        .unwrap();
        assert_eq!(m.ordering_key, "customer-7");
        assert_eq!(m.attributes["tenant"], "acme");
        assert!(message(out("", &[]))
            .unwrap_err()
            .contains("body or an attribute"));
        assert!(message(out("", &[("a", "1".into())])).is_ok());
        assert!(message(out("x", &[("h", "v".repeat(1025))]))
            .unwrap_err()
            .contains("1024"));
        assert!(message(out("x", &[("googx", "1".into())]))
            .unwrap_err()
            .contains("goog"));
        let mut many = out("x", &[]);
        for i in 0..101 {
            many.headers.insert(format!("h{i}"), json!("v"));
        }
        assert!(message(many).unwrap_err().contains("at most 100"));
    }
}
