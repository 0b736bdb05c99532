//! Kafka records to dlq messages and back.
//!
//! A record becomes a [`Message`] with ID `PARTITION:OFFSET`. Keys and header
//! values are bytes in Kafka but text in the envelope, so the mapping is
//! chosen to round-trip exactly through `export` and `publish --format ndjson`
//! (and through `retry`): a UTF-8 key is the `key` string, any other key is
//! `key: null` plus `broker.key_base64`; a UTF-8 header value is a string, a
//! binary one `{"$bytes": BASE64}` as on every broker (`{"base64": ...}` from
//! older exports is read too), a null one `null`, and a name that repeats
//! becomes an array of those values in order. The dead-letter fields come from
//! the header conventions of dlq itself (`dlq-*`), Spring Kafka
//! (`kafka_dlt-*`) and Kafka Connect (`__connect.errors.*`).

use std::time::{Duration, SystemTime};

use rdkafka::message::{Header, Headers as _, OwnedHeaders, Timestamp};

use serde_json::{json, Map, Value};

use crate::broker::message::{b64, b64_decode, bytes_value, value_bytes};
use crate::broker::{DeadLetter, Headers, Message, OutgoingMessage};

/// Headers that name the topic a message was first published to.
const SOURCE_HEADERS: [&str; 3] = [
    "dlq-original-topic",
    "kafka_dlt-original-topic",
    "__connect.errors.topic",
];
const REASON_HEADERS: [&str; 6] = [
    "dlq-reason",
    "kafka_dlt-exception-message",
    "kafka_dlt-exception-fqcn",
    "__connect.errors.exception.message",
    "__connect.errors.exception.class.name",
    "__connect.errors.class.name",
];
const ATTEMPTS_HEADERS: [&str; 3] = [
    "dlq-attempts",
    "retry_topic-attempts",
    "kafka_deliveryAttempt",
];
const FIRST_DEATH_HEADERS: [&str; 2] = ["dlq-first-death-at", "kafka_dlt-original-timestamp"];

/// Builds the message for one record read from `topic`.
pub fn to_message<M: rdkafka::Message>(m: &M) -> Message {
    let topic = m.topic().to_owned();
    let mut broker = Map::new();
    broker.insert("topic".into(), json!(topic));
    broker.insert("partition".into(), json!(m.partition()));
    broker.insert("offset".into(), json!(m.offset()));
    let (timestamp, ts_type) = match m.timestamp() {
        Timestamp::CreateTime(ms) => (millis(ms), "create_time"),
        Timestamp::LogAppendTime(ms) => (millis(ms), "log_append_time"),
        Timestamp::NotAvailable => (None, "not_available"),
    };
    broker.insert("timestamp_type".into(), json!(ts_type));
    let key = match m.key() {
        None => None,
        Some(k) => match std::str::from_utf8(k) {
            Ok(s) => Some(s.to_owned()),
            Err(_) => {
                broker.insert("key_base64".into(), json!(b64(k)));
                None
            }
        },
    };
    let mut raw: Vec<(&str, Option<&[u8]>)> = Vec::new();
    if let Some(hs) = m.headers() {
        for h in hs.iter() {
            raw.push((h.key, h.value));
        }
    }
    let headers = headers_to_json(&raw);
    let dead_letter = dead_letter_of(&raw);
    Message {
        id: format!("{}:{}", m.partition(), m.offset()),
        queue: topic,
        timestamp,
        headers,
        key,
        body: m.payload().unwrap_or_default().to_vec(),
        redrive_to: dead_letter.source.clone(),
        dead_letter,
        broker,
    }
}

fn millis(ms: i64) -> Option<SystemTime> {
    (ms >= 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64))
}

fn header_value(v: Option<&[u8]>) -> Value {
    match v {
        None => Value::Null,
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(s) => Value::String(s.to_owned()),
            Err(_) => bytes_value(bytes),
        },
    }
}

/// Record headers as envelope headers (see the module docs).
pub fn headers_to_json(raw: &[(&str, Option<&[u8]>)]) -> Headers {
    let mut out = Headers::new();
    for (i, (name, value)) in raw.iter().enumerate() {
        if out.contains_key(*name) {
            continue;
        }
        let all: Vec<Value> = raw[i..]
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| header_value(*v))
            .collect();
        let v = if all.len() == 1 {
            header_value(*value)
        } else {
            Value::Array(all)
        };
        out.insert((*name).to_owned(), v);
    }
    out
}

/// Envelope headers back to record headers: the inverse of [`headers_to_json`];
/// numbers and booleans (from other brokers' exports) become their JSON text.
pub fn headers_to_record(headers: &Headers) -> Result<OwnedHeaders, String> {
    let mut out = OwnedHeaders::new_with_capacity(headers.len());
    for (name, value) in headers {
        let values: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for v in values {
            let bytes: Option<Vec<u8>> = match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone().into_bytes()),
                other => match value_bytes(other) {
                    Some(bytes) => Some(bytes.map_err(|e| format!("header {name:?}: {e}"))?),
                    None => Some(other.to_string().into_bytes()),
                },
            };
            out = out.insert(Header {
                key: name,
                value: bytes.as_deref(),
            });
        }
    }
    Ok(out)
}

