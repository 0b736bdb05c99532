//! `dlq retry-all QUEUE`: send every message (or every match) back.
//!
//! Asks on a terminal, refuses without one unless `--yes`; `--dry-run` only
//! prints the plan.

use anyhow::Result;

use super::{expected_total, read_options, redrive, selection, Ctx};
use crate::broker::RedriveOptions;
use crate::cli::{FilterArgs, ReadArgs, RedriveArgs};
use crate::exit::{usage, Exit};

#[allow(clippy::too_many_arguments)]
pub async fn run(
    ctx: &Ctx,
    queue: &str,
    filters: &FilterArgs,
    args: &RedriveArgs,
    read: &ReadArgs,
    rate: Option<f64>,
    yes: bool,
    native: bool,
    detach: bool,
) -> Result<Exit> {
    if let Some(r) = rate {
        if r.is_nan() || r <= 0.0 {
            return Err(usage(
                "--rate must be a positive number of messages a second",
            ));
        }
    }
    ctx.require_consent(
        yes,
        args.dry_run,
        &format!("re-drive every message of {queue}"),
    )?;
    let broker = ctx.connect().await?;
    let caps = broker.capabilities();
    let sel = selection(filters, None, args.max_redrives);
    if native {
        if !caps.native_move {
            return Err(usage(format!(
                "--native: {} cannot move messages server-side; run without --native",
                caps.name
            )));
        }
        if detach && !caps.native_detach {
            return Err(usage(format!(
                "--detach: {} cannot leave a native move running; run without --detach",
                caps.name
            )));
        }
        if !sel.is_everything() {
            return Err(usage(
                "--native moves every message: it takes no filters, --limit or --max-redrives",
            ));
        }
    }
    let opts = RedriveOptions {
        read: read_options(read, false, &[]),
        to: args.to.clone(),
        native,
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
    redrive::execute(ctx, &*broker, queue, &sel, &opts, rate, total).await
}
