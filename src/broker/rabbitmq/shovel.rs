//! `retry-all --native`: the broker's own shovel moves the messages.
//!
//! dlq first reads the queue (and gives every message back) to work out one
//! destination: `--to QUEUE`, else the origin every message shares; messages
//! with no origin, or with several, are refused before anything moves, since
//! a shovel sends everything to one place. It then creates a dynamic shovel
//! through the management API (ack mode on-confirm, so a message leaves the
//! DLQ only once its copy is confirmed; delete after the queue length, so it
//! moves the messages present at its start and removes itself) and follows
//! it by the queue's exact ready count until the shovel is gone. Ctrl-C
//! deletes the shovel: unconfirmed messages go back to the DLQ. `--detach`
//! leaves it running and prints how to follow and remove it. A shovel does
//! not publish with `mandatory`, so an exchange destination must have a
//! binding that takes the routing key, or the copies would be dropped. A
//! shovel copies headers as they are, so a message with `CC` or `BCC` is
//! refused: RabbitMQ would deliver its copy to those routing keys too.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde_json::{json, Value};

use super::admin::{routes, segment};
use super::convert::{self, Route};
use super::{RabbitMq, NAME};
use crate::broker::{Broker, Flow, ReadOptions, RedriveOptions};
use crate::bulk::Ledger;
use crate::conventions::origin_for;
use crate::exit::{broker_msg, usage};

/// How often the shovel's progress is looked at.
const POLL: Duration = Duration::from_millis(250);

pub async fn redrive(
    rmq: &RabbitMq,
    queue: &str,
    opts: &RedriveOptions,
    run: &Ledger,
) -> Result<()> {
    rmq.check_returnable(queue, "re-drive", false, false)
        .await?;
    if let Some(to) = &opts.to {
        rmq.require_queue(to).await?;
    }
    let (origin, read) = survey(rmq, queue, opts.to.is_none()).await?;
    let dest = match (&opts.to, origin) {
        (Some(to), _) => Route::queue(to),
        (None, Some(o)) => o,
        (None, None) => return Ok(()),
    };
    if dest.exchange.is_empty() {
        rmq.require_queue(&dest.routing_key).await?;
    } else {
        require_route(rmq, &dest).await?;
    }
    let ch = rmq.channel("counting messages").await?;
    let mut total = rmq.ready_count(&ch, queue).await?;
    // The shovel counts the queue when it starts: wait until the read pass's
    // messages are all ready again, or it would leave some behind.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while total < read && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        total = rmq.ready_count(&ch, queue).await?;
    }
    let _ = ch.close(200, "counted").await;
    if total == 0 {
        return Ok(());
    }
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let name = format!("dlq-{queue}-{stamp}");
    rmq.admin
        .put_shovel(&name, &shovel_value(&rmq.vhost, queue, &dest))
        .await?;
    let param = format!("{}/api/{}", rmq.admin.base(), rmq.admin.shovel_path(&name));
    if opts.detach {
        let say = |text: String| rmq.settings.warner.note(&text);
        let (to, base, vhost) = (dest.describe(), rmq.admin.base(), segment(&rmq.vhost));
        say(format!("dlq: shovel '{name}' is moving {total} messages from '{queue}' to {to} and removes itself when done"));
        say(format!(
            "dlq: follow it with `dlq lag {queue}` or `curl -u USER {base}/api/shovels/{vhost}/{}`",
            segment(&name)
        ));
        say(format!("dlq: stop it with `curl -u USER -X DELETE {param}` (unconfirmed messages stay on '{queue}')"));
        run.note(format!(
            "left shovel '{name}' running: {total} messages to {to}"
        ));
        return Ok(());
    }
    let followed = follow(rmq, queue, &name, total, run).await;
    if followed.is_err() || run.interrupted() || run.stopped() {
        // Unconfirmed messages go back to the DLQ when the shovel stops.
        if let Err(e) = rmq.admin.delete_shovel(&name).await {
            run.stop_broker(&e.context(format!(
                "could not delete shovel '{name}': remove it with `curl -u USER -X DELETE {param}`"
            )));
        }
    }
    followed
}

/// Waits until the shovel has removed itself, ticking the progress by the
/// messages gone from the queue.
async fn follow(rmq: &RabbitMq, queue: &str, name: &str, total: u64, run: &Ledger) -> Result<()> {
    let ch = rmq.channel("following the shovel").await?;
    let mut moved = 0u64;
    // A shovel that removes itself may show as terminated for a moment.
    let mut terminated = 0;
    while !run.interrupted() {
        tokio::time::sleep(POLL).await;
        let gone = !rmq.admin.shovel_exists(name).await?;
        let ready = rmq.ready_count(&ch, queue).await?;
        let now = if gone {
            total
        } else {
            total.saturating_sub(ready).max(moved)
        };
        run.done_unnamed(now - moved);
        moved = now;
        if gone {
            break;
        }
        if let Some((state, reason)) = rmq.admin.shovel_state(name).await? {
            terminated = if state == "terminated" {
                terminated + 1
            } else {
                0
            };
            if terminated >= 4 {
                run.stop_broker(&broker_msg(format!(
                    "shovel '{name}' terminated: {}",
                    reason.unwrap_or_else(|| "no reason given".into())
                )));
                break;
            }
        }
    }
    let _ = ch.close(200, "followed").await;
    Ok(())
}

