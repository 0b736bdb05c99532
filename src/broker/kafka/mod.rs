//! The Kafka backend, on rdkafka (librdkafka built in, with TLS and SASL).
//!
//! A Kafka DLQ is a log, so "removing" a message means moving dlq's cursor
//! past it: a consumer group per DLQ topic (`dlq.<topic>`, or `--group`)
//! whose committed offsets say what was handled, with out-of-order handled
//! offsets in the commit metadata (see `cursor`). Reads assign partitions
//! directly and never join the group or commit, so `list` changes nothing.
//! Every librdkafka call that can block runs off the async workers; every
//! client shares one quiet context that swallows librdkafka's own logging and
//! keeps the last error it reported, so a failure is one line naming the
//! cause. `connect` waits at most `--timeout` for the cluster's metadata.

mod admin;
mod browse;
mod client;
mod cursor;
mod envelope;
mod publish;
mod redrive;
mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use async_trait::async_trait;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::capability::{Flag, Setting};
use super::{
    Broker, Capabilities, LagQuery, LagRow, OriginKind, PublishOptions, PurgeOptions, QueueInfo,
    ReadOptions, RedriveOptions, Visitor,
};
use crate::bulk::publish::Publisher;
use crate::bulk::Ledger;
use crate::config::BrokerSettings;
use crate::exit::{broker, broker_msg, broker_with, not_found, usage};
use crate::output::Warner;
use crate::url_parts::UrlParts;
use cursor::Cursor;

const NAME: &str = "kafka";

/// How long a producer waits for more of a partition's messages.
#[derive(Clone, Copy)]
enum Linger {
    /// `publish`: a message typed at the prompt goes out at once.
    Short,
    /// A re-drive: idempotent, librdkafka keeps at most 5 produce requests in
    /// flight, each with one partition's batch; a longer wait makes each
    /// carry more, which sets the pace far from the broker (docs/kafka.md).
    Long,
}

impl Linger {
    fn ms(self) -> &'static str {
        match self {
            Linger::Short => "5",
            Linger::Long => "50",
        }
    }
}

/// The largest answer a reader takes from a broker, by default (bytes).
const RECEIVE_LIMIT: u64 = 32 << 20;
/// What librdkafka says when it refuses an answer over that limit.
const RECEIVE_REFUSED: &str = "Invalid response size";

/// What this backend can do, and the flags and settings it honours.
pub const CAPABILITIES: Capabilities = Capabilities {
    name: NAME,
    purge_all: true,
    origins: &[OriginKind::Topic],
    flags: &[
        Flag::Key,
        Flag::Partition,
        Flag::DeleteRecords,
        Flag::Group,
        Flag::All,
        Flag::Topic,
        Flag::Follow,
    ],
    settings: &[
        Setting::PasswordEnv,
        Setting::Kafka,
        Setting::DlqPatterns,
        Setting::TlsCaFile,
        Setting::TlsCertFile,
        Setting::TlsKeyFile,
    ],
    keys: true,
};

/// The context of every client: librdkafka's log lines go nowhere (they
/// would repeat each reconnect attempt on stderr); its errors are kept so
/// that a failed call can say why.
#[derive(Clone, Default)]
pub struct Quiet {
    last_error: Arc<Mutex<Option<(KafkaError, String)>>>,
    /// librdkafka said every broker connection is down.
    all_down: Arc<AtomicBool>,
    /// When librdkafka last refused an answer over the receive limit (it
    /// drops that connection, which can read as every broker down).
    refused_at: Arc<Mutex<Option<Instant>>>,
}

