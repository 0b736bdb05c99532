//! `publish`: messages from the input through a confirm window.
//!
//! Each message goes to the default exchange with routing key TARGET (the
//! queue must exist, else exit 4), or to `--exchange`/`--routing-key`, with
//! `mandatory` set so an unroutable message is a failure. Headers from
//! `--header` are strings; an NDJSON envelope brings its headers (JSON to
//! AMQP values) and its `broker` properties. Messages are persistent unless
//! the envelope says otherwise. Only confirmed messages count as published.

use std::pin::Pin;

use anyhow::Result;
use futures::stream::FuturesOrdered;
use futures::{Future, FutureExt, StreamExt};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;

use super::convert::properties_from_json;
use super::{RabbitMq, NAME, WINDOW};
use crate::broker::{MessageInput, PublishOptions};
use crate::bulk::{BulkContext, BulkReport};
use crate::exit::{broker, broker_msg};

type Pending = Pin<Box<dyn Future<Output = (String, lapin::Result<Confirmation>)> + Send>>;

fn settle(
    report: &mut BulkReport,
    ctx: &BulkContext,
    dest: &str,
    (id, r): (String, lapin::Result<Confirmation>),
) {
    match r {
        Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => {
            report.done += 1;
            ctx.done(&id, Some(dest));
            ctx.tick(1);
        }
        Ok(Confirmation::Ack(Some(ret))) | Ok(Confirmation::Nack(Some(ret))) => report.fail(
            id,
            format!(
                "unroutable: nothing is bound to {dest} ({} {})",
                ret.reply_code, ret.reply_text
            ),
        ),
        Ok(Confirmation::Nack(None)) => {
            report.fail(id, format!("{dest} refused the message (nack)"))
        }
        Err(e) => {
            report.fail(id, format!("no confirm: {e}"));
            report
                .stopped_by
                .get_or_insert_with(|| format!("connection lost: {e}"));
        }
    }
}

pub async fn publish(
    rmq: &RabbitMq,
    target: &str,
    opts: &PublishOptions,
    input: &mut dyn MessageInput,
    ctx: &BulkContext,
) -> Result<BulkReport> {
    let exchange = opts.exchange.clone().unwrap_or_default();
    let routing_key = opts
        .routing_key
        .clone()
        .unwrap_or_else(|| target.to_owned());
    let dest = if exchange.is_empty() {
        format!("queue '{routing_key}'")
    } else {
        format!("exchange '{exchange}' routing key '{routing_key}'")
    };
    let op = format!("publishing to {dest}");
    // The check and the channel overlap: far away each costs round trips.
    let (exists, ch) = tokio::join!(
        async {
            if exchange.is_empty() {
                rmq.require_queue(&routing_key).await
            } else if !super::bulk::exchange_exists(rmq, &exchange).await? {
                // Else the first publish closes the channel and reads as a lost connection.
                Err(broker_msg(format!(
                    "{NAME}: exchange '{exchange}' not found in vhost '{}'",
                    rmq.vhost
                )))
            } else {
                Ok(())
            }
        },
        async {
            let ch = rmq.channel(&op).await?;
            ch.confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| broker(NAME, &op, e))?;
            Ok::<_, anyhow::Error>(ch)
        }
    );
    exists?;
    let ch = ch?;
    let mut report = BulkReport::default();
    let mut inflight: FuturesOrdered<Pending> = FuturesOrdered::new();
    let mut n = 0u64;
    loop {
        while let Some(Some(r)) = inflight.next().now_or_never() {
            settle(&mut report, ctx, &dest, r);
        }
        while inflight.len() >= usize::from(WINDOW) {
            if let Some(r) = inflight.next().await {
                settle(&mut report, ctx, &dest, r);
            }
        }
        if ctx.interrupted() || report.stopped_by.is_some() {
            break;
        }
        let msg = match input.next().await {
            None => break,
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                report.stopped_by = Some(format!("{e:#}"));
                break;
            }
        };
        n += 1;
        let id = if msg.line > 0 {
            format!("line {}", msg.line)
        } else {
            format!("#{n}")
        };
        let props = properties_from_json(&msg.broker, &msg.headers, &rmq.user);
        ctx.pace().await;
        match ch
            .basic_publish(
                &exchange,
                &routing_key,
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                &msg.body,
                props,
            )
            .await
        {
            Ok(pc) => inflight.push_back(Box::pin(async move { (id, pc.await) })),
            Err(e) => {
                let text = if e.to_string().contains("NOT_FOUND") {
                    format!("exchange '{exchange}' not found in vhost '{}'", rmq.vhost)
                } else {
                    e.to_string()
                };
                report.fail(id, text.clone());
                report.stopped_by = Some(format!("{op}: {text}"));
                break;
            }
        }
    }
    while let Some(r) = inflight.next().await {
        settle(&mut report, ctx, &dest, r);
    }
    let _ = ch.close(200, "published").await;
    Ok(report)
}
