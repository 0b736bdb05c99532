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
use lapin::{Channel, Connection, ConnectionProperties};
use serde_json::json;

use super::capability::{Flag, Setting};
use super::{
    Broker, Capabilities, Flow, LagQuery, LagRow, OriginKind, PublishOptions, PurgeOptions,
    QueueInfo, QueueKind, ReadOptions, RedriveOptions, Visitor,
};
use crate::bulk::publish::Publisher;
use crate::bulk::Ledger;
use crate::config::BrokerSettings;
use crate::exit::{broker, broker_with, not_found, usage};
use admin::{Admin, QueueStats};
use read::Reader;
use tls::AmqpTls;

const NAME: &str = "rabbitmq";

/// What this backend can do, and the flags and settings it honours.
pub const CAPABILITIES: Capabilities = Capabilities {
    name: NAME,
    purge_all: true,
    origins: &[OriginKind::Queue, OriginKind::Exchange],
    flags: &[Flag::Exchange, Flag::RoutingKey, Flag::Native, Flag::Detach],
    settings: &[
        Setting::PasswordEnv,
        Setting::ManagementUrl,
        Setting::TlsCaFile,
        Setting::TlsCertFile,
        Setting::TlsKeyFile,
    ],
};

/// Messages in flight at most: prefetch and unconfirmed copies in bulk
/// work, unconfirmed publishes, pipelined gets (a quarter). Reads narrow it
/// for big messages.
const WINDOW: u16 = 4096;

/// The largest frame asked for; bigger bodies go out in several frames.
const FRAME_MAX: u32 = 32 * 1024;

/// What a read must know of its queue first.
struct ReadPlan {
    quorum: bool,
    /// The mean size of the ready messages, when the management API says.
    mean: Option<u64>,
}

impl ReadPlan {
    /// A reader of the first `count` messages of `queue`: at most `cap` in
    /// flight, fewer for big messages.
    fn reader(&self, channel: &Channel, queue: &str, cap: u16, count: u64) -> Reader {
        Reader::new(channel.clone(), queue, cap, count)
            .fit_to(self.mean)
            .per_consumer_return(self.quorum)
    }
}

/// What a passive `queue.declare` tells of a queue.
#[derive(Debug, Clone, Copy)]
struct Counts {
    ready: u64,
    consumers: u64,
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
    if uri.query.frame_max.is_none() {
        uri.query.frame_max = Some(FRAME_MAX);
    }
    let vhost = uri.vhost.clone();
    let user = uri.authority.userinfo.username.clone();
    let password = uri.authority.userinfo.password.clone();
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
    let base = settings.profile.management_url.clone().unwrap_or_else(|| {
        // The management plugin's usual listeners: 15672, or 15671 with TLS.
        if settings.scheme() == "amqps" {
            format!("https://{}:15671", bracket_host(&host))
        } else {
            format!("http://{}:15672", bracket_host(&host))
        }
    });
    let admin = Admin::new(
        base,
        user.clone(),
        password,
        vhost.clone(),
        settings.timeout,
        &files,
    )?;
    Ok(Box::new(RabbitMq {
        conn,
        uri,
        tls,
        settings: settings.clone(),
        admin,
        vhost,
        user,
        warned: Default::default(),
        probe: Default::default(),
    }))
}

fn bracket_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
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
    match tokio::time::timeout(
        settings.timeout,
        Connection::connect_uri_with_config(uri.clone(), props, tls.config()),
    )
    .await
    {
        Err(_) => Err(broker(
            NAME,
            op,
            format!(
                "no answer within {:?} (is RabbitMQ running there?)",
                settings.timeout
            ),
        )),
        Ok(Err(e)) => {
            let what = connect_error(&e, settings.scheme() == "amqps", tls.has_cert());
            Err(broker_with(NAME, op, what, e))
        }
        Ok(Ok(c)) => Ok(c),
    }
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

