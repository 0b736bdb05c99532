//! `publish` to a subject: a JetStream publish with its ack when a stream
//! captures the subject, else a core publish with a note that nothing stored
//! the messages. Core publishes are confirmed by a flush (the server has read
//! everything before it), one for every [`FLUSH_EVERY`] messages and one at
//! the end. The loop itself is `bulk::publish`.

use anyhow::Result;
use async_nats::connection::State;
use async_trait::async_trait;
use tokio::sync::oneshot;

use super::convert;
use super::{Nats, NAME};
use crate::broker::OutgoingMessage;
use crate::bulk::publish::{Confirm, Publisher, Refusal};
use crate::exit::{broker, broker_msg};

/// Acks awaited at once on loopback, and at most however far (the window
/// scales by the round trip).
const WINDOW: usize = 1024;
const MAX_WINDOW: usize = 8192;
/// Core publishes between flushes.
const FLUSH_EVERY: usize = 1000;

/// Publishes to one subject.
pub struct Sender {
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    subject: String,
    /// The stream that stores the subject; None: core publishes.
    stored_by: Option<String>,
    window: usize,
    /// Core publishes sent since the last flush, waiting for the next.
    unflushed: Vec<oneshot::Sender<Result<(), String>>>,
}

impl Sender {
    /// Checks the subject and finds the stream that stores it.
    pub async fn open(nats: &Nats, target: &str) -> Result<Sender> {
        Ok(Sender {
            stored_by: nats.storing("", target).await?.ok(),
            client: nats.client.clone(),
            js: nats.js.clone(),
            subject: target.to_owned(),
            window: nats.rt().await.scale(WINDOW, MAX_WINDOW),
            unflushed: Vec::new(),
        })
    }
}

#[async_trait]
impl Publisher for Sender {
    fn destination(&self) -> String {
        self.subject.clone()
    }

    fn window(&self) -> usize {
        self.window
    }

    async fn send(&mut self, msg: OutgoingMessage) -> Result<Confirm, Refusal> {
        let headers =
            convert::headers_from_json(&msg.headers, |_| false).map_err(Refusal::Message)?;
        let subject = self.subject.clone();
        let Some(stream) = self.stored_by.clone() else {
            let sent = if headers.is_empty() {
                self.client.publish(subject.clone(), msg.body.into()).await
            } else {
                self.client
                    .publish_with_headers(subject.clone(), headers, msg.body.into())
                    .await
            };
            sent.map_err(|e| Refusal::Broker(broker(NAME, format!("publishing to {subject}"), e)))?;
            let (tx, rx) = oneshot::channel();
            self.unflushed.push(tx);
            if self.unflushed.len() >= FLUSH_EVERY {
                self.flush().await;
            }
            return Ok(Box::pin(async move {
                match rx.await {
                    Ok(Ok(())) => Ok(None),
                    Ok(Err(e)) => Err(Refusal::Broker(broker(NAME, "flushing core publishes", e))),
                    Err(_) => Err(Refusal::Message("never flushed".into())),
                }
            }));
        };
        let client = self.client.clone();
        // A failure with the connection gone stops the run; else it is this message's.
        let refusal = move |e: &dyn std::fmt::Display| {
            let why = format!("publishing to {subject}: {e}");
            if client.connection_state() == State::Connected {
                Refusal::Message(why)
            } else {
                Refusal::Broker(broker_msg(format!("{NAME}: lost the connection: {why}")))
            }
        };
        let ack = (self.js)
            .publish_with_headers(self.subject.clone(), headers, msg.body.into())
            .await
            .map_err(|e| refusal(&e))?;
        Ok(Box::pin(async move {
            match ack.await {
                Ok(a) if a.duplicate => Err(Refusal::Message(format!(
                    "stream {stream} dropped it as a duplicate (same Nats-Msg-Id within its duplicate window)"
                ))),
                Ok(a) => Ok(Some(a.sequence.to_string())),
                Err(e) => Err(refusal(&e)),
            }
        }))
    }

    async fn flush(&mut self) {
        if self.unflushed.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.unflushed);
        let client = self.client.clone();
        // On a task of its own, so that publishing goes on while the server answers.
        tokio::spawn(async move {
            let r = client.flush().await.map_err(|e| e.to_string());
            for tx in waiting {
                let _ = tx.send(r.clone());
            }
        });
    }

    fn notes(&self) -> Vec<String> {
        let core = self.stored_by.is_none().then(|| format!(
            "no stream captures subject {}: sent with core NATS publish, so only subscribers listening at that moment got the messages and nothing stored them",
            self.subject
        ));
        core.into_iter().collect()
    }
}
