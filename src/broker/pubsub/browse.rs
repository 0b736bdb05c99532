//! Reading a subscription without changing it, on a broker that has no peek.
//!
//! Pub/Sub can only deliver: a pulled message is leased to the reader until
//! its acknowledgement deadline, and on a subscription with a dead-letter
//! policy each delivery is an attempt that counts towards dead-lettering.
//! A read therefore refuses such a subscription unless `--force`, then pulls
//! in batches, keeps every message it pulled leased while it pulls on (so
//! the next pull returns new ones; leases past half the subscription's
//! acknowledgement deadline are extended by that deadline, so a read that is
//! killed leaves nothing leased for longer than any consumer would), and gives all of them back at once with
//! ModifyAckDeadline 0: after the last message, on an error and on Ctrl-C
//! alike. The read ends at the first pull that returns nothing. A message
//! that comes back (its lease ended under a slow reader) is recognised by its
//! messageId. Memory is one acknowledgement ID per message read.
//!
//! The emulator answers a pull that asks not to wait with everything it has;
//! Google's service may answer such a pull empty while messages wait, so
//! there a pull waits up to `END_WAIT` for messages before the read ends.
//! A batch is sized so that one pull carries about `PULL_BYTES`.
//!
//! On a subscription with message ordering, the service holds back later
//! messages of an ordering key while earlier ones are leased, so a read there
//! may see only the first messages of each key.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use gcloud_gax::grpc::{Code, Request};
use gcloud_googleapis::pubsub::v1::subscriber_client::SubscriberClient as Raw;
use gcloud_googleapis::pubsub::v1::{
    ModifyAckDeadlineRequest, PullRequest, ReceivedMessage, Subscription,
};
use tokio::time::Instant;

use super::admin::dead_letter_topic;
use super::convert::{self, SOURCE_PROJECT, SOURCE_SUBSCRIPTION};
use super::errors::fail;
use super::{PubSub, NAME};
use crate::broker::{Flow, ReadOptions, Visitor};
use crate::exit::{interrupted, usage};

/// Messages in the first pull, and at most in any.
pub(super) const FIRST_PULL: i32 = 100;
const MAX_PULL: i32 = 1000;
/// About how many bytes of messages one pull should carry.
const PULL_BYTES: usize = 16 << 20;
/// How long a pull to Google's service waits for messages before the read ends.
const END_WAIT: Duration = Duration::from_secs(2);
/// Acknowledgement IDs per ModifyAckDeadline call, and calls at once.
const IDS_PER_CALL: usize = 1000;
const CALLS: usize = 8;

/// Messages leased by this read, batch by batch, each with when its lease
/// needs renewing.
pub(super) struct Held {
    deadline: Duration,
    batches: Vec<(Vec<String>, Instant)>,
}

impl Held {
    /// Leases of `deadline` (the subscription's acknowledgement deadline).
    pub(super) fn new(deadline: Duration) -> Self {
        Held {
            deadline,
            batches: Vec::new(),
        }
    }

    /// Keeps a pulled batch leased; its lease needs renewing after half the deadline.
    pub(super) fn add(&mut self, ack_ids: Vec<String>) {
        if !ack_ids.is_empty() {
            self.batches
                .push((ack_ids, Instant::now() + self.deadline / 2));
        }
    }

    /// Extends the leases that are past half their deadline by one deadline;
    /// a message whose lease ends anyway comes back and is recognised.
    pub(super) async fn extend_due(&mut self, ps: &PubSub, sub: &str) {
        let now = Instant::now();
        let renew_at = now + self.deadline / 2;
        let due: Vec<String> = self
            .batches
            .iter_mut()
            .filter(|(_, renew)| *renew <= now)
            .flat_map(|(ids, renew)| {
                *renew = renew_at;
                ids.iter().cloned()
            })
            .collect();
        if !due.is_empty() {
            modify(ps, sub, due, self.deadline.as_secs() as i32).await;
        }
    }

    /// Every acknowledgement ID held; none is held afterwards.
    pub(super) fn take_ids(&mut self) -> Vec<String> {
        std::mem::take(&mut self.batches)
            .into_iter()
            .flat_map(|(ids, _)| ids)
            .collect()
    }
}

/// The lease a read keeps: the subscription's acknowledgement deadline (at least 10 s).
pub(super) fn lease(sub: &Subscription) -> Duration {
    Duration::from_secs(sub.ack_deadline_seconds.max(10) as u64)
}

/// Sets the acknowledgement deadline of `ids`, several calls at once;
/// returns how many could not be changed.
pub(super) async fn modify(ps: &PubSub, sub: &str, ids: Vec<String>, seconds: i32) -> usize {
    let chunks: Vec<Vec<String>> = ids.chunks(IDS_PER_CALL).map(<[String]>::to_vec).collect();
    futures::stream::iter(chunks)
        .map(|ack_ids| async move {
            let n = ack_ids.len();
            let req = ModifyAckDeadlineRequest {
                subscription: sub.to_owned(),
                ack_ids,
                ack_deadline_seconds: seconds,
            };
            match ps.subscriber.modify_ack_deadline(req, None).await {
                Ok(_) => 0,
                Err(_) => n,
            }
        })
        .buffer_unordered(CALLS)
        .fold(0, |a, b| async move { a + b })
        .await
}

