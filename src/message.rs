//! The message as every broker hands it to a command, and its JSON envelope.
//!
//! Backends build a [`Message`] from what they read; commands filter, print
//! and export it without knowing where it came from. The envelope is the
//! stable JSON shape of SPEC.md: the same field names on every broker, a body
//! as text when it is UTF-8 and as base64 otherwise, so that `export` followed
//! by `publish --format ndjson` reproduces body, headers and key exactly.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::schema::decoded::Decoded;

/// The `broker` field that holds a key that is not UTF-8, in base64 (a
/// Kafka key is bytes); `key` is null then.
pub const KEY_BASE64: &str = "key_base64";

/// Header that carries how many times dlq has sent a message back.
pub const REDRIVE_HEADER: &str = "dlq-redrive-count";

/// Headers as the envelope shows them: names to JSON values, in broker order.
/// Most brokers only have strings; RabbitMQ headers keep their AMQP type
/// where JSON has one (numbers, booleans, tables, arrays).
pub type Headers = Map<String, Value>;

/// Why and from where a message was dead-lettered; every field may be unknown.
/// Serialized as the envelope's `dead_letter` object, in this field order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeadLetter {
    pub reason: Option<String>,
    pub source: Option<String>,
    pub attempts: Option<u64>,
    #[serde(serialize_with = "time_or_null")]
    pub first_death_at: Option<SystemTime>,
    /// Exception class or error code, when the convention records one.
    pub error_type: Option<String>,
    /// The dead-letter convention read (`rabbitmq`, `spring-kafka`, ...).
    pub convention: Option<&'static str>,
    /// Where `retry` sends it without `--to`, when the message says.
    pub origin: Option<Origin>,
    /// Groups messages that failed the same way (SPEC.md, "Failure
    /// fingerprints"); null when no error type or message is recorded.
    pub fingerprint: Option<String>,
    /// The error message the convention records, for `stats --by
    /// fingerprint`; not in the envelope (the headers hold it).
    #[serde(skip)]
    pub error_message: Option<String>,
    /// The root cause's type where the convention records it apart from
    /// `error_type`; not in the envelope.
    #[serde(skip)]
    pub cause_type: Option<String>,
}

impl DeadLetter {
    /// `--error-type NAME`: the error type, or the root cause's, equals
    /// NAME or ends in `.NAME` (`NumberFormatException` matches
    /// `java.lang.NumberFormatException`).
    pub fn error_type_matches(&self, name: &str) -> bool {
        let name = name.trim();
        !name.is_empty()
            && [&self.error_type, &self.cause_type]
                .into_iter()
                .flatten()
                .any(|t| t == name || t.rsplit('.').next() == Some(name))
    }

    /// The first line of the error message, as `stats --by fingerprint`
    /// shows it beside the error type.
    pub fn error_message_line(&self) -> Option<&str> {
        self.error_message
            .as_deref()
            .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
    }
}

/// What kind of thing an [`Origin`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OriginKind {
    Queue,
    Exchange,
    Topic,
    Subject,
}

/// Where a dead-lettered message came from, as `retry` would send it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub kind: OriginKind,
    pub name: String,
    /// RabbitMQ: the routing key to publish with through `name` (an exchange).
    pub routing_key: Option<String>,
}

impl Origin {
    /// In the operator's words: its name, or with its kind where a broker
    /// has several ("queue 'orders'", "exchange 'x' routing key 'k'").
    pub fn describe(&self, with_kind: bool) -> String {
        match (self.kind, &self.routing_key) {
            (OriginKind::Exchange, Some(rk)) => {
                format!("exchange '{}' routing key '{}'", self.name, rk)
            }
            (k, _) if with_kind => format!("{} '{}'", k.word(), self.name),
            _ => self.name.clone(),
        }
    }
}

impl OriginKind {
    /// The kind as a word, as the JSON and error lines spell it.
    pub fn word(self) -> &'static str {
        match self {
            OriginKind::Queue => "queue",
            OriginKind::Exchange => "exchange",
            OriginKind::Topic => "topic",
            OriginKind::Subject => "subject",
        }
    }
}

