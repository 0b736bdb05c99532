//! `retry` and `retry-all` on a stream: publish each selected row to its
//! original subject (or `--to`) with a JetStream publish, and delete it from
//! the DLQ stream by sequence once the publish is acknowledged.
//!
//! Publishes go out in read order; their acks and the deletes that follow are
//! awaited in a window of up to [`WINDOW`] at a time. A message is removed
//! only after the stream that captures its subject stored the copy, so a
//! crash at any point leaves at most a duplicate. The copy's `Nats-Msg-Id` is
//! derived from the DLQ stream, sequence and stored time: re-running after a
//! crash within the target's duplicate window does not store it twice, and an
//! original `Nats-Msg-Id` (kept as `dlq-original-msg-id`) cannot get the copy
//! dropped as a duplicate of the message that failed. `Nats-Expected-*` and
//! `Nats-Rollup` are never forwarded. For an advisory row, the advisory is
//! deleted from the DLQ stream; the original stays in its source stream.
//!
//! While every message read so far was taken and acknowledged (the usual
//! `retry-all`), removing them one by one is not needed: they are the front
//! of the stream, and one stream purge up to the first sequence not yet
//! acknowledged removes them all ([`Front`]), every 4096 messages or 250 ms. The first message that must
//! stay (left by a filter, skipped, failed) ends that: from there on each
//! message is deleted by sequence after its ack.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Result;
use async_nats::connection::State;
use async_nats::jetstream::context::PublishErrorKind;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::convert;
use super::rows::{Origin, Rows, FAR_WINDOW_BULK};
use super::{Nats, NAME};
use crate::broker::{Message, RedriveOptions};
use crate::bulk::Ledger;
use crate::exit::{broker, broker_msg, not_found, Context as _};
use crate::rewrite::Rewrite;
use crate::select::Decision;

/// Publishes awaiting their ack (and then their delete) at most, on
/// loopback and however far (scaled by the round trip).
const WINDOW: usize = 512;
const MAX_WINDOW: usize = 2048;
/// Acknowledged front messages gathered before a purge removes them...
const PURGE_EVERY: usize = 4096;
/// ...or the time they may wait for it.
const PURGE_AFTER: Duration = Duration::from_millis(250);

/// How one sent message ended.
enum Outcome {
    /// Published (ID, subject) and deleted from the DLQ.
    Moved(String, String),
    /// A front message (sequence, ID, subject) was acknowledged; a purge removes it later.
    Acked(u64, String, String),
    /// Failed; the sequence is given for a front message.
    Failed(Option<u64>, String, String),
    /// A purge of the front ended (true: done): the messages it removes.
    Purged(bool, BTreeMap<u64, (String, String)>),
}

type Pending = BoxFuture<'static, Outcome>;

/// The re-driven messages at the front of the DLQ stream, removed by purge.
#[derive(Default)]
struct Front {
    /// Still true while every message read was taken and sent.
    open: bool,
    /// The first sequence that must stay.
    barrier: Option<u64>,
    /// Front messages sent, ack not back yet.
    unacked: BTreeSet<u64>,
    /// Front messages acknowledged, not purged yet: ID and subject.
    acked: BTreeMap<u64, (String, String)>,
    /// The last sequence read.
    read_upto: u64,
    /// When the front was last purged.
    purged_at: Option<Instant>,
    /// A purge is in flight.
    purging: bool,
}

impl Front {
    /// Every stored message below this sequence is an acknowledged copy.
    fn bound(&self) -> u64 {
        let first_unacked = self.unacked.first().copied();
        [first_unacked, self.barrier]
            .into_iter()
            .flatten()
            .fold(self.read_upto + 1, u64::min)
    }

    /// `seq` must stay: nothing at or after it is purged.
    fn block(&mut self, seq: u64) {
        self.open = false;
        self.barrier = Some(self.barrier.map_or(seq, |b| b.min(seq)));
    }
}

struct Run<'a> {
    nats: &'a Nats,
    queue: &'a str,
    run: &'a Ledger,
    front: Front,
    inflight: FuturesUnordered<Pending>,
}

