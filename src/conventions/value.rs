//! Reading one field of a message and decoding it: where [`super::Where`]
//! points, and what [`super::Enc`] says the bytes mean.

use std::cell::OnceCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{trace, Enc, Field, Input, Where};
use crate::message::{parse_time, value_bytes};
use crate::message::{Origin, OriginKind};

/// One message being read, with its body parsed at most once.
pub struct Ctx<'a> {
    pub input: &'a Input<'a>,
    pub body: &'a OnceCell<Option<Value>>,
}

/// A value found: JSON as the envelope holds it, or a time.
pub enum Raw {
    Json(Value),
    Time(SystemTime),
}

fn parse_body(body: &[u8]) -> Option<Value> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    (body[start] == b'{')
        .then(|| serde_json::from_slice(body).ok())
        .flatten()
}

/// The last of repeated values; null is no value.
fn last(v: &Value) -> Option<&Value> {
    match v {
        Value::Null => None,
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().rev().find(|i| !i.is_null())
        }
        other => Some(other),
    }
}

impl Ctx<'_> {
    /// The header of that name, exact case first. One pass, no hashing: a
    /// message has a few headers, and most names asked for are absent.
    fn header(&self, name: &str) -> Option<&Value> {
        let mut folded = None;
        for (k, v) in self.input.headers {
            if k == name {
                return last(v);
            }
            if folded.is_none() && k.eq_ignore_ascii_case(name) {
                folded = Some(v);
            }
        }
        folded.and_then(last)
    }

    fn body(&self) -> Option<&Value> {
        self.body
            .get_or_init(|| parse_body(self.input.body))
            .as_ref()
    }

    /// The first-death entry of `x-death`: the one of the first-death queue
    /// and reason, else the oldest (RabbitMQ lists the newest first).
    fn first_death(&self) -> Option<&serde_json::Map<String, Value>> {
        let deaths: Vec<&serde_json::Map<String, Value>> = self
            .input
            .headers
            .get("x-death")?
            .as_array()?
            .iter()
            .filter_map(Value::as_object)
            .collect();
        let q = self.header("x-first-death-queue").and_then(Value::as_str);
        let r = self.header("x-first-death-reason").and_then(Value::as_str);
        deaths
            .iter()
            .find(|t| {
                q.is_some()
                    && t.get("queue").and_then(Value::as_str) == q
                    && (r.is_none() || t.get("reason").and_then(Value::as_str) == r)
            })
            .or(deaths.last())
            .copied()
    }

    pub fn raw(&self, from: Where) -> Option<Raw> {
        let json = |v: Option<&Value>| v.and_then(last).cloned().map(Raw::Json);
        match from {
            Where::Header(name) => json(self.header(name)),
            Where::Broker(ptr) => {
                let (first, rest) = split_pointer(ptr);
                let v = self.input.broker.get(first)?;
                json(if rest.is_empty() {
                    Some(v)
                } else {
                    v.pointer(rest)
                })
            }
            Where::Body(ptr) => json(self.body()?.pointer(ptr)),
            Where::HeaderJson(name, key) => {
                let text = self.header(name)?.as_str()?;
                let obj: Value = serde_json::from_str(text).ok()?;
                json(obj.get(key))
            }
            Where::HeaderTable(name, ptr) => {
                let table = self.header(name)?;
                let parsed;
                let table = match table.as_str() {
                    Some(text) => {
                        parsed = serde_json::from_str::<Value>(text).ok()?;
                        &parsed
                    }
                    None => table,
                };
                table_value(table, ptr).map(Raw::Json)
            }
            Where::Fact(name) => json(self.input.facts.get(name)),
            Where::FirstDeath("routing-keys") => {
                json(self.first_death()?.get("routing-keys")?.as_array()?.first())
            }
            Where::FirstDeath(key) => json(self.first_death()?.get(key)),
            Where::DeathCount => {
                let deaths = self.input.headers.get("x-death")?.as_array()?;
                let n: u64 = deaths
                    .iter()
                    .filter_map(|d| d.get("count").and_then(int_of_json))
                    .sum();
                Some(Raw::Json(Value::from(n)))
            }
            Where::Stored => self.input.stored_at.map(Raw::Time),
        }
    }

    /// One field as text, decoded as its encoding says.
    fn decoded(&self, f: &Field) -> Option<String> {
        let Raw::Json(v) = self.raw(f.from)? else {
            return None;
        };
        let s = text_of(&v)?;
        Some(match f.enc {
            Enc::LastSegment => last_segment(&s).to_owned(),
            Enc::TraceType => trace::exception_line(&s)?.0,
            Enc::TraceMessage => trace::exception_line(&s)?.1,
            Enc::TraceCauseType => trace::root_cause_type(&s)?,
            _ => s,
        })
    }

    /// The first field that has a usable text value; empty text is none.
    pub fn text(&self, fields: &[Field]) -> Option<String> {
        fields.iter().find_map(|f| {
            let s = self.decoded(f)?;
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        })
    }

    /// Like [`Ctx::text`], but an empty value counts (the default exchange).
    pub fn text_or_empty(&self, fields: &[Field]) -> Option<String> {
        fields.iter().find_map(|f| self.decoded(f))
    }

    pub fn int(&self, fields: &[Field]) -> Option<u64> {
        fields.iter().find_map(|f| match self.raw(f.from)? {
            Raw::Json(v) if f.enc == Enc::Retries => int_of_json(&v).map(|n| n + 1),
            Raw::Json(v) => int_of_json(&v),
            Raw::Time(_) => None,
        })
    }

    pub fn time(&self, fields: &[Field]) -> Option<SystemTime> {
        fields.iter().find_map(|f| match self.raw(f.from)? {
            Raw::Time(t) => Some(t),
            Raw::Json(v) => match f.enc {
                Enc::UnixMs => int_of_json(&v).map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
                Enc::UnixSecs => int_of_json(&v).map(|s| UNIX_EPOCH + Duration::from_secs(s)),
                Enc::NsbTime => text_of(&v).and_then(|s| nsb_time(&s)),
                _ => text_of(&v).and_then(|s| parse_time(&s)),
            },
        })
    }
}