impl Quiet {
    fn last(&self) -> Option<(KafkaError, String)> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Forgets the last error, once it has been dealt with.
    fn clear(&self) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }

    /// The cause to show for a failed call: librdkafka's last reported
    /// error when there is one, else the call's own error.
    fn explain(&self, err: &KafkaError) -> String {
        let said = err
            .rdkafka_error_code()
            .map_or_else(|| err.to_string(), |code| code.to_string());
        match self.last() {
            Some((_, reason)) if !reason.is_empty() && reason != said => {
                format!("{said}: {reason}")
            }
            _ => said,
        }
    }

    /// The broker failure to stop a run for, once librdkafka said that
    /// every broker connection is down: copies would wait for its message
    /// timeout otherwise.
    pub fn lost(&self) -> Option<anyhow::Error> {
        self.all_down
            .load(Ordering::SeqCst)
            .then(|| broker_msg(format!("{NAME}: lost the connection to every broker")))
    }

    /// True once librdkafka reported a failure that waiting will not fix.
    fn hopeless(&self) -> bool {
        matches!(self.last(), Some((e, _)) if matches!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed)
        ))
    }
}

impl ClientContext for Quiet {
    fn log(&self, _level: RDKafkaLogLevel, _fac: &str, _line: &str) {}

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        if let Ok(mut at) = self.refused_at.lock() {
            if code == Some(RDKafkaErrorCode::BadMessage) && reason.contains(RECEIVE_REFUSED) {
                *at = Some(Instant::now());
            }
            // A connection dropped for a refused answer is not a lost broker:
            // librdkafka reconnects, and the read narrows its window.
            let refused_lately = at.is_some_and(|at| at.elapsed() < Duration::from_secs(3));
            if code == Some(RDKafkaErrorCode::AllBrokersDown) && !refused_lately {
                self.all_down.store(true, Ordering::SeqCst);
            }
        }
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some((error, reason.to_owned()));
        }
    }
}

impl ConsumerContext for Quiet {}

pub use client::{Kept, Reader};

/// dlq's cursor on each partition of a topic.
pub type Cursors = HashMap<i32, Cursor>;

/// A connected Kafka cluster.
pub struct Kafka {
    base: ClientConfig,
    quiet: Quiet,
    timeout: Duration,
    dlq_patterns: Vec<String>,
    warner: Warner,
    /// Consumers kept for lookups, offsets and commits, one per group.
    kept: Kept,
}

/// Connects to kafka: checks that the cluster answers within the timeout.
pub async fn connect(settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
    let kafka = Kafka {
        base: client_config(settings)?,
        quiet: Quiet::default(),
        timeout: settings.timeout,
        dlq_patterns: settings.profile.dlq_patterns.clone(),
        warner: settings.warner.clone(),
        kept: Kept::default(),
    };
    let display = &settings.display_url;
    blocking(|| kafka.wait_for_cluster(&*kafka.kept("dlq")?)).map_err(|e| {
        let what = format!("{e:#}");
        broker_with(NAME, format!("connecting to {display}"), what, e)
    })?;
    Ok(Box::new(kafka))
}

/// The librdkafka settings every client starts from: the URL's servers, the
/// profile's properties, and the password from the profile's environment.
fn client_config(settings: &BrokerSettings) -> Result<ClientConfig> {
    let servers = bootstrap_servers(&settings.url)?;
    let mut c = ClientConfig::new();
    c.set("client.id", "dlq");
    c.set_log_level(RDKafkaLogLevel::Emerg);
    let user = url_user(&settings.url);
    if let Some(user) = &user {
        c.set("security.protocol", "SASL_PLAINTEXT");
        c.set("sasl.mechanism", "PLAIN");
        c.set("sasl.username", user);
    }
    let p = &settings.profile;
    // The shared TLS keys, in librdkafka's words; the profile's kafka table wins.
    let files = [
        ("ssl.ca.location", &p.tls_ca_file),
        ("ssl.certificate.location", &p.tls_cert_file),
        ("ssl.key.location", &p.tls_key_file),
    ];
    for (key, path) in files.iter().filter_map(|(k, p)| Some((*k, p.as_ref()?))) {
        c.set(key, path.display().to_string());
    }
    if files.iter().any(|(_, f)| f.is_some()) {
        c.set(
            "security.protocol",
            if user.is_some() { "SASL_SSL" } else { "SSL" },
        );
    }
    for (k, v) in &p.kafka {
        if k != "bootstrap.servers" && k != "metadata.broker.list" {
            c.set(k, v);
        }
    }
    c.set("bootstrap.servers", servers);
    let pw = settings.password.as_ref();
    if let Some(pw) = pw.filter(|_| !p.kafka.contains_key("sasl.password")) {
        c.set("sasl.password", pw);
    }
    Ok(c)
}

