//! `dlq retry QUEUE ID...`: send named messages back, then take them off.
//!
//! Every ID is checked first (it must name exactly one message), so a typo
//! changes nothing.

use anyhow::Result;

use super::{read_options, redrive, selected, Ctx};
use crate::broker::{Flow, RedriveOptions};
use crate::cli::RetryArgs;
use crate::exit::{usage, Exit};
use crate::ids_from;
use crate::rewrite::Rewrite;
use crate::select::{Criteria, Filter};

pub async fn run(ctx: &Ctx, a: &RetryArgs) -> Result<Exit> {
    let (queue, args, read) = (a.queue.as_str(), &a.redrive, &a.read);
    let ids: &[String] = &ids_from::gather(&a.ids, a.ids_from.as_deref())?;
    if ids.is_empty() {
        return Err(usage("no message IDs: the --ids-from file has none"));
    }
    let rewrite = Rewrite::new(
        &args.set_headers,
        &args.unset_headers,
        args.transform.as_deref(),
    )?;
    let mut opts = RedriveOptions {
        read: read_options(read, false, ids),
        to: args.to.clone(),
        rewrite,
        ..Default::default()
    };
    ctx.check(&opts.flags())?;
    opts.rewrite = opts.rewrite.with_schema(ctx.decoder(&args.schema)?);
    let broker = ctx.connect_with(&opts.flags()).await?;

    // Every ID checked in a pass of its own, so a typo changes nothing.
    let criteria = Criteria::new(Some(ids), Filter::default(), None, args.max_redrives);
    let check = criteria.start();
    selected::browse(&*broker, queue, &opts.read, &check, &mut |_, _| {
        Ok(Flow::Continue)
    })
    .await?;
    selected::check_ids(queue, &check)?;

    let sel = criteria.start();
    if args.dry_run {
        return redrive::dry_run(ctx, &*broker, queue, &sel, &opts).await;
    }
    let drive = redrive::Drive {
        command: "retry",
        rate: None,
        total: Some(sel.criteria.ids.as_ref().map_or(0, |i| i.len() as u64)),
    };
    redrive::execute(ctx, &*broker, queue, sel, &opts, drive).await
}