/// The error of an AMQP call, with "queue not found" said plainly.
pub(crate) fn amqp_error(vhost: &str, queue: &str, op: &str, e: lapin::Error) -> anyhow::Error {
    if reply_code(&e) == Some(404) {
        return not_found(
            format!("{NAME}: queue '{queue}' not found in vhost '{vhost}'"),
            Some(Box::new(e)),
        );
    }
    broker(NAME, op, e)
}

impl RabbitMq {
    /// A second connection for publishing, so that the broker reads and
    /// writes on two connection processes at once (as the shovel does).
    async fn publisher(&self) -> Result<Connection> {
        open(&self.uri, &self.tls, &self.settings, "dlq-publisher").await
    }

    async fn channel(&self, op: &str) -> Result<Channel> {
        self.conn
            .create_channel()
            .await
            .map_err(|e| broker(NAME, op, e))
    }

    /// Messages ready in `queue` (passive declare), or "not found" (exit 4).
    async fn ready_count(&self, channel: &Channel, queue: &str) -> Result<u64> {
        let q = channel
            .queue_declare(
                queue,
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
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
        let ch = match slot.as_ref() {
            Some(c) if c.status().connected() => c.clone(),
            _ => {
                let c = self.channel(&format!("opening queue '{queue}'")).await?;
                *slot = Some(c.clone());
                c
            }
        };
        let r = self.ready_count(&ch, queue).await;
        if r.is_err() {
            *slot = None;
        }
        r
    }

    /// Ready messages and consumers of each queue, exact at the moment of
    /// the call (passive `queue.declare`, answered by the queue itself; the
    /// management API's figures lag by seconds). A queue gone meanwhile is
    /// left out; a failed declare closes its channel, so the next gets a new one.
    async fn exact_counts(&self, names: &[&str]) -> Result<HashMap<String, Counts>> {
        let op = "counting messages";
        let mut out = HashMap::new();
        let mut ch: Option<Channel> = None;
        for name in names {
            let c = match &ch {
                Some(c) if c.status().connected() => c.clone(),
                _ => {
                    let c = self.channel(op).await?;
                    ch = Some(c.clone());
                    c
                }
            };
            let declared = c
                .queue_declare(
                    name,
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await;
            match declared {
                Ok(q) => {
                    out.insert(
                        (*name).to_owned(),
                        Counts {
                            ready: u64::from(q.message_count()),
                            consumers: u64::from(q.consumer_count()),
                        },
                    );
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

    /// Refuses reads that would change the queue: a stream (no per-message
    /// removal or return) and a quorum queue with a delivery limit (a
    /// returned message counts as a delivery and may be dead-lettered or
    /// dropped). Without the management API it cannot tell and says so.
    /// Only a stream is refused when `refuse` is false. Says the mean size
    /// of the queue's messages (the
    /// management API's figures may be a few seconds old).
    async fn check_returnable(&self, queue: &str, what: &str, refuse: bool) -> Result<ReadPlan> {
        let unknown = ReadPlan {
            quorum: false,
            mean: None,
        };
        let stats = match self.admin.queue(queue).await {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(unknown),
            Err(e) => {
                if !self.warned.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    self.settings.warner.warn(&format!(
                        "cannot check the type of queue '{queue}' ({e:#}); assuming a classic queue"
                    ));
                }
                return Ok(unknown);
            }
        };
        if stats.kind == "stream" {
            return Err(usage(format!(
                "{NAME}: '{queue}' is a stream: dlq reads and removes messages of classic and quorum queues only; {what} is not supported on streams"
            )));
        }
        if stats.kind == "quorum" && refuse {
            let limit = stats
                .delivery_limit
                .or(if self.admin.server_major().await >= 4 {
                    Some(20)
                } else {
                    None
                });
            if let Some(limit) = limit.filter(|l| *l >= 0) {
                return Err(usage(format!(
                    "{NAME}: refusing to {what} quorum queue '{queue}': it has a delivery limit of {limit}, and every message dlq reads and gives back counts as a delivery, so it could be dead-lettered or dropped; remove the limit (x-delivery-limit / policy delivery-limit) first, or move the messages with a full `dlq retry-all` or `dlq purge` without filters"
                )));
            }
        }
        let mean = match (stats.ready_bytes, stats.ready) {
            (Some(b), Some(n)) if n > 0 => Some(b.div_ceil(n)),
            _ => None,
        };
        Ok(ReadPlan {
            quorum: stats.kind == "quorum",
            mean,
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
        let sources = topo.sources();
        Ok(topo
            .queues
            .iter()
            .map(|q| {
                let srcs: Vec<String> = sources
                    .get(&q.name)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                let counts = exact.get(&q.name);
                let mut extra = serde_json::Map::new();
                extra.insert("queue_type".into(), json!(q.kind));
                extra.insert(
                    "consumers".into(),
                    json!(counts.map(|c| c.consumers).or(q.consumers)),
                );
                extra.insert("ready".into(), json!(counts.map(|c| c.ready).or(q.ready)));
                extra.insert("unacked".into(), json!(q.unacked));
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

    async fn browse(
        &self,
        queue: &str,
        _opts: &ReadOptions,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        let op = format!("reading queue '{queue}'");
        // The check and the channel overlap: far away each costs round trips.
        let (plan, read) = tokio::join!(self.check_returnable(queue, "read", true), async {
            let ch = self.channel(&op).await?;
            let count = self.ready_count(&ch, queue).await?;
            Ok::<_, anyhow::Error>((ch, count))
        });
        let plan = plan?;
        let (ch, count) = read?;
        let mut reader = plan.reader(&ch, queue, WINDOW, count);
        let outcome: Result<()> = async {
            while let Some(mut d) = reader
                .next()
                .await
                .map_err(|e| amqp_error(&self.vhost, queue, &op, e))?
            {
                reader
                    .hold(d.delivery_tag)
                    .await
                    .map_err(|e| amqp_error(&self.vhost, queue, &op, e))?;
                let m = convert::message(queue, &mut d);
                if visit(m)? == Flow::Stop {
                    break;
                }
            }
            Ok(())
        }
        .await;
        let given_back = reader.finish().await;
        let _ = ch.close(200, "browse done").await;
        outcome?;
        given_back.map_err(|e| broker(NAME, format!("giving back the messages of '{queue}'"), e))
    }

    async fn redrive(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        bulk::run(self, queue, bulk::Take::Copy(opts), run).await
    }

    async fn native_move(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        shovel::redrive(self, queue, opts, run).await
    }

    async fn purge(&self, queue: &str, _opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        bulk::run(self, queue, bulk::Take::Purge, run).await
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
                return Err(not_found(
                    format!("{NAME}: queue '{name}' not found in vhost '{}'", self.vhost),
                    None,
                ));
            };
            let stats = by_name(name).cloned().unwrap_or_default();
            let dlq = topo.targets.get(name).and_then(|t| t.first());
            let mut extra = serde_json::Map::new();
            extra.insert(
                "queue_type".into(),
                json!(Some(&stats.kind).filter(|k| !k.is_empty())),
            );
            extra.insert("ready".into(), json!(counts.ready));
            extra.insert("unacked".into(), json!(stats.unacked));
            extra.insert("consumers".into(), json!(counts.consumers));
            extra.insert("dead_letter_queue".into(), json!(dlq));
            rows.push(LagRow {
                name: name.to_owned(),
                lag: Some(counts.ready),
                oldest_age: stats
                    .head_timestamp
                    .map(|t| Duration::from_secs(now.saturating_sub(t))),
                dlq_depth: dlq.and_then(|d| {
                    let stats = by_name(d).cloned().unwrap_or_default();
                    depth_of(exact.get(d.as_str()), &stats)
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
fn depth_of(counts: Option<&Counts>, stats: &QueueStats) -> Option<u64> {
    match counts {
        Some(c) => Some(c.ready + stats.unacked.unwrap_or(0)),
        None => stats.messages.or(stats.ready),
    }
}
