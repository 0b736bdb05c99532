//! AMQP values to JSON and back, and a delivery to the shared [`Message`].
//!
//! Headers become plain JSON where JSON has the type (strings, numbers,
//! booleans, tables, arrays); the rest is a one-key object so nothing is lost:
//! a long string that is not UTF-8 and a byte array become `{"$bytes":
//! BASE64}`, a timestamp `{"$timestamp": SECONDS}`, a decimal `{"$decimal":
//! "12.50"}`. [`json_to_amqp`] reads those back, so an export replays with the
//! same header values; a JSON integer becomes a signed 64-bit AMQP integer.
//!
//! The ID is the `message_id` property, else the first 12 hex digits of a
//! SHA-256 over the body and every property and header that stays the same
//! when RabbitMQ dead-letters the message again or dlq re-drives it, that is
//! all of them except `expiration` (dropped on dead-lettering) and the
//! headers `x-death`, `x-first-death-*`, `x-last-death-*`,
//! `x-delivery-count` and `dlq-redrive-count`; `dlq-original-cc` and
//! `dlq-original-bcc` count as the `CC` and `BCC` a re-drive renamed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::message::Delivery;
use lapin::types::{AMQPValue, DecimalValue, FieldArray, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use serde_json::{json, Map, Number, Value};
use sha2::{Digest, Sha256};

use crate::broker::{Origin, OriginKind};
use crate::conventions;
use crate::message::{b64_decode, bytes_value, Headers, Message, REDRIVE_HEADER};

/// Where a re-drive publishes a message: an exchange and routing key (the
/// default exchange, "", and a queue name for a queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub exchange: String,
    pub routing_key: String,
}

impl Route {
    /// The route to an origin: an exchange with its routing key, or a
    /// queue through the default exchange.
    pub fn of(o: &Origin) -> Route {
        match o.kind {
            OriginKind::Exchange => Route {
                exchange: o.name.clone(),
                routing_key: o.routing_key.clone().unwrap_or_default(),
            },
            _ => Route::queue(&o.name),
        }
    }

    /// A queue, through the default exchange.
    pub fn queue(name: &str) -> Route {
        Route {
            exchange: String::new(),
            routing_key: name.to_owned(),
        }
    }

    /// In the operator's words, as `Message::redrive_to` shows it.
    pub fn describe(&self) -> String {
        if self.exchange.is_empty() {
            format!("queue '{}'", self.routing_key)
        } else {
            format!(
                "exchange '{}' routing key '{}'",
                self.exchange, self.routing_key
            )
        }
    }
}

/// An AMQP field value as JSON.
pub fn amqp_to_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(f) => Number::from_f64(f64::from(*f)).map_or(Value::Null, Value::Number),
        AMQPValue::Double(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        AMQPValue::DecimalValue(d) => json!({ "$decimal": decimal_text(d) }),
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_owned()),
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => bytes_value(s.as_bytes()),
        },
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_to_json).collect()),
        AMQPValue::Timestamp(t) => json!({ "$timestamp": t }),
        AMQPValue::FieldTable(t) => Value::Object(table_to_json(t)),
        AMQPValue::ByteArray(b) => bytes_value(b.as_slice()),
        AMQPValue::Void => Value::Null,
    }
}

fn decimal_text(d: &DecimalValue) -> String {
    let digits = d.value.to_string();
    let scale = usize::from(d.scale);
    if scale == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{int}.{frac}")
}

/// An AMQP table as a JSON object (keys in the table's order).
pub fn table_to_json(t: &FieldTable) -> Map<String, Value> {
    t.inner()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), amqp_to_json(v)))
        .collect()
}

