//! `dlq retry-all QUEUE`: send every message (or every match) back.
//!
//! Asks on a terminal, refuses without one unless `--yes`; `--dry-run` only
//! prints the plan.

use anyhow::Result;

use super::redrive::{Drive, Via};
use super::{expected_total, read_flags, read_options, redrive, selection, Ctx};
use crate::broker::{Flag, RedriveOptions};
use crate::cli::RetryAllArgs;
use crate::exit::{usage, Exit};
use crate::rewrite::Rewrite;

pub async fn run(ctx: &Ctx, a: &RetryAllArgs) -> Result<Exit> {
    let (queue, filters, args, read) = (a.queue.as_str(), &a.filters, &a.redrive, &a.read);
    let (rate, yes, native, detach) = (a.rate, a.yes, a.native, a.detach);
    if let Some(r) = rate {
        if r.is_nan() || r <= 0.0 {
            return Err(usage(
                "--rate must be a positive number of messages a second",
            ));
        }
    }
    let mut flags = read_flags(read, false).to_vec();
    flags.push((Flag::Native, native));
    flags.push((Flag::Detach, detach));
    ctx.check(&flags)?;
    let rewrite = Rewrite::new(
        &args.set_headers,
        &args.unset_headers,
        args.transform.as_deref(),
    )?;
    if native && rate.is_some() {
        return Err(usage(
            "--native moves at the broker's own pace: it takes no --rate",
        ));
    }
    if native && !rewrite.is_identity() {
        return Err(usage(
            "--native moves messages as they are: it takes no --set-header, --unset-header or --transform",
        ));
    }
    ctx.require_consent(
        yes,
        args.dry_run,
        &format!("re-drive every message of {queue}"),
    )?;
    let sel = selection(filters, args.max_redrives);
    if native && !sel.is_everything() {
        return Err(usage(
            "--native moves every message: it takes no filters, --limit or --max-redrives",
        ));
    }
    let broker = ctx.connect_with(&flags).await?;
    let opts = RedriveOptions {
        read: read_options(read, false, &[]),
        to: args.to.clone(),
        rewrite,
        detach,
    };
    if args.dry_run {
        return redrive::dry_run(ctx, &*broker, queue, &sel, &opts).await;
    }
    let total =
        expected_total(&*broker, queue, &opts.read, filters, args.max_redrives, yes).await?;
    if !yes && !ctx.confirm("Re-drive", queue, total)? {
        return Ok(Exit::Ok);
    }
    let via = if native { Via::Broker } else { Via::Dlq };
    redrive::execute(
        ctx,
        &*broker,
        queue,
        &sel,
        &opts,
        Drive {
            command: "retry-all",
            via,
            rate,
            total,
        },
    )
    .await
}
