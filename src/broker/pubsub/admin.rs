//! What Pub/Sub answers without pulling: `queues`, `lag`, `depth`, and the
//! subscription and topic look-ups the reads need.
//!
//! `queues` lists topics and subscriptions (two list calls); a subscription
//! whose dead-letter policy names topic T dead-letters into T, so each
//! subscription of T is marked as a DLQ with that subscription among its
//! sources, and the source's `dead_letter_queue` is T's first subscription.
//! Counts come from Cloud Monitoring or are unknown (see `monitoring`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use anyhow::Result;
use gcloud_gax::create_request;
use gcloud_gax::grpc::Status;
use gcloud_googleapis::pubsub::v1::{
    GetSubscriptionRequest, GetTopicRequest, ListSubscriptionsRequest, ListTopicsRequest,
    Subscription,
};
use serde_json::{json, Map};

use super::errors::{fail, is_not_found};
use super::monitoring::Counts;
use super::names::Kind;
use super::{PubSub, NAME};
use crate::broker::{LagQuery, LagRow, QueueInfo, QueueKind};
use crate::exit::not_found;

/// Every topic and subscription of the project, and how they link.
pub struct Topology {
    pub subscriptions: Vec<Subscription>,
    pub topics: Vec<String>,
    /// Topic path to the paths of its subscriptions, sorted.
    pub by_topic: BTreeMap<String, Vec<String>>,
    /// Dead-letter topic path to the subscriptions that dead-letter into it.
    pub sources: BTreeMap<String, Vec<String>>,
}

impl Topology {
    pub async fn load(ps: &PubSub) -> Result<Self> {
        let project = format!("projects/{}", ps.names.project);
        let topics = topic_names(ps, &project);
        let subscriptions = ps.subscriber.list_subscriptions(
            ListSubscriptionsRequest {
                project: project.clone(),
                page_size: 1000,
                page_token: String::new(),
            },
            None,
        );
        let (topics, mut subscriptions) = tokio::try_join!(
            async {
                topics
                    .await
                    .map_err(|e| fail(&format!("listing the topics of {project}"), e))
            },
            async {
                subscriptions
                    .await
                    .map_err(|e| fail(&format!("listing the subscriptions of {project}"), e))
            },
        )?;
        subscriptions.sort_by(|a, b| a.name.cmp(&b.name));
        let mut by_topic: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in &subscriptions {
            by_topic
                .entry(s.topic.clone())
                .or_default()
                .push(s.name.clone());
            if let Some(dl) = dead_letter_topic(s) {
                sources
                    .entry(dl.to_owned())
                    .or_default()
                    .push(s.name.clone());
            }
        }
        let mut topics = topics;
        topics.sort();
        Ok(Topology {
            subscriptions,
            topics,
            by_topic,
            sources,
        })
    }

    /// The subscription a source's dead letters are read through: the first
    /// of its dead-letter topic's.
    pub fn dead_letter_queue(&self, s: &Subscription) -> Option<&String> {
        self.by_topic.get(dead_letter_topic(s)?)?.first()
    }
}

/// Every topic of `project` (a path), page by page.
async fn topic_names(ps: &PubSub, project: &str) -> Result<Vec<String>, Status> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let req = ListTopicsRequest {
            project: project.to_owned(),
            page_size: 1000,
            page_token,
        };
        let resp = ps
            .topics()
            .list_topics(create_request(format!("project={project}"), req))
            .await?
            .into_inner();
        out.extend(resp.topics.into_iter().map(|t| t.name));
        if resp.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = resp.next_page_token;
    }
}

/// The topic a subscription's dead-letter policy names.
pub fn dead_letter_topic(s: &Subscription) -> Option<&str> {
    s.dead_letter_policy
        .as_ref()
        .map(|p| p.dead_letter_topic.as_str())
        .filter(|t| !t.is_empty())
}

