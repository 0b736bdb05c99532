//! Browsing what a selection takes, and the rule that a requested ID names
//! exactly one message, shared by every command that reads before it acts
//! (list, peek, stats, export, the dry runs, retry's and edit's check pass).
//!
//! Without IDs a pass stops as soon as nothing more can be taken (`--limit`
//! reached). With IDs it reads on to the end of the queue, so that a second
//! message carrying the same ID is counted and [`check_ids`] can refuse it.
//! A decoder, when the command has one, reads each schema-encoded body
//! before the selection decides, so `--grep` sees the decoded value.
//! `--since` is handed to the backend as a hint, so a log can start there.

use anyhow::Result;

use crate::broker::{Broker, Flow, Message, ReadOptions};
use crate::exit::broker_msg;
use crate::sanitize::escape;
use crate::schema::Decoder;
use crate::select::{Decision, Selection};

/// Reads `queue` without changing it, handing each message `sel` takes or
/// skips to `visit` with the decision; messages left alone are not shown.
pub async fn browse(
    broker: &dyn Broker,
    queue: &str,
    read: &ReadOptions,
    sel: &Selection,
    visit: &mut (dyn FnMut(Message, Decision) -> Result<Flow> + Send),
) -> Result<()> {
    browse_decoded(broker, queue, read, sel, None, visit).await
}

/// As [`browse`], with each message's schema-encoded body decoded first
/// (`Message::decoded`), so that the filters see the decoded value too.
pub async fn browse_decoded(
    broker: &dyn Broker,
    queue: &str,
    read: &ReadOptions,
    sel: &Selection,
    decoder: Option<&Decoder>,
    visit: &mut (dyn FnMut(Message, Decision) -> Result<Flow> + Send),
) -> Result<()> {
    let by_id = sel.criteria.ids.is_some();
    let mut read = read.clone();
    read.since = sel.criteria.filter.since;
    broker
        .browse(queue, &read, &mut |mut m: Message| {
            if let Some(d) = decoder {
                d.attach(&mut m);
            }
            let decision = if by_id {
                sel.decide_reading_on(&m)
            } else {
                sel.decide(&m)
            };
            if decision != Decision::Leave && visit(m, decision)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
            Ok(if !by_id && sel.exhausted() {
                Flow::Stop
            } else {
                Flow::Continue
            })
        })
        .await
}

/// Every requested ID must have named exactly one message of the pass
/// (exit 4 otherwise, before anything changes); the error lists every ID
/// not found and every ambiguous one.
pub fn check_ids(queue: &str, sel: &Selection) -> Result<()> {
    let q = escape(queue, false);
    let missing = sel.missing_ids();
    let ambiguous = sel.ambiguous_ids();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "no message with ID {} in {q} (IDs as `dlq list {q}` prints them)",
            missing.join(", "),
        ));
    }
    if !ambiguous.is_empty() {
        problems.push(format!(
            "ID {} names more than one message in {q} (identical content): use filters with retry-all or purge instead",
            ambiguous.join(", "),
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(broker_msg(problems.join("; ")))
    }
}
