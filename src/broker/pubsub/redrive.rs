//! `retry`, `retry-all`, `edit` and `purge`: pull, act, acknowledge only
//! what is safe, give the rest back.
//!
//! One loop pulls from the subscription in batches (sized as `browse`
//! sizes them) and asks the run's ledger about each message. A message to
//! re-drive is checked against Pub/Sub's limits and added to the [`Batch`]
//! of its destination topic (`--to`, else the topic of the subscription it
//! died on); batches go out as Publish calls on tasks of their own, so up
//! to `WINDOW` copies are in flight while the loop pulls on. Once a copy's
//! call answers with its messageId, the original's acknowledgement ID joins
//! the acknowledgements to send, which go `ACKS` to a call (or after
//! `ACK_AFTER`, whichever comes first): the copy is
//! confirmed before the original is acknowledged, so a crash at any point
//! leaves at most a duplicate (an original not yet acknowledged comes back
//! when its acknowledgement deadline ends). To purge, a batch's selected
//! messages are saved to `--backup` (synced) and then acknowledged.
//! Messages left (not selected, skipped, failed, taken after a stop) stay
//! leased, so the next pull brings new ones, and are given back all at once
//! at the end (ModifyAckDeadline 0), on error and Ctrl-C too. A message that
//! comes again (its lease ended under a slow run) is recognised by its
//! messageId: acknowledged when its copy was confirmed, else held.
//!
//! A full purge seeks the subscription to the present where the run can
//! say how many messages that removed (Cloud Monitoring counts them); where
//! nothing counts them (the emulator) it pulls and acknowledges everything,
//! so that the summary's count is exact, never a guess, then seeks too, so
//! that what another subscriber held goes as well (uncounted, and said).
//!
//! Publishing to a topic delivers to each of its subscriptions: the
//! summary (and the dry run, through `fan_out`) names the subscriptions
//! other than the one a message died on that get a copy too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use gcloud_gax::create_request;
use gcloud_googleapis::pubsub::v1::{
    seek_request, AcknowledgeRequest, ListTopicSubscriptionsRequest, ReceivedMessage, SeekRequest,
    Subscription,
};

use super::admin::dead_letter_topic;
use super::browse::{lease, modify, next_pull, pull, source_topic, Held, FIRST_PULL};
use super::convert;
use super::errors::fail;
use super::names::Kind;
use super::publish::{self, Batch};
use super::{PubSub, CAPABILITIES, NAME};
use crate::broker::{Message, PurgeOptions, RedriveOptions};
use crate::bulk::publish::Refusal;
use crate::bulk::Ledger;
use crate::exit::{broker_msg, one_line, usage};
use crate::select::Decision;

/// Copies whose confirm is awaited at once.
const WINDOW: usize = 4000;
/// Acknowledgement IDs per Acknowledge call, and how long the first of
/// them may wait for the call (so a slow run still records as it goes).
const ACKS: usize = 1000;
const ACK_AFTER: Duration = Duration::from_millis(100);

/// What a run does with the messages it takes.
enum Act<'a> {
    Redrive(&'a RedriveOptions),
    Purge,
}

/// What became of a message pulled, by messageId.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Taken, its copy not confirmed yet.
    Sending,
    /// Copied or saved: acknowledge every delivery of it.
    Gone,
    /// It stays: give every delivery of it back.
    Stays,
}

/// A copy's confirm, with the original it stands for.
type Pending = BoxFuture<'static, (Original, Result<String, Refusal>)>;

/// The original of a copy in flight.
struct Original {
    id: String,
    ack_id: String,
    to: String,
}

struct Run<'a> {
    ps: &'a PubSub,
    sub: String,
    name: String,
    run: &'a Ledger,
    held: Held,
    fates: HashMap<String, Fate>,
    batches: HashMap<String, Batch>,
    inflight: FuturesUnordered<Pending>,
    /// Acknowledgements to send: ack ID, message ID, destination; and
    /// since when the first of them waits.
    acks: Vec<Original>,
    acks_since: Option<Instant>,
    /// Destination topic to the subscriptions its messages died on.
    fan: BTreeMap<String, BTreeSet<String>>,
    /// The subscription's acknowledgement deadline.
    deadline: Duration,
}

/// The subscription to take from; one with its own dead-letter policy only
/// with `--force`, since every message given back is a delivery attempt.
async fn open(ps: &PubSub, queue: &str, force: bool, verb: &str) -> Result<Subscription> {
    let sub = ps.subscription(queue).await?;
    if let (false, Some(dl)) = (force, dead_letter_topic(&sub)) {
        return Err(usage(format!(
            "{} has a dead-letter policy of its own (to topic {}): to {verb} it, dlq pulls its messages, and each one \
             it gives back has had a delivery attempt that can dead-letter it; pass --force to {verb} it anyway",
            ps.names.short(&sub.name),
            ps.names.short(dl)
        )));
    }
    Ok(sub)
}

