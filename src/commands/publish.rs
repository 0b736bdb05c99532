//! `dlq publish TARGET`: publish from `--body`, `--file` or standard input.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;

use super::{finish_journal, Ctx};
use crate::broker::{Flag, MessageInput, OutgoingMessage, PublishOptions};
use crate::bulk::{BulkContext, Rate};
use crate::cli::PublishArgs;
use crate::exit::{usage, Exit};
use crate::input::{self, Source};
use crate::journal::Action;

/// Remembers whether the input itself went wrong, so that a malformed first
/// line is a usage error (exit 2) rather than a broker failure.
struct Tracked<I> {
    inner: I,
    bad_input: Arc<AtomicBool>,
}

#[async_trait]
impl<I: MessageInput> MessageInput for Tracked<I> {
    async fn next(&mut self) -> Option<Result<OutgoingMessage>> {
        let item = self.inner.next().await;
        if matches!(item, Some(Err(_))) {
            self.bad_input.store(true, Ordering::SeqCst);
        }
        item
    }
}

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
    let broker = ctx
        .connect_with(&[
            (Flag::Key, args.key.is_some()),
            (Flag::Partition, args.partition.is_some()),
            (Flag::GroupId, args.group_id.is_some()),
            (Flag::DedupId, args.dedup_id.is_some()),
            (Flag::Delay, args.delay.is_some()),
            (Flag::Exchange, args.exchange.is_some()),
            (Flag::RoutingKey, args.routing_key.is_some()),
        ])
        .await?;
    let opts = PublishOptions {
        exchange: args.exchange.clone(),
        routing_key: args.routing_key.clone(),
        key: args.key.clone(),
        partition: args.partition,
        group_id: args.group_id.clone(),
        dedup_id: args.dedup_id.clone(),
        delay: args.delay,
    };
    let bad_input = Arc::new(AtomicBool::new(false));
    let mut input = Tracked {
        inner: input::open(source, args.format, args.count, args.headers.clone())?,
        bad_input: bad_input.clone(),
    };
    ctx.interrupt.install();
    let journal = ctx.journal("publish", &args.target, Action::Published);
    let bulk = BulkContext {
        progress: ctx.printer.progress(None, "publishing"),
        interrupt: ctx.interrupt.clone(),
        rate: args.rate.map(Rate::new),
        backup: None,
        journal: journal.clone(),
    };
    let result = broker.publish(&args.target, &opts, &mut input, &bulk).await;
    bulk.progress.finish();
    let mut report = result.inspect_err(|e| finish_journal(&journal, Err(e)))?;
    report.interrupted |= ctx.interrupt.is_set();
    let code = if bad_input.load(Ordering::SeqCst)
        && report.done == 0
        && report.failed == 0
        && !report.interrupted
    {
        Exit::Usage
    } else {
        report.exit()
    };
    journal.finish(Some(&report), code, None);
    ctx.printer.summary(&report, Action::Published)?;
    Ok(code)
}