/// `kafka://[USER[:PASS]@]HOST:PORT[,HOST:PORT...][/]` to `HOST:PORT,...`.
fn bootstrap_servers(url: &str) -> Result<String> {
    let bad = |why: &str| {
        usage(format!(
            "bad Kafka URL {}: {why} (expected kafka://HOST:PORT[,HOST:PORT...])",
            crate::secrets::redact_url(url)
        ))
    };
    let parts = UrlParts::split(url).ok_or_else(|| bad("no scheme"))?;
    for h in parts.hosts.split(',') {
        let Some((host, port)) = h.rsplit_once(':') else {
            return Err(bad(&format!("{h:?} has no port")));
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad(&format!("{h:?} is not HOST:PORT")));
        }
    }
    Ok(parts.hosts.to_owned())
}

/// The SASL user name in the URL, when there is one.
fn url_user(url: &str) -> Option<String> {
    UrlParts::split(url)?.user().filter(|u| !u.is_empty())
}

/// Runs a blocking librdkafka call without stalling the async workers.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// "P:O" to its parts.
fn parse_id(id: &str) -> Option<(i32, i64)> {
    let (p, o) = id.split_once(':')?;
    Some((p.trim().parse().ok()?, o.trim().parse().ok()?))
}

/// The cursor group of a topic.
fn cursor_group(topic: &str, opts: &ReadOptions) -> String {
    opts.group.clone().unwrap_or_else(|| format!("dlq.{topic}"))
}

/// One partition's offsets at the start of an operation.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub partition: i32,
    pub low: i64,
    pub high: i64,
}

/// Each partition's leader's address (`host:port`).
pub type Leaders = HashMap<i32, String>;

/// What [`Kafka::open`] finds of a topic before a read.
pub struct Opened {
    pub consumer: Arc<Reader>,
    pub parts: Vec<Part>,
    pub cursors: Cursors,
    pub leaders: Leaders,
}

/// See [`Kafka::direct`].
fn direct(base: &ClientConfig) -> Option<browse::Direct> {
    let plain = base
        .get("security.protocol")
        .is_none_or(|p| p.eq_ignore_ascii_case("plaintext"));
    let read_committed = !base
        .get("isolation.level")
        .is_some_and(|l| l.eq_ignore_ascii_case("read_uncommitted"));
    plain.then_some(browse::Direct { read_committed })
}

/// `defaults` under the profile's settings, copied by their real values
/// (`config_map` shows a password as a placeholder).
fn over(base: &ClientConfig, defaults: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in defaults {
        c.set(*k, *v);
    }
    for k in base.config_map().keys() {
        c.set(*k, base.get(k).unwrap_or_default());
    }
    c
}

impl Kafka {
    /// How a read of offset ranges goes over a plain connection, when the
    /// profile's is one (`browse::stream` speaks neither TLS nor SASL).
    fn direct(&self) -> Option<browse::Direct> {
        direct(&self.base)
    }

