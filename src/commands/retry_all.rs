//! `dlq retry-all QUEUE`: send every message (or every match) back.
//!
//! Asks on a terminal, refuses without one unless `--yes`; `--dry-run` only
//! prints the plan.

use anyhow::Result;

use super::{read_options, redrive, selection, Ctx};
use crate::broker::{Flow, Message, RedriveOptions};
use crate::cli::{FilterArgs, ReadArgs, RedriveArgs};
use crate::exit::{usage, Exit};
use crate::select::Decision;

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
    };
    if args.dry_run {
        return redrive::dry_run(ctx, &*broker, queue, &sel, &opts).await;
    }
    let total = if yes {
        broker
            .depth(queue, &opts.read)
            .await?
            .filter(|_| sel.is_everything())
    } else {
        count(&*broker, queue, &sel, &opts, filters).await?
    };
    if !yes {
        let question = match total {
            Some(n) => format!(
                "Re-drive {n} message{} from {queue}?",
                if n == 1 { "" } else { "s" }
            ),
            None => format!("Re-drive the messages of {queue}?"),
        };
        if !ctx.ask(&question)? {
            ctx.printer.note("nothing changed");
            return Ok(Exit::Ok);
        }
    }
    let sel = selection(filters, None, args.max_redrives);
    redrive::execute(ctx, &*broker, queue, &sel, &opts, rate, total).await
}

/// How many messages the run will go through: the depth, or for a filtered
/// run the matches of a read-only pass.
pub async fn count(
    broker: &dyn crate::broker::Broker,
    queue: &str,
    sel: &crate::select::Selection,
    opts: &RedriveOptions,
    filters: &FilterArgs,
) -> Result<Option<u64>> {
    let depth = broker.depth(queue, &opts.read).await?;
    if sel.is_everything() {
        return Ok(depth);
    }
    let probe = super::selection(filters, None, sel.max_redrives);
    let mut n = 0u64;
    broker
        .browse(queue, &opts.read, &mut |m: Message| {
            if probe.decide(&m) == Decision::Take {
                n += 1;
            }
            Ok(if probe.exhausted() {
                Flow::Stop
            } else {
                Flow::Continue
            })
        })
        .await?;
    Ok(Some(n))
}
