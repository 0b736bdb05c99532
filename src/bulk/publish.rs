//! `publish`: one loop for every broker.
//!
//! The loop reads the input, labels each message (`line N` for line-based
//! input, else `message N`), paces it, hands it to the backend's
//! [`Publisher`], and keeps up to [`Publisher::window`] confirms in flight,
//! so the input streams through at the broker's pace and memory stays flat.
//! A message counts as published once its confirm resolves. The rules are
//! the same on every broker:
//! - a malformed input line stops the run; the summary says how many went
//!   out before it (nothing out: exit 2);
//! - a message the broker refuses for reasons of its own (a header it cannot
//!   carry, too large, nacked, unroutable) fails alone, is listed with its
//!   label, and the run goes on (exit 3);
//! - a broker that fails as a whole (connection lost, target gone) stops the
//!   run (exit 4);
//! - Ctrl-C stops taking input; what is in flight is confirmed first.
//!
//! A backend that batches (SQS sends ten at a time, NATS confirms core
//! publishes with one flush) keeps a partial batch until [`Publisher::flush`],
//! which the loop calls before it waits on a confirm and at the end.

use anyhow::Result;
use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;

use super::Ledger;
use crate::message::OutgoingMessage;
use crate::report::Stopped;

/// Why a message was not published.
#[derive(Debug)]
pub enum Refusal {
    /// The broker (or the backend, before sending) refused this message
    /// alone; the run goes on.
    Message(String),
    /// The message cannot be sent as the input gives it, and neither can the
    /// rest (a FIFO queue without a group): the run stops here.
    Input(anyhow::Error),
    /// The broker failed as a whole: the run stops.
    Broker(anyhow::Error),
}

/// A sent message's confirm: the ID the broker gave it, when it gives one.
pub type Confirm = BoxFuture<'static, Result<Option<String>, Refusal>>;

/// What a backend supplies to the publish loop.
#[async_trait]
pub trait Publisher: Send {
    /// Where messages go, in the operator's words (for the journal).
    fn destination(&self) -> String;

    /// How many confirms may be awaited at once.
    fn window(&self) -> usize;

    /// Sends one message (or adds it to a batch); the confirm resolves once
    /// the broker has it.
    async fn send(&mut self, msg: OutgoingMessage) -> Result<Confirm, Refusal>;

    /// Sends what waits in a batch, so every confirm handed out can resolve.
    async fn flush(&mut self) {}

