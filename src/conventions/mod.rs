//! Dead-letter conventions as data: why a message died, where it came from,
//! how often it was tried, and where `retry` sends it.
//!
//! Brokers dead-letter messages their own way (RabbitMQ `x-death`, the SQS
//! redrive policy, JetStream advisories), and frameworks write their own
//! headers on the messages they move (MassTransit, NServiceBus, Spring,
//! Kafka Connect, ...). Each [`Convention`] in [`table::CONVENTIONS`] says
//! which header, attribute or body field gives each dead-letter field, and
//! how that value is encoded (text, big-endian integers, NServiceBus time
//! stamps, endpoint URIs, ...). A backend hands [`read`] what it has (the
//! envelope headers, its `broker` properties, the body, the record's own
//! time, and facts it worked out such as a DLQ's single source queue) and
//! gets a [`DeadLetter`] back. The table is in order of specificity: the
//! first convention whose marker is present wins and is named in
//! `convention`; the ones after it only fill fields it leaves unknown (the
//! source and origin too, unless the winner records that the message came
//! from something that is not a queue, such as a Lambda function: then a
//! queue would be a wrong guess). Adding a convention is a table entry and a
//! test.
//!
//! Conventions that record an error message or a stack trace say where, so
//! that [`read`] can give each message its failure fingerprint
//! ([`fingerprint`]) and `--error-type` can match the root cause's type.

mod fingerprint;
pub mod page;
mod table;
mod trace;
mod value;

pub use fingerprint::{fingerprint, normalize};

pub use table::CONVENTIONS;

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::message::{DeadLetter, Headers, Origin, OriginKind};

