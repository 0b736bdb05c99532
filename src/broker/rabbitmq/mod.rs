//! The RabbitMQ backend: AMQP 0-9-1 through lapin for messages, the
//! management HTTP API for what AMQP cannot list (queues, bindings, policies,
//! lag figures).
//!
//! Reads take messages unacknowledged from a consumer and give them back
//! with one multiple nack ([`read`]); re-drive and purge ack only what they removed
//! ([`bulk`]); publishing goes through a confirm window ([`publish`]). Every
//! `retry-all --native` hands the move to a dynamic shovel ([`shovel`]). Every
//! AMQP error is turned into one line naming the operation, with exit 4 for
//! the broker's refusals and exit 2 for a malformed URL.

mod admin;
mod bulk;
mod convert;
mod publish;
mod read;
mod shovel;
mod tls;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use async_trait::async_trait;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties, Queue};
use serde_json::{json, Map, Value};

use super::capability::{Flag, Setting};
use super::{
    Broker, Capabilities, Flow, LagQuery, LagRow, OriginKind, PublishOptions, PurgeOptions,
    QueueInfo, QueueKind, ReadOptions, RedriveOptions, Visitor,
};
use crate::bulk::publish::Publisher;
use crate::bulk::Ledger;
use crate::config::BrokerSettings;
use crate::exit::{broker, broker_with, not_found, usage, Context};
use admin::{Admin, QueueStats};
use read::Reader;
use tls::AmqpTls;

const NAME: &str = "rabbitmq";

/// What this backend can do, and the flags and settings it honours.
pub const CAPABILITIES: Capabilities = Capabilities {
    name: NAME,
    purge_all: true,
    origins: &[OriginKind::Queue, OriginKind::Exchange],
    flags: &[
        Flag::Exchange,
        Flag::RoutingKey,
        Flag::Native,
        Flag::Detach,
        Flag::Force,
    ],
    settings: &[
        Setting::PasswordEnv,
        Setting::ManagementUrl,
        Setting::TlsCaFile,
        Setting::TlsCertFile,
        Setting::TlsKeyFile,
    ],
    keys: false,
};

/// Messages in flight at most: prefetch and unconfirmed copies in bulk
/// work, unconfirmed publishes, pipelined gets (a quarter). Reads narrow it
/// for big messages.
const WINDOW: u16 = 4096;

/// The largest frame asked for; bigger bodies go out in several frames.
const FRAME_MAX: u32 = 32 * 1024;

/// What a read must know of its queue first.
#[derive(Default)]
struct ReadPlan {
    quorum: bool,
    /// The mean size of the ready messages, when the management API says.
    mean: Option<u64>,
}

pub struct RabbitMq {
    conn: Connection,
    uri: AMQPUri,
    tls: AmqpTls,
    settings: BrokerSettings,
    admin: Admin,
    vhost: String,
    user: String,
    warned: std::sync::atomic::AtomicBool,
    /// A channel kept for passive declares (depth, existence checks): far
    /// from the broker, opening and closing one for each costs round trips.
    probe: tokio::sync::Mutex<Option<Channel>>,
}

/// Connects to RabbitMQ within `settings.timeout`.
pub async fn connect(settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
    let mut uri: AMQPUri = settings.url.parse().map_err(|e: String| {
        usage(format!(
            "bad RabbitMQ URL {}: {e} (expected amqp://USER:PASSWORD@HOST:PORT/VHOST)",
            settings.display_url
        ))
    })?;
    // lapin keeps two buffers of 32 frames per connection: 1 MiB each at
    // this size instead of 4 MiB at RabbitMQ's 128 KiB default.
    uri.query.frame_max.get_or_insert(FRAME_MAX);
    let host = uri.authority.host.clone();
    let files = crate::tls::Files::load(&settings.profile)?;
    if files.any() && settings.scheme() != "amqps" {
        return Err(usage(format!(
            "the profile's tls_* files need an amqps:// URL; {} is plain AMQP",
            settings.display_url
        )));
    }
    let tls = AmqpTls::new(&files)?;
    let conn = open(&uri, &tls, settings, "dlq").await?;
    let base = match settings.profile.management_url.clone() {
        Some(url) => url,
        None => {
            let amqps = settings.scheme() == "amqps";
            let port = management_port(&host, uri.authority.port, amqps, settings.timeout).await;
            let scheme = if amqps { "https" } else { "http" };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            format!("{scheme}://{host}:{port}")
        }
    };
    let admin = Admin::new(base, &uri, settings.timeout, &files)?;
    Ok(Box::new(RabbitMq {
        conn,
        vhost: uri.vhost.clone(),
        user: uri.authority.userinfo.username.clone(),
        uri,
        tls,
        settings: settings.clone(),
        admin,
        warned: Default::default(),
        probe: Default::default(),
    }))
}

