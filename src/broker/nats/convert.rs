//! NATS headers and times to and from the envelope's JSON.
//!
//! A NATS header may repeat: one value is a JSON string, several are an array
//! of strings in their order, so `export` then `publish --format ndjson`
//! gives the same header block back. Names are sorted (the client keeps them
//! in a hash map, so there is no broker order to keep).

use std::time::{Duration, SystemTime};

use async_nats::HeaderMap;
use serde_json::Value;

use crate::broker::Headers;

/// Server-added headers of a direct-get reply: the server appends one value of
/// each after the stored headers, so the last value of each is dropped.
const DIRECT_GET_ADDED: [&str; 4] = [
    "Nats-Stream",
    "Nats-Subject",
    "Nats-Sequence",
    "Nats-Time-Stamp",
];

/// Headers that would make JetStream reject, roll up or deduplicate a copy.
pub fn is_control_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("nats-expected-") || lower == "nats-rollup" || lower == "nats-msg-id"
}

/// The stored headers of a direct-get reply.
pub fn strip_direct_get(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, values) in headers.iter() {
        let n: &str = name.as_ref();
        let keep = if DIRECT_GET_ADDED.iter().any(|a| a.eq_ignore_ascii_case(n)) {
            &values[..values.len().saturating_sub(1)]
        } else {
            &values[..]
        };
        for v in keep {
            out.append(name.clone(), v.clone());
        }
    }
    out
}

/// NATS headers as envelope headers.
pub fn headers_to_json(headers: &HeaderMap) -> Headers {
    let mut names: Vec<_> = headers.iter().collect();
    names.sort_by_key(|(n, _)| AsRef::<str>::as_ref(*n));
    let mut out = Headers::new();
    for (name, values) in names {
        let value = match values.as_slice() {
            [one] => Value::from(one.as_str()),
            many => many.iter().map(|v| v.as_str()).collect(),
        };
        out.insert(AsRef::<str>::as_ref(name).to_owned(), value);
    }
    out
}

/// Envelope headers as NATS headers; `skip` drops names (case-insensitive).
/// Fails on a name or value NATS cannot carry.
pub fn headers_from_json(
    headers: &Headers,
    skip: impl Fn(&str) -> bool,
) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if skip(name) {
            continue;
        }
        let hn: async_nats::HeaderName = name
            .parse()
            .map_err(|_| format!("header name {name:?} cannot be sent over NATS"))?;
        let values = match value {
            Value::Array(items) => items.as_slice(),
            one => std::slice::from_ref(one),
        };
        for v in values {
            // A byte value (another broker's export) is text here only when it is UTF-8.
            let v = match crate::message::value_bytes(v) {
                Some(bytes) => String::from_utf8(bytes.map_err(|e| format!("header {name:?}: {e}"))?)
                    .map_err(|_| {
                        format!("header {name:?} has a binary value, which NATS headers (text) cannot carry")
                    })?,
                None => crate::message::value_text(v),
            };
            let hv: async_nats::HeaderValue = v.parse().map_err(|_| {
                format!("header {name:?} has a line break, which NATS cannot carry")
            })?;
            out.append(hn.clone(), hv);
        }
    }
    Ok(out)
}

/// The last value of a header, case-insensitively.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| AsRef::<str>::as_ref(*n).eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.last())
        .map(|v| v.as_str())
}

/// A stored NATS header block (`NATS/1.0` line, then `Name: value` lines),
/// repeated names kept in order.
pub fn parse_header_block(block: &[u8]) -> HeaderMap {
    let mut out = HeaderMap::new();
    let text = String::from_utf8_lossy(block);
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(n), Ok(v)) = (
            name.trim().parse::<async_nats::HeaderName>(),
            value.trim().parse::<async_nats::HeaderValue>(),
        ) else {
            continue;
        };
        out.append(n, v);
    }
    out
}

/// Nanoseconds since the epoch as a time.
pub fn from_nanos(nanos: i128) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos.clamp(0, u64::MAX as i128) as u64)
}

/// A time as nanoseconds since the epoch (0 before it).
pub fn to_nanos(t: SystemTime) -> i128 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn headers_round_trip_with_repeats() {
        let mut h = HeaderMap::new();
        h.insert("tenant", "acme");
        h.append("tag", "a");
        h.append("tag", "b");
        let j = headers_to_json(&h);
        assert_eq!(j["tenant"], "acme");
        assert_eq!(j["tag"], json!(["a", "b"]));
        let back = headers_from_json(&j, |_| false).unwrap();
        assert_eq!(headers_to_json(&back), j);
        assert!(headers_from_json(&j, |n| n == "tag")
            .unwrap()
            .get("tag")
            .is_none());
    }

    #[test]
    fn a_byte_header_from_another_broker_is_text_or_refused() {
        let text = headers_from_json(
            json!({"b": {"$bytes": "b2s="}}).as_object().unwrap(),
            |_| false,
        )
        .unwrap();
        assert_eq!(header(&text, "b"), Some("ok"));
        let binary = json!({"raw": {"$bytes": "AP8B"}});
        let err = headers_from_json(binary.as_object().unwrap(), |_| false).unwrap_err();
        assert!(err.contains("\"raw\" has a binary value"), "{err}");
    }

    #[test]
    fn direct_get_headers_are_stripped() {
        let mut h = HeaderMap::new();
        h.append("Nats-Subject", "orders.new");
        h.append("Nats-Subject", "dlq.orders");
        h.append("Nats-Stream", "DLQ");
        h.append("x", "1");
        let s = strip_direct_get(&h);
        assert_eq!(header(&s, "Nats-Subject"), Some("orders.new"));
        assert!(header(&s, "Nats-Stream").is_none());
        assert_eq!(header(&s, "x"), Some("1"));
    }

    #[test]
    fn header_blocks_keep_repeats() {
        let h = parse_header_block(b"NATS/1.0\r\ntag: a\r\ntag: b\r\nx:1\r\n\r\n");
        let tags: Vec<&str> = h.get_all("tag").map(|v| v.as_str()).collect();
        assert_eq!(tags, ["a", "b"]);
        assert_eq!(header(&h, "x"), Some("1"));
    }

    #[test]
    fn control_headers() {
        assert!(is_control_header("Nats-Msg-Id"));
        assert!(is_control_header("Nats-Expected-Last-Sequence"));
        assert!(!is_control_header("Nats-Subject"));
    }

    #[test]
    fn advisory_times_parse() {
        use crate::message::parse_time;
        assert!(parse_time("2026-11-27T08:30:29.123456789Z").is_some());
        assert!(parse_time("2026-11-27T08:30:29Z").is_some());
    }
}
