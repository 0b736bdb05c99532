//! The NATS JetStream backend: a QUEUE argument names a stream.
//!
//! Everything reads a stream by sequence (direct get when the stream allows
//! it, else the STREAM.MSG.GET API), with a window of gets in flight, so no
//! consumer is ever created on a stream that is only being read: nothing is
//! acknowledged, nothing changes, memory stays flat. Two dead-letter patterns
//! are recognised message by message (see `rows`): a stream of copies (the
//! original subject in a `dlq-original-subject` or `Nats-Subject` header) and
//! a stream of `MAX_DELIVERIES`/`MSG_TERMINATED` advisories, each pointing at
//! a sequence of the source stream whose message is fetched and shown in its
//! place. Re-drive publishes with JetStream acknowledgements in a window and
//! deletes from the DLQ stream by sequence only after the ack.

mod admin;
mod connect;
mod convert;
mod publish;
mod purge;
mod redrive;
mod rows;
mod subjects;

use std::future::Future;

use anyhow::Result;
use async_nats::jetstream::context::{
    GetStreamByNameError, GetStreamByNameErrorKind, GetStreamError, GetStreamErrorKind,
};
use async_nats::jetstream::{self, stream::Stream, ErrorCode};
use async_trait::async_trait;
use futures::future::{BoxFuture, Shared};

use connect::Refusal;

use super::capability::{Flag, Setting};
use super::{
    Broker, Capabilities, LagQuery, LagRow, OriginKind, PublishOptions, PurgeOptions, QueueInfo,
    ReadOptions, RedriveOptions, Visitor,
};
use crate::broker::round_trip::RoundTrip;
use crate::bulk::publish::Publisher;
use crate::bulk::Ledger;
use crate::config::BrokerSettings;
use crate::exit::{broker, not_found, usage, Context as _};

/// How often `list --follow` asks whether the stream grew.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// The name errors and capabilities carry.
const NAME: &str = "nats";

/// What this backend can do, and the flags and settings it honours.
pub const CAPABILITIES: Capabilities = Capabilities {
    name: NAME,
    purge_all: true,
    origins: &[OriginKind::Subject],
    flags: &[Flag::Follow],
    settings: &[
        Setting::PasswordEnv,
        Setting::CredsFile,
        Setting::NkeyFile,
        Setting::TokenEnv,
        Setting::TlsCaFile,
        Setting::TlsCertFile,
        Setting::TlsKeyFile,
    ],
    keys: false,
};

/// Connects to nats.
pub async fn connect(settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
    Ok(Box::new(connect::open(settings).await?))
}

/// How long the info `depth` read stands for a bulk run's start (a run
/// asked to confirm first reads the stream again).
const COUNTED_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// A connected client and its JetStream context.
pub struct Nats {
    /// The JetStream check asked at connect: the round trip it took
    /// (windows scale by it), or why no command can run.
    ready: Shared<BoxFuture<'static, Result<RoundTrip, Refusal>>>,
    client: async_nats::Client,
    js: jetstream::Context,
    /// The stream `depth` read last and when: a bulk run that follows at
    /// once starts from that info, which saves a round trip and makes the
    /// run's end the count the user was shown.
    counted: std::sync::Mutex<Option<(Stream, std::time::Instant)>>,
}

impl Nats {
    /// Runs a read's `op` beside the JetStream check made at connect, so
    /// that its first request need not wait a round trip for the check.
    /// The check's error wins, at once: an `op` refused for the same reason
    /// may only time out. A read dropped midway changes nothing.
    async fn checked<T>(&self, op: impl Future<Output = Result<T>>) -> Result<T> {
        let ready = self.ready.clone();
        tokio::pin!(op);
        tokio::select! {
            biased;
            checked = ready.clone() => {
                checked.map_err(|r| r.error())?;
                op.await
            }
            out = &mut op => {
                ready.await.map_err(|r| r.error())?;
                out
            }
        }
    }

    /// Waits for the JetStream check before a change starts (a bulk run
    /// usually follows a count, which has waited for it already).
    async fn ready(&self) -> Result<()> {
        self.ready.clone().await.map(|_| ()).map_err(|r| r.error())
    }

    /// The round trip of the JetStream check (known once it answered).
    async fn rt(&self) -> RoundTrip {
        self.ready.clone().await.unwrap_or_default()
    }