/// The management API's port when the profile does not name its URL: the
/// AMQP port plus 10000, as RabbitMQ's defaults pair them (5672 and 15672,
/// 5671 and 15671; a second server on 5673 has its API on 15673), when it
/// takes a connection; else the default one (an AMQP port forwarded or
/// relayed alone). Which server answers there is checked by each read.
async fn management_port(host: &str, amqp: u16, tls: bool, timeout: Duration) -> u16 {
    let default = if tls { 15671 } else { 15672 };
    let paired = match amqp.checked_add(10_000) {
        Some(p) if p != default => p,
        _ => return default,
    };
    let wait = timeout.min(Duration::from_millis(500));
    let open = tokio::time::timeout(wait, tokio::net::TcpStream::connect((host, paired))).await;
    match open {
        Ok(Ok(_)) => paired,
        _ => default,
    }
}

/// Opens one AMQP connection within the timeout.
async fn open(
    uri: &AMQPUri,
    tls: &AmqpTls,
    settings: &BrokerSettings,
    name: &str,
) -> Result<Connection> {
    let op = format!("connecting to {}", settings.display_url);
    // lapin's tasks and socket readiness on tokio: no second executor's threads to wake.
    let props = ConnectionProperties::default()
        .with_connection_name(name.into())
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    let connecting = Connection::connect_uri_with_config(uri.clone(), props, tls.config());
    let timeout = settings.timeout;
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| {
            let why = format!("no answer within {timeout:?} (is RabbitMQ running there?)");
            broker(NAME, &op, why)
        })?
        .map_err(|e| {
            let what = connect_error(&e, settings.scheme() == "amqps", tls.has_cert());
            broker_with(NAME, &op, what, e)
        })
}

/// A connect failure in words: a TLS failure, refused credentials, refused
/// vhost, or the network error.
fn connect_error(e: &lapin::Error, tls: bool, has_cert: bool) -> String {
    let text = crate::exit::chain(e);
    if let Some(why) = crate::tls::explain(&text, tls, has_cert, crate::tls::CA_HINT) {
        return why;
    }
    match reply_code(e) {
        Some(403) => "access refused: wrong user or password".into(),
        Some(530) => "the vhost does not exist or the user may not use it".into(),
        _ => text,
    }
}

/// The AMQP reply code of a refusal (404 not found, 403 access refused,
/// 530 not allowed, ...), when the broker answered with one.
pub(crate) fn reply_code(e: &lapin::Error) -> Option<u16> {
    match e {
        lapin::Error::ProtocolError(amqp) => Some(amqp.get_id()),
        _ => None,
    }
}

/// "`what` not found in vhost ..." (exit 4), with the broker's answer that said so.
fn missing(what: &str, vhost: &str, answer: Option<lapin::Error>) -> anyhow::Error {
    let message = format!("{NAME}: {what} not found in vhost '{vhost}'");
    not_found(message, answer.map(|e| Box::new(e) as crate::exit::Cause))
}

/// The error of an AMQP call, with "queue not found" said plainly.
pub(crate) fn amqp_error(vhost: &str, queue: &str, op: &str, e: lapin::Error) -> anyhow::Error {
    if reply_code(&e) == Some(404) {
        return missing(&format!("queue '{queue}'"), vhost, Some(e));
    }
    broker(NAME, op, e)
}

/// A passive `queue.declare`: the queue's counts, exact at the moment of the call.
async fn declare(channel: &Channel, queue: &str) -> lapin::Result<Queue> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue, passive, FieldTable::default())
        .await
}

impl RabbitMq {
    /// A second connection for publishing, so that the broker reads and
    /// writes on two connection processes at once (as the shovel does).
    async fn publisher(&self) -> Result<Connection> {
        open(&self.uri, &self.tls, &self.settings, "dlq-publisher").await
    }

    async fn channel(&self, op: &str) -> Result<Channel> {
        self.conn.create_channel().await.broker_err(NAME, op)
    }

