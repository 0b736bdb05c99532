//! A pulled Pub/Sub message as dlq's message.
//!
//! The ID is the messageId; attributes are the headers (sorted by name, as
//! Pub/Sub keeps no order), the ordering key is the key, and `broker` holds
//! the message ID, publish time, ordering key and delivery attempt (null on
//! a subscription without a dead-letter policy, where Pub/Sub counts none).
//! The dead-letter fields come from the conventions table; the
//! `pubsub-dead-letter` convention takes its origin from the fact
//! `source_topic`, the topic of the subscription the message died on, which
//! the caller asks of the server.

use std::time::{Duration, UNIX_EPOCH};

use gcloud_googleapis::pubsub::v1::ReceivedMessage;
use serde_json::{json, Map, Value};

use crate::broker::Message;
use crate::conventions::{self, Input};
use crate::message::{rfc3339, Headers};

/// The attribute that names the subscription a dead letter died on.
pub const SOURCE_SUBSCRIPTION: &str = "CloudPubSubDeadLetterSourceSubscription";
/// ... and its project.
pub const SOURCE_PROJECT: &str = "CloudPubSubDeadLetterSourceSubscriptionProject";

/// Builds the message; `source_topic` is the topic of its source
/// subscription when it is a dead letter whose source still exists.
pub fn to_message(rm: ReceivedMessage, queue: &str, source_topic: Option<String>) -> Message {
    let m = rm.message.unwrap_or_default();
    let mut attrs: Vec<(String, String)> = m.attributes.into_iter().collect();
    attrs.sort();
    let headers: Headers = attrs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let published = m.publish_time.and_then(|t| {
        let secs = u64::try_from(t.seconds).ok()?;
        Some(UNIX_EPOCH + Duration::new(secs, u32::try_from(t.nanos).unwrap_or(0)))
    });
    let key = Some(m.ordering_key).filter(|k| !k.is_empty());
    let mut broker = Map::new();
    broker.insert("message_id".into(), json!(m.message_id));
    broker.insert("publish_time".into(), json!(published.map(rfc3339)));
    broker.insert("ordering_key".into(), json!(key));
    broker.insert(
        "delivery_attempt".into(),
        json!(Some(rm.delivery_attempt).filter(|a| *a > 0)),
    );
    let mut facts = Map::new();
    if let Some(t) = source_topic {
        facts.insert("source_topic".into(), Value::String(t));
    }
    let dead_letter = conventions::read(&Input {
        headers: &headers,
        broker: &broker,
        body: &m.data,
        stored_at: published,
        facts: &facts,
    });
    Message {
        id: m.message_id,
        queue: queue.to_owned(),
        timestamp: published,
        headers,
        key,
        body: m.data,
        dead_letter,
        broker,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::OriginKind;
    use gcloud_googleapis::pubsub::v1::PubsubMessage;

    fn dead_letter() -> ReceivedMessage {
        let attributes = [
            ("tenant", "acme"),
            ("CloudPubSubDeadLetterSourceDeliveryCount", "5"),
            (SOURCE_SUBSCRIPTION, "orders-sub"),
            (
                "CloudPubSubDeadLetterSourceTopicPublishTime",
                "2026-12-06T01:20:01.260Z",
            ),
            (SOURCE_PROJECT, "shop"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut message = PubsubMessage {
            data: b"{\"id\":1}".to_vec(),
            attributes,
            message_id: "17".into(),
            ..Default::default()
        };
        let published = message.publish_time.get_or_insert_with(Default::default);
        published.seconds = 1_796_520_003;
        published.nanos = 120_000_000;
        ReceivedMessage {
            ack_id: "a1".into(),
            message: Some(message),
            delivery_attempt: 0,
        }
    }

    #[test]
    fn a_dead_letter_reads_as_the_convention_says() {
        let m = to_message(dead_letter(), "orders-dlq-sub", Some("orders".into()));
        assert_eq!(m.id, "17");
        assert_eq!(m.key, None);
        let dl = &m.dead_letter;
        assert_eq!(dl.convention, Some("pubsub-dead-letter"));
        assert_eq!(dl.source.as_deref(), Some("orders-sub"));
        assert_eq!(dl.attempts, Some(5));
        assert_eq!(dl.reason, None);
        assert_eq!(
            dl.first_death_at.map(rfc3339).as_deref(),
            Some("2026-12-06T01:20:03.120Z")
        );
        let origin = dl.origin.as_ref().unwrap();
        assert_eq!(
            (origin.kind, origin.name.as_str()),
            (OriginKind::Topic, "orders")
        );
        let keys: Vec<&str> = m.headers.keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(m.broker["delivery_attempt"], Value::Null);
        assert_eq!(m.broker["publish_time"], "2026-12-06T01:20:03.120Z");
    }

    #[test]
    fn without_its_source_there_is_no_origin() {
        let m = to_message(dead_letter(), "orders-dlq-sub", None);
        assert_eq!(m.dead_letter.convention, Some("pubsub-dead-letter"));
        assert_eq!(m.dead_letter.origin, None);
    }

    #[test]
    fn ordering_key_and_delivery_attempt() {
        let mut rm = dead_letter();
        rm.delivery_attempt = 3;
        rm.message.as_mut().unwrap().ordering_key = "customer-7".into();
        let m = to_message(rm, "q", None);
        assert_eq!(m.key.as_deref(), Some("customer-7"));
        assert_eq!(m.broker["ordering_key"], "customer-7");
        assert_eq!(m.broker["delivery_attempt"], 3);
    }
}
