//! `dlq retry QUEUE ID...`: send named messages back, then take them off.
//!
//! Every ID is checked first (it must name exactly one message), so a typo
//! changes nothing.

use std::collections::HashMap;

use anyhow::Result;

use super::{read_flags, read_options, redrive, Ctx};
use crate::broker::{Flow, Message, RedriveOptions};
use crate::cli::{ReadArgs, RedriveArgs};
use crate::exit::Exit;
use crate::rewrite::Rewrite;
use crate::select::{Filter, Selection};

pub async fn run(
    ctx: &Ctx,
    queue: &str,
    ids: &[String],
    args: &RedriveArgs,
    read: &ReadArgs,
) -> Result<Exit> {
    let rewrite = Rewrite::new(
        &args.set_headers,
        &args.unset_headers,
        args.transform.as_deref(),
    )?;
    let broker = ctx.connect_with(&read_flags(read, false)).await?;
    let opts = RedriveOptions {
        read: read_options(read, true, ids),
        to: args.to.clone(),
        rewrite,
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
    let drive = redrive::Drive {
        command: "retry",
        via: redrive::Via::Dlq,
        rate: None,
        total: Some(ids.len() as u64),
    };
    redrive::execute(ctx, &*broker, queue, &sel, &opts, drive).await
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