/// The ID at the end of a resource path, as Monitoring labels it.
fn id_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl PubSub {
    /// Cloud Monitoring's figures, or None after one warning per run.
    async fn counts(&self, warn: bool) -> Option<Counts> {
        match self.monitoring.counts().await {
            Ok(c) => Some(c),
            Err(why) => {
                if warn && !self.counts_warned.swap(true, Ordering::Relaxed) {
                    self.warner.warn(&format!(
                        "{NAME}: undelivered counts and message ages are unknown (null): {why}"
                    ));
                }
                None
            }
        }
    }

    /// Undelivered messages of a subscription (a path), when Cloud
    /// Monitoring can say.
    pub async fn undelivered(&self, sub_path: &str) -> Option<u64> {
        self.counts(false)
            .await
            .and_then(|c| c.undelivered.get(id_of(sub_path)).copied())
    }

    /// A subscription's configuration; a name that is a topic says so.
    pub async fn subscription(&self, name: &str) -> Result<Subscription> {
        let path = self.names.path(Kind::Subscription, name)?;
        let req = GetSubscriptionRequest {
            subscription: path.clone(),
        };
        match self.subscriber.get_subscription(req, None).await {
            Ok(r) => Ok(r.into_inner()),
            Err(e) if is_not_found(&e) => Err(self.no_subscription(name, &path, e).await),
            Err(e) => Err(fail(&format!("reading subscription '{name}'"), e)),
        }
    }

    /// "not found", with a pointer to the subscriptions of a topic so named.
    async fn no_subscription(&self, name: &str, path: &str, status: Status) -> anyhow::Error {
        let project = path.split('/').nth(1).unwrap_or(&self.names.project);
        let mut text = format!("{NAME}: subscription '{name}' not found in project '{project}'");
        if let Ok(topic) = self.names.path(Kind::Topic, name) {
            let req = GetTopicRequest {
                topic: topic.clone(),
            };
            let req = create_request(format!("topic={topic}"), req);
            if self.topics().get_topic(req).await.is_ok() {
                text.push_str(&format!(
                    "; '{name}' is a topic: read it through one of its subscriptions (see `dlq queues`)"
                ));
            }
        }
        not_found(text, Some(Box::new(status)))
    }

    /// The topic of a subscription, as shown (None when it is gone); asked
    /// of the server once per subscription.
    pub async fn topic_of(&self, sub_path: &str) -> Option<String> {
        if let Some(t) = self.lock_topics().get(sub_path) {
            return t.clone();
        }
        let req = GetSubscriptionRequest {
            subscription: sub_path.to_owned(),
        };
        let topic = match self.subscriber.get_subscription(req, None).await {
            Ok(r) => Some(self.names.short(&r.into_inner().topic)),
            Err(e) => {
                if !is_not_found(&e) {
                    self.warner.warn(&format!(
                        "{NAME}: the topic of {sub_path} is unknown ({}), so its dead letters show no origin",
                        e.message()
                    ));
                }
                None
            }
        };
        self.lock_topics()
            .insert(sub_path.to_owned(), topic.clone());
        topic
    }

    fn lock_topics(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<String>>> {
        self.topics.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub async fn queues(ps: &PubSub) -> Result<Vec<QueueInfo>> {
    let t = Topology::load(ps).await?;
    let counts = ps.counts(true).await;
    let mut rows = Vec::new();
    for s in &t.subscriptions {
        let dl = dead_letter_topic(s);
        if let (Some(dl), None) = (dl, t.dead_letter_queue(s)) {
            ps.warner.warn(&format!(
                "{NAME}: {} dead-letters into topic {}, which has no subscription: Pub/Sub drops what it dead-letters there",
                ps.names.short(&s.name),
                ps.names.short(dl)
            ));
        }
        let from = t.sources.get(&s.topic).cloned().unwrap_or_default();
        let mut extra = Map::new();
        extra.insert("topic".into(), json!(ps.names.short(&s.topic)));
        extra.insert(
            "dead_letter_topic".into(),
            json!(dl.map(|d| ps.names.short(d))),
        );
        extra.insert(
            "max_delivery_attempts".into(),
            json!(s
                .dead_letter_policy
                .as_ref()
                .map(|p| p.max_delivery_attempts)),
        );
        rows.push(QueueInfo {
            name: ps.names.short(&s.name),
            kind: QueueKind::Subscription,
            depth: counts
                .as_ref()
                .and_then(|c| c.undelivered.get(id_of(&s.name)).copied()),
            is_dlq: !from.is_empty(),
            sources: from.iter().map(|p| ps.names.short(p)).collect(),
            dead_letter_queue: t.dead_letter_queue(s).map(|d| ps.names.short(d)),
            extra,
        });
    }
    for topic in &t.topics {
        rows.push(QueueInfo {
            name: ps.names.short(topic),
            kind: QueueKind::Topic,
            ..Default::default()
        });
    }
    Ok(rows)
}

pub async fn depth(ps: &PubSub, queue: &str) -> Result<Option<u64>> {
    let s = ps.subscription(queue).await?;
    Ok(ps
        .counts(false)
        .await
        .and_then(|c| c.undelivered.get(id_of(&s.name)).copied()))
}

pub async fn lag(ps: &PubSub, query: &LagQuery) -> Result<Vec<LagRow>> {
    let t = Topology::load(ps).await?;
    let subs: Vec<Subscription> = if query.names.is_empty() {
        t.subscriptions.clone()
    } else {
        let mut out = Vec::new();
        for n in &query.names {
            out.push(ps.subscription(n).await?);
        }
        out
    };
    let counts = ps.counts(true).await;
    let undelivered = |path: &str| {
        counts
            .as_ref()
            .and_then(|c| c.undelivered.get(id_of(path)).copied())
    };
    Ok(subs
        .iter()
        .map(|s| {
            let dlq = t.dead_letter_queue(s);
            let mut extra = Map::new();
            extra.insert("topic".into(), json!(ps.names.short(&s.topic)));
            extra.insert(
                "dead_letter_queue".into(),
                json!(dlq.map(|d| ps.names.short(d))),
            );
            LagRow {
                name: ps.names.short(&s.name),
                lag: undelivered(&s.name),
                oldest_age: counts
                    .as_ref()
                    .and_then(|c| c.oldest_age.get(id_of(&s.name)).copied()),
                dlq_depth: dlq.and_then(|d| undelivered(d)),
                checked: true,
                extra,
            }
        })
        .collect())
}