    /// A consumer in `group` that never commits by itself and never joins.
    fn consumer(&self, group: &str) -> Result<Reader> {
        let mut c = over(
            &self.base,
            &[
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "true"),
                ("auto.offset.reset", "earliest"),
                ("allow.auto.create.topics", "false"),
                ("queued.max.messages.kbytes", "8192"),
                ("fetch.max.bytes", "8388608"),
                ("max.partition.fetch.bytes", "4194304"),
                // dlq reads up to end offsets it already knows: no long polls.
                ("fetch.wait.max.ms", "10"),
            ],
        );
        // The bound on one answer, whatever the broker does with the fetch
        // sizes (the read narrows its window when an answer is over it).
        if c.get("receive.message.max.bytes").is_none() {
            let fetch: Option<u64> = c.get("fetch.max.bytes").and_then(|v| v.parse().ok());
            let limit = RECEIVE_LIMIT.max(fetch.unwrap_or(0) + 512);
            c.set("receive.message.max.bytes", limit.to_string());
        }
        c.set("group.id", group);
        c.set_log_level(RDKafkaLogLevel::Emerg);
        c.create_with_context(self.quiet.clone())
            .map(Reader::new)
            .map_err(|e| broker(NAME, "creating a consumer", e))
    }

    /// The producer: idempotent unless the profile says otherwise, waiting
    /// `linger` for more of a partition's messages before it sends them.
    fn producer(&self, linger: Linger) -> Result<FutureProducer<Quiet>> {
        let mut c = over(
            &self.base,
            &[
                ("enable.idempotence", "true"),
                // dlq checks every topic it produces to; its producer's
                // metadata requests (`ready`, now beside the cursor's read)
                // must never create one.
                ("allow.auto.create.topics", "false"),
                ("linger.ms", linger.ms()),
                ("queue.buffering.max.messages", "200000"),
                ("queue.buffering.max.kbytes", "16384"),
                ("message.max.bytes", "16777216"),
                ("message.timeout.ms", "60000"),
            ],
        );
        c.set_log_level(RDKafkaLogLevel::Emerg);
        c.create_with_context(self.quiet.clone())
            .map_err(|e| broker(NAME, "creating a producer", e))
    }

    /// Asks the producer for the metadata of `topic` (it never creates a
    /// missing one: see `producer`). An idempotent
    /// producer first asks for its producer ID while its bootstrap connection
    /// is being replaced by the broker's own; finding none up, it tries again
    /// on a 500 ms timer, and produces nothing until then (a second lost
    /// round made a re-drive of 100,000 take 2 s instead of 1). A metadata
    /// answer makes it ask again at once, over a connection that is up. A
    /// failure here is left to the first send to report.
    fn ready(&self, producer: &FutureProducer<Quiet>, topic: &str) {
        let _ = producer
            .client()
            .fetch_metadata(Some(topic), self.timeout.min(Duration::from_secs(5)));
    }

    /// Fetches cluster metadata until it answers, an unfixable error (bad
    /// credentials, TLS) is reported, or the timeout passes.
    fn wait_for_cluster(&self, consumer: &Reader) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.min(Duration::from_millis(500));
            let Err(e) = consumer.fetch_metadata(None, slice) else {
                return Ok(());
            };
            // Error events (a refused SASL handshake) arrive through poll.
            let _ = consumer.poll(Duration::ZERO);
            if self.quiet.hopeless() || Instant::now() >= deadline {
                let why = self.quiet.explain(&e);
                let waited = if self.quiet.hopeless() {
                    String::new()
                } else {
                    format!(" within {}", humantime::format_duration(self.timeout))
                };
                return Err(anyhow::Error::new(e).context(format!("no answer{waited}: {why}")));
            }
        }
    }

    /// A broker error with librdkafka's reason, keeping its error for `-v`.
    fn fail(&self, op: impl std::fmt::Display, e: &KafkaError) -> anyhow::Error {
        broker_with(NAME, op, self.quiet.explain(e), e.clone())
    }

    /// A topic deleted since its partitions were listed is not found.
    fn offsets_failed(&self, topic: &str, p: i32, e: KafkaError) -> anyhow::Error {
        match e.rdkafka_error_code() {
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                not_found(format!("{NAME}: topic {topic} not found"), Some(e.into()))
            }
            _ => self.fail(format!("reading offsets of {topic}/{p}"), &e),
        }
    }

    /// The partitions of `topic`; an unknown topic is a broker error.
    fn partitions(&self, consumer: &Reader, topic: &str) -> Result<Vec<i32>> {
        self.layout(consumer, topic).map(|(ps, _)| ps)
    }

    /// The partitions of `topic` and each one's leader, from one metadata
    /// answer; an unknown topic is a broker error.
    fn layout(&self, consumer: &Reader, topic: &str) -> Result<(Vec<i32>, Leaders)> {
        let md = consumer
            .fetch_metadata(Some(topic), self.timeout)
            .map_err(|e| self.fail(format!("reading metadata of topic {topic}"), &e))?;
        let t = md.topics().iter().find(|t| t.name() == topic);
        if let Some(t) = t.filter(|t| t.error().is_none() && !t.partitions().is_empty()) {
            let mut ps: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            ps.sort_unstable();
            return Ok((ps, browse::leaders_in(&md, topic)));
        }
        // The broker's answer for this topic: UnknownTopicOrPartition, or none at all.
        let code = t
            .and_then(|t| t.error())
            .map_or(RDKafkaErrorCode::UnknownTopicOrPartition, Into::into);
        Err(not_found(
            format!("{NAME}: topic {topic} not found"),
            Some(Box::new(KafkaError::MetadataFetch(code))),
        ))
    }

    /// The kept consumer of `group` (see [`Kept`]), made when there is none.
    fn kept(&self, group: &str) -> Result<Arc<Reader>> {
        self.kept.get_or_make(group, || self.consumer(group))
    }

    /// A consumer of `group` to read with (it is assigned partitions): the
    /// kept one when nothing else holds it, taken out of the keep, else a new one.
    fn reader(&self, group: &str) -> Result<Reader> {
        match self.kept.take(group) {
            Some(c) => Ok(c),
            None => self.consumer(group),
        }
    }

    /// The kept consumer of `group`, the offsets of each partition of
    /// `topic`, dlq's cursor on them and their leaders. The offsets and the
    /// cursor are asked at once (each ask waits a round trip or two).
    fn open(&self, topic: &str, group: &str) -> Result<Opened> {
        let consumer = self.kept(group)?;
        let (partitions, leaders) = self.layout(&consumer, topic)?;
        let (parts, cursors) = std::thread::scope(|s| {
            let cursors = s.spawn(|| self.cursors(&consumer, topic, &partitions));
            let parts = self.parts(&consumer, topic, &partitions);
            let lost = || broker_msg(format!("{NAME}: reading dlq's cursor on {topic} failed"));
            (parts, cursors.join().unwrap_or_else(|_| Err(lost())))
        });
        Ok(Opened {
            consumer,
            parts: parts?,
            cursors: cursors?,
            leaders,
        })
    }

    /// Low and high watermarks of each partition, asked for several
    /// partitions at once: each ask waits a round trip.
    fn parts(&self, consumer: &Reader, topic: &str, partitions: &[i32]) -> Result<Vec<Part>> {
        let one = |p: i32| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, self.timeout)
                .map_err(|e| self.offsets_failed(topic, p, e))?;
            Ok(Part {
                partition: p,
                low,
                high,
            })
        };
        let lost = format!("{NAME}: reading offsets of {topic} failed");
        let mut out = Vec::with_capacity(partitions.len());
        for chunk in partitions.chunks(16) {
            let got: Vec<Result<Part>> = std::thread::scope(|s| {
                let asks: Vec<_> = chunk.iter().map(|&p| s.spawn(move || one(p))).collect();
                asks.into_iter()
                    .map(|a| a.join().unwrap_or_else(|_| Err(broker_msg(lost.clone()))))
                    .collect()
            });
            out.extend(got.into_iter().collect::<Result<Vec<_>>>()?);
        }
        Ok(out)
    }

    /// The committed cursor of each partition for the consumer's group.
    fn cursors(&self, consumer: &Reader, topic: &str, parts: &[i32]) -> Result<Cursors> {
        let mut tpl = TopicPartitionList::new();
        for &p in parts {
            tpl.add_partition(topic, p);
        }
        let got = consumer
            .committed_offsets(tpl, self.timeout)
            .map_err(|e| self.fail(format!("reading dlq's cursor on {topic}"), &e))?;
        let mut out: Cursors = parts.iter().map(|&p| (p, Cursor::default())).collect();
        for el in got.elements() {
            // A special offset (none committed) reads as negative: no cursor.
            let committed = Cursor::from_committed(el.offset().to_raw(), el.metadata());
            out.insert(el.partition(), committed);
        }
        Ok(out)
    }

    /// Commits the cursors of the partitions named (offset and metadata).
    fn commit(&self, consumer: &Arc<Reader>, topic: &str, cursors: &Cursors) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for (&p, c) in cursors {
            let Some(offset) = c.committed else { continue };
            let mut el = tpl.add_partition(topic, p);
            el.set_offset(Offset::Offset(offset))
                .map_err(|e| self.fail("building the commit", &e))?;
            el.set_metadata(c.metadata());
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        // A commit right after the group's first read can meet a coordinator
        // still loading; a few retries within the timeout ride over that.
        // With the coordinator gone, librdkafka holds a synchronous commit
        // until it comes back, so the commit runs on a thread of its own and
        // is given up after the timeout (that thread ends with the process).
        let deadline = Instant::now() + self.timeout;
        let (tx, rx) = std::sync::mpsc::channel();
        let consumer = Arc::clone(consumer);
        std::thread::spawn(move || {
            let mut result = Ok(());
            while Instant::now() < deadline {
                result = consumer.commit(&tpl, CommitMode::Sync);
                if result.is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = tx.send(result);
        });
        let done = rx.recv_timeout(self.timeout + Duration::from_secs(1));
        done.unwrap_or(Err(KafkaError::Canceled))
            .map_err(|e| self.fail(format!("committing dlq's cursor on {topic}"), &e))
    }
}