/// One message read from a queue, topic or stream.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Stable ID, accepted by `peek` and `retry` (see SPEC.md, Message IDs).
    pub id: String,
    /// The queue, topic or stream it was read from.
    pub queue: String,
    pub timestamp: Option<SystemTime>,
    pub headers: Headers,
    pub key: Option<String>,
    pub body: Vec<u8>,
    pub dead_letter: DeadLetter,
    /// What a schema-encoded body holds, once a decoder read it (`schema::Decoder::attach`).
    pub decoded: Option<Decoded>,
    /// The broker's own properties (RabbitMQ properties and x-death, SQS
    /// attributes, Kafka partition and offset, NATS subject and sequence).
    pub broker: Map<String, Value>,
}

impl Message {
    /// Where `retry` sends it back to without `--to`, in the operator's
    /// words (`with_kind` as `Capabilities::origin_kinds_shown` says); None
    /// when no convention records an origin.
    pub fn redrive_to(&self, with_kind: bool) -> Option<String> {
        self.dead_letter
            .origin
            .as_ref()
            .map(|o| o.describe(with_kind))
    }

    /// How many times dlq already sent this message back, from its header.
    pub fn redrives(&self) -> u32 {
        match self.headers.get(REDRIVE_HEADER) {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as u32,
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            _ => 0,
        }
    }

    /// Age relative to `now`, when the broker gave a timestamp.
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        self.timestamp
            .map(|t| now.duration_since(t).unwrap_or_default())
    }

    /// The body as text when it is valid UTF-8.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// A header's value as text: strings as they are, other JSON as JSON.
    pub fn header_text(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(value_text)
    }

    /// The JSON envelope of SPEC.md.
    pub fn envelope(&self) -> Envelope<'_> {
        let text = self.body_text();
        Envelope {
            id: &self.id,
            queue: &self.queue,
            timestamp: self.timestamp.map(rfc3339),
            size: self.body.len(),
            headers: &self.headers,
            key: self.key.as_deref(),
            body: text,
            body_base64: text.is_none().then(|| b64(&self.body)),
            dead_letter: &self.dead_letter,
            decoded: self.decoded.as_ref(),
            broker: &self.broker,
        }
    }
}

/// The envelope of SPEC.md as serde writes it: the field order is the
/// contract (`src/shapes_tests.rs` pins it). The body is text when it is
/// UTF-8, else base64; the other of the two is null.
#[derive(Debug, Serialize)]
pub struct Envelope<'m> {
    pub id: &'m str,
    pub queue: &'m str,
    pub timestamp: Option<String>,
    pub size: usize,
    pub headers: &'m Headers,
    pub key: Option<&'m str>,
    pub body: Option<&'m str>,
    pub body_base64: Option<String>,
    pub dead_letter: &'m DeadLetter,
    pub decoded: Option<&'m Decoded>,
    pub broker: &'m Map<String, Value>,
}

impl Envelope<'_> {
    /// As a JSON value, for the code that reads fields back.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("an envelope is plain JSON")
    }
}

/// A time as RFC 3339 with milliseconds, or null.
pub fn time_or_null<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// A message to publish, from `--body`, a file, standard input or an envelope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutgoingMessage {
    pub body: Vec<u8>,
    pub headers: Headers,
    pub key: Option<String>,
    /// The `broker` object of a replayed envelope, for backends that can use
    /// it (RabbitMQ properties, an SQS message group); empty otherwise.
    pub broker: Map<String, Value>,
    /// The input line it came from, for error messages; 0 when not line-based.
    pub line: usize,
}

impl OutgoingMessage {
    /// A message with just a body.
    pub fn from_body(body: Vec<u8>) -> Self {
        OutgoingMessage {
            body,
            ..Default::default()
        }
    }

