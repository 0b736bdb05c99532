//! An in-memory [`Broker`] for fast, in-process tests of the command layer:
//! selection, dry-run plans, confirmation, summaries and exit codes.
//!
//! Queues are vectors of messages kept in order; a re-drive appends a copy to
//! the origin (or `--to`) and then removes the original, like the real
//! backends. A queue named in `refuse` rejects every publish, to exercise the
//! failure paths. It stands in for no broker's behaviour: integration tests
//! always run against the real ones. Tests reach it like any broker, by a
//! URL (`memory://NAME`, see [`Memory::url`]), so commands see no difference.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Result;
use async_trait::async_trait;

use super::capability::{Capabilities, Flag, Setting};
use super::{
    Broker, Flow, LagQuery, LagRow, Message, OriginKind, OutgoingMessage, PublishOptions,
    PurgeOptions, QueueInfo, QueueKind, ReadOptions, RedriveOptions, Visitor,
};
use crate::bulk::publish::{Confirm, Publisher, Refusal};
use crate::bulk::Ledger;
use crate::config::BrokerSettings;
use crate::exit::{broker_msg, not_found};
use crate::select::Decision;

pub const CAPABILITIES: Capabilities = Capabilities {
    name: "memory",
    purge_all: true,
    origins: &[OriginKind::Queue],
    flags: &[Flag::Exchange, Flag::RoutingKey],
    settings: &[Setting::PasswordEnv],
    keys: true,
};

/// The brokers tests made, by the name in their URL.
fn made() -> &'static Mutex<HashMap<String, Memory>> {
    static MADE: OnceLock<Mutex<HashMap<String, Memory>>> = OnceLock::new();
    MADE.get_or_init(Default::default)
}

/// The broker `memory://NAME` names.
pub fn connect(settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
    let name = settings.url.trim_start_matches("memory://");
    let m = made().lock().unwrap().get(name).cloned();
    match m {
        Some(m) => Ok(Box::new(m)),
        None => Err(broker_msg(format!("memory: no broker {name:?}"))),
    }
}

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

    /// The URL that reaches this broker (clones share it).
    pub fn url(&self) -> String {
        let mut all = made().lock().unwrap();
        let name = format!("m{}", all.len());
        all.insert(name.clone(), self.clone());
        format!("memory://{name}")
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
            .ok_or_else(|| not_found(format!("memory: queue '{queue}' not found"), None))
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

    async fn check_target(&self, to: &str) -> Result<()> {
        self.snapshot(to).map(|_| ())
    }

    async fn redrive(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        for m in self.snapshot(queue)? {
            if run.should_stop() {
                break;
            }
            if run.decide(&m) != Decision::Take {
                continue;
            }
            let (to, copy) = match opts.copy_of(&m, &CAPABILITIES) {
                Ok(c) => c,
                Err(e) => {
                    run.failed(&m.id, e);
                    continue;
                }
            };
            run.pace().await;
            match self.append(&to.name, &copy) {
                Ok(_) => {
                    self.remove(queue, &m.id);
                    run.done(&m.id, Some(&to.name));
                }
                Err(e) => run.failed(&m.id, e),
            }
        }
        Ok(())
    }

    async fn purge(&self, queue: &str, _opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        for m in self.snapshot(queue)? {
            if run.should_stop() {
                break;
            }
            if run.decide(&m) == Decision::Take && run.backup([&m]) {
                self.remove(queue, &m.id);
                run.done(&m.id, None);
            }
        }
        Ok(())
    }

    async fn purge_all(&self, queue: &str, _opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        let n = self.snapshot(queue)?.len() as u64;
        self.queues
            .lock()
            .unwrap()
            .insert(queue.to_owned(), Vec::new());
        run.done_unnamed(n);
        Ok(())
    }

    async fn publisher<'a>(
        &'a self,
        target: &str,
        _opts: &PublishOptions,
    ) -> Result<Box<dyn Publisher + 'a>> {
        self.snapshot(target)?;
        Ok(Box::new(Sender {
            memory: self,
            target: target.to_owned(),
        }))
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

/// Publishes by appending, confirmed at once.
struct Sender<'a> {
    memory: &'a Memory,
    target: String,
}

#[async_trait]
impl Publisher for Sender<'_> {
    fn destination(&self) -> String {
        self.target.clone()
    }

    fn window(&self) -> usize {
        1
    }

    async fn send(&mut self, msg: OutgoingMessage) -> Result<Confirm, Refusal> {
        match self.memory.append(&self.target, &msg) {
            Ok(id) => Ok(Box::pin(async move { Ok(Some(id)) })),
            Err(e) => Err(Refusal::Message(e)),
        }
    }
}