/// The value a pointer names in a table; with `*` segments, the sum of the
/// integers they reach, else the first value (see `Where::HeaderTable`).
fn table_value(table: &Value, ptr: &str) -> Option<Value> {
    let mut found = vec![table];
    for seg in ptr.split('/').filter(|s| !s.is_empty()) {
        found = found
            .into_iter()
            .filter_map(Value::as_object)
            .flat_map(|o| match seg {
                "*" => o.values().collect::<Vec<_>>(),
                key => o.get(key).into_iter().collect(),
            })
            .collect();
    }
    let found: Vec<&Value> = found.into_iter().filter_map(last).collect();
    if !ptr.split('/').any(|s| s == "*") {
        return found.first().map(|v| (*v).clone());
    }
    let ints: Vec<u64> = found
        .iter()
        .filter(|v| v.is_number())
        .filter_map(|v| int_of_json(v))
        .collect();
    if ints.is_empty() {
        found.first().map(|v| (*v).clone())
    } else {
        Some(Value::from(ints.iter().sum::<u64>()))
    }
}

fn split_pointer(ptr: &str) -> (&str, &str) {
    let p = ptr.strip_prefix('/').unwrap_or(ptr);
    match p.find('/') {
        Some(i) => (&p[..i], &p[i..]),
        None => (p, ""),
    }
}

/// A value's bytes: text as UTF-8, `{"$bytes": ...}` decoded.
fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.clone().into_bytes()),
        Value::Number(n) => Some(n.to_string().into_bytes()),
        Value::Bool(b) => Some(b.to_string().into_bytes()),
        other => value_bytes(other)?.ok(),
    }
}