    /// The channel kept in `slot` while it is open, else a new one kept
    /// there (a failed passive declare closes its channel).
    async fn live_channel(&self, slot: &mut Option<Channel>, op: &str) -> Result<Channel> {
        if let Some(c) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(c.clone());
        }
        let c = self.channel(op).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Messages ready in `queue` (passive declare), or "not found" (exit 4).
    async fn ready_count(&self, channel: &Channel, queue: &str) -> Result<u64> {
        let q = declare(channel, queue)
            .await
            .map_err(|e| amqp_error(&self.vhost, queue, &format!("opening queue '{queue}'"), e))?;
        Ok(u64::from(q.message_count()))
    }

    /// Fails unless the queue exists.
    async fn require_queue(&self, queue: &str) -> Result<()> {
        self.probe_count(queue).await.map(|_| ())
    }

    /// Messages ready in `queue`, asked on the kept probe channel (a failed
    /// passive declare closes it; the next ask opens another).
    async fn probe_count(&self, queue: &str) -> Result<u64> {
        let mut slot = self.probe.lock().await;
        let ch = self
            .live_channel(&mut slot, &format!("opening queue '{queue}'"))
            .await?;
        self.ready_count(&ch, queue)
            .await
            .inspect_err(|_| *slot = None)
    }

    /// Ready messages and consumers of each queue, exact at the moment of
    /// the call (passive `queue.declare`, answered by the queue itself; the
    /// management API's figures lag by seconds). A queue gone meanwhile is
    /// left out; a failed declare closes its channel, so the next gets a new one.
    async fn exact_counts(&self, names: &[&str]) -> Result<HashMap<String, Queue>> {
        let op = "counting messages";
        let mut out = HashMap::new();
        let mut ch = None;
        for name in names {
            match declare(&self.live_channel(&mut ch, op).await?, name).await {
                Ok(q) => {
                    out.insert((*name).to_owned(), q);
                }
                Err(e) if reply_code(&e) == Some(404) => {}
                Err(e) => return Err(amqp_error(&self.vhost, name, op, e)),
            }
        }
        if let Some(c) = ch {
            let _ = c.close(200, "counted").await;
        }
        Ok(out)
    }

    /// The refusal when the management API is another server's (`what` it
    /// showed): it is what tells a quorum queue's delivery limit.
    fn another_server(&self, what: &str) -> anyhow::Error {
        usage(format!(
            "{NAME}: the management API at {} {what}: the API belongs to another server; set `management_url` \
             in the profile to this server's (dlq needs it to tell whether a read could count as a delivery \
             of a quorum queue)",
            self.admin.base()
        ))
    }

