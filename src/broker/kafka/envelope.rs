//! Kafka records to dlq messages and back.
//!
//! A record becomes a [`Message`] with ID `PARTITION:OFFSET`. Keys and header
//! values are bytes in Kafka but text in the envelope, so the mapping is
//! chosen to round-trip exactly through `export` and `publish --format ndjson`
//! (and through `retry`): a UTF-8 key is the `key` string, any other key is
//! `key: null` plus `broker.key_base64`; a UTF-8 header value is a string, a
//! binary one `{"$bytes": BASE64}` as on every broker (`{"base64": ...}` from
//! older exports is read too), a null one `null`, and a name that repeats
//! becomes an array of those values in order. A record with no value at all
//! (a tombstone, which deletes its key on a compacted topic) has an empty
//! body and `broker.tombstone: true`, and goes out with no value again, so a
//! re-drive or a replay does not turn it into an empty record. The
//! dead-letter fields come from
//! the conventions table (`crate::conventions`), which reads these headers
//! and the record's own timestamp (the failure time of a DLT record).

use std::time::{Duration, SystemTime};

use rdkafka::message::{Header, Headers as _, OwnedHeaders, Timestamp};

use serde_json::{json, Map, Value};

use crate::broker::{Headers, Message, OutgoingMessage};
use crate::conventions;
use crate::message::{b64, b64_decode, bytes_value, value_bytes, KEY_BASE64};

/// One record's parts, however it was read.
pub struct Raw<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Timestamp,
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    pub headers: &'a [(&'a str, Option<&'a [u8]>)],
}

/// Builds the message for one record read by librdkafka.
pub fn to_message<M: rdkafka::Message>(m: &M) -> Message {
    let raw: Vec<(&str, Option<&[u8]>)> = m
        .headers()
        .map_or_else(Vec::new, |hs| hs.iter().map(|h| (h.key, h.value)).collect());
    from_raw(&Raw {
        topic: m.topic(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp: m.timestamp(),
        key: m.key(),
        payload: m.payload(),
        headers: &raw,
    })
}

/// Builds the message for one record.
pub fn from_raw(m: &Raw) -> Message {
    let topic = m.topic.to_owned();
    let mut broker = Map::with_capacity(5);
    broker.insert("topic".into(), json!(topic));
    broker.insert("partition".into(), json!(m.partition));
    broker.insert("offset".into(), json!(m.offset));
    let (timestamp, ts_type) = match m.timestamp {
        Timestamp::CreateTime(ms) => (millis(ms), "create_time"),
        Timestamp::LogAppendTime(ms) => (millis(ms), "log_append_time"),
        Timestamp::NotAvailable => (None, "not_available"),
    };
    broker.insert("timestamp_type".into(), json!(ts_type));
    let key = m.key.and_then(|k| match std::str::from_utf8(k) {
        Ok(s) => Some(s.to_owned()),
        Err(_) => {
            broker.insert(KEY_BASE64.into(), json!(b64(k)));
            None
        }
    });
    if m.payload.is_none() {
        broker.insert("tombstone".into(), Value::Bool(true));
    }
    let headers = headers_to_json(m.headers);
    let body = m.payload.unwrap_or_default().to_vec();
    let dead_letter = conventions::read(&conventions::Input {
        stored_at: timestamp,
        ..conventions::Input::new(&headers, &broker, &body)
    });
    Message {
        id: format!("{}:{}", m.partition, m.offset),
        queue: topic,
        timestamp,
        headers,
        key,
        body,
        dead_letter,
        decoded: None,
        broker,
    }
}

fn millis(ms: i64) -> Option<SystemTime> {
    (ms >= 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64))
}

fn header_value(v: Option<&[u8]>) -> Value {
    v.map_or(Value::Null, |bytes| match std::str::from_utf8(bytes) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => bytes_value(bytes),
    })
}