    /// Reads an envelope as `export` writes it. Errors say which field is wrong.
    pub fn from_envelope(value: Value) -> Result<Self, String> {
        let Value::Object(obj) = value else {
            return Err("expected a JSON object (an envelope as `dlq export` writes it)".into());
        };
        let body = match (obj.get("body"), obj.get("body_base64")) {
            (Some(Value::String(s)), _) => s.clone().into_bytes(),
            (_, Some(Value::String(b))) => b64_decode(b)
                .map_err(|e| format!("field \"body_base64\" is not valid base64: {e}"))?,
            (Some(Value::Null) | None, Some(Value::Null) | None) => Vec::new(),
            (Some(_), _) => return Err("field \"body\" must be a string or null".into()),
            (_, Some(_)) => return Err("field \"body_base64\" must be a string or null".into()),
        };
        let headers = match obj.get("headers") {
            None | Some(Value::Null) => Headers::new(),
            Some(Value::Object(h)) => h.clone(),
            Some(_) => return Err("field \"headers\" must be an object".into()),
        };
        let key = match obj.get("key") {
            None | Some(Value::Null) => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err("field \"key\" must be a string or null".into()),
        };
        let broker = match obj.get("broker") {
            Some(Value::Object(b)) => b.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(_) => return Err("field \"broker\" must be an object".into()),
        };
        Ok(OutgoingMessage {
            body,
            headers,
            key,
            broker,
            line: 0,
        })
    }

    /// The outgoing copy of a message that is being sent back, with its
    /// re-drive count raised by one.
    pub fn redrive_of(message: &Message) -> Self {
        let mut headers = message.headers.clone();
        headers.insert(
            REDRIVE_HEADER.into(),
            Value::String((message.redrives() + 1).to_string()),
        );
        OutgoingMessage {
            body: message.body.clone(),
            headers,
            key: message.key.clone(),
            broker: message.broker.clone(),
            line: 0,
        }
    }

    /// [`OutgoingMessage::redrive_of`] a message that is no longer needed:
    /// its body and maps become the copy's instead of being cloned.
    pub fn redrive_from(message: Message) -> Self {
        let count = message.redrives() + 1;
        let Message {
            body,
            mut headers,
            key,
            broker,
            ..
        } = message;
        headers.insert(REDRIVE_HEADER.into(), Value::String(count.to_string()));
        OutgoingMessage {
            body,
            headers,
            key,
            broker,
            line: 0,
        }
    }
}

/// A header value as text: strings as they are, anything else as JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// RFC 3339 with milliseconds, in UTC: `2026-11-26T09:14:03.120Z`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A time as RFC 3339 / ISO 8601 writes it: with `Z`, an offset, or
/// neither (UTC), up to 9 fraction digits.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (base, offset_secs) = if let Some(b) = s.strip_suffix(['Z', 'z']) {
        (b, 0i64)
    } else if s.len() > 19 && matches!(s.as_bytes()[s.len() - 6], b'+' | b'-') {
        let (b, off) = s.split_at(s.len() - 6);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let h: i64 = off.get(1..3)?.parse().ok()?;
        let m: i64 = off.get(4..6)?.parse().ok()?;
        (b, sign * (h * 3600 + m * 60))
    } else {
        (s, 0)
    };
    // humantime reads at most 9 fraction digits.
    let base = match base.split_once('.') {
        Some((whole, frac)) if frac.len() > 9 => format!("{whole}.{}", &frac[..9]),
        _ => base.to_owned(),
    };
    let t = humantime::parse_rfc3339_weak(&base).ok()?;
    let shift = Duration::from_secs(offset_secs.unsigned_abs());
    if offset_secs >= 0 {
        t.checked_sub(shift)
    } else {
        t.checked_add(shift)
    }
}

/// Standard base64 with padding.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes what [`b64`] writes; surrounding whitespace is ignored.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD.decode(text.trim())
}

/// A header value that is bytes, not text, on every broker: `{"$bytes": BASE64}`.
pub fn bytes_value(bytes: &[u8]) -> Value {
    let mut o = Map::new();
    o.insert("$bytes".into(), Value::String(b64(bytes)));
    Value::Object(o)
}