    /// What the management API says of `queue`. When it does not know a
    /// queue the AMQP server has (after a moment's grace for one declared
    /// just now), the API is another server's: refused, since it is what
    /// tells a quorum queue's delivery limit.
    async fn api_queue(&self, queue: &str) -> Result<Option<QueueStats>> {
        let mut asks = 0;
        loop {
            let stats = self.admin.queue(queue).await?;
            if stats.is_some() || self.probe_count(queue).await.is_err() {
                return Ok(stats);
            }
            asks += 1;
            if asks == 6 {
                return Err(self.another_server(&format!(
                    "has no queue '{queue}' in vhost '{}', but the AMQP server has",
                    self.vhost
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Refuses reads that would change the queue: a stream (no per-message
    /// removal or return) and a quorum queue with a delivery limit (a
    /// returned message counts as a delivery and may be dead-lettered or
    /// dropped). Without the management API it cannot tell: a read that
    /// gives messages back is refused unless `force` (then it says so and
    /// reads the queue as a classic one). Only a stream is refused when
    /// `refuse` is false. Says the mean size of the queue's messages (the
    /// API's figures may be seconds old).
    async fn check_returnable(
        &self,
        queue: &str,
        what: &str,
        refuse: bool,
        force: bool,
    ) -> Result<ReadPlan> {
        let stats = match self.api_queue(queue).await {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(ReadPlan::default()),
            Err(e) if crate::exit::kind_of(&e) == Some(crate::exit::Kind::Usage) => return Err(e),
            Err(e) if refuse && !force => {
                return Err(usage(format!(
                    "{NAME}: cannot tell whether queue '{queue}' is a quorum queue with a delivery limit ({e:#}): \
                     every message a {what} gives back counts as a delivery there and could be dead-lettered or dropped; \
                     set management_url in the profile, or pass --force if it is a classic queue or has no limit"
                )))
            }
            Err(e) => {
                if !self.warned.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    self.settings.warner.warn(&format!(
                        "cannot check the type of queue '{queue}' ({e:#}); assuming a classic queue"
                    ));
                }
                return Ok(ReadPlan::default());
            }
        };
        if stats.kind == "stream" {
            return Err(usage(format!(
                "{NAME}: '{queue}' is a stream: dlq reads and removes messages of classic and quorum queues only; {what} is not supported on streams"
            )));
        }
        if stats.kind == "quorum" && refuse {
            // RabbitMQ 4 gives every quorum queue a limit of 20 by default.
            let default = (self.admin.server_major().await >= 4).then_some(20);
            // A policy set a moment ago is not in the queue's figures yet.
            let from_policy = self.admin.policy_delivery_limit(queue).await.ok().flatten();
            // The lower of the two known limits (a negative one is none).
            let limit = match (stats.delivery_limit, from_policy) {
                (None, None) => default,
                (a, b) => a.into_iter().chain(b).filter(|l| *l >= 0).min(),
            };
            if let Some(limit) = limit.filter(|l| *l >= 0) {
                return Err(usage(format!(
                    "{NAME}: refusing to {what} quorum queue '{queue}': it has a delivery limit of {limit}, and every message dlq reads and gives back counts as a delivery, so it could be dead-lettered or dropped; remove the limit (x-delivery-limit / policy delivery-limit) first, or move the messages with a full `dlq retry-all` or `dlq purge` without filters"
                )));
            }
        }
        let ready = stats.ready.filter(|n| *n > 0);
        Ok(ReadPlan {
            quorum: stats.kind == "quorum",
            mean: stats.ready_bytes.zip(ready).map(|(b, n)| b.div_ceil(n)),
        })
    }
}

#[async_trait]
impl Broker for RabbitMq {
    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    async fn queues(&self) -> Result<Vec<QueueInfo>> {
        let topo = self.admin.topology().await?;
        let names: Vec<&str> = topo.queues.iter().map(|q| q.name.as_str()).collect();
        let exact = self.exact_counts(&names).await?;
        if exact.is_empty() && !names.is_empty() {
            // Not one of the API's queues is on this server: the API is another's.
            return Err(self.another_server(&format!(
                "lists {} queues in vhost '{}', and none of them is on the AMQP server",
                names.len(),
                self.vhost
            )));
        }
        let sources = topo.sources();
        Ok(topo
            .queues
            .iter()
            .map(|q| {
                let srcs = sources.get(&q.name).cloned().unwrap_or_default();
                let counts = exact.get(&q.name);
                let consumers = counts.map(|c| u64::from(c.consumer_count()));
                let ready = counts.map(|c| u64::from(c.message_count()));
                let extra = columns([
                    ("queue_type", json!(q.kind)),
                    ("consumers", json!(consumers.or(q.consumers))),
                    ("ready", json!(ready.or(q.ready))),
                    ("unacked", json!(q.unacked)),
                ]);
                QueueInfo {
                    name: q.name.clone(),
                    kind: QueueKind::Queue,
                    depth: depth_of(counts, q),
                    is_dlq: !srcs.is_empty() || crate::dlq_names::is_dlq(&q.name, &[]),
                    sources: srcs,
                    dead_letter_queue: topo.targets.get(&q.name).map(|t| t.join(", ")),
                    extra,
                }
            })
            .collect())
    }

    async fn depth(&self, queue: &str, _opts: &ReadOptions) -> Result<Option<u64>> {
        self.probe_count(queue).await.map(Some)
    }

    async fn browse(&self, queue: &str, opts: &ReadOptions, visit: &mut Visitor<'_>) -> Result<()> {
        let op = format!("reading queue '{queue}'");
        let err = |e| amqp_error(&self.vhost, queue, &op, e);
        // The check and the channel overlap: far away each costs round trips.
        let check = self.check_returnable(queue, "read", true, opts.force);
        let (plan, read) = tokio::join!(check, async {
            let ch = self.channel(&op).await?;
            let count = self.ready_count(&ch, queue).await?;
            Ok::<_, anyhow::Error>((ch, count))
        });
        let plan = plan?;
        let (ch, count) = read?;
        let mut reader = Reader::new(ch.clone(), queue, WINDOW, count, plan.mean, plan.quorum);
        let outcome: Result<()> = async {
            while let Some(mut d) = reader.next().await.map_err(err)? {
                reader.hold(d.delivery_tag).await.map_err(err)?;
                let m = convert::message(queue, &mut d);
                if visit(m)? == Flow::Stop {
                    break;
                }
            }
            Ok(())
        }
        .await;
        if let Some((had, of)) = reader.short() {
            // Not an error (another client may consume the queue), but never quiet.
            self.settings.warner.warn(&format!(
                "queue '{queue}' delivered {had} of the {of} messages it held at the start, then \
                 no more, with none ready (another consumer may have taken them): the rest were not read"
            ));
        }
        let given_back = reader.finish().await;
        let _ = ch.close(200, "browse done").await;
        outcome?;
        given_back.map_err(|e| broker(NAME, format!("giving back the messages of '{queue}'"), e))
    }

    async fn check_target(&self, to: &str) -> Result<()> {
        self.require_queue(to).await
    }

    async fn redrive(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        bulk::run(self, queue, bulk::Take::Copy(opts), run).await
    }

    async fn native_move(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        shovel::redrive(self, queue, opts, run).await
    }

    async fn purge(&self, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        bulk::run(self, queue, bulk::Take::Purge(opts), run).await
    }

    async fn purge_all(&self, queue: &str, _opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        bulk::purge_all(self, queue, run).await
    }

    async fn publisher<'a>(
        &'a self,
        target: &str,
        opts: &PublishOptions,
    ) -> Result<Box<dyn Publisher + 'a>> {
        Ok(Box::new(publish::Sender::open(self, target, opts).await?))
    }

    async fn lag(&self, query: &LagQuery) -> Result<Vec<LagRow>> {
        let topo = self.admin.topology().await?;
        let by_name = |n: &str| topo.queues.iter().find(|q| q.name == n);
        let names: Vec<&str> = if query.names.is_empty() {
            topo.queues.iter().map(|q| q.name.as_str()).collect()
        } else {
            query.names.iter().map(String::as_str).collect()
        };
        let dlqs: Vec<&str> = names
            .iter()
            .filter_map(|n| topo.targets.get(*n).and_then(|t| t.first()))
            .map(String::as_str)
            .collect();
        let exact = self
            .exact_counts(&names.iter().chain(dlqs.iter()).copied().collect::<Vec<_>>())
            .await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut rows = Vec::new();
        for name in names {
            // A queue declared a moment ago may not be in the API's list yet.
            let Some(counts) = exact.get(name) else {
                if query.names.is_empty() {
                    continue;
                }
                return Err(missing(&format!("queue '{name}'"), &self.vhost, None));
            };
            let stats = by_name(name).cloned().unwrap_or_default();
            let dlq = topo.targets.get(name).and_then(|t| t.first());
            let ready = u64::from(counts.message_count());
            let kind = Some(&stats.kind).filter(|k| !k.is_empty());
            let extra = columns([
                ("queue_type", json!(kind)),
                ("ready", json!(ready)),
                ("unacked", json!(stats.unacked)),
                ("consumers", json!(counts.consumer_count())),
                ("dead_letter_queue", json!(dlq)),
            ]);
            rows.push(LagRow {
                name: name.to_owned(),
                lag: Some(ready),
                // The API's head message may be seconds gone: none is ready now.
                oldest_age: stats
                    .head_timestamp
                    .filter(|_| ready > 0)
                    .map(|t| Duration::from_secs(now.saturating_sub(t))),
                // The DLQ's exact ready count: the API's unacked figure can be
                // seconds old, and --max-dlq must not breach on it.
                dlq_depth: dlq.and_then(|d| match exact.get(d.as_str()) {
                    Some(c) => Some(u64::from(c.message_count())),
                    None => depth_of(None, &by_name(d).cloned().unwrap_or_default()),
                }),
                checked: true,
                extra,
            });
        }
        Ok(rows)
    }
}

/// Messages in a queue: exact ready count plus the API's unacked figure;
/// the API's figures alone when the queue did not answer; None when unknown.
fn depth_of(counts: Option<&Queue>, stats: &QueueStats) -> Option<u64> {
    match counts {
        Some(c) => Some(u64::from(c.message_count()) + stats.unacked.unwrap_or(0)),
        None => stats.messages.or(stats.ready),
    }
}

/// A broker's own columns, in display order.
fn columns<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
