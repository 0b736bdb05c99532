//! `dlq publish TARGET`: publish from `--body`, `--file` or standard input.

use std::io::IsTerminal;

use anyhow::Result;

use super::{BulkRun, Ctx};
use crate::broker::PublishOptions;
use crate::bulk::publish::publish;
use crate::cli::PublishArgs;
use crate::exit::{usage, Exit};
use crate::input::{self, Source};
use crate::report::Action;
use crate::select::Selection;

pub async fn run(ctx: &Ctx, args: &PublishArgs) -> Result<Exit> {
    let source = match (&args.body, &args.file) {
        (Some(b), _) => Source::Body(b.clone()),
        (None, Some(f)) => Source::File(f.clone()),
        (None, None) if !std::io::stdin().is_terminal() => Source::Stdin,
        (None, None) => return Err(usage(
            "nothing to publish: pass --body TEXT, --file PATH, or pipe messages on standard input",
        )),
    };
    if let Some(r) = args.rate {
        if r.is_nan() || r <= 0.0 {
            return Err(usage(
                "--rate must be a positive number of messages a second",
            ));
        }
    }
    let opts = PublishOptions {
        exchange: args.exchange.clone(),
        routing_key: args.routing_key.clone(),
        key: args.key.clone(),
        partition: args.partition,
        group_id: args.group_id.clone(),
        dedup_id: args.dedup_id.clone(),
        delay: args.delay,
    };
    let broker = ctx.connect_with(&opts.flags()).await?;
    let mut input = input::open(source, args.format, args.count, args.headers.clone())?;
    let mut publisher = broker.publisher(&args.target, &opts).await?;
    let run = ctx.ledger(BulkRun {
        command: "publish",
        queue: &args.target,
        action: Action::Published,
        total: None,
        rate: args.rate,
        backup: None,
        selection: Selection::everything(),
    });
    publish(&mut *publisher, &mut input, &run).await;
    drop(publisher);
    ctx.conclude(run, Ok(()), Action::Published)
}
