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

use super::convert::properties_from_json;
use super::{reply_code, RabbitMq, NAME, WINDOW};
use crate::broker::{OutgoingMessage, PublishOptions};
use crate::bulk::publish::{Confirm, Publisher, Refusal};
use crate::exit::{broker, not_found};

/// Publishes to one exchange and routing key on a confirm channel.
pub struct Sender {
    ch: Channel,
    exchange: String,
    routing_key: String,
    dest: String,
    user: String,
    vhost: String,
}

impl Sender {
    /// Checks that the target exists and opens the channel.
    pub async fn open(rmq: &RabbitMq, target: &str, opts: &PublishOptions) -> Result<Sender> {
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
                    Err(not_found(
                        format!(
                            "{NAME}: exchange '{exchange}' not found in vhost '{}'",
                            rmq.vhost
                        ),
                        None,
                    ))
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
        Ok(Sender {
            ch: ch?,
            exchange,
            routing_key,
            dest,
            user: rmq.user.clone(),
            vhost: rmq.vhost.clone(),
        })
    }
}

#[async_trait]
impl Publisher for Sender {
    fn destination(&self) -> String {
        self.dest.clone()
    }

    fn window(&self) -> usize {
        usize::from(WINDOW)
    }

    async fn send(&mut self, msg: OutgoingMessage) -> Result<Confirm, Refusal> {
        let props = properties_from_json(&msg.broker, &msg.headers, &self.user);
        let sent = self
            .ch
            .basic_publish(
                &self.exchange,
                &self.routing_key,
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                &msg.body,
                props,
            )
            .await;
        let pending = match sent {
            Ok(p) => p,
            Err(e) if reply_code(&e) == Some(404) => {
                let what = format!(
                    "exchange '{}' not found in vhost '{}'",
                    self.exchange, self.vhost
                );
                return Err(Refusal::Broker(not_found(
                    format!("{NAME}: {what}"),
                    Some(Box::new(e)),
                )));
            }
            Err(e) => {
                return Err(Refusal::Broker(broker(
                    NAME,
                    format!("publishing to {}", self.dest),
                    e,
                )))
            }
        };
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