#[async_trait]
impl Broker for Kafka {
    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    async fn queues(&self) -> Result<Vec<QueueInfo>> {
        blocking(|| admin::queues(self))
    }

    async fn depth(&self, queue: &str, opts: &ReadOptions) -> Result<Option<u64>> {
        blocking(|| admin::depth(self, queue, opts)).map(Some)
    }

    async fn browse(&self, queue: &str, opts: &ReadOptions, visit: &mut Visitor<'_>) -> Result<()> {
        browse::browse(self, queue, opts, visit).await
    }

    async fn check_target(&self, to: &str) -> Result<()> {
        blocking(|| {
            let lookup = self.kept(&cursor_group(to, &ReadOptions::default()))?;
            self.partitions(&lookup, to).map(|_| ())
        })
    }

    async fn redrive(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        redrive::redrive(self, queue, opts, run).await
    }

    async fn purge(&self, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        redrive::purge(self, queue, opts, run).await
    }

    async fn purge_all(&self, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        redrive::purge_all(self, queue, opts, run).await
    }

    async fn publisher<'a>(
        &'a self,
        target: &str,
        opts: &PublishOptions,
    ) -> Result<Box<dyn Publisher + 'a>> {
        Ok(Box::new(publish::Sender::open(self, target, opts)?))
    }

    async fn lag(&self, query: &LagQuery) -> Result<Vec<LagRow>> {
        blocking(|| admin::lag(self, query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_bootstrap_servers() {
        assert_eq!(
            bootstrap_servers("kafka://127.0.0.1:9092").unwrap(),
            "127.0.0.1:9092"
        );
        assert_eq!(bootstrap_servers("kafka://a:1,b:2/").unwrap(), "a:1,b:2");
        assert_eq!(bootstrap_servers("kafka://u:p@a:1").unwrap(), "a:1");
        assert!(bootstrap_servers("kafka://host").is_err());
        assert!(bootstrap_servers("kafka://:9092").is_err());
        assert!(bootstrap_servers("kafka://h:port").is_err());
        assert_eq!(url_user("kafka://alice:pw@a:1").as_deref(), Some("alice"));
        assert_eq!(url_user("kafka://a:1"), None);
    }

    #[test]
    fn only_a_plain_connection_is_read_directly() {
        let plain = client_config(&settings_for("kafka://a:9092", Default::default())).unwrap();
        assert!(direct(&plain).is_some_and(|d| d.read_committed));
        let tls = crate::config::Profile {
            tls_ca_file: Some("/etc/dlq/ca.pem".into()),
            ..Default::default()
        };
        let tls = client_config(&settings_for("kafka://a:9093", tls)).unwrap();
        assert!(direct(&tls).is_none(), "TLS is librdkafka's");
        let mut c = plain.clone();
        c.set("security.protocol", "SASL_PLAINTEXT");
        assert!(direct(&c).is_none(), "SASL is librdkafka's");
        c.set("security.protocol", "PLAINTEXT");
        c.set("isolation.level", "read_uncommitted");
        assert!(direct(&c).is_some_and(|d| !d.read_committed));
    }

    fn settings_for(url: &str, profile: crate::config::Profile) -> BrokerSettings {
        let mut s = BrokerSettings::from_url(url, Duration::from_secs(1)).unwrap();
        s.profile = profile;
        s
    }

    #[test]
    fn profile_tls_and_sasl_settings_become_librdkafka_properties() {
        let profile = crate::config::Profile {
            tls_ca_file: Some("/etc/dlq/ca.pem".into()),
            tls_cert_file: Some("/etc/dlq/client.pem".into()),
            tls_key_file: Some("/etc/dlq/client.key".into()),
            ..Default::default()
        };
        let c = client_config(&settings_for("kafka://a:9093", profile.clone())).unwrap();
        assert_eq!(c.get("security.protocol"), Some("SSL"));
        assert_eq!(c.get("ssl.ca.location"), Some("/etc/dlq/ca.pem"));
        assert_eq!(
            c.get("ssl.certificate.location"),
            Some("/etc/dlq/client.pem")
        );
        assert_eq!(c.get("ssl.key.location"), Some("/etc/dlq/client.key"));
        assert_eq!(c.get("bootstrap.servers"), Some("a:9093"));

        let pw = "kafka-sasl-pw-7319";
        let url = format!("kafka://svc:{pw}@a:9093");
        let c = client_config(&settings_for(&url, profile.clone())).unwrap();
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("sasl.mechanism"), Some("PLAIN"));
        assert_eq!(c.get("sasl.username"), Some("svc"));
        assert_eq!(c.get("sasl.password"), Some(pw));
        // The consumer and producer get the password itself.
        assert_eq!(over(&c, &[]).get("sasl.password"), Some(pw));
        // Whatever dlq prints passes scrub; the settings' own form shows no password.
        let shown = crate::secrets::scrub(&format!("{:?}", c.config_map()));
        assert!(!shown.contains(pw), "{shown}");
        let s = settings_for(&url, profile.clone());
        assert!(!s.display_url.contains(pw));

        // The profile's own properties win over what the TLS keys imply.
        let mut explicit = profile;
        explicit
            .kafka
            .insert("security.protocol".into(), "SASL_SSL".into());
        explicit
            .kafka
            .insert("sasl.mechanism".into(), "SCRAM-SHA-512".into());
        let c = client_config(&settings_for("kafka://svc@a:9093", explicit)).unwrap();
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
    }

    #[test]
    fn ids_parse() {
        assert_eq!(parse_id("3:1042"), Some((3, 1042)));
        assert_eq!(parse_id("x"), None);
        assert_eq!(parse_id("1:y"), None);
    }
}
