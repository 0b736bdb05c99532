//! `dlq retry-all QUEUE`: send every message (or every match) back.
//!
//! Asks on a terminal, refuses without one unless `--yes`; `--dry-run` only
//! prints the plan.

use anyhow::Result;

use super::redrive::Drive;
use super::{expected_total, read_options, redrive, selection, Ctx};
use crate::broker::RedriveOptions;
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
    let rewrite = Rewrite::new(
        &args.set_headers,
        &args.unset_headers,
        args.transform.as_deref(),
    )?;
    let mut opts = RedriveOptions {
        read: read_options(read, false, &[]),
        to: args.to.clone(),
        rewrite,
        native,
        detach,
    };
    ctx.check(&opts.flags())?;
    if !native {
        opts.rewrite = opts.rewrite.with_schema(ctx.decoder(&args.schema)?);
    }
    if native && rate.is_some() {
        return Err(usage(
            "--native moves at the broker's own pace: it takes no --rate",
        ));
    }
    if native && !opts.rewrite.is_identity() {
        return Err(usage(
            "--native moves messages as they are: it takes no --set-header, --unset-header or --transform",
        ));
    }
    ctx.require_consent(
        yes,
        args.dry_run,
        &format!("re-drive every message of {queue}"),
    )?;
    let sel = selection(filters, args.max_redrives)?;
    if native && !sel.is_everything() {
        return Err(usage(
            "--native moves every message: it takes no filters, --limit or --max-redrives",
        ));
    }
    let broker = ctx.connect_with(&opts.flags()).await?;
    if args.dry_run {
        return redrive::dry_run(ctx, &*broker, queue, &sel, &opts).await;
    }
    let total =
        expected_total(&*broker, queue, &opts.read, filters, args.max_redrives, yes).await?;
    if !yes && !ctx.confirm("Re-drive", queue, total)? {
        return Ok(Exit::Ok);
    }
    redrive::execute(
        ctx,
        &*broker,
        queue,
        sel,
        &opts,
        Drive {
            command: "retry-all",
            rate,
            total,
        },
    )
    .await
}
