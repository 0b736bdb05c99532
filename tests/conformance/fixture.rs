//! What the suite needs from each broker, and the message shape it compares.

use std::collections::BTreeMap;

use super::common::relay::Relay;

/// A message as the suite compares it: body, string headers, key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Msg {
    pub body: Vec<u8>,
    pub headers: BTreeMap<String, String>,
    pub key: Option<Vec<u8>>,
}

impl Msg {
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Msg {
            body: body.into(),
            headers: BTreeMap::new(),
            key: None,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.insert(k.into(), v.into());
        self
    }
    pub fn key(mut self, k: &str) -> Self {
        self.key = Some(k.as_bytes().to_vec());
        self
    }
    /// The same message with only the headers named in `keep`.
    pub fn only_headers(&self, keep: &[String]) -> Msg {
        let headers = self
            .headers
            .iter()
            .filter(|(k, _)| keep.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Msg {
            body: self.body.clone(),
            headers,
            key: self.key.clone(),
        }
    }
}

/// A DLQ and the origin its messages came from.
#[derive(Debug, Clone)]
pub struct Pair {
    /// What `dlq` takes as QUEUE for the DLQ.
    pub dlq: String,
    /// What `dlq publish` takes as TARGET for the origin.
    pub origin: String,
    /// Broker-specific names (the origin's stream, ...).
    pub extra: BTreeMap<String, String>,
}

/// What the suite may ask of a broker.
pub trait Fixture {
    fn name(&self) -> &'static str;

    /// `-b URL` and any other flags every dlq call needs.
    fn args(&self) -> Vec<String>;

    /// Whether the DLQ has one order that reads must keep.
    fn ordered(&self) -> bool {
        true
    }

    /// Whether the message keys of the broker round-trip (Kafka).
    fn has_keys(&self) -> bool {
        false
    }

    /// The edge message set this broker can carry.
    fn edge_messages(&self) -> Vec<Msg>;

    /// A fresh origin and DLQ; the DLQ holds `msgs`, in order, as real dead
    /// letters of the origin.
    fn dead_letters(&self, msgs: &[Msg]) -> Pair;

    /// What is on the DLQ (for Kafka: after dlq's cursor), read independently.
    fn read_dlq(&self, pair: &Pair) -> Vec<Msg>;

    /// What is on the origin, read independently.
    fn read_origin(&self, pair: &Pair) -> Vec<Msg>;

    /// A fresh empty target to publish into, and read it back with `read_origin`.
    fn empty_target(&self) -> Pair;

    /// A NAME for `dlq lag` that has at least one message of lag.
    fn lagging(&self) -> (String, Pair);

    fn cleanup(&self, pair: &Pair);

    /// Messages in a fault test: enough that a kill lands midway.
    fn bulk_size(&self) -> usize {
        2000
    }

    /// Messages in a SIGKILL test: enough that the run is still moving them
    /// at each kill point, however fast the broker takes them.
    fn kill_size(&self) -> usize {
        self.bulk_size()
    }

    /// How many SIGKILL points to try.
    fn kill_points(&self) -> usize {
        5
    }

    /// A `--rate` slow enough that a run is still going when it is stopped.
    fn slow_rate(&self) -> u32 {
        500
    }

    /// How many copies a clean stop may leave twice: none where a message
    /// goes to one reader at a time; SQS standard queues deliver at least
    /// once, so two concurrent receives can both get a message (one batch).
    fn clean_stop_duplicates(&self) -> usize {
        0
    }

    /// Waits until messages a killed run held have come back (SQS: their
    /// visibility timeout).
    fn settle(&self, _pair: &Pair) {}

    /// `HOST:PORT` of the broker, for a relay that cuts connections.
    fn relay_target(&self) -> String;

    /// A relay in front of the broker that a test can cut (in front of
    /// Kafka it rewrites the advertised address, so clients stay on it).
    fn relay(&self) -> Relay {
        Relay::start(&self.relay_target())
    }

    /// `args()` with the broker reached through a relay on `port`.
    fn args_via(&self, port: u16) -> Vec<String>;

    /// The exit code of `publish` to `missing_target()` (NATS: 0, a core
    /// publish that nothing stores, with a note).
    fn missing_publish_exit(&self) -> i32 {
        4
    }

    /// A target to publish to, and an envelope (an NDJSON line) that this
    /// broker refuses there for a reason of that message's own (a header it
    /// cannot carry, too large for the target), while small plain messages
    /// go through.
    fn refusing_target(&self) -> (Pair, String);

    /// Where `dlq publish` adds a message to the DLQ itself, on a broker
    /// whose DLQ `list --follow` can watch (a log); None elsewhere.
    fn follow_target(&self, _pair: &Pair) -> Option<String> {
        None
    }

    /// A target name that does not exist.
    fn missing_target(&self) -> String {
        super::common::unique("no-such-target")
    }
}

/// The edge bodies every broker that carries arbitrary bytes must carry.
pub fn edge_set(big: usize, binary: bool, unicode_header_names: bool) -> Vec<Msg> {
    let mut out: Vec<Msg> = super::common::edge_bodies()
        .into_iter()
        .filter(|b| binary || std::str::from_utf8(b).is_ok_and(|s| !s.contains('\0')))
        .enumerate()
        .map(|(i, b)| {
            Msg::new(b)
                .header("tenant", "acme")
                .header("idx", &i.to_string())
        })
        .collect();
    let n = out.len();
    let mut many = Msg::new("many headers").header("idx", &n.to_string());
    for h in 0..8 {
        many = many.header(&format!("h{h}"), &format!("value {h} ✓"));
    }
    out.push(many);
    if unicode_header_names {
        out.push(
            Msg::new("unicode header name")
                .header("idx", &(n + 1).to_string())
                .header("ünïcödé-名前", "ja"),
        );
    }
    let big_body: Vec<u8> = (0..big).map(|i| b'a' + (i % 26) as u8).collect();
    out.push(Msg::new(big_body).header("idx", &(out.len()).to_string()));
    out
}