pub async fn redrive(ps: &PubSub, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
    let sub = open(ps, queue, opts.read.force, "re-drive from").await?;
    if let Some(to) = &opts.to {
        ps.existing_topic(to).await?;
    }
    let mut r = Run::new(ps, &sub, run);
    let result = r.take(&Act::Redrive(opts)).await;
    r.finish().await;
    for line in fan_out(ps, &r.fan).await {
        run.note(line);
    }
    result
}

pub async fn purge(ps: &PubSub, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
    let sub = open(ps, queue, opts.read.force, "purge").await?;
    purge_pulled(ps, &sub, run).await
}

/// Pulls and acknowledges what the run selects.
async fn purge_pulled(ps: &PubSub, sub: &Subscription, run: &Ledger) -> Result<()> {
    let mut r = Run::new(ps, sub, run);
    let result = r.take(&Act::Purge).await;
    r.finish().await;
    result
}

/// A full purge; see the module docs.
pub async fn purge_all(ps: &PubSub, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
    let _ = opts;
    let sub = ps.subscription(queue).await?;
    let name = ps.names.short(&sub.name);
    let counted = ps.undelivered(&sub.name).await;
    if counted.is_none() {
        // Nothing counts what a seek removes: what is pulled is counted, the seek takes the rest.
        purge_pulled(ps, &sub, run).await?;
        if run.stopped() {
            return Ok(());
        }
    }
    match (seek_to_now(ps, &sub).await, counted) {
        (Ok(()), Some(count)) => {
            run.done_unnamed(count);
            run.note(format!(
                "{NAME}: {name} was sought to the present; the count is Cloud Monitoring's, taken just before"
            ));
            Ok(())
        }
        (Ok(()), None) => {
            run.note(format!(
                "{NAME}: {name} was then sought to the present, which also removed any message other subscribers held (not counted)"
            ));
            Ok(())
        }
        (Err(s), counted) if s.code() == gcloud_gax::grpc::Code::Unimplemented => match counted {
            Some(_) => purge_pulled(ps, &sub, run).await,
            None => Ok(()),
        },
        (Err(s), _) => Err(fail(&format!("seeking {name} to the present"), s)),
    }
}

/// Seeks the subscription to the present: every message published before
/// is acknowledged, wherever it is held.
async fn seek_to_now(ps: &PubSub, sub: &Subscription) -> Result<(), gcloud_gax::grpc::Status> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let req = SeekRequest {
        subscription: sub.name.clone(),
        target: Some(seek_request::Target::Time(prost_types::Timestamp {
            seconds: now.as_secs() as i64,
            nanos: now.subsec_nanos() as i32,
        })),
    };
    ps.subscriber.seek(req, None).await.map(|_| ())
}

impl<'a> Run<'a> {
    fn new(ps: &'a PubSub, sub: &Subscription, run: &'a Ledger) -> Self {
        Run {
            ps,
            sub: sub.name.clone(),
            name: ps.names.short(&sub.name),
            run,
            held: Held::new(lease(sub)),
            fates: HashMap::new(),
            batches: HashMap::new(),
            inflight: FuturesUnordered::new(),
            acks: Vec::new(),
            acks_since: None,
            fan: BTreeMap::new(),
            deadline: lease(sub),
        }
    }

    /// Pulls and acts until the subscription is drained or the run stops;
    /// an error means the run could not start.
    async fn take(&mut self, act: &Act<'_>) -> Result<()> {
        let mut size = FIRST_PULL;
        let mut first = true;
        loop {
            self.settle_ready().await;
            while self.inflight.len() >= WINDOW {
                self.flush_batches();
                self.settle_next().await;
            }
            if self.run.should_stop() {
                return Ok(());
            }
            self.held.extend_due(self.ps, &self.sub).await;
            // Paced, no more than go out in a quarter of a lease, so none waits past it.
            let want = match self.run.rate() {
                Some(per_second) => {
                    ((per_second * self.deadline.as_secs_f64() / 4.0) as i32).clamp(1, 10)
                }
                None => size,
            };
            let batch = match pull(self.ps, &self.sub, &self.name, want).await {
                Ok(b) => b,
                Err(e) if first => return Err(e),
                Err(e) => {
                    self.run.stop_broker(&e);
                    return Ok(());
                }
            };
            first = false;
            if batch.is_empty() {
                return Ok(());
            }
            let bytes: usize = batch
                .iter()
                .map(|m| m.message.as_ref().map_or(0, |m| m.data.len()))
                .sum();
            size = next_pull(bytes, batch.len());
            let mut saved: Vec<(Message, String)> = Vec::new();
            for rm in batch {
                if let Some((m, ack_id)) = self.one(act, rm).await {
                    saved.push((m, ack_id));
                }
                // A paced batch takes seconds: acknowledge and record what is confirmed meanwhile.
                self.settle_ready().await;
            }
            if !saved.is_empty() {
                self.save_and_ack(saved).await;
            }
            self.flush_batches();
        }
    }