/// A JSON value as an AMQP field value, reading the `$bytes`, `$timestamp`
/// and `$decimal` wrappers back.
pub fn json_to_amqp(v: &Value) -> AMQPValue {
    match v {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => AMQPValue::LongLongInt(i),
            (None, Some(f)) => AMQPValue::Double(f),
            (None, None) => AMQPValue::LongString(n.to_string().into()),
        },
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_bytes().to_vec())),
        Value::Array(a) => AMQPValue::FieldArray(FieldArray::from(
            a.iter().map(json_to_amqp).collect::<Vec<_>>(),
        )),
        Value::Object(o) => wrapped(o).unwrap_or_else(|| AMQPValue::FieldTable(json_to_table(o))),
    }
}

fn wrapped(o: &Map<String, Value>) -> Option<AMQPValue> {
    if o.len() != 1 {
        return None;
    }
    let (k, v) = o.iter().next()?;
    match (k.as_str(), v) {
        ("$bytes", Value::String(s)) => b64_decode(s).ok().map(|b| AMQPValue::LongString(b.into())),
        ("$timestamp", Value::Number(n)) => n.as_u64().map(AMQPValue::Timestamp),
        ("$decimal", Value::String(s)) => parse_decimal(s).map(AMQPValue::DecimalValue),
        _ => None,
    }
}

fn parse_decimal(s: &str) -> Option<DecimalValue> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let scale = u8::try_from(frac.len()).ok()?;
    let value = format!("{int}{frac}").parse::<u32>().ok()?;
    Some(DecimalValue { scale, value })
}

/// A JSON object as an AMQP table.
pub fn json_to_table(o: &Map<String, Value>) -> FieldTable {
    let t: BTreeMap<_, _> = o
        .iter()
        .map(|(k, v)| (k.as_str().into(), json_to_amqp(v)))
        .collect();
    t.into()
}

/// Headers with which RabbitMQ delivers a message to more routing keys than
/// the one it is published with (sender-selected distribution), and the
/// names a re-driven copy keeps their values under instead: a copy goes to
/// its destination and nowhere else.
pub const DISTRIBUTION_HEADERS: [(&str, &str); 2] =
    [("CC", "dlq-original-cc"), ("BCC", "dlq-original-bcc")];

/// The table without the distribution headers, their values renamed.
fn delivered_nowhere_else(t: FieldTable) -> FieldTable {
    if !DISTRIBUTION_HEADERS
        .iter()
        .any(|(name, _)| t.contains_key(name))
    {
        return t;
    }
    let mut out = t.inner().clone();
    for (name, kept) in DISTRIBUTION_HEADERS {
        // A header already under the kept name wins, as it always has.
        if let Some(v) = out.remove(name) {
            out.entry(kept.into()).or_insert(v);
        }
    }
    out.into()
}

/// The headers of a rewritten copy as an AMQP table: a header whose JSON
/// form did not change keeps its original AMQP value (and integer width).
/// Distribution headers are renamed as for every re-driven copy.
pub fn rewritten_headers(p: &BasicProperties, copy: &Map<String, Value>) -> FieldTable {
    let original = p.headers().clone().unwrap_or_default();
    let mut t = FieldTable::default();
    for (k, v) in copy {
        let kept = original
            .inner()
            .get(k.as_str())
            .filter(|a| amqp_to_json(a) == *v);
        t.insert(
            k.as_str().into(),
            kept.cloned().unwrap_or_else(|| json_to_amqp(v)),
        );
    }
    delivered_nowhere_else(t)
}

/// Headers that change when a message is dead-lettered or re-driven; the
/// content hash leaves them out.
fn volatile_header(name: &str) -> bool {
    name == "x-death"
        || name == "x-delivery-count"
        || name == REDRIVE_HEADER
        || name.starts_with("x-first-death-")
        || name.starts_with("x-last-death-")
}