/// See the module docs.
pub async fn browse(
    ps: &PubSub,
    queue: &str,
    opts: &ReadOptions,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let sub = ps.subscription(queue).await?;
    let name = ps.names.short(&sub.name);
    if let (false, Some(dl)) = (opts.force, dead_letter_topic(&sub)) {
        let attempts = sub
            .dead_letter_policy
            .as_ref()
            .map_or(0, |p| p.max_delivery_attempts);
        return Err(usage(format!(
            "{name} has a dead-letter policy of its own (to topic {} after {attempts} delivery attempts): reading it \
             pulls its messages, and each pull is a delivery attempt that can dead-letter them; pass --force to read it anyway",
            ps.names.short(dl)
        )));
    }
    let deadline = lease(&sub);
    let mut held = Held::new(deadline);
    let result = tokio::select! {
        r = read(ps, &sub.name, &name, &mut held, visit) => r,
        _ = tokio::signal::ctrl_c() => Err(interrupted()),
    };
    let ids = held.take_ids();
    let failed = modify(ps, &sub.name, ids, 0).await;
    if failed > 0 {
        ps.warner.warn(&format!(
            "{NAME}: {failed} message(s) of {name} could not be given back now; they come back when their \
             acknowledgement deadline ends (within {} s)",
            deadline.as_secs()
        ));
    }
    result
}

async fn read(
    ps: &PubSub,
    sub: &str,
    name: &str,
    held: &mut Held,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut size = FIRST_PULL;
    loop {
        held.extend_due(ps, sub).await;
        let batch = pull(ps, sub, name, size).await?;
        if batch.is_empty() {
            return Ok(());
        }
        let bytes: usize = batch
            .iter()
            .map(|m| m.message.as_ref().map_or(0, |m| m.data.len()))
            .sum();
        size = next_pull(bytes, batch.len());
        held.add(batch.iter().map(|m| m.ack_id.clone()).collect());
        for rm in batch {
            let id = rm.message.as_ref().map(|m| m.message_id.clone());
            if !id.is_some_and(|id| seen.insert(id)) {
                continue;
            }
            let topic = source_topic(ps, &rm).await;
            if visit(convert::to_message(rm, name, topic))? == Flow::Stop {
                return Ok(());
            }
        }
    }
}

/// How many messages the next pull asks for, after one that brought
/// `bytes` in `count` messages: about `PULL_BYTES`, within 1 and `MAX_PULL`.
pub(super) fn next_pull(bytes: usize, count: usize) -> i32 {
    let per_message = (bytes / count.max(1)).max(1);
    (PULL_BYTES / per_message).clamp(1, MAX_PULL as usize) as i32
}

/// The topic of the subscription a dead letter died on, when it says which.
pub(super) async fn source_topic(ps: &PubSub, rm: &ReceivedMessage) -> Option<String> {
    let attrs = &rm.message.as_ref()?.attributes;
    let sub = attrs.get(SOURCE_SUBSCRIPTION)?;
    let path = ps
        .names
        .subscription_in(attrs.get(SOURCE_PROJECT).map(String::as_str), sub);
    ps.topic_of(&path).await
}

/// One pull of up to `max` messages; empty when none came in time.
pub(super) async fn pull(
    ps: &PubSub,
    sub: &str,
    name: &str,
    max: i32,
) -> Result<Vec<ReceivedMessage>> {
    let mut client = Raw::new(ps.channels.conn()).max_decoding_message_size(128 << 20);
    // Deprecated for Google's service, where it may answer empty too soon;
    // exact on the emulator, which is the only place it is set.
    #[allow(deprecated)]
    let mut req = Request::new(PullRequest {
        subscription: sub.to_owned(),
        return_immediately: ps.immediate_pulls,
        max_messages: max,
    });
    if !ps.immediate_pulls {
        req.set_timeout(END_WAIT.min(ps.timeout));
    }
    if let Ok(v) = format!("subscription={sub}").parse() {
        req.metadata_mut().insert("x-goog-request-params", v);
    }
    match client.pull(req).await {
        Ok(r) => Ok(r.into_inner().received_messages),
        Err(s) if s.code() == Code::DeadlineExceeded && !ps.immediate_pulls => Ok(Vec::new()),
        Err(s) => Err(fail(&format!("pulling from {name}"), s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_carry_about_pull_bytes() {
        assert_eq!(next_pull(100 * 200, 100), MAX_PULL);
        assert_eq!(next_pull(0, 100), MAX_PULL);
        assert_eq!(next_pull(100 << 20, 100), 16);
        assert_eq!(next_pull(10 * (10 << 20), 10), 1);
    }
}