/// Reads the queue (every message given back) before a shovel moves it:
/// refuses (exit 2) a message with `CC` or `BCC` (a shovel copies headers as
/// they are, so its copy would go to those routing keys too), and, when
/// `find` is set, finds the one origin every message shares (refused when a
/// message has none or they differ; None for an empty queue). Also says how
/// many messages were read.
async fn survey(rmq: &RabbitMq, queue: &str, find: bool) -> Result<(Option<Route>, u64)> {
    let mut found: Option<Route> = None;
    let mut read = 0u64;
    rmq.browse(queue, &ReadOptions::default(), &mut |m| {
        read += 1;
        if let Some((name, _)) = convert::DISTRIBUTION_HEADERS
            .iter()
            .find(|(name, _)| m.headers.contains_key(*name))
        {
            return Err(usage(format!(
                "{NAME}: --native: message {} of '{queue}' has a {name} header, and a shovel's copy would go to its routing keys too: run without --native (which leaves {name} off the copy)",
                m.id
            )));
        }
        if !find {
            return Ok(Flow::Continue);
        }
        let recorded = origin_for(&m.dead_letter, super::CAPABILITIES.origins);
        let origin = recorded.map(Route::of).map_err(|why| {
            usage(format!(
                "{NAME}: --native: message {} of '{queue}': {why} (or run without --native)",
                m.id
            ))
        })?;
        if let Some(f) = found.as_ref().filter(|f| **f != origin) {
            return Err(usage(format!(
                "{NAME}: --native sends every message to one place, but the messages of '{queue}' come from {} and {} (message {}): pass --to QUEUE, or run without --native",
                f.describe(),
                origin.describe(),
                m.id
            )));
        }
        found.get_or_insert(origin);
        Ok(Flow::Continue)
    })
    .await?;
    Ok((found, read))
}

/// A shovel does not publish with `mandatory`: refuse (exit 2) an exchange
/// destination where nothing is bound for the routing key.
async fn require_route(rmq: &RabbitMq, dest: &Route) -> Result<()> {
    let Some((kind, keys)) = rmq.admin.exchange_bindings(&dest.exchange).await? else {
        return Err(usage(format!(
            "{NAME}: --native: origin exchange '{}' does not exist any more: pass --to QUEUE",
            dest.exchange
        )));
    };
    if keys.iter().any(|k| routes(&kind, k, &dest.routing_key)) {
        Ok(())
    } else {
        Err(usage(format!(
            "{NAME}: --native: nothing is bound to {}, and a shovel would drop unroutable copies: pass --to QUEUE, or run without --native",
            dest.describe()
        )))
    }
}

/// The shovel definition: from the queue to `dest`, on this vhost.
fn shovel_value(vhost: &str, queue: &str, dest: &Route) -> Value {
    let uri = format!("amqp:///{}", segment(vhost));
    let mut v = json!({
        "src-protocol": "amqp091",
        "src-uri": uri,
        "src-queue": queue,
        "dest-protocol": "amqp091",
        "dest-uri": uri,
        "ack-mode": "on-confirm",
        "src-delete-after": "queue-length",
    });
    if dest.exchange.is_empty() {
        v["dest-queue"] = json!(dest.routing_key);
    } else {
        v["dest-exchange"] = json!(dest.exchange);
        v["dest-exchange-key"] = json!(dest.routing_key);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shovel_goes_to_a_queue_or_an_exchange() {
        let q = Route {
            exchange: String::new(),
            routing_key: "orders".into(),
        };
        let v = shovel_value("/", "orders.dlq", &q);
        assert_eq!(v["src-uri"], "amqp:///%2F");
        assert_eq!(v["dest-queue"], "orders");
        assert_eq!(v["ack-mode"], "on-confirm");
        assert_eq!(v["src-delete-after"], "queue-length");
        assert!(v.get("dest-exchange").is_none());
        let x = Route {
            exchange: "orders".into(),
            routing_key: "order.created".into(),
        };
        let v = shovel_value("prod", "orders.dlq", &x);
        assert_eq!(v["dest-exchange"], "orders");
        assert_eq!(v["dest-exchange-key"], "order.created");
        assert!(v.get("dest-queue").is_none());
    }
}