    /// The stream and its current info; a missing stream is exit 4 with a
    /// message that names it.
    async fn stream(&self, name: &str) -> Result<Stream> {
        if name.is_empty() || name.contains(['.', '*', '>', ' ', '\t']) {
            return Err(not_found(
                format!(
                    "nats: stream '{name}' not found (a stream name has no dots, spaces or wildcards)"
                ),
                None,
            ));
        }
        match self.js.get_stream(name).await {
            Ok(s) => Ok(s),
            Err(e) if stream_missing(&e) => Err(not_found(
                format!("nats: stream '{name}' not found"),
                Some(Box::new(e)),
            )),
            Err(e) => Err(broker(NAME, format!("reading stream '{name}'"), e)),
        }
    }

    /// The stream for a bulk run: the one `depth` read, when it read this
    /// one within [`COUNTED_FOR`], else asked again.
    async fn stream_for_run(&self, name: &str) -> Result<Stream> {
        let counted = self
            .counted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match counted {
            Some((s, at)) if s.cached_info().config.name == name && at.elapsed() < COUNTED_FOR => {
                Ok(s)
            }
            _ => self.stream(name).await,
        }
    }

    /// The stream that stores `subject` (`named`: how the user gave it), or
    /// the server's answer that none does; a subject dlq cannot publish to
    /// is a usage error.
    async fn storing(
        &self,
        named: &str,
        subject: &str,
    ) -> Result<Result<String, GetStreamByNameError>> {
        if !subjects::is_publishable(subject) {
            return Err(usage(format!(
                "{named}{subject:?} is not a subject dlq can publish to (no spaces, no wildcards, no empty tokens)"
            )));
        }
        match self.js.stream_by_subject(subject).await {
            Err(e) if e.kind() == GetStreamByNameErrorKind::NotFound => Ok(Err(e)),
            found => (found.map(Ok)).broker_err(
                NAME,
                format!("looking for the stream that captures {subject}"),
            ),
        }
    }
}

/// True when the server answered that the stream does not exist.
fn stream_missing(e: &GetStreamError) -> bool {
    matches!(e.kind(), GetStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// The JetStream error code anywhere in an error's chain, when the server
/// answered with one.
fn js_code(e: &(dyn std::error::Error + 'static)) -> Option<ErrorCode> {
    std::iter::successors(Some(e), |e| e.source())
        .find_map(|e| e.downcast_ref::<jetstream::Error>())
        .map(|j| j.error_code())
}

#[async_trait]
impl Broker for Nats {
    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    async fn queues(&self) -> Result<Vec<QueueInfo>> {
        self.checked(admin::queues(self)).await
    }

    async fn depth(&self, queue: &str, _opts: &ReadOptions) -> Result<Option<u64>> {
        let stream = self.checked(self.stream(queue)).await?;
        let depth = stream.cached_info().state.messages;
        *self.counted.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((stream, std::time::Instant::now()));
        Ok(Some(depth))
    }

    async fn browse(&self, queue: &str, opts: &ReadOptions, visit: &mut Visitor<'_>) -> Result<()> {
        let stream = self.checked(self.stream(queue)).await?;
        let mut rows = rows::Rows::open(self, stream, &opts.ids, rows::FAR_WINDOW).await?;
        if let Some(since) = opts.since {
            rows.seek_time(since).await?;
        }
        loop {
            while let Some(row) = rows.next().await? {
                if visit(row.message)? == super::Flow::Stop {
                    return Ok(());
                }
            }
            if !opts.follow || !opts.ids.is_empty() {
                return Ok(());
            }
            // `--follow`: wait until the stream holds more, then walk on.
            loop {
                tokio::time::sleep(FOLLOW_POLL).await;
                let last = self.stream(queue).await?.cached_info().state.last_sequence;
                if last > rows.last() {
                    rows.extend_to(last);
                    break;
                }
            }
        }
    }

    async fn check_target(&self, to: &str) -> Result<()> {
        self.ready().await?;
        redrive::check_target(self, to).await
    }

    async fn redrive(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        self.ready().await?;
        redrive::run(self, queue, opts, run).await
    }

    async fn purge(&self, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        self.ready().await?;
        purge::run(self, queue, opts, run).await
    }

    async fn purge_all(&self, queue: &str, _opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        self.ready().await?;
        purge::all(self, queue, run).await
    }

    async fn publisher<'a>(
        &'a self,
        target: &str,
        _opts: &PublishOptions,
    ) -> Result<Box<dyn Publisher + 'a>> {
        self.ready().await?;
        Ok(Box::new(publish::Sender::open(self, target).await?))
    }

    async fn lag(&self, query: &LagQuery) -> Result<Vec<LagRow>> {
        self.checked(admin::lag(self, query)).await
    }
}