/// The AMQP properties (all but headers) as JSON, every key present (null
/// when unset; a `ShortString` serializes as its text).
pub fn properties_json(p: &BasicProperties) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("content_type".into(), json!(p.content_type()));
    m.insert("content_encoding".into(), json!(p.content_encoding()));
    m.insert("delivery_mode".into(), json!(p.delivery_mode()));
    m.insert("priority".into(), json!(p.priority()));
    m.insert("correlation_id".into(), json!(p.correlation_id()));
    m.insert("reply_to".into(), json!(p.reply_to()));
    m.insert("expiration".into(), json!(p.expiration()));
    m.insert("message_id".into(), json!(p.message_id()));
    m.insert("timestamp".into(), json!(p.timestamp()));
    m.insert("type".into(), json!(p.kind()));
    m.insert("user_id".into(), json!(p.user_id()));
    m.insert("app_id".into(), json!(p.app_id()));
    m.insert("cluster_id".into(), json!(p.cluster_id()));
    m
}

/// The content hash ID (see the module docs).
#[cfg(test)]
fn content_id(p: &BasicProperties, body: &[u8]) -> String {
    let headers = p.headers().as_ref().map(table_to_json).unwrap_or_default();
    id_of(&properties_json(p), &headers, body)
}

/// The content hash over properties and headers already in JSON: the
/// compact JSON of each, without the keys that change on the way.
fn id_of(props: &Map<String, Value>, headers: &Map<String, Value>, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    // Without `expiration`, in the order `Map::remove` leaves (the last key
    // takes its place): the order IDs have always been computed over.
    let mut stable: Vec<(&str, &Value)> = props.iter().map(|(k, v)| (k.as_str(), v)).collect();
    if let Some(i) = stable.iter().position(|(k, _)| *k == "expiration") {
        stable.swap_remove(i);
    }
    // Writing into a hasher cannot fail.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), &Entries(&stable));
    hasher.update([0]);
    // A re-driven copy keeps `CC` under another name: hash it as `CC`, in
    // the table's (sorted) order, so the ID stays the same.
    let mut stable: Vec<(&str, &Value)> = headers
        .iter()
        .filter(|(k, _)| !volatile_header(k))
        .map(|(k, v)| {
            let kept = DISTRIBUTION_HEADERS.iter().find(|(_, kept)| k == kept);
            (kept.map_or(k.as_str(), |(name, _)| *name), v)
        })
        .collect();
    stable.sort_by(|a, b| a.0.cmp(b.0));
    let _ = serde_json::to_writer(HashWriter(&mut hasher), &Entries(&stable));
    hasher.update([0]);
    hasher.update(body);
    let digest = hasher.finalize();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Borrowed entries serialized as one JSON object.
struct Entries<'a>(&'a [(&'a str, &'a Value)]);

impl serde::Serialize for Entries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().copied())
    }
}

/// Feeds serialized JSON straight into the hash, without a string between.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn x_death_times(p: &BasicProperties) -> Option<u64> {
    let deaths = p.headers().as_ref()?.inner().get("x-death")?.as_array()?;
    let time = |death: &AMQPValue| death.as_field_table()?.inner().get("time")?.as_timestamp();
    deaths.as_slice().iter().find_map(time)
}

fn secs(t: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(t)
}

/// The shared message for a delivery read from `queue`; the body moves into
/// it, the tag and properties stay.
pub fn message(queue: &str, d: &mut Delivery) -> Message {
    let p = &d.properties;
    let headers: Headers = p.headers().as_ref().map(table_to_json).unwrap_or_default();
    let props = properties_json(p);
    let id = match p.message_id() {
        Some(id) if !id.as_str().is_empty() => id.as_str().to_owned(),
        _ => id_of(&props, &headers, &d.data),
    };
    let dead_letter = conventions::read(&conventions::Input::new(&headers, &props, &d.data));
    // Only the properties the message has; the envelope stays short.
    let mut broker: Map<String, Value> = props.into_iter().filter(|(_, v)| !v.is_null()).collect();
    broker.insert("exchange".into(), json!(d.exchange.as_str()));
    broker.insert("routing_key".into(), json!(d.routing_key.as_str()));
    broker.insert("redelivered".into(), json!(d.redelivered));
    if let Some(x) = headers.get("x-death") {
        broker.insert("x_death".into(), x.clone());
    }
    // The publisher's timestamp, else when it last died (reached this queue).
    let timestamp = p.timestamp().map(secs).or(x_death_times(p).map(secs));
    Message {
        id,
        queue: queue.to_owned(),
        timestamp,
        headers,
        key: None,
        body: std::mem::take(&mut d.data),
        dead_letter,
        decoded: None,
        broker,
    }
}

