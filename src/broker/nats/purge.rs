//! `purge` on a stream: the stream purge for everything, else delete the
//! selected sequences one by one and leave the rest in place.
//!
//! Selected rows are gathered in batches; each batch is written to the
//! `--backup` file (synced) before any of it is deleted, then its deletes go
//! out concurrently and keep running while the next batch is read (far from
//! the broker a batch that waited for its deletes would stall a round trip
//! or more each time). For an advisory row the advisory is deleted, not the
//! original in the source stream.

use anyhow::Result;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;

use super::redrive::delete;
use super::rows::{Row, Rows, FAR_WINDOW_BULK};
use super::{Nats, NAME};
use crate::broker::PurgeOptions;
use crate::bulk::Ledger;
use crate::exit::Context as _;
use crate::select::Decision;

/// Rows saved and deleted together on loopback, and at most however far
/// (scaled by the round trip, see `broker::round_trip`); a batch is also
/// flushed at [`BATCH_BYTES`] of bodies.
const BATCH: usize = 256;
const MAX_BATCH: usize = 1024;
const BATCH_BYTES: usize = 8 << 20;
/// Deletes in flight, near and far; they run on while the next batch is read.
const CONCURRENT: usize = 64;
const MAX_CONCURRENT: usize = 1024;

/// A whole-stream purge with JetStream's own operation.
pub(super) async fn all(nats: &Nats, queue: &str, run: &Ledger) -> Result<()> {
    let stream = nats.stream(queue).await?;
    let purged = stream
        .purge()
        .await
        .broker_err(NAME, format!("purging stream '{queue}'"))?;
    run.done_unnamed(purged.purged);
    Ok(())
}

pub(super) async fn run(nats: &Nats, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
    let stream = nats.stream_for_run(queue).await?;
    let mut rows = Rows::open(nats, stream, &opts.read.ids, FAR_WINDOW_BULK)
        .await?
        .through_consumer();
    let rt = nats.rt().await;
    let most = rt.scale(BATCH, MAX_BATCH);
    let concurrent = rt.scale(CONCURRENT, MAX_CONCURRENT);
    let mut batch: Vec<Row> = Vec::with_capacity(most);
    let mut bytes = 0;
    // Deletes of saved batches, still running while the next batch is read.
    let mut deletes = FuturesUnordered::new();
    loop {
        let next = if run.should_stop() {
            None
        } else {
            match rows.next().await {
                Ok(r) => r,
                Err(e) if run.counts() == (0, 0) && batch.is_empty() && deletes.is_empty() => {
                    return Err(e)
                }
                Err(e) => {
                    run.stop_broker(&e);
                    None
                }
            }
        };
        let end = next.is_none();
        if let Some(row) = next.filter(|r| run.decide(&r.message) == Decision::Take) {
            bytes += row.message.body.len();
            batch.push(row)
        }
        while let Some(Some(done)) = deletes.next().now_or_never() {
            settle(run, done);
        }
        if batch.len() >= most || bytes >= BATCH_BYTES || (end && !batch.is_empty()) {
            bytes = 0;
            // Saved first: nothing is deleted that the backup does not hold.
            if !run.backup(batch.iter().map(|r| &r.message)) {
                break;
            }
            let js = &nats.js;
            for row in batch.drain(..) {
                while deletes.len() >= concurrent {
                    if let Some(done) = deletes.next().await {
                        settle(run, done);
                    }
                }
                deletes.push(async move { (row.message.id, delete(js, queue, row.seq).await) });
            }
        }
        if end {
            break;
        }
    }
    while let Some(done) = deletes.next().await {
        settle(run, done);
    }
    Ok(())
}

fn settle(run: &Ledger, (id, r): (String, Result<()>)) {
    match r {
        Ok(()) => run.done(&id, None),
        Err(e) => run.failed(id, format!("{e:#}")),
    }
}
