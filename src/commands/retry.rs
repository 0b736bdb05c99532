//! `dlq retry QUEUE ID...`: send named messages back, then take them off.
//!
//! Every ID is checked first (it must name exactly one message), so a typo
//! changes nothing.

use std::collections::HashMap;

use anyhow::Result;

use super::{read_options, redrive, Ctx};
use crate::broker::{Flow, Message, RedriveOptions};
use crate::cli::{ReadArgs, RedriveArgs};
use crate::exit::Exit;
use crate::select::{Filter, Selection};

pub async fn run(
    ctx: &Ctx,
    queue: &str,
    ids: &[String],
    args: &RedriveArgs,
    read: &ReadArgs,
) -> Result<Exit> {
    let broker = ctx.connect().await?;
    let opts = RedriveOptions {
        read: read_options(read, true, ids),
        to: args.to.clone(),
        native: false,
        detach: false,
    };

    let mut seen: HashMap<String, u32> = HashMap::new();
    broker
        .browse(queue, &opts.read, &mut |m: Message| {
            if ids.contains(&m.id) {
                *seen.entry(m.id).or_default() += 1;
            }
            Ok(Flow::Continue)
        })
        .await?;
    super::peek::check_ids(queue, ids, &seen)?;

    let sel = Selection::new(Some(dedup(ids)), Filter::default(), None, args.max_redrives);
    if args.dry_run {
        return redrive::dry_run(ctx, &*broker, queue, &sel, &opts).await;
    }
    redrive::execute(
        ctx,
        &*broker,
        queue,
        &sel,
        &opts,
        None,
        Some(ids.len() as u64),
    )
    .await
}

fn dedup(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}