/// AMQP properties from an envelope's `broker` object and headers, for
/// `publish --format ndjson`. `user_id` is kept only when it names the
/// connecting user: RabbitMQ refuses any other.
pub fn properties_from_json(
    broker: &Map<String, Value>,
    headers: &Headers,
    user: &str,
) -> BasicProperties {
    let s = |k: &str| broker.get(k).and_then(Value::as_str).map(ShortString::from);
    let n = |k: &str| broker.get(k).and_then(Value::as_u64);
    let byte = |k: &str| n(k).and_then(|d| u8::try_from(d).ok());
    let mut p = BasicProperties::default().with_delivery_mode(byte("delivery_mode").unwrap_or(2));
    type Set<T> = fn(BasicProperties, T) -> BasicProperties;
    let texts: [(&str, Set<ShortString>); 10] = [
        ("content_type", BasicProperties::with_content_type),
        ("content_encoding", BasicProperties::with_content_encoding),
        ("correlation_id", BasicProperties::with_correlation_id),
        ("reply_to", BasicProperties::with_reply_to),
        ("expiration", BasicProperties::with_expiration),
        ("message_id", BasicProperties::with_message_id),
        ("type", BasicProperties::with_type),
        ("user_id", BasicProperties::with_user_id),
        ("app_id", BasicProperties::with_app_id),
        ("cluster_id", BasicProperties::with_cluster_id),
    ];
    for (key, set) in texts {
        if let Some(v) = s(key).filter(|v| key != "user_id" || v.as_str() == user) {
            p = set(p, v);
        }
    }
    if let Some(v) = byte("priority") {
        p = p.with_priority(v);
    }
    if let Some(v) = n("timestamp") {
        p = p.with_timestamp(v);
    }
    if !headers.is_empty() {
        p = p.with_headers(json_to_table(headers));
    }
    p
}