pub(super) async fn run(
    nats: &Nats,
    queue: &str,
    opts: &RedriveOptions,
    run: &Ledger,
) -> Result<()> {
    if let Some(to) = &opts.to {
        check_target(nats, to).await?;
    }
    let stream = nats.stream_for_run(queue).await?;
    let mut rows = Rows::open(nats, stream, &opts.read.ids, FAR_WINDOW_BULK)
        .await?
        .through_consumer();
    let window = nats.rt().await.scale(WINDOW, MAX_WINDOW);
    let mut r = Run {
        nats,
        queue,
        run,
        front: Front {
            open: opts.read.ids.is_empty(),
            purged_at: Some(Instant::now()),
            ..Default::default()
        },
        inflight: FuturesUnordered::new(),
    };

    loop {
        // Settle what is ready (and send the deletes of acknowledged
        // messages) on every turn, not only when the window is full: with
        // `--rate` the window may never fill.
        while let Some(Some(done)) = r.inflight.next().now_or_never() {
            r.settle(done);
        }
        while r.inflight.len() >= window {
            if let Some(done) = r.inflight.next().await {
                r.settle(done);
            }
        }
        if run.should_stop() {
            break;
        }
        let mut row = match rows.next().await {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e)
                if run.counts() == (0, 0) && r.inflight.is_empty() && r.front.acked.is_empty() =>
            {
                return Err(e)
            }
            Err(e) => {
                run.stop_broker(&e);
                break;
            }
        };
        r.front.read_upto = row.seq;
        if run.decide(&row.message) != Decision::Take {
            r.front.block(row.seq);
            continue;
        }
        let subject = match (&opts.to, &row.origin) {
            (_, Origin::Missing(why)) => Err(format!(
                "cannot re-drive: {}",
                why.trim_start_matches("nothing: ")
            )),
            (Some(to), _) => Ok(to.clone()),
            (None, Origin::Subject(s)) => Ok(s.clone()),
            // Worded as the dry run words it.
            (None, Origin::Unknown) => Err(crate::conventions::no_origin(&row.message.dead_letter)),
        };
        let (seq, stored) = (row.seq, row.stored_nanos);
        let id = std::mem::take(&mut row.message.id);
        let copy =
            subject.and_then(|s| Ok((s, copy_of(queue, seq, stored, row.message, &opts.rewrite)?)));
        let (subject, (headers, body)) = match copy {
            Ok(copy) => copy,
            Err(e) => {
                // A taken message that could not be sent: it stays, and so does the front.
                r.front.block(seq);
                run.failed(id, e);
                continue;
            }
        };
        run.pace().await;
        let sent = nats
            .js
            .publish_with_headers(subject.clone(), headers, body.into())
            .await;
        let ack = match sent {
            Ok(ack) => ack,
            Err(e) => {
                r.front.block(seq);
                run.failed(&id, format!("publishing to {subject}: {e}"));
                if nats.client.connection_state() != State::Connected {
                    run.stop_broker(&broker(NAME, "lost the connection to the server", e));
                }
                continue;
            }
        };
        let front = r.front.open;
        if front {
            r.front.unacked.insert(seq);
        }
        let js = nats.js.clone();
        let dlq = queue.to_owned();
        r.inflight.push(Box::pin(async move {
            let why = match ack.await {
                Ok(_) if front => return Outcome::Acked(seq, id, subject),
                Ok(_) => return removed(&js, &dlq, seq, id, &subject).await,
                Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                    format!("no stream captures subject {subject}")
                }
                Err(e) => format!("publishing to {subject}: {e}"),
            };
            let why = format!("{why}: the message stays on the DLQ");
            Outcome::Failed(front.then_some(seq), id, why)
        }));
    }
    // The last purge once every ack is in, then what it leaves to do.
    loop {
        while let Some(done) = r.inflight.next().await {
            r.settle(done);
        }
        r.purge_front(true);
        if r.inflight.is_empty() {
            return Ok(());
        }
    }
}

/// A copy nothing stores would be lost: `--to` must be captured, as on every broker.
pub(super) async fn check_target(nats: &Nats, to: &str) -> Result<()> {
    match nats.storing("--to ", to).await? {
        Ok(_) => Ok(()),
        Err(e) => Err(not_found(
            format!("{NAME}: no stream captures subject {to}: the --to target does not exist"),
            Some(Box::new(e)),
        )),
    }
}

/// Deletes a published message from the DLQ and says how that went.
async fn removed(
    js: &async_nats::jetstream::Context,
    dlq: &str,
    seq: u64,
    id: String,
    subject: &str,
) -> Outcome {
    match delete(js, dlq, seq).await {
        Ok(()) => Outcome::Moved(id, subject.to_owned()),
        Err(e) => Outcome::Failed(
            None,
            id,
            format!("published to {subject}, but removing it from {dlq} failed ({e:#}): it stays there as well"),
        ),
    }
}