    /// Decides about one message pulled; returns it when it is to be purged.
    async fn one(&mut self, act: &Act<'_>, rm: ReceivedMessage) -> Option<(Message, String)> {
        let id = rm
            .message
            .as_ref()
            .map(|m| m.message_id.clone())
            .unwrap_or_default();
        match self.fates.get(&id) {
            Some(Fate::Gone) => {
                self.acks.push(Original {
                    id: String::new(),
                    ack_id: rm.ack_id,
                    to: String::new(),
                });
                return None;
            }
            Some(_) => {
                self.held.add(vec![rm.ack_id]);
                return None;
            }
            None => {}
        }
        if self.run.should_stop() {
            self.stay(id, rm.ack_id);
            return None;
        }
        let topic = source_topic(self.ps, &rm).await;
        let ack_id = rm.ack_id.clone();
        let m = convert::to_message(rm, &self.name, topic);
        if self.run.decide(&m) != Decision::Take {
            self.stay(id, ack_id);
            return None;
        }
        match act {
            Act::Purge => {
                self.fates.insert(id, Fate::Sending);
                Some((m, ack_id))
            }
            Act::Redrive(opts) => {
                if let Err(why) = self.send(opts, &m, ack_id.clone()).await {
                    self.run.failed(&m.id, why);
                    self.stay(id, ack_id);
                }
                None
            }
        }
    }

    /// Adds the copy of `m` to its destination's batch.
    async fn send(
        &mut self,
        opts: &RedriveOptions,
        m: &Message,
        ack_id: String,
    ) -> Result<(), String> {
        let (to, copy) = opts.copy_of(m, &CAPABILITIES)?;
        let out = publish::message(copy)?;
        let path = match self.ps.names.path(Kind::Topic, &to.name) {
            Ok(p) => p,
            Err(e) => return Err(one_line(&e)),
        };
        if !self.batches.contains_key(&path) {
            if opts.to.is_none() {
                self.ps
                    .existing_topic(&to.name)
                    .await
                    .map_err(|e| one_line(&e))?;
            }
            self.batches
                .insert(path.clone(), Batch::new(self.ps, path.clone()));
        }
        let sources = self.fan.entry(to.name.clone()).or_default();
        if let Some(s) = &m.dead_letter.source {
            sources.insert(s.clone());
        }
        self.run.pace().await;
        let rx = self.batches.get_mut(&path).map(|b| b.add(out));
        let Some(rx) = rx else {
            return Err("no batch".into());
        };
        self.fates.insert(m.id.clone(), Fate::Sending);
        let original = Original {
            id: m.id.clone(),
            ack_id,
            to: to.name,
        };
        self.inflight.push(
            async move {
                let r = rx.await.unwrap_or_else(|_| {
                    Err(Refusal::Broker(broker_msg(format!(
                        "{NAME}: the publish call ended without an answer"
                    ))))
                });
                (original, r)
            }
            .boxed(),
        );
        if self.run.paced() {
            self.flush_batches();
        }
        Ok(())
    }

    fn stay(&mut self, id: String, ack_id: String) {
        self.fates.insert(id, Fate::Stays);
        self.held.add(vec![ack_id]);
    }

    fn flush_batches(&mut self) {
        for b in self.batches.values_mut() {
            b.flush();
        }
    }

    /// Saves purged messages to the backup (synced), then acknowledges them.
    async fn save_and_ack(&mut self, saved: Vec<(Message, String)>) {
        if !self.run.backup(saved.iter().map(|(m, _)| m)) {
            for (m, ack_id) in saved {
                self.run.untake();
                self.stay(m.id, ack_id);
            }
            return;
        }
        for (m, ack_id) in saved {
            self.fates.insert(m.id.clone(), Fate::Gone);
            self.acks.push(Original {
                id: m.id,
                ack_id,
                to: String::new(),
            });
        }
        self.send_acks(false).await;
    }