/// The properties of a re-driven copy: the original's, every header kept
/// (`x-death` too, so the history goes on) except `CC` and `BCC`, whose
/// values are kept under `dlq-original-cc`/`-bcc` ([`DISTRIBUTION_HEADERS`]),
/// the re-drive counter set to `count`. `user_id` is dropped when it names
/// another user, since RabbitMQ refuses to publish it; the returned flag
/// says so.
pub fn redrive_properties(p: &BasicProperties, count: &str, user: &str) -> (BasicProperties, bool) {
    let mut headers = delivered_nowhere_else(p.headers().clone().unwrap_or_default());
    headers.insert(
        ShortString::from(REDRIVE_HEADER),
        AMQPValue::LongString(count.into()),
    );
    let foreign_user = p.user_id().as_ref().is_some_and(|u| u.as_str() != user);
    if !foreign_user {
        return (p.clone().with_headers(headers), false);
    }
    let mut out = BasicProperties::default().with_headers(headers);
    macro_rules! copy {
        ($get:ident, $set:ident) => {
            if let Some(v) = p.$get() {
                out = out.$set(v.clone());
            }
        };
    }
    copy!(content_type, with_content_type);
    copy!(content_encoding, with_content_encoding);
    copy!(delivery_mode, with_delivery_mode);
    copy!(priority, with_priority);
    copy!(correlation_id, with_correlation_id);
    copy!(reply_to, with_reply_to);
    copy!(expiration, with_expiration);
    copy!(message_id, with_message_id);
    copy!(timestamp, with_timestamp);
    copy!(kind, with_type);
    copy!(app_id, with_app_id);
    copy!(cluster_id, with_cluster_id);
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::DeadLetter;

    fn ls(s: &str) -> AMQPValue {
        AMQPValue::LongString(s.into())
    }

    fn table<const N: usize>(entries: [(&str, AMQPValue); N]) -> FieldTable {
        let t: BTreeMap<_, _> = entries.into_iter().map(|(k, v)| (k.into(), v)).collect();
        t.into()
    }

    fn dead(reason: &str, queue: &str, exchange: &str, rk: &str, count: i64, t: u64) -> AMQPValue {
        AMQPValue::FieldTable(table([
            ("reason", ls(reason)),
            ("queue", ls(queue)),
            ("exchange", ls(exchange)),
            ("routing-keys", AMQPValue::FieldArray(vec![ls(rk)].into())),
            ("count", AMQPValue::LongLongInt(count)),
            ("time", AMQPValue::Timestamp(t)),
        ]))
    }

    fn props(deaths: Vec<AMQPValue>, first_exchange: &str) -> BasicProperties {
        BasicProperties::default().with_headers(table([
            ("x-death", AMQPValue::FieldArray(deaths.into())),
            ("x-first-death-queue", ls("orders")),
            ("x-first-death-reason", ls("rejected")),
            ("x-first-death-exchange", ls(first_exchange)),
            ("tenant", ls("acme")),
        ]))
    }

    fn dl_of(p: &BasicProperties) -> DeadLetter {
        let headers = p.headers().as_ref().map(table_to_json).unwrap_or_default();
        let props = properties_json(p);
        conventions::read(&conventions::Input::new(&headers, &props, b""))
    }

    #[test]
    fn dead_letter_from_x_death() {
        let p = props(
            vec![
                dead("expired", "orders.retry", "retry", "orders", 2, 200),
                dead("rejected", "orders", "orders-x", "order.created", 3, 100),
            ],
            "orders-x",
        );
        let dl = dl_of(&p);
        assert_eq!(dl.reason.as_deref(), Some("rejected"));
        assert_eq!(dl.source.as_deref(), Some("orders"));
        assert_eq!(dl.attempts, Some(5));
        assert_eq!(dl.first_death_at, Some(secs(100)));
        assert_eq!(dl.convention, Some("rabbitmq"));
        let origin = Route::of(dl.origin.as_ref().unwrap());
        assert_eq!(
            origin.describe(),
            "exchange 'orders-x' routing key 'order.created'"
        );
    }

    #[test]
    fn default_exchange_means_the_queue() {
        let p = props(vec![dead("rejected", "orders", "", "orders", 1, 5)], "");
        let origin = Route::of(dl_of(&p).origin.as_ref().unwrap());
        assert_eq!(origin.describe(), "queue 'orders'");
        let dl = dl_of(&BasicProperties::default());
        assert_eq!(dl, DeadLetter::default());
    }

    #[test]
    fn rewritten_headers_keep_untouched_amqp_types() {
        let h = table([
            ("n", AMQPValue::LongInt(7)),
            ("t", ls("a")),
            ("gone", ls("x")),
        ]);
        let p = BasicProperties::default().with_headers(h);
        let mut copy = table_to_json(p.headers().as_ref().unwrap());
        copy.shift_remove("gone");
        copy.insert("t".into(), json!("b"));
        copy.insert("new".into(), json!(8));
        let out = rewritten_headers(&p, &copy);
        let get = |k: &str| out.inner().get(k).cloned();
        assert_eq!(get("n"), Some(AMQPValue::LongInt(7)));
        assert_eq!(get("t"), Some(ls("b")));
        assert_eq!(get("new"), Some(AMQPValue::LongLongInt(8)));
        assert_eq!(get("gone"), None);
    }

    #[test]
    fn a_redriven_copy_is_delivered_nowhere_else() {
        let cc = AMQPValue::FieldArray(vec![ls("orders.audit")].into());
        let p = BasicProperties::default().with_headers(table([
            ("CC", cc.clone()),
            ("BCC", AMQPValue::FieldArray(vec![ls("b")].into())),
            ("tenant", ls("acme")),
        ]));
        let headers_of = |t: &FieldTable| -> Vec<String> {
            t.inner().keys().map(|k| k.as_str().to_owned()).collect()
        };
        let (copy, _) = redrive_properties(&p, "1", "guest");
        let t = copy.headers().clone().unwrap();
        assert_eq!(
            headers_of(&t),
            [
                "dlq-original-bcc",
                "dlq-original-cc",
                "dlq-redrive-count",
                "tenant"
            ]
        );
        assert_eq!(t.inner().get("dlq-original-cc"), Some(&cc));
        // The same with --set-header and friends.
        let json = table_to_json(p.headers().as_ref().unwrap());
        let t = rewritten_headers(&p, &json);
        assert_eq!(
            headers_of(&t),
            ["dlq-original-bcc", "dlq-original-cc", "tenant"]
        );
        // The ID of the copy is the ID of the original.
        assert_eq!(content_id(&p, b"x"), content_id(&copy, b"x"));
        // Nothing to rename: the table as it was.
        let plain = props(vec![], "");
        let (copy, _) = redrive_properties(&plain, "1", "guest");
        let t = copy.headers().clone().unwrap();
        assert!(!t.contains_key("dlq-original-cc"));
    }

    #[test]
    fn id_ignores_dead_letter_headers() {
        let a = props(vec![dead("rejected", "orders", "", "orders", 1, 5)], "");
        let b = props(vec![dead("rejected", "orders", "", "orders", 4, 9)], "");
        assert_eq!(content_id(&a, b"x"), content_id(&b, b"x"));
        assert_ne!(content_id(&a, b"x"), content_id(&a, b"y"));
        assert_eq!(content_id(&a, b"x").len(), 12);
    }

    #[test]
    fn id_is_the_hash_of_the_compact_json() {
        // IDs must not change between releases: the hash is over the
        // compact JSON text of the stable properties and headers.
        let p = props(vec![dead("rejected", "orders", "", "orders", 1, 5)], "")
            .with_content_type("text/plain".into())
            .with_expiration("60000".into());
        let mut h = p.headers().clone().unwrap_or_default();
        h.insert("tenant".into(), ls("ünï \"q\"\n"));
        let p = p.with_headers(h);
        let mut props = properties_json(&p);
        props.remove("expiration");
        let headers: Map<String, Value> = table_to_json(p.headers().as_ref().unwrap())
            .into_iter()
            .filter(|(k, _)| !volatile_header(k))
            .collect();
        let mut hasher = Sha256::new();
        hasher.update(Value::Object(props).to_string().as_bytes());
        hasher.update([0]);
        hasher.update(Value::Object(headers).to_string().as_bytes());
        hasher.update([0]);
        hasher.update(b"body");
        let want: String = hasher.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(content_id(&p, b"body"), want);
    }

    #[test]
    fn values_round_trip_through_json() {
        let inner = table([("n", AMQPValue::LongLongInt(-3))]);
        let values = vec![
            AMQPValue::Boolean(true),
            AMQPValue::LongLongInt(42),
            AMQPValue::Double(1.5),
            ls("text"),
            AMQPValue::LongString(vec![0xff, 0].into()),
            AMQPValue::Timestamp(1_700_000_000),
            AMQPValue::DecimalValue(DecimalValue {
                scale: 2,
                value: 1250,
            }),
            AMQPValue::FieldTable(inner),
            AMQPValue::FieldArray(vec![ls("a"), AMQPValue::LongLongInt(1)].into()),
        ];
        for v in values {
            let j = amqp_to_json(&v);
            assert_eq!(json_to_amqp(&j), v, "{j}");
        }
        assert_eq!(
            amqp_to_json(&AMQPValue::LongString(vec![0xff].into())),
            json!({"$bytes": "/w=="})
        );
        assert_eq!(decimal_text(&DecimalValue { scale: 3, value: 5 }), "0.005");
    }
}