    /// Lines for the summary, once the run is over.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Where `publish` reads its messages from; yields them one at a time.
#[async_trait]
pub trait MessageInput: Send {
    /// The next message, an input error naming its line, or None at the end.
    async fn next(&mut self) -> Option<Result<OutgoingMessage>>;
}

/// Publishes every message of `input` through `publisher`; see the module docs.
pub async fn publish(
    publisher: &mut dyn Publisher,
    input: &mut dyn MessageInput,
    keys: bool,
    run: &Ledger,
) {
    let dest = publisher.destination();
    // Keys the broker has no place for (an export of Kafka replayed elsewhere).
    let mut keyless = 0u64;
    let window = publisher.window().max(1);
    let mut inflight = FuturesUnordered::new();
    let mut n = 0u64;
    let (mut prev_line, mut copy) = (0usize, 0u64);
    loop {
        while let Some(Some(r)) = inflight.next().now_or_never() {
            settle(run, &dest, r);
        }
        if inflight.len() >= window {
            publisher.flush().await;
            while inflight.len() >= window {
                if let Some(r) = inflight.next().await {
                    settle(run, &dest, r);
                }
            }
        }
        if run.interrupted() || run.stopped() {
            break;
        }
        let msg = match input.next().await {
            None => break,
            Some(Err(e)) => {
                run.stop(Stopped::local(&e));
                break;
            }
            Some(Ok(m)) => m,
        };
        n += 1;
        if !keys && (msg.key.is_some() || msg.broker.contains_key(crate::message::KEY_BASE64)) {
            keyless += 1;
        }
        // `--count N` sends each input message N times in a row: each its own label.
        copy = if msg.line > 0 && msg.line == prev_line {
            copy + 1
        } else {
            1
        };
        prev_line = msg.line;
        let label = match (msg.line, copy) {
            (0, _) => format!("message {n}"),
            (line, 1) => format!("line {line}"),
            (line, k) => format!("line {line}, copy {k}"),
        };
        run.pace().await;
        match publisher.send(msg).await {
            Ok(confirm) => inflight.push(confirm.map(move |r| (label, r))),
            Err(refusal) => settle(run, &dest, (label, Err(refusal))),
        }
    }
    publisher.flush().await;
    while let Some(r) = inflight.next().await {
        settle(run, &dest, r);
    }
    for note in publisher.notes() {
        run.note(note);
    }
    if keyless > 0 {
        run.note(format!(
            "{keyless} message(s) had a key (`key` or `broker.key_base64`), which this broker's messages do not carry: sent without it"
        ));
    }
}

fn settle(run: &Ledger, dest: &str, (label, r): (String, Result<Option<String>, Refusal>)) {
    match r {
        Ok(id) => run.done(id.as_deref().unwrap_or(&label), Some(dest)),
        Err(Refusal::Message(why)) => run.failed(label, why),
        Err(Refusal::Input(e)) => run.stop(Stopped::local(&e.context(label))),
        Err(Refusal::Broker(e)) => {
            run.failed(label, crate::exit::one_line(&e));
            run.stop_broker(&e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::Setup;
    use crate::exit::Exit;
    use crate::report::Action;
    use crate::select::Selection;

    /// Input from a list; `Err` items are malformed lines.
    struct Lines(std::vec::IntoIter<Result<OutgoingMessage, String>>);

    #[async_trait]
    impl MessageInput for Lines {
        async fn next(&mut self) -> Option<Result<OutgoingMessage>> {
            self.0.next().map(|r| r.map_err(|e| anyhow::anyhow!(e)))
        }
    }

    fn line(n: usize, body: &str) -> Result<OutgoingMessage, String> {
        Ok(OutgoingMessage {
            body: body.as_bytes().to_vec(),
            line: n,
            ..Default::default()
        })
    }

    /// Confirms in batches of three, refuses bodies "bad", fails at "down".
    #[derive(Default)]
    struct Batches {
        waiting: Vec<tokio::sync::oneshot::Sender<()>>,
        sent: Vec<String>,
    }

    #[async_trait]
    impl Publisher for Batches {
        fn destination(&self) -> String {
            "q".into()
        }
        fn window(&self) -> usize {
            2
        }
        async fn send(&mut self, msg: OutgoingMessage) -> Result<Confirm, Refusal> {
            let body = String::from_utf8(msg.body).unwrap();
            match body.as_str() {
                "bad" => return Err(Refusal::Message("too large".into())),
                "down" => return Err(Refusal::Broker(anyhow::anyhow!("connection lost"))),
                _ => {}
            }
            self.sent.push(body);
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.waiting.push(tx);
            if self.waiting.len() == 3 {
                self.flush().await;
            }
            Ok(Box::pin(async move {
                rx.await
                    .map(|()| None)
                    .map_err(|_| Refusal::Message("lost".into()))
            }))
        }
        async fn flush(&mut self) {
            for tx in self.waiting.drain(..) {
                let _ = tx.send(());
            }
        }
    }

    fn run(
        input: Vec<Result<OutgoingMessage, String>>,
    ) -> (crate::report::BulkReport, Vec<String>) {
        run_keys(input, true)
    }

    fn run_keys(
        input: Vec<Result<OutgoingMessage, String>>,
        keys: bool,
    ) -> (crate::report::BulkReport, Vec<String>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ledger = Ledger::new(Setup::plain(Action::Published, Selection::everything()));
        let mut p = Batches::default();
        rt.block_on(publish(
            &mut p,
            &mut Lines(input.into_iter()),
            keys,
            &ledger,
        ));
        (ledger.finish(), p.sent)
    }

    #[test]
    fn keys_a_broker_does_not_carry_are_said() {
        let keyed = || {
            line(1, "a").map(|mut m| {
                m.key = Some("k".into());
                m
            })
        };
        let (r, sent) = run_keys(vec![keyed(), line(2, "b")], false);
        assert_eq!(sent, ["a", "b"]);
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
        assert!(
            r.notes[0].starts_with("1 message(s) had a key"),
            "{:?}",
            r.notes
        );
        let (r, _) = run_keys(vec![keyed()], true);
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }

    #[test]
    fn a_refused_message_fails_alone() {
        let (r, sent) = run(vec![
            line(1, "a"),
            line(2, "bad"),
            line(3, "b"),
            line(4, "c"),
        ]);
        assert_eq!(sent, ["a", "b", "c"]);
        assert_eq!((r.done, r.failed), (3, 1));
        assert_eq!(r.failures[0].id, "line 2");
        assert_eq!(r.exit(), Exit::Partial);
    }

    #[test]
    fn each_copy_of_a_counted_line_has_its_own_label() {
        let (r, sent) = run(vec![
            line(1, "a"),
            line(1, "bad"),
            line(1, "bad"),
            line(2, "bad"),
        ]);
        assert_eq!(sent, ["a"]);
        let ids: Vec<&str> = r.failures.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["line 1, copy 2", "line 1, copy 3", "line 2"]);
    }

    #[test]
    fn a_malformed_line_stops_and_counts_what_went_before() {
        let (r, _) = run(vec![
            line(1, "a"),
            Err("line 2: not JSON".into()),
            line(3, "b"),
        ]);
        assert_eq!((r.done, r.failed), (1, 0));
        assert_eq!(r.stopped.as_ref().unwrap().message, "line 2: not JSON");
        assert_eq!(r.exit(), Exit::Partial);
        let (first, _) = run(vec![Err("line 1: not JSON".into())]);
        assert_eq!(first.exit(), Exit::Usage);
    }

    #[test]
    fn a_broker_failure_stops_the_run() {
        let (r, sent) = run(vec![line(0, "a"), line(0, "down"), line(0, "b")]);
        assert_eq!(sent, ["a"]);
        assert_eq!((r.done, r.failed), (1, 1));
        assert_eq!(r.failures[0].id, "message 2");
        assert_eq!(r.exit(), Exit::Broker);
    }
}
