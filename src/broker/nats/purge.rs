//! `purge` on a stream: the stream purge for everything, else delete the
//! selected sequences one by one and leave the rest in place.
//!
//! Selected rows are gathered in batches; each batch is written to the
//! `--backup` file (synced) before any of it is deleted, then its deletes go
//! out concurrently. For an advisory row the advisory is deleted, not the
//! original in the source stream.

use anyhow::Result;
use futures::stream::{self, StreamExt};

use super::redrive::delete;
use super::rows::{Row, Rows};
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
/// Deletes in flight within a batch, near and far.
const CONCURRENT: usize = 64;
const MAX_CONCURRENT: usize = 256;

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
    let mut rows = Rows::open(nats, stream, &opts.read.ids).await?;
    let most = nats.window(BATCH, MAX_BATCH);
    let mut batch: Vec<Row> = Vec::with_capacity(most);
    let mut bytes = 0;
    loop {
        let next = if ctx.interrupted() || sel.exhausted() {
            None
        } else {
            match rows.next().await {
                Ok(r) => r,
                Err(e) if report.done == 0 && batch.is_empty() => return Err(e),
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
        if batch.len() >= most || bytes >= BATCH_BYTES || (end && !batch.is_empty()) {
            flush(nats, queue, &mut batch, &mut report, ctx).await?;
            bytes = 0;
        }
        if end {
            break;
        }
    }
    Ok(report)
}

async fn flush(
    nats: &Nats,
    queue: &str,
    batch: &mut Vec<Row>,
    report: &mut BulkReport,
    ctx: &BulkContext,
) -> Result<()> {
    if let Some(backup) = &ctx.backup {
        backup.save(batch.iter().map(|r| &r.message))?;
    }
    let js = &nats.js;
    let results: Vec<(String, Result<()>)> = stream::iter(batch.drain(..))
        .map(|row| async move { (row.message.id, delete(js, queue, row.seq).await) })
        .buffer_unordered(nats.window(CONCURRENT, MAX_CONCURRENT))
        .collect()
        .await;
    for (id, r) in results {
        match r {
            Ok(()) => {
                report.done += 1;
                ctx.done(&id, None);
            }
            Err(e) => report.fail(id, format!("{e:#}")),
        }
        ctx.tick(1);
    }
    Ok(())
}
