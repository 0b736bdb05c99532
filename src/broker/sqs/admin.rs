//! What SQS answers from queue attributes alone: `queues`, `lag`, `depth`,
//! and the full purge. None of these receives a message.
//!
//! `queues` lists every queue (ListQueues, paginated) and reads each one's
//! attributes (8 calls at once); a queue whose RedrivePolicy names a
//! deadLetterTargetArn links the two, so a DLQ shows its sources without a
//! ListDeadLetterSourceQueues call per queue. `lag` reads the same counts;
//! SQS has no attribute for the age of the oldest message (that is a
//! CloudWatch metric), so `oldest_age` stays unknown.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_sqs::types::QueueAttributeName;
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Map};

use super::{count, dead_letter_target, fail, Attributes, Queue, Sqs};
use crate::broker::{LagQuery, LagRow, QueueInfo, QueueKind};
use crate::bulk::Ledger;

/// Every queue URL (ListQueues, paginated).
async fn list(sqs: &Sqs) -> Result<Vec<Queue>> {
    let urls = sqs
        .client
        .list_queues()
        .max_results(1000)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| fail("listing queues", e))?;
    Ok(urls.iter().map(|u| Queue::at(u)).collect())
}

/// Attributes of many queues, several calls at once; a queue deleted
/// between the list and the read is left out.
async fn with_attributes(sqs: &Sqs, queues: Vec<Queue>) -> Result<Vec<(Queue, Attributes)>> {
    let results: Vec<(Queue, Result<Attributes>)> = futures::stream::iter(queues)
        .map(|q| async move {
            let a = sqs.attributes(&q).await;
            (q, a)
        })
        .buffered(8)
        .collect()
        .await;
    results
        .into_iter()
        .filter(|(_, a)| !matches!(a, Err(e) if crate::exit::is_not_found(e)))
        .map(|(q, a)| Ok((q, a?)))
        .collect()
}

/// The names of the queues whose RedrivePolicy points at `dlq`, found by
/// reading every queue's attributes: for SQS-compatible servers without
/// ListDeadLetterSourceQueues.
pub(super) async fn sources_by_scan(sqs: &Sqs, dlq: &Queue) -> Result<Vec<String>> {
    let all = with_attributes(sqs, list(sqs).await?).await?;
    Ok(all
        .into_iter()
        .filter(|(q, a)| q.name != dlq.name && dead_letter_target(a).as_deref() == Some(&dlq.name))
        .map(|(q, _)| q.name)
        .collect())
}

/// Visible, in flight and delayed.
fn counts(attrs: &Attributes) -> (u64, u64, u64) {
    let n = |name| count(attrs, name).unwrap_or(0);
    (
        n(QueueAttributeName::ApproximateNumberOfMessages),
        n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        n(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    )
}

pub async fn queues(sqs: &Sqs) -> Result<Vec<QueueInfo>> {
    let all = with_attributes(sqs, list(sqs).await?).await?;
    let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (q, a) in &all {
        if let Some(dlq) = dead_letter_target(a) {
            sources.entry(dlq).or_default().push(q.name.clone());
        }
    }
    Ok(all
        .iter()
        .map(|(q, a)| {
            let (visible, in_flight, delayed) = counts(a);
            let mut extra = Map::new();
            extra.insert("in_flight".into(), json!(in_flight));
            extra.insert("delayed".into(), json!(delayed));
            extra.insert("fifo".into(), json!(q.is_fifo()));
            let from = sources.get(&q.name).cloned().unwrap_or_default();
            QueueInfo {
                name: q.name.clone(),
                kind: QueueKind::Queue,
                depth: Some(visible),
                is_dlq: !from.is_empty(),
                sources: from,
                dead_letter_queue: dead_letter_target(a),
                extra,
            }
        })
        .collect())
}

pub async fn depth(sqs: &Sqs, queue: &str) -> Result<Option<u64>> {
    let attrs = sqs.attributes(&sqs.queue(queue).await?).await?;
    Ok(count(
        &attrs,
        QueueAttributeName::ApproximateNumberOfMessages,
    ))
}

pub async fn lag(sqs: &Sqs, query: &LagQuery) -> Result<Vec<LagRow>> {
    let queues = if query.names.is_empty() {
        list(sqs).await?
    } else {
        let resolved = futures::stream::iter(&query.names).then(|n| sqs.queue(n));
        resolved.try_collect().await?
    };
    let all = with_attributes(sqs, queues).await?;
    let mut rows = Vec::new();
    for (q, a) in &all {
        let (visible, in_flight, delayed) = counts(a);
        let dlq = dead_letter_target(a);
        let dlq_depth = match &dlq {
            Some(name) => match sqs.queue(name).await {
                Ok(d) => count(
                    &sqs.attributes(&d).await?,
                    QueueAttributeName::ApproximateNumberOfMessages,
                ),
                Err(_) => None,
            },
            None => None,
        };
        let mut extra = Map::new();
        // Lag is the visible count; named too, as SQS names it.
        extra.insert("visible".into(), json!(visible));
        extra.insert("in_flight".into(), json!(in_flight));
        extra.insert("delayed".into(), json!(delayed));
        extra.insert("dead_letter_queue".into(), json!(dlq));
        rows.push(LagRow {
            name: q.name.clone(),
            lag: Some(visible),
            oldest_age: None,
            dlq_depth,
            checked: true,
            extra,
        });
    }
    Ok(rows)
}
/// PurgeQueue: every message at once, counted beforehand.
pub async fn purge_all(sqs: &Sqs, queue: &str, run: &Ledger) -> Result<()> {
    let q = sqs.queue(queue).await?;
    let (visible, in_flight, delayed) = counts(&sqs.attributes(&q).await?);
    sqs.client
        .purge_queue()
        .queue_url(&q.url)
        .send()
        .await
        .map_err(|e| fail(&format!("purging {}", q.name), e))?;
    run.done_unnamed(visible + in_flight + delayed);
    run.note("PurgeQueue: SQS deletes the messages within 60 seconds, and allows one purge of a queue a minute");
    run.note("the count is SQS's approximate number of messages before the purge");
    Ok(())
}
