//! Re-drive and purge, one loop: take messages in order, act on the
//! selected ones ([`Take`]), ack each only when it is safe, give the rest
//! back with one multiple nack.
//!
//! Re-drive publishes each copy on a confirm channel with `mandatory` set, so
//! an unroutable copy comes back as a failure instead of vanishing, and keeps
//! a window of unconfirmed copies in flight. The original is acked only after
//! its copy's confirm (ack, not returned). A nack, a return, a missing origin
//! exchange: the original stays, unacked until the end, then given back in
//! its place. A lost connection stops the run with the counts so far; any
//! unacked message goes back to the queue by itself, so a kill at any point
//! leaves at worst a duplicate of a confirmed copy. Purge acks the selected
//! messages in batches, each batch written to the backup file first, through
//! the same acks; a full purge without backup is one `queue.purge`.

use std::collections::HashMap;
use std::pin::Pin;

use anyhow::Result;
use futures::stream::FuturesOrdered;
use futures::{Future, FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueuePurgeOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{Channel, ExchangeKind};
use tokio::sync::{mpsc, watch};

use super::convert::{self, Route};
use super::read::{Reader, HOLDS_PER_CONSUMER};
use super::{amqp_error, reply_code, RabbitMq, CAPABILITIES, NAME, WINDOW};
use crate::broker::{Message, PurgeOptions, RedriveOptions};
use crate::bulk::Ledger;
use crate::exit::{broker, Context};
use crate::select::Decision;

type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A copy waiting for its confirm.
struct InFlight {
    tag: u64,
    id: String,
    dest: String,
    confirm: lapin::Result<Confirmation>,
}

/// A message whose original may go: its ID, and where its copy went.
type Done = (String, Option<String>);

/// What one ack covered: the messages, and whether it was written.
type Acked = (Vec<Done>, lapin::Result<()>);

/// Sends acks in order on a task of its own: eagerly, since a lazy future
/// would not go out while the loop waits for the next delivery (and without
/// acks the prefetch window never reopens), and in order, since a `multiple`
/// ack overtaken by a later one names an unknown tag and closes the channel.
struct Acks {
    tx: mpsc::UnboundedSender<(u64, bool, Vec<Done>)>,
    done: mpsc::UnboundedReceiver<Acked>,
}

impl Acks {
    /// `allowed`: see [`Reader::acks_allowed`].
    fn new(ch: &Channel, mut allowed: Option<watch::Receiver<u64>>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(u64, bool, Vec<Done>)>();
        let (done_tx, done) = mpsc::unbounded_channel();
        let ch = ch.clone();
        tokio::spawn(async move {
            while let Some((tag, multiple, ids)) = rx.recv().await {
                if let Some(allowed) = &mut allowed {
                    // An error: the reader is gone, nothing holds acks back.
                    let _ = allowed.wait_for(|below| tag < *below).await;
                }
                let r = ch.basic_ack(tag, BasicAckOptions { multiple }).await;
                if done_tx.send((ids, r)).is_err() {
                    break;
                }
            }
        });
        Acks { tx, done }
    }

    fn push(&mut self, tag: u64, multiple: bool, ids: Vec<Done>) {
        // The task runs until `count_all` drops the sender: a send cannot fail.
        let _ = self.tx.send((tag, multiple, ids));
    }

    /// Counts the acks already written.
    fn count_ready(&mut self, run: &Ledger) {
        while let Ok(a) = self.done.try_recv() {
            count_acked(run, a);
        }
    }

    /// Waits for every ack sent, and counts them.
    async fn count_all(mut self, run: &Ledger) {
        drop(self.tx);
        while let Some(a) = self.done.recv().await {
            count_acked(run, a);
        }
    }
}

/// Acks confirmed originals: with nothing kept on the channel, one
/// `multiple` ack up to the highest tag (every lower tag is confirmed too);
/// otherwise one ack each.
fn ack_confirmed(confirmed: &mut Vec<(u64, Done)>, kept: bool, acks: &mut Acks) {
    if confirmed.is_empty() {
        return;
    }
    if kept {
        for (tag, id) in confirmed.drain(..) {
            acks.push(tag, false, vec![id]);
        }
    } else {
        let top = confirmed.iter().map(|(t, _)| *t).max().unwrap_or(0);
        let ids = confirmed.drain(..).map(|(_, id)| id).collect();
        acks.push(top, true, ids);
    }
}

fn count_acked(run: &Ledger, done: Acked) {
    match done.1 {
        Ok(()) => {
            for (id, to) in &done.0 {
                run.done(id, to.as_deref());
            }
            run.flush();
        }
        Err(e) => {
            // The copy is out but the original stays: a duplicate, not a loss.
            for (id, _) in done.0 {
                run.failed(id, format!("copy confirmed but the original could not be removed ({e}); it stays on the queue"));
            }
            run.stop_broker(&broker(NAME, "acknowledging", e));
        }
    }
}

/// Whether an exchange exists, asked on a throwaway channel (a failed
/// passive declare closes its channel).
pub(super) async fn exchange_exists(rmq: &RabbitMq, name: &str) -> Result<bool> {
    let op = format!("checking exchange '{name}'");
    let ch = rmq.channel(&op).await?;
    let passive = ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let declared = ch.exchange_declare(name, ExchangeKind::Direct, passive, FieldTable::default());
    match declared.await {
        Ok(()) => {
            let _ = ch.close(200, "checked").await;
            Ok(true)
        }
        Err(e) if reply_code(&e) == Some(404) => Ok(false),
        Err(e) => Err(broker(NAME, op, e)),
    }
}

/// What a run does with the messages it takes.
pub enum Take<'a> {
    /// Publish a copy to its origin (or `--to`); ack once it is confirmed.
    Copy(&'a RedriveOptions),
    /// Save it to the backup, if any; then ack.
    Purge(&'a PurgeOptions),
}

impl Take<'_> {
    /// `--force`: go on without the management API's word on a delivery limit.
    fn force(&self) -> bool {
        match self {
            Take::Copy(o) => o.read.force,
            Take::Purge(o) => o.read.force,
        }
    }
}

pub async fn run(rmq: &RabbitMq, queue: &str, take: Take<'_>, run: &Ledger) -> Result<()> {
    let (doing, what) = match take {
        Take::Copy(_) => ("re-driving from", "re-drive"),
        Take::Purge(_) => ("purging", "purge"),
    };
    let op = format!("{doing} queue '{queue}'");
    let what = format!("{what} selected messages of");
    let everything = run.selection().is_everything();
    // Each of these waits a round trip or several; far from the broker they
    // add up unless they overlap. Their errors count in this order.
    let (plan, to, read, publisher) = tokio::join!(
        rmq.check_returnable(queue, &what, !everything, take.force()),
        async {
            match take {
                Take::Copy(RedriveOptions { to: Some(to), .. }) => rmq.require_queue(to).await,
                _ => Ok(()),
            }
        },
        async {
            let ch = rmq.channel(&op).await?;
            let count = rmq.ready_count(&ch, queue).await?;
            Ok::<_, anyhow::Error>((ch, count))
        },
        async {
            if matches!(take, Take::Purge(_)) {
                return Ok(None);
            }
            let conn = rmq.publisher().await?;
            let ch = conn.create_channel().await.broker_err(NAME, &op)?;
            let confirms = ch.confirm_select(ConfirmSelectOptions::default());
            confirms.await.broker_err(NAME, &op)?;
            Ok::<_, anyhow::Error>(Some((conn, ch)))
        },
    );
    let plan = plan?;
    to?;
    let (read_ch, count) = read?;
    let publisher = publisher?;
    let mut reader = Reader::new(
        read_ch.clone(),
        queue,
        WINDOW,
        count,
        plan.mean,
        plan.quorum,
    );
    // A paced run publishes each copy when its turn comes.
    let paced = run.paced();
    let mut inflight: FuturesOrdered<Pending<InFlight>> = FuturesOrdered::new();
    let mut acks = Acks::new(&read_ch, reader.acks_allowed());
    let mut confirmed: Vec<(u64, Done)> = Vec::new();
    let mut exchanges: HashMap<String, bool> = HashMap::new();
    let mut dropped_user_id = false;
    let mut batch: Vec<Outgoing> = Vec::new();
    let mut saves: Vec<(u64, Message)> = Vec::new();

    loop {
        while let Some(Some(f)) = inflight.next().now_or_never() {
            settle(f, &mut confirmed, &mut reader, run).await;
        }
        let (in_flight, batch_size) = budget(reader.window(), paced);
        // The broker keeps delivering while confirms are awaited.
        while inflight.len() >= in_flight {
            if let Some(f) = inflight.next().await {
                settle(f, &mut confirmed, &mut reader, run).await;
            }
        }
        ack_confirmed(&mut confirmed, reader.keeps_any(), &mut acks);
        acks.count_ready(run);
        if run.should_stop() {
            break;
        }
        let mut d = match reader.next().await {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(e) => {
                run.stop_broker(&broker(NAME, &op, e));
                break;
            }
        };
        let m = convert::message(queue, &mut d);
        if run.decide(&m) != Decision::Take {
            hold(&mut reader, d.delivery_tag, run).await;
            continue;
        }
        let (Take::Copy(opts), Some((_, pub_ch))) = (&take, &publisher) else {
            saves.push((d.delivery_tag, m));
            // Within the prefetch beside the held messages, or the batch
            // would wait for a delivery the broker holds back.
            if saves.len() >= PURGE_BATCH.min(usize::from(reader.window()) / 2).max(1) {
                save(&mut saves, &mut confirmed, run);
            }
            continue;
        };
        let (origin, copy) = match opts.copy_of(&m, &CAPABILITIES) {
            Ok((o, copy)) => (Route::of(&o), copy),
            Err(why) => {
                run.failed(&m.id, why);
                hold(&mut reader, d.delivery_tag, run).await;
                continue;
            }
        };
        if !origin.exchange.is_empty() && !exchanges.contains_key(&origin.exchange) {
            let exists = exchange_exists(rmq, &origin.exchange).await?;
            exchanges.insert(origin.exchange.clone(), exists);
        }
        if exchanges.get(&origin.exchange) == Some(&false) {
            let x = &origin.exchange;
            run.failed(
                &m.id,
                format!("origin exchange '{x}' does not exist any more: pass --to QUEUE"),
            );
            hold(&mut reader, d.delivery_tag, run).await;
            continue;
        }
        let count = (m.redrives() + 1).to_string();
        let (mut props, dropped) = convert::redrive_properties(&d.properties, &count, &rmq.user);
        if !opts.rewrite.is_identity() {
            props = props.with_headers(convert::rewritten_headers(&d.properties, &copy.headers));
        }
        dropped_user_id |= dropped;
        run.pace().await;
        batch.push(Outgoing {
            tag: d.delivery_tag,
            id: m.id,
            origin,
            props,
            data: copy.body,
        });
        if batch.len() >= batch_size {
            publish_batch(pub_ch, &mut batch, &mut inflight, &mut reader, run, &op).await;
        }
    }
    save(&mut saves, &mut confirmed, run);
    if let Some((_, pub_ch)) = &publisher {
        publish_batch(pub_ch, &mut batch, &mut inflight, &mut reader, run, &op).await;
    }
    while let Some(f) = inflight.next().await {
        settle(f, &mut confirmed, &mut reader, run).await;
    }
    ack_confirmed(&mut confirmed, reader.keeps_any(), &mut acks);
    if let Err(e) = reader.release_acks().await {
        run.stop_broker(&broker(NAME, "stopping the read", e));
    }
    acks.count_all(run).await;
    if let Some((had, of)) = reader.short() {
        // Not an error (another client may consume the queue), but never quiet.
        run.note(format!(
            "the queue delivered {had} of the {of} messages it held at the start, then no more, with none ready and two fresh consumers sent nothing (another consumer may have taken them): the rest were not read; run again to act on any left"
        ));
    }
    if dropped_user_id {
        run.note(format!(
            "the user_id property was dropped from copies whose user_id is not '{}' (RabbitMQ refuses it otherwise)",
            rmq.user
        ));
    }
    // Everything not acked goes back, in its place, while the publisher
    // closes.
    let (given_back, _) = tokio::join!(
        async {
            let r = reader.finish().await;
            let _ = read_ch.close(200, "done").await;
            r
        },
        async {
            if let Some((conn, ch)) = &publisher {
                let _ = ch.close(200, "re-drive done").await;
                let _ = conn.close(200, "re-drive done").await;
            }
        }
    );
    if let Err(e) = given_back {
        run.stop_broker(&broker(NAME, "giving back the other messages", e));
    }
    Ok(())
}

/// Saves the taken messages to the backup (synced) and marks them for the
/// next ack; what could not be saved stays (the run is stopped).
fn save(saves: &mut Vec<(u64, Message)>, confirmed: &mut Vec<(u64, Done)>, run: &Ledger) {
    if saves.is_empty() || !run.backup(saves.iter().map(|(_, m)| m)) {
        return;
    }
    confirmed.extend(saves.drain(..).map(|(tag, m)| (tag, (m.id, None))));
}

/// Of a prefetch window: the copies awaiting their confirm at most (three
/// quarters), and the copies handed to lapin together so their frames go
/// out in one write (a sixteenth). A destination queue confirms persistent
/// messages when it syncs, so a deep window keeps it busy between syncs.
/// The prefetch covers these and the messages held before the reader
/// restarts its consumer (an eighth), or the broker would stop delivering
/// while the loop waits for a delivery.
fn budget(window: u16, paced: bool) -> (usize, usize) {
    let w = usize::from(window);
    let batch = if paced { 1 } else { (w / 16).max(1) };
    let in_flight = (w * 3 / 4).max(1);
    debug_assert!(in_flight + batch + w / HOLDS_PER_CONSUMER <= w.max(3));
    (in_flight, batch)
}

/// A copy waiting to be published.
struct Outgoing {
    tag: u64,
    id: String,
    origin: Route,
    props: lapin::BasicProperties,
    data: Vec<u8>,
}

/// Publishes the batch in order (join_all polls a short list in order, and a
/// publish queues its frames on its first poll), then tracks each confirm.
async fn publish_batch(
    pub_ch: &Channel,
    batch: &mut Vec<Outgoing>,
    inflight: &mut FuturesOrdered<Pending<InFlight>>,
    reader: &mut Reader,
    run: &Ledger,
    op: &str,
) {
    if batch.is_empty() {
        return;
    }
    let sends = batch.iter().map(|o| {
        pub_ch.basic_publish(
            &o.origin.exchange,
            &o.origin.routing_key,
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            &o.data,
            o.props.clone(),
        )
    });
    let results = futures::future::join_all(sends).await;
    for (o, r) in batch.drain(..).zip(results) {
        match r {
            Ok(pc) => {
                let (tag, id, dest) = (o.tag, o.id, o.origin.describe());
                inflight.push_back(Box::pin(async move {
                    InFlight {
                        tag,
                        id,
                        dest,
                        confirm: pc.await,
                    }
                }));
            }
            Err(e) => {
                run.failed(
                    &o.id,
                    format!("publishing the copy: {e}; the message stays"),
                );
                run.stop_broker(&broker(NAME, format!("{op}: publishing"), e));
                hold(reader, o.tag, run).await;
            }
        }
    }
}

async fn hold(reader: &mut Reader, tag: u64, run: &Ledger) {
    if let Err(e) = reader.hold(tag).await {
        run.stop_broker(&broker(NAME, "keeping a message", e));
    }
}

async fn settle(f: InFlight, confirmed: &mut Vec<(u64, Done)>, reader: &mut Reader, run: &Ledger) {
    let dest = &f.dest;
    let why = match f.confirm {
        Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => {
            confirmed.push((f.tag, (f.id, Some(f.dest))));
            return;
        }
        Ok(Confirmation::Ack(Some(ret))) | Ok(Confirmation::Nack(Some(ret))) => format!(
            "unroutable: nothing is bound to {dest} ({} {}); the message stays",
            ret.reply_code, ret.reply_text
        ),
        Ok(Confirmation::Nack(None)) => format!("{dest} refused the copy (nack: full with overflow reject-publish, or unavailable); the message stays"),
        Err(e) => {
            let why = format!("no confirm for the copy to {dest}: {e}; the message stays");
            run.failed(f.id, why);
            run.stop_broker(&broker(NAME, "waiting for a confirm", e));
            return;
        }
    };
    run.failed(f.id, why);
    hold(reader, f.tag, run).await;
}

/// Selected messages waiting to be acked (after the backup, when there is one).
const PURGE_BATCH: usize = 256;

/// A whole-queue purge with queue.purge.
pub async fn purge_all(rmq: &RabbitMq, queue: &str, run: &Ledger) -> Result<()> {
    let op = format!("purging queue '{queue}'");
    let ch = rmq.channel(&op).await?;
    rmq.ready_count(&ch, queue).await?;
    let n = ch
        .queue_purge(queue, QueuePurgeOptions::default())
        .await
        .map_err(|e| amqp_error(&rmq.vhost, queue, &op, e))?;
    let _ = ch.close(200, "purged").await;
    run.done_unnamed(u64::from(n));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_fits_the_prefetch() {
        for w in [2u16, 3, 8, 32, 100, 512, 4096, u16::MAX] {
            for paced in [false, true] {
                let (in_flight, batch) = budget(w, paced);
                let held = usize::from(w) / HOLDS_PER_CONSUMER;
                assert!(in_flight >= 1 && batch >= 1, "{w}");
                assert!(in_flight + batch + held <= usize::from(w).max(3), "{w}");
            }
        }
        assert_eq!(budget(4096, false), (3072, 256));
        assert_eq!(budget(4096, true), (3072, 1));
    }
}