/// The bytes of a header value [`bytes_value`] wrote (or, from older
/// Kafka exports, `{"base64": ...}`); None when the value is not one.
pub fn value_bytes(v: &Value) -> Option<Result<Vec<u8>, String>> {
    let o = v.as_object().filter(|o| o.len() == 1)?;
    let (k, inner) = o.iter().next()?;
    if k != "$bytes" && k != "base64" {
        return None;
    }
    Some(match inner {
        Value::String(s) => b64_decode(s).map_err(|e| format!("\"{k}\" is not valid base64: {e}")),
        _ => Err(format!("\"{k}\" must be a base64 string")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Message {
        let mut headers = Headers::new();
        headers.insert("tenant".into(), json!("acme"));
        Message {
            id: "3:1042".into(),
            queue: "orders.dlq".into(),
            timestamp: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_120)),
            headers,
            key: Some("order-1234".into()),
            body: br#"{"order_id":1234}"#.to_vec(),
            dead_letter: DeadLetter {
                reason: Some("rejected".into()),
                source: Some("orders".into()),
                attempts: Some(3),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn bytes_values_round_trip() {
        let v = bytes_value(&[0, 255, 1]);
        assert_eq!(v, json!({"$bytes": "AP8B"}));
        assert_eq!(value_bytes(&v), Some(Ok(vec![0, 255, 1])));
        assert_eq!(
            value_bytes(&json!({"base64": "AP8B"})),
            Some(Ok(vec![0, 255, 1]))
        );
        assert!(matches!(
            value_bytes(&json!({"$bytes": "%%"})),
            Some(Err(_))
        ));
        assert_eq!(value_bytes(&json!("AP8B")), None);
        assert_eq!(value_bytes(&json!({"$bytes": "AP8B", "x": 1})), None);
    }

    #[test]
    fn envelope_has_every_field() {
        let env = sample().envelope().to_value();
        let keys: Vec<&str> = env
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "queue",
                "timestamp",
                "size",
                "headers",
                "key",
                "body",
                "body_base64",
                "dead_letter",
                "decoded",
                "broker"
            ]
        );
        assert_eq!(env["size"], 17);
        assert_eq!(env["timestamp"], "2026-11-18T11:06:40.120Z");
        assert_eq!(env["dead_letter"]["attempts"], 3);
        assert!(env["dead_letter"]["first_death_at"].is_null());
    }

    #[test]
    fn binary_body_goes_to_base64_and_back() {
        let mut m = sample();
        m.body = vec![0xff, 0x00, 0xfe, b'a'];
        let env = m.envelope().to_value();
        assert!(env["body"].is_null());
        let back = OutgoingMessage::from_envelope(env).unwrap();
        assert_eq!(back.body, m.body);
    }

    #[test]
    fn envelope_round_trips_body_headers_key() {
        let m = sample();
        let back = OutgoingMessage::from_envelope(m.envelope().to_value()).unwrap();
        assert_eq!(back.body, m.body);
        assert_eq!(back.headers, m.headers);
        assert_eq!(back.key, m.key);
    }

    #[test]
    fn bad_envelopes_name_the_field() {
        assert!(OutgoingMessage::from_envelope(json!([1]))
            .unwrap_err()
            .contains("object"));
        assert!(OutgoingMessage::from_envelope(json!({"body": 5}))
            .unwrap_err()
            .contains("\"body\""));
        assert!(OutgoingMessage::from_envelope(json!({"body_base64": "%%"}))
            .unwrap_err()
            .contains("body_base64"));
        assert!(OutgoingMessage::from_envelope(json!({"headers": "x"}))
            .unwrap_err()
            .contains("headers"));
        assert!(OutgoingMessage::from_envelope(json!({"key": 1}))
            .unwrap_err()
            .contains("key"));
    }

    #[test]
    fn redrive_copy_counts_up() {
        let mut m = sample();
        assert_eq!(m.redrives(), 0);
        let copy = OutgoingMessage::redrive_of(&m);
        assert_eq!(copy.headers[REDRIVE_HEADER], "1");
        m.headers = copy.headers;
        assert_eq!(m.redrives(), 1);
        m.headers.insert(REDRIVE_HEADER.into(), json!(4));
        assert_eq!(m.redrives(), 4);
    }
}