fn text_of(v: &Value) -> Option<String> {
    if let Some(t) = v.get("$timestamp") {
        return Some(t.to_string());
    }
    String::from_utf8(bytes_of(v)?).ok()
}

/// An integer: a JSON number, an AMQP timestamp, decimal text, or Java's
/// big-endian byte, int or long.
pub fn int_of_json(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    if let Some(t) = v.get("$timestamp") {
        return t.as_u64();
    }
    let bytes = bytes_of(v)?;
    if let Some(n) = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        return Some(n);
    }
    let n = match bytes.len() {
        1 => i64::from(bytes[0]),
        4 => i64::from(i32::from_be_bytes(bytes[..].try_into().ok()?)),
        8 => i64::from_be_bytes(bytes[..].try_into().ok()?),
        _ => return None,
    };
    u64::try_from(n).ok()
}

/// The name at the end of an ARN, URL or endpoint URI.
pub fn last_segment(s: &str) -> &str {
    let s = s.split(['?', '#']).next().unwrap_or(s);
    s.rsplit(['/', ':']).find(|p| !p.is_empty()).unwrap_or(s)
}

/// NServiceBus's wire time, `yyyy-MM-dd HH:mm:ss:ffffff Z` (UTC).
pub fn nsb_time(s: &str) -> Option<SystemTime> {
    let s = s.trim().trim_end_matches('Z').trim_end();
    let (date, time) = s.split_once(' ')?;
    let (hms, frac) = time.rsplit_once(':')?;
    if hms.matches(':').count() != 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    humantime::parse_rfc3339_weak(&format!("{date}T{hms}.{frac}")).ok()
}

/// An origin of a fixed kind; an exchange named "" (the default exchange)
/// means the queue its routing key names.
pub fn named(kind: OriginKind, name: String, routing_key: Option<String>) -> Option<Origin> {
    match kind {
        OriginKind::Exchange if name.is_empty() => {
            routing_key.filter(|rk| !rk.is_empty()).map(|rk| Origin {
                kind: OriginKind::Queue,
                name: rk,
                routing_key: None,
            })
        }
        OriginKind::Exchange => Some(Origin {
            kind,
            name,
            routing_key: Some(routing_key.unwrap_or_default()),
        }),
        _ if name.is_empty() => None,
        _ => Some(Origin {
            kind,
            name,
            routing_key: None,
        }),
    }
}

/// An origin from an endpoint URI or address (see `OriginRule::Endpoint`).
pub fn endpoint(uri: &str) -> Option<Origin> {
    let uri = uri.trim();
    let (scheme, rest) = match uri.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => match uri.split_once(':') {
            // MassTransit short addresses: `queue:orders`, `exchange:orders`.
            Some((s, r)) if ["queue", "exchange", "topic"].contains(&s) => {
                return named(kind_of(s, ""), r.to_owned(), None)
                    .map(|o| with_empty_key(o, s == "exchange"));
            }
            _ => (String::new(), uri),
        },
    };
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if scheme.is_empty() {
        // A bare queue name; MSMQ writes `queue@machine`.
        let name = path.split('@').next().unwrap_or(path);
        return named(OriginKind::Queue, name.to_owned(), None);
    }
    let name = segments.last()?.to_string();
    let marker = segments.first().copied().unwrap_or("");
    let exchange = marker == "exchange" && segments.len() > 1;
    named(kind_of(marker, &scheme), name, None).map(|o| with_empty_key(o, exchange))
}

fn kind_of(marker: &str, scheme: &str) -> OriginKind {
    match (marker, scheme) {
        ("exchange", _) => OriginKind::Exchange,
        (_, s) if s.starts_with("kafka") => OriginKind::Topic,
        (_, "nats") => OriginKind::Subject,
        ("topic", "") => OriginKind::Topic,
        _ => OriginKind::Queue,
    }
}

fn with_empty_key(mut o: Origin, exchange: bool) -> Origin {
    if exchange {
        o.kind = OriginKind::Exchange;
        o.routing_key = Some(String::new());
    }
    o
}