/// Where a value is read from.
#[derive(Debug, Clone, Copy)]
pub enum Where {
    /// An envelope header (a message attribute on SQS).
    Header(&'static str),
    /// A JSON pointer into the message's `broker` properties.
    Broker(&'static str),
    /// A JSON pointer into the body, when the body is JSON.
    Body(&'static str),
    /// A key of a JSON object carried in a header (Brighter's `bag`).
    HeaderJson(&'static str, &'static str),
    /// A JSON pointer into a header that holds a table (rascal's `rascal`
    /// AMQP table). A `*` segment stands for every key there: an integer
    /// read adds up the integers they hold, a text read takes the first.
    HeaderTable(&'static str, &'static str),
    /// A fact the backend worked out (see [`Input::facts`]).
    Fact(&'static str),
    /// A key of RabbitMQ's first-death `x-death` entry.
    FirstDeath(&'static str),
    /// The sum of the `count`s of every `x-death` entry.
    DeathCount,
    /// When the broker stored this message (the DLT record's own time).
    Stored,
}

/// How a value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    /// Text, as written.
    Text,
    /// An integer: decimal text, a JSON number, or Java's big-endian 1-, 4-
    /// or 8-byte form.
    Int,
    /// ISO 8601 / RFC 3339, with `Z` or an offset.
    Iso8601,
    /// NServiceBus's `yyyy-MM-dd HH:mm:ss:ffffff Z`.
    NsbTime,
    /// Milliseconds since the epoch (text or big-endian long).
    UnixMs,
    /// Seconds since the epoch (AMQP timestamps).
    UnixSecs,
    /// The resource name at the end of an ARN or URL.
    LastSegment,
    /// The exception type a stack trace names (Python's last line, Java's
    /// and .NET's first: `Type: message`).
    TraceType,
    /// The message of that exception line.
    TraceMessage,
    /// The type of a Java trace's root cause (its last `Caused by:`).
    TraceCauseType,
    /// An integer that counts retries: the attempts are one more.
    Retries,
}

/// A value: where it is and how it is written.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub from: Where,
    pub enc: Enc,
}

/// Where `retry` sends a message of this convention.
#[derive(Debug, Clone, Copy)]
pub enum OriginRule {
    /// The convention records no origin; a later convention may.
    Unrecorded,
    /// The message came from something that is not a queue (a function, a
    /// rule, a topic ARN), named by `source`: retry needs `--to`.
    NotAQueue(&'static str),
    /// A fixed kind, named by the first field with a value; an exchange
    /// takes its routing key from `routing_key`. The default exchange, named
    /// "", means the queue `default_queue` names, else the one the routing
    /// key names.
    Named {
        kind: OriginKind,
        name: &'static [Field],
        routing_key: &'static [Field],
        default_queue: &'static [Field],
    },
    /// An endpoint URI whose scheme and path say the kind:
    /// `rabbitmq://host/vhost/orders`, `rabbitmq://exchange/orders`,
    /// `kafka://topic/orders`, `sqs://orders`, `queue:orders`, or a bare
    /// name (`orders@machine` on MSMQ), which is a queue.
    Endpoint(&'static [Field]),
}

/// One dead-letter convention.
#[derive(Debug, Clone, Copy)]
pub struct Convention {
    /// As `dead_letter.convention` names it.
    pub name: &'static str,
    /// The convention applies when any of these has a value.
    pub marker: &'static [Where],
    pub reason: &'static [Field],
    pub error_type: &'static [Field],
    pub source: &'static [Field],
    pub attempts: &'static [Field],
    pub failed_at: &'static [Field],
    pub origin: OriginRule,
    /// The error message as the framework recorded it (the reason text
    /// where that is the exception's message).
    pub error_message: &'static [Field],
    /// The stack trace, Java, .NET or Python, for the fingerprint.
    pub stack_trace: &'static [Field],
    /// The type of the root cause, where it differs from `error_type`
    /// (Spring's `-cause-fqcn` under a `ListenerExecutionFailedException`).
    pub cause_type: &'static [Field],
}

/// What a backend knows about one message.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub headers: &'a Headers,
    pub broker: &'a Map<String, Value>,
    pub body: &'a [u8],
    pub stored_at: Option<SystemTime>,
    /// What the backend worked out beyond the message: `source_queue` (the
    /// SQS DLQ's single source queue), `source_stream` (the NATS stream that
    /// holds the original subject), `advisory_reason`, `source_topic` (the
    /// topic of a Pub/Sub dead letter's source subscription).
    pub facts: &'a Map<String, Value>,
}

impl<'a> Input<'a> {
    /// An input of headers and body alone.
    pub fn new(headers: &'a Headers, broker: &'a Map<String, Value>, body: &'a [u8]) -> Self {
        Input {
            headers,
            broker,
            body,
            stored_at: None,
            facts: empty(),
        }
    }
}

fn empty() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

/// The dead-letter fields of a message under every convention that applies,
/// the most specific first (see the module docs).
pub fn read(input: &Input) -> DeadLetter {
    let body = std::cell::OnceCell::new();
    let ctx = value::Ctx { input, body: &body };
    let mut out = DeadLetter::default();
    let mut stack_trace = None;
    let mut origin_closed = false;
    let names = Names::of(input.headers);
    for c in CONVENTIONS
        .iter()
        .zip(Names::markers())
        .filter(|(_, bits)| names.may_hold(**bits))
        .map(|(c, _)| c)
        .filter(|c| c.marker.iter().any(|f| ctx.raw(*f).is_some()))
    {
        out.convention.get_or_insert(c.name);
        fill(&mut out.reason, || ctx.text(c.reason));
        fill(&mut out.error_type, || ctx.text(c.error_type));
        if !origin_closed {
            fill(&mut out.source, || ctx.text(c.source));
        }
        fill(&mut out.attempts, || ctx.int(c.attempts));
        fill(&mut out.first_death_at, || ctx.time(c.failed_at));
        fill(&mut out.error_message, || ctx.text(c.error_message));
        fill(&mut out.cause_type, || ctx.text(c.cause_type));
        fill(&mut stack_trace, || ctx.text(c.stack_trace));
        if !origin_closed && out.origin.is_none() {
            match c.origin {
                OriginRule::Unrecorded => {}
                OriginRule::NotAQueue(_) => origin_closed = true,
                OriginRule::Named {
                    kind,
                    name,
                    routing_key,
                    default_queue,
                } => {
                    out.origin = ctx.text_or_empty(name).and_then(|n| {
                        let queue = n.is_empty().then(|| ctx.text(default_queue)).flatten();
                        let key = queue.or_else(|| ctx.text_or_empty(routing_key));
                        value::named(kind, n, key)
                    });
                }
                OriginRule::Endpoint(fields) => {
                    out.origin = ctx.text(fields).and_then(|uri| value::endpoint(&uri));
                }
            }
        }
    }
    out.fingerprint = fingerprint(
        out.error_type.as_deref(),
        out.error_message.as_deref(),
        stack_trace.as_deref(),
    );
    out
}

/// A sketch of a message's header names (each name's length and first byte,
/// case folded, as one bit of 64): a convention none of whose marker headers
/// has its bit set cannot apply, so most of the table costs one test instead
/// of a scan of the headers per marker.
struct Names(u64);

impl Names {
    fn of(headers: &Headers) -> Names {
        Names(headers.keys().fold(0, |m, k| m | Names::bit(k)))
    }

    fn bit(name: &str) -> u64 {
        let first = name.bytes().next().map_or(0, |b| b.to_ascii_lowercase());
        1 << ((name.len() * 7 + usize::from(first)) % 64)
    }

    /// The bit of the header `from` reads; None for any other place.
    fn bits(from: &Where) -> Option<u64> {
        match from {
            Where::Header(n) | Where::HeaderJson(n, _) | Where::HeaderTable(n, _) => {
                Some(Names::bit(n))
            }
            _ => None,
        }
    }

    /// False only when every marker of `bits` is a header the message cannot hold.
    fn may_hold(&self, bits: Option<u64>) -> bool {
        bits.is_none_or(|b| self.0 & b != 0)
    }

    /// Per convention, the bits of its markers, or None when one of them is
    /// not a header: a message none of whose header names shares a bit
    /// cannot have that convention.
    fn markers() -> &'static [Option<u64>] {
        static BITS: std::sync::OnceLock<Vec<Option<u64>>> = std::sync::OnceLock::new();
        BITS.get_or_init(|| {
            CONVENTIONS
                .iter()
                .map(|c| {
                    c.marker
                        .iter()
                        .try_fold(0, |m, f| Some(m | Names::bits(f)?))
                })
                .collect()
        })
    }
}

fn fill<T>(slot: &mut Option<T>, f: impl FnOnce() -> Option<T>) {
    if slot.is_none() {
        *slot = f();
    }
}

/// What a message with no origin came from, for the error that asks for
/// `--to`: "Lambda function arn:aws:lambda:...", or None when its convention
/// records a queue (or nothing at all).
pub fn not_a_queue(dl: &DeadLetter) -> Option<String> {
    let c = CONVENTIONS.iter().find(|c| Some(c.name) == dl.convention)?;
    match c.origin {
        OriginRule::NotAQueue(what) => Some(match &dl.source {
            Some(s) => format!("{what} {s}"),
            None => format!("a {what}"),
        }),
        _ => None,
    }
}

/// The error of a re-drive that has no origin and no `--to`.
pub fn no_origin(dl: &DeadLetter) -> String {
    match (not_a_queue(dl), dl.convention) {
        (Some(what), Some(name)) => format!(
            "the message came from {what} ({name} dead letter), not from a queue: pass --to"
        ),
        (_, Some(name)) => match &dl.source {
            // Named but not found: a Pub/Sub source subscription deleted since.
            Some(source) => format!(
                "no origin known: the {name} dead letter names its source {source}, which does not say \
                 where to send it back (or no longer exists): pass --to"
            ),
            None => format!("no origin recorded ({name} dead letter without one): pass --to"),
        },
        _ => "no origin recorded (no dead-letter convention names one): pass --to".into(),
    }
}

/// The origin a backend can publish to, or why not: `kinds` are the kinds
/// its broker has.
pub fn origin_for<'m>(dl: &'m DeadLetter, kinds: &[OriginKind]) -> Result<&'m Origin, String> {
    match &dl.origin {
        Some(o) if kinds.contains(&o.kind) => Ok(o),
        Some(o) => Err(format!(
            "the recorded origin is {} '{}', which this broker has no such thing as: pass --to",
            o.kind.word(),
            o.name
        )),
        None => Err(no_origin(dl)),
    }
}

#[cfg(test)]
mod tests;