/// The key bytes of an outgoing message: its `key`, else `broker.key_base64`
/// (a binary key read from Kafka), else `fallback` (`--key`).
pub fn key_bytes(m: &OutgoingMessage, fallback: Option<&str>) -> Option<Vec<u8>> {
    if let Some(k) = &m.key {
        return Some(k.clone().into_bytes());
    }
    if let Some(Value::String(b)) = m.broker.get("key_base64") {
        if let Ok(bytes) = b64_decode(b) {
            return Some(bytes);
        }
    }
    fallback.map(|k| k.as_bytes().to_vec())
}

fn first<'a>(raw: &'a [(&str, Option<&[u8]>)], names: &[&str]) -> Option<&'a [u8]> {
    names
        .iter()
        .find_map(|n| raw.iter().find(|(k, _)| k == n).and_then(|(_, v)| *v))
}

fn text(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes)
        .ok()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// An integer header: decimal text, or Java's big-endian 4- or 8-byte form
/// (Spring writes `kafka_dlt-original-timestamp` as a long).
fn integer(bytes: &[u8]) -> Option<i64> {
    if let Some(n) = text(bytes).and_then(|s| s.parse::<i64>().ok()) {
        return Some(n);
    }
    match bytes.len() {
        8 => Some(i64::from_be_bytes(bytes.try_into().ok()?)),
        4 => Some(i64::from(i32::from_be_bytes(bytes.try_into().ok()?))),
        _ => None,
    }
}

/// The dead-letter fields from the headers of the known conventions.
pub fn dead_letter_of(raw: &[(&str, Option<&[u8]>)]) -> DeadLetter {
    let first_death_at = first(raw, &FIRST_DEATH_HEADERS).and_then(|b| {
        if let Some(t) = text(b).and_then(|s| humantime::parse_rfc3339_weak(&s).ok()) {
            return Some(t);
        }
        integer(b).and_then(millis)
    });
    DeadLetter {
        source: first(raw, &SOURCE_HEADERS).and_then(text),
        reason: first(raw, &REASON_HEADERS).and_then(text),
        attempts: first(raw, &ATTEMPTS_HEADERS)
            .and_then(integer)
            .and_then(|n| u64::try_from(n).ok()),
        first_death_at,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_binary_null_and_repeats() {
        let bin: &[u8] = &[0xff, 0, 1];
        let raw: Vec<(&str, Option<&[u8]>)> = vec![
            ("a", Some(b"x")),
            ("b", Some(bin)),
            ("c", None),
            ("a", Some(b"y")),
        ];
        let json = headers_to_json(&raw);
        assert_eq!(json["a"], json!(["x", "y"]));
        assert_eq!(json["b"], json!({"$bytes": "/wAB"}));
        assert!(json["c"].is_null());
        let back = headers_to_record(&json).unwrap();
        let got: Vec<(String, Option<Vec<u8>>)> = back
            .iter()
            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), Some(b"x".to_vec())),
                ("a".into(), Some(b"y".to_vec())),
                ("b".into(), Some(bin.to_vec())),
                ("c".into(), None),
            ]
        );
    }

    #[test]
    fn spring_headers_fill_dead_letter() {
        let ts = 1_795_000_000_120i64.to_be_bytes();
        let attempts = 3i32.to_be_bytes();
        let raw: Vec<(&str, Option<&[u8]>)> = vec![
            ("kafka_dlt-original-topic", Some(b"orders")),
            (
                "kafka_dlt-exception-fqcn",
                Some(b"java.lang.IllegalStateException"),
            ),
            ("kafka_dlt-exception-message", Some(b"bad order")),
            ("kafka_dlt-original-timestamp", Some(&ts)),
            ("retry_topic-attempts", Some(&attempts)),
        ];
        let d = dead_letter_of(&raw);
        assert_eq!(d.source.as_deref(), Some("orders"));
        assert_eq!(d.reason.as_deref(), Some("bad order"));
        assert_eq!(d.attempts, Some(3));
        assert_eq!(
            d.first_death_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_120))
        );
    }

    #[test]
    fn connect_and_dlq_headers_fill_dead_letter() {
        let raw: Vec<(&str, Option<&[u8]>)> = vec![
            ("__connect.errors.topic", Some(b"payments")),
            (
                "__connect.errors.exception.class.name",
                Some(b"DataException"),
            ),
        ];
        let d = dead_letter_of(&raw);
        assert_eq!(d.source.as_deref(), Some("payments"));
        assert_eq!(d.reason.as_deref(), Some("DataException"));
        let raw: Vec<(&str, Option<&[u8]>)> = vec![
            ("dlq-original-topic", Some(b"orders")),
            ("dlq-reason", Some(b"timeout")),
            ("dlq-attempts", Some(b"5")),
        ];
        let d = dead_letter_of(&raw);
        assert_eq!(d.attempts, Some(5));
        assert_eq!(d.reason.as_deref(), Some("timeout"));
    }

    #[test]
    fn binary_key_travels_in_broker() {
        let mut m = OutgoingMessage::default();
        m.broker.insert("key_base64".into(), json!("/wA="));
        assert_eq!(key_bytes(&m, Some("k")), Some(vec![0xff, 0]));
        m.key = Some("text".into());
        assert_eq!(key_bytes(&m, Some("k")), Some(b"text".to_vec()));
        assert_eq!(
            key_bytes(&OutgoingMessage::default(), Some("k")),
            Some(b"k".to_vec())
        );
    }
}
