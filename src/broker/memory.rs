//! An in-memory [`Broker`] for fast, in-process tests of the command layer:
//! selection, dry-run plans, confirmation, summaries and exit codes.
//!
//! Queues are vectors of messages kept in order; a re-drive appends a copy to
//! the origin (or `--to`) and then removes the original, like the real
//! backends. A queue named in `refuse` rejects every publish, to exercise the
//! failure paths. It stands in for no broker's behaviour: integration tests
//! always run against the real ones.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use async_trait::async_trait;

use super::capability::{Capabilities, Flag, Setting};
use super::{
    Broker, Flow, LagQuery, LagRow, Message, MessageInput, OutgoingMessage, PublishOptions,
    PurgeOptions, QueueInfo, QueueKind, ReadOptions, RedriveOptions, Visitor,
};
use crate::bulk::{BulkContext, BulkReport};
use crate::exit::broker_msg;
use crate::select::{Decision, Selection};

pub const CAPABILITIES: Capabilities = Capabilities {
    name: "memory",
    cursor: false,
    delete_records: false,
    native_move: false,
    purge_all: true,
    read_counts_as_receive: false,
    origin_kinds_shown: false,
    flags: &[Flag::Exchange, Flag::RoutingKey],
    settings: &[Setting::PasswordEnv],
};

/// Queues by name, each in order. Clones share the same queues.
#[derive(Default, Clone)]
pub struct Memory {
    pub queues: Arc<Mutex<BTreeMap<String, Vec<Message>>>>,
    /// Queues that refuse every publish.
    pub refuse: Vec<String>,
}

impl Memory {
    /// A broker holding `messages` on `queue` (IDs and queue names filled in).
    pub fn with(queue: &str, messages: Vec<Message>) -> Self {
        let me = Memory::default();
        let filled = messages
            .into_iter()
            .enumerate()
            .map(|(i, mut m)| {
                if m.id.is_empty() {
                    m.id = (i + 1).to_string();
                }
                m.queue = queue.to_owned();
                m
            })
            .collect();
        me.queues.lock().unwrap().insert(queue.to_owned(), filled);
        me
    }

    /// Adds an empty queue.
    pub fn add(&self, queue: &str) {
        self.queues
            .lock()
            .unwrap()
            .entry(queue.to_owned())
            .or_default();
    }

    /// A copy of what `queue` holds now.
    pub fn held(&self, queue: &str) -> Vec<Message> {
        self.queues
            .lock()
            .unwrap()
            .get(queue)
            .cloned()
            .unwrap_or_default()
    }

    fn snapshot(&self, queue: &str) -> Result<Vec<Message>> {
        self.queues
            .lock()
            .unwrap()
            .get(queue)
            .cloned()
            .ok_or_else(|| broker_msg(format!("memory: queue '{queue}' not found")))
    }

    fn append(&self, target: &str, out: &OutgoingMessage) -> Result<String, String> {
        if self.refuse.iter().any(|q| q == target) {
            return Err(format!("memory: {target} refused the message"));
        }
        let mut queues = self.queues.lock().unwrap();
        let Some(q) = queues.get_mut(target) else {
            return Err(format!("memory: queue '{target}' not found"));
        };
        let id = format!("{target}-{}", q.len() + 1);
        q.push(Message {
            id: id.clone(),
            queue: target.to_owned(),
            timestamp: Some(std::time::SystemTime::now()),
            headers: out.headers.clone(),
            key: out.key.clone(),
            body: out.body.clone(),
            ..Default::default()
        });
        Ok(id)
    }

    fn remove(&self, queue: &str, id: &str) {
        if let Some(q) = self.queues.lock().unwrap().get_mut(queue) {
            q.retain(|m| m.id != id);
        }
    }
}

#[async_trait]
impl Broker for Memory {
    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    async fn queues(&self) -> Result<Vec<QueueInfo>> {
        Ok(self
            .queues
            .lock()
            .unwrap()
            .iter()
            .map(|(name, msgs)| QueueInfo {
                name: name.clone(),
                kind: QueueKind::Queue,
                depth: Some(msgs.len() as u64),
                ..Default::default()
            })
            .collect())
    }

