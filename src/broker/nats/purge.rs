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
use crate::bulk::{BulkContext, BulkReport};
use crate::exit::broker;
use crate::select::{Decision, Selection};

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
pub(super) async fn all(nats: &Nats, queue: &str, ctx: &BulkContext) -> Result<BulkReport> {
    let stream = nats.stream(queue).await?;
    let purged = stream
        .purge()
        .await
        .map_err(|e| broker(NAME, format!("purging stream '{queue}'"), e))?;
    ctx.tick(purged.purged);
    Ok(BulkReport {
        done: purged.purged,
        ..Default::default()
    })
}

pub(super) async fn run(
    nats: &Nats,
    queue: &str,
    opts: &PurgeOptions,
    sel: &Selection,
    ctx: &BulkContext,
) -> Result<BulkReport> {
    let stream = nats.stream(queue).await?;
    let mut report = BulkReport::default();
    let mut rows = Rows::open(nats, stream, &opts.read.ids, FAR_WINDOW_BULK).await?;
    let most = nats.window(BATCH, MAX_BATCH);
    let concurrent = nats.window(CONCURRENT, MAX_CONCURRENT);
    let mut batch: Vec<Row> = Vec::with_capacity(most);
    let mut bytes = 0;
    // Deletes of saved batches, still running while the next batch is read.
    let mut deletes = FuturesUnordered::new();
    let mut failure = None;
    loop {
        let next = if ctx.interrupted() || sel.exhausted() {
            None
        } else {
            match rows.next().await {
                Ok(r) => r,
                Err(e) if report.done == 0 && batch.is_empty() && deletes.is_empty() => {
                    return Err(e)
                }
                Err(e) => {
                    report.stopped_by = Some(format!("{e:#}"));
                    None
                }
            }
        };
        let end = next.is_none();
        if let Some(row) = next {
            match sel.decide(&row.message) {
                Decision::Take => {
                    bytes += row.message.body.len();
                    batch.push(row)
                }
                Decision::Skip(why) => {
                    report.skipped += 1;
                    ctx.skip(&row.message.id, &why);
                }
                Decision::Leave => {}
            }
        }
        while let Some(Some(done)) = deletes.next().now_or_never() {
            settle(&mut report, ctx, done);
        }
        if batch.len() >= most || bytes >= BATCH_BYTES || (end && !batch.is_empty()) {
            bytes = 0;
            // Saved first: nothing is deleted that the backup does not hold.
            if let Some(backup) = &ctx.backup {
                if let Err(e) = backup.save(batch.iter().map(|r| &r.message)) {
                    failure = Some(e);
                    break;
                }
            }
            let js = &nats.js;
            for row in batch.drain(..) {
                while deletes.len() >= concurrent {
                    if let Some(done) = deletes.next().await {
                        settle(&mut report, ctx, done);
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
        settle(&mut report, ctx, done);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

fn settle(report: &mut BulkReport, ctx: &BulkContext, (id, r): (String, Result<()>)) {
    match r {
        Ok(()) => {
            report.done += 1;
            ctx.done(&id, None);
        }
        Err(e) => report.fail(id, format!("{e:#}")),
    }
    ctx.tick(1);
}