impl Run<'_> {
    fn delete_later(&mut self, seq: u64, id: String, subject: String) {
        let js = self.nats.js.clone();
        let dlq = self.queue.to_owned();
        self.inflight.push(Box::pin(async move {
            removed(&js, &dlq, seq, id, &subject).await
        }));
    }

    fn settle(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Moved(id, subject) => self.run.done(&id, Some(&subject)),
            Outcome::Acked(seq, id, subject) => {
                self.front.unacked.remove(&seq);
                if self.front.barrier.is_some_and(|b| seq > b) {
                    self.delete_later(seq, id, subject);
                } else {
                    self.front.acked.insert(seq, (id, subject));
                    self.purge_front(false);
                }
            }
            Outcome::Purged(purged, below) => self.purged(purged, below),
            Outcome::Failed(seq, id, error) => {
                if let Some(seq) = seq {
                    self.front.unacked.remove(&seq);
                    self.front.block(seq);
                    // Acknowledged messages past the failed one are no longer at the front.
                    for (s, (i, to)) in self.front.acked.split_off(&seq) {
                        self.delete_later(s, i, to);
                    }
                }
                if self.nats.client.connection_state() != State::Connected {
                    self.run
                        .stop_broker(&broker_msg("nats: lost the connection to the server"));
                }
                self.run.failed(id, error);
            }
        }
    }

    /// Purges the acknowledged front messages, every [`PURGE_EVERY`] or when
    /// `all`, one purge in flight at a time (the loop goes on meanwhile); on a
    /// failed purge each is deleted on its own instead.
    fn purge_front(&mut self, all: bool) {
        let due = self.front.acked.len() >= PURGE_EVERY
            || self
                .front
                .purged_at
                .is_some_and(|t| t.elapsed() >= PURGE_AFTER);
        if self.front.purging || self.front.acked.is_empty() || !(all || due) {
            return;
        }
        self.front.purged_at = Some(Instant::now());
        let bound = self.front.bound();
        let above = self.front.acked.split_off(&bound);
        let below = std::mem::replace(&mut self.front.acked, above);
        if below.is_empty() {
            return;
        }
        self.front.purging = true;
        let js = self.nats.js.clone();
        let dlq = self.queue.to_owned();
        self.inflight.push(Box::pin(async move {
            let purged = match js.get_stream_no_info(&dlq).await {
                Ok(stream) => stream.purge().sequence(bound).await.is_ok(),
                Err(_) => false,
            };
            Outcome::Purged(purged, below)
        }));
    }

    /// A purge ended: its messages are moved; when it failed, each is deleted
    /// on its own, and so is every front message after it (no more purges).
    fn purged(&mut self, purged: bool, below: BTreeMap<u64, (String, String)>) {
        self.front.purging = false;
        if purged {
            below
                .values()
                .for_each(|(id, to)| self.run.done(id, Some(to)));
            self.run.flush();
            return;
        }
        self.front.block(0);
        let rest = std::mem::take(&mut self.front.acked);
        for (s, (id, to)) in below.into_iter().chain(rest) {
            self.delete_later(s, id, to);
        }
    }
}

/// The copy's headers and body: the message's (sequence `seq`, stored at
/// `stored` ns), rewritten, the re-drive count raised, control headers
/// dropped, a Nats-Msg-Id that names this DLQ message.
fn copy_of(
    queue: &str,
    seq: u64,
    stored: i128,
    message: Message,
    rewrite: &Rewrite,
) -> Result<(async_nats::HeaderMap, Vec<u8>), String> {
    let mut out = rewrite.copy_from(message)?;
    if let Some(old) = out
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Nats-Msg-Id"))
        .map(|(_, v)| v.clone())
    {
        out.headers.entry("dlq-original-msg-id").or_insert(old);
    }
    let mut headers = convert::headers_from_json(&out.headers, convert::is_control_header)?;
    let mut msg_id = format!("dlq:{queue}:{seq}:{stored}");
    if !rewrite.is_identity() {
        // A rewritten copy must not be dropped as a duplicate of an earlier, unrewritten one.
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&out.headers).unwrap_or_default());
        h.update(&out.body);
        let digest = h.finalize();
        msg_id.push(':');
        msg_id.extend(digest.iter().take(6).map(|b| format!("{b:02x}")));
    }
    headers.insert("Nats-Msg-Id", msg_id.as_str());
    Ok((headers, out.body))
}

/// Deletes one message of a stream by sequence, without the slow secure
/// erase; a message that is already gone counts as deleted.
pub(super) async fn delete(
    js: &async_nats::jetstream::Context,
    stream: &str,
    seq: u64,
) -> Result<()> {
    let op = || format!("deleting sequence {seq} from stream '{stream}'");
    let reply: Value = js
        .request(
            format!("STREAM.MSG.DELETE.{stream}"),
            &json!({"seq": seq, "no_erase": true}),
        )
        .await
        .broker_err(NAME, op())?;
    match reply.get("error") {
        // 10037: no message found.
        Some(err) if err["err_code"].as_u64() != Some(10037) => Err(broker(
            NAME,
            op(),
            err["description"].as_str().unwrap_or("error"),
        )),
        _ => Ok(()),
    }
}