    async fn depth(&self, queue: &str, _opts: &ReadOptions) -> Result<Option<u64>> {
        Ok(Some(self.snapshot(queue)?.len() as u64))
    }

    async fn browse(
        &self,
        queue: &str,
        _opts: &ReadOptions,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        for m in self.snapshot(queue)? {
            if visit(m)? == Flow::Stop {
                break;
            }
        }
        Ok(())
    }

    async fn redrive(
        &self,
        queue: &str,
        opts: &RedriveOptions,
        sel: &Selection,
        ctx: &BulkContext,
    ) -> Result<BulkReport> {
        let mut report = BulkReport::default();
        for m in self.snapshot(queue)? {
            if ctx.interrupted() || sel.exhausted() {
                break;
            }
            match sel.decide(&m) {
                Decision::Leave => continue,
                Decision::Skip(_) => report.skipped += 1,
                Decision::Take => {
                    let origin = m.dead_letter.origin.as_ref().map(|o| o.name.clone());
                    let target = opts.to.clone().or(origin);
                    let Some(target) = target else {
                        report.fail(&m.id, "no origin recorded: pass --to");
                        continue;
                    };
                    let copy = match opts.rewrite.copy_of(&m) {
                        Ok(c) => c,
                        Err(e) => {
                            report.fail(&m.id, e);
                            ctx.tick(1);
                            continue;
                        }
                    };
                    match self.append(&target, &copy) {
                        Ok(_) => {
                            self.remove(queue, &m.id);
                            report.done += 1;
                        }
                        Err(e) => report.fail(&m.id, e),
                    }
                }
            }
            ctx.tick(1);
        }
        Ok(report)
    }

    async fn purge(
        &self,
        queue: &str,
        _opts: &PurgeOptions,
        sel: &Selection,
        ctx: &BulkContext,
    ) -> Result<BulkReport> {
        let mut report = BulkReport::default();
        for m in self.snapshot(queue)? {
            if ctx.interrupted() || sel.exhausted() {
                break;
            }
            if sel.decide(&m) == Decision::Take {
                if let Some(b) = &ctx.backup {
                    b.save([&m])?;
                }
                self.remove(queue, &m.id);
                report.done += 1;
                ctx.tick(1);
            }
        }
        Ok(report)
    }

    async fn purge_all(
        &self,
        queue: &str,
        _opts: &PurgeOptions,
        ctx: &BulkContext,
    ) -> Result<BulkReport> {
        let n = self.snapshot(queue)?.len() as u64;
        self.queues
            .lock()
            .unwrap()
            .insert(queue.to_owned(), Vec::new());
        ctx.tick(n);
        Ok(BulkReport {
            done: n,
            ..Default::default()
        })
    }

    async fn publish(
        &self,
        target: &str,
        _opts: &PublishOptions,
        input: &mut dyn MessageInput,
        ctx: &BulkContext,
    ) -> Result<BulkReport> {
        let mut report = BulkReport::default();
        while let Some(item) = input.next().await {
            match item {
                Err(e) => {
                    report.stopped_by = Some(format!("{e:#}"));
                    break;
                }
                Ok(out) => match self.append(target, &out) {
                    Ok(_) => report.done += 1,
                    Err(e) => report.fail(format!("line {}", out.line), e),
                },
            }
            ctx.tick(1);
        }
        Ok(report)
    }

    async fn lag(&self, query: &LagQuery) -> Result<Vec<LagRow>> {
        let queues = self.queues.lock().unwrap();
        Ok(queues
            .iter()
            .filter(|(name, _)| query.names.is_empty() || query.names.contains(name))
            .map(|(name, msgs)| LagRow {
                name: name.clone(),
                lag: Some(msgs.len() as u64),
                checked: true,
                ..Default::default()
            })
            .collect())
    }
}
