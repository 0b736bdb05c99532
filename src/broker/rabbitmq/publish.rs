//! `publish`: each message through a confirm channel.
//!
//! Each message goes to the default exchange with routing key TARGET (the
//! queue must exist, else exit 4), or to `--exchange`/`--routing-key`, with
//! `mandatory` set so an unroutable message is a failure. Headers from
//! `--header` are strings; an NDJSON envelope brings its headers (JSON to
//! AMQP values) and its `broker` properties. Messages are persistent unless
//! the envelope says otherwise. A confirm (ack, not returned) is what counts;
//! the loop itself is `bulk::publish`.

use anyhow::Result;
use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::Channel;

use super::convert::{properties_from_json, Route};
use super::{missing, reply_code, RabbitMq, NAME, WINDOW};
use crate::broker::{OutgoingMessage, PublishOptions};
use crate::bulk::publish::{Confirm, Publisher, Refusal};
use crate::exit::{broker, Context};

/// Publishes to one exchange and routing key on a confirm channel.
pub struct Sender<'a> {
    ch: Channel,
    route: Route,
    dest: String,
    rmq: &'a RabbitMq,
}

impl<'a> Sender<'a> {
    /// Checks that the target exists and opens the channel.
    pub async fn open(rmq: &'a RabbitMq, target: &str, opts: &PublishOptions) -> Result<Self> {
        let route = Route {
            exchange: opts.exchange.clone().unwrap_or_default(),
            routing_key: opts.routing_key.clone().unwrap_or(target.to_owned()),
        };
        let (exchange, dest) = (&route.exchange, route.describe());
        let op = format!("publishing to {dest}");
        // The check and the channel overlap: far away each costs round trips.
        let (exists, ch) = tokio::join!(
            async {
                if exchange.is_empty() {
                    rmq.require_queue(&route.routing_key).await
                } else if !super::bulk::exchange_exists(rmq, exchange).await? {
                    // Else the first publish closes the channel and reads as a lost connection.
                    Err(missing(&format!("exchange '{exchange}'"), &rmq.vhost, None))
                } else {
                    Ok(())
                }
            },
            async {
                let ch = rmq.channel(&op).await?;
                ch.confirm_select(ConfirmSelectOptions::default())
                    .await
                    .broker_err(NAME, &op)?;
                Ok::<_, anyhow::Error>(ch)
            }
        );
        exists?;
        Ok(Sender {
            ch: ch?,
            route,
            dest,
            rmq,
        })
    }
}

#[async_trait]
impl Publisher for Sender<'_> {
    fn destination(&self) -> String {
        self.dest.clone()
    }

    fn window(&self) -> usize {
        usize::from(WINDOW)
    }

    async fn send(&mut self, msg: OutgoingMessage) -> Result<Confirm, Refusal> {
        let props = properties_from_json(&msg.broker, &msg.headers, &self.rmq.user);
        let sent = self
            .ch
            .basic_publish(
                &self.route.exchange,
                &self.route.routing_key,
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                &msg.body,
                props,
            )
            .await;
        let pending = sent.map_err(|e| {
            Refusal::Broker(if reply_code(&e) == Some(404) {
                let what = format!("exchange '{}'", self.route.exchange);
                missing(&what, &self.rmq.vhost, Some(e))
            } else {
                broker(NAME, format!("publishing to {}", self.dest), e)
            })
        })?;
        let dest = self.dest.clone();
        Ok(Box::pin(async move {
            match pending.await {
                Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => Ok(None),
                Ok(Confirmation::Ack(Some(ret))) | Ok(Confirmation::Nack(Some(ret))) => {
                    Err(Refusal::Message(format!(
                        "unroutable: nothing is bound to {dest} ({} {})",
                        ret.reply_code, ret.reply_text
                    )))
                }
                Ok(Confirmation::Nack(None)) => Err(Refusal::Message(format!(
                    "{dest} refused the message (nack)"
                ))),
                Err(e) => Err(Refusal::Broker(broker(NAME, "waiting for a confirm", e))),
            }
        }))
    }
}