/// Record headers as envelope headers (see the module docs).
pub fn headers_to_json(raw: &[(&str, Option<&[u8]>)]) -> Headers {
    let mut out = Headers::with_capacity(raw.len());
    for &(name, value) in raw {
        let v = header_value(value);
        // A single value is never an array: an array is a repeated name.
        match out.get_mut(name) {
            None => {
                out.insert(name.to_owned(), v);
            }
            Some(Value::Array(all)) => all.push(v),
            Some(first) => *first = Value::Array(vec![first.take(), v]),
        }
    }
    out
}

/// Envelope headers back to record headers: the inverse of [`headers_to_json`];
/// numbers and booleans (from other brokers' exports) become their JSON text.
pub fn headers_to_record(headers: &Headers) -> Result<OwnedHeaders, String> {
    let mut out = OwnedHeaders::new_with_capacity(headers.len());
    for (name, value) in headers {
        let values = match value {
            Value::Array(items) => items.as_slice(),
            other => std::slice::from_ref(other),
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
            let value = bytes.as_deref();
            out = out.insert(Header { key: name, value });
        }
    }
    Ok(out)
}

/// Whether an outgoing message goes out with no value: read as a
/// tombstone, and its body still empty (an edit that wrote one is a record).
pub fn is_tombstone(m: &OutgoingMessage) -> bool {
    m.body.is_empty() && m.broker.get("tombstone") == Some(&Value::Bool(true))
}

/// The key bytes of an outgoing message: its `key`, else `broker.key_base64`
/// (a binary key read from Kafka), else `fallback` (`--key`).
pub fn key_bytes(m: &OutgoingMessage, fallback: Option<&str>) -> Option<Vec<u8>> {
    if let Some(k) = &m.key {
        return Some(k.clone().into_bytes());
    }
    let binary = m.broker.get(KEY_BASE64).and_then(Value::as_str);
    binary
        .and_then(|b| b64_decode(b).ok())
        .or_else(|| fallback.map(|k| k.as_bytes().to_vec()))
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
    fn record_headers_reach_the_conventions() {
        let ts = 1_700_000_000_000i64.to_be_bytes();
        let raw: Vec<(&str, Option<&[u8]>)> = vec![
            ("kafka_dlt-original-topic", Some(b"orders")),
            ("kafka_dlt-original-timestamp", Some(&ts)),
            ("retry_topic-attempts", Some(&[0, 0, 0, 3])),
        ];
        let headers = headers_to_json(&raw);
        let stored = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_120);
        let broker = Map::new();
        let d = conventions::read(&conventions::Input {
            stored_at: Some(stored),
            ..conventions::Input::new(&headers, &broker, b"")
        });
        assert_eq!(d.convention, Some("spring-kafka"));
        assert_eq!(d.source.as_deref(), Some("orders"));
        assert_eq!(d.attempts, Some(3));
        // The DLT record's time, not the original record's.
        assert_eq!(d.first_death_at, Some(stored));
    }

    #[test]
    fn a_record_without_a_value_is_a_tombstone_and_goes_out_as_one() {
        let raw = |payload| Raw {
            topic: "t",
            partition: 0,
            offset: 7,
            timestamp: Timestamp::NotAvailable,
            key: Some(b"k"),
            payload,
            headers: &[],
        };
        let out = |m: Message| OutgoingMessage {
            body: m.body,
            broker: m.broker,
            ..Default::default()
        };
        let gone = from_raw(&raw(None));
        assert_eq!(gone.broker["tombstone"], json!(true));
        assert!(gone.body.is_empty());
        assert!(is_tombstone(&out(gone.clone())));
        let empty = from_raw(&raw(Some(b"")));
        assert!(!empty.broker.contains_key("tombstone"));
        assert!(!is_tombstone(&out(empty)));
        let mut written = out(gone);
        written.body = b"{}".to_vec();
        assert!(
            !is_tombstone(&written),
            "a body written over it is a record"
        );
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