    /// Settles the confirms that are in.
    async fn settle_ready(&mut self) {
        while let Some(Some((o, r))) = self.inflight.next().now_or_never() {
            self.settle(o, r);
        }
        self.send_acks(false).await;
    }

    async fn settle_next(&mut self) {
        if let Some((o, r)) = self.inflight.next().await {
            self.settle(o, r);
        }
        self.send_acks(false).await;
    }

    fn settle(&mut self, o: Original, r: Result<String, Refusal>) {
        match r {
            Ok(_) => {
                self.fates.insert(o.id.clone(), Fate::Gone);
                self.acks.push(o);
            }
            Err(refusal) => {
                let why = match refusal {
                    Refusal::Message(why) => why,
                    Refusal::Input(e) | Refusal::Broker(e) => {
                        let line = one_line(&e);
                        self.run.stop_broker(&e);
                        line
                    }
                };
                self.run.failed(&o.id, why);
                self.stay(o.id, o.ack_id);
            }
        }
    }

    /// Acknowledges what was copied or saved, `ACKS` to a call (all that
    /// wait when `all`); each counts as done once acknowledged.
    async fn send_acks(&mut self, all: bool) {
        if self.acks.is_empty() {
            self.acks_since = None;
            return;
        }
        let since = *self.acks_since.get_or_insert_with(Instant::now);
        let due = all || since.elapsed() >= ACK_AFTER;
        while self.acks.len() >= ACKS || (due && !self.acks.is_empty()) {
            let n = self.acks.len().min(ACKS);
            let chunk: Vec<Original> = self.acks.drain(..n).collect();
            let req = AcknowledgeRequest {
                subscription: self.sub.clone(),
                ack_ids: chunk.iter().map(|o| o.ack_id.clone()).collect(),
            };
            match self.ps.subscriber.acknowledge(req, None).await {
                Ok(_) => {
                    for o in chunk.iter().filter(|o| !o.id.is_empty()) {
                        let to = Some(o.to.as_str()).filter(|t| !t.is_empty());
                        self.run.done(&o.id, to);
                    }
                    self.run.flush();
                }
                Err(s) => {
                    let e = fail(&format!("acknowledging on {}", self.name), s);
                    for o in chunk.iter().filter(|o| !o.id.is_empty()) {
                        let why = if o.to.is_empty() {
                            format!(
                                "acknowledging failed ({}): it is still on {}",
                                one_line(&e),
                                self.name
                            )
                        } else {
                            format!(
                                "copied to {}, but acknowledging on {} failed ({}): it is now in both",
                                o.to,
                                self.name,
                                one_line(&e)
                            )
                        };
                        self.run.failed(&o.id, why);
                    }
                    self.run.stop_broker(&e);
                }
            }
        }
        if self.acks.is_empty() {
            self.acks_since = None;
        }
    }

    /// Waits for every copy in flight, acknowledges, and gives back what stays.
    async fn finish(&mut self) {
        self.flush_batches();
        while !self.inflight.is_empty() {
            self.settle_next().await;
        }
        self.send_acks(true).await;
        let ids = self.held.take_ids();
        let failed = modify(self.ps, &self.sub, ids, 0).await;
        if failed > 0 {
            self.ps.warner.warn(&format!(
                "{NAME}: {failed} message(s) of {} could not be given back now; they come back when their \
                 acknowledgement deadline ends",
                self.name
            ));
        }
    }
}

/// Lines naming, for each destination topic, the subscriptions other than
/// the ones its messages died on that get the copies too.
pub async fn fan_out(ps: &PubSub, fan: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut lines = Vec::new();
    for (topic, sources) in fan {
        let Ok(path) = ps.names.path(Kind::Topic, topic) else {
            continue;
        };
        let req = create_request(
            format!("topic={path}"),
            ListTopicSubscriptionsRequest {
                topic: path.clone(),
                page_size: 1000,
                page_token: String::new(),
            },
        );
        let Ok(resp) = ps.topics().list_topic_subscriptions(req).await else {
            continue;
        };
        let others: Vec<String> = resp
            .into_inner()
            .subscriptions
            .iter()
            .map(|s| ps.names.short(s))
            .filter(|s| !sources.contains(s))
            .collect();
        if !others.is_empty() {
            let whose = if sources.is_empty() {
                "its subscriptions"
            } else {
                "its other subscriptions"
            };
            lines.push(format!(
                "{NAME}: topic {topic} delivers each copy to every subscription: {whose} {} get it too",
                others.join(", ")
            ));
        }
    }
    lines
}
