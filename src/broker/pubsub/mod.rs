//! The Google Cloud Pub/Sub backend, on gcloud-pubsub (gRPC): a QUEUE
//! argument names a subscription.
//!
//! `pubsub://PROJECT` names the project; the endpoint is the emulator's when
//! `--endpoint-url`, the URL's `?endpoint=`, the profile's `endpoint_url` or
//! `PUBSUB_EMULATOR_HOST` names one, else Google's, with Application Default
//! Credentials (`connect`). A dead-letter queue is a topic that some
//! subscription's dead-letter policy names, read through a subscription of
//! its own: `admin` lists topics and subscriptions and links each such
//! subscription to the subscriptions that dead-letter into its topic.
//! Pub/Sub has no peek, so `browse` pulls, keeps what it pulled leased while
//! it reads on, and then gives every message back at once (acknowledgement
//! deadline 0); it refuses to pull from a subscription that has a dead-letter
//! policy of its own unless `--force`, since every pull there is a delivery
//! attempt that can dead-letter the message. Counts and ages exist only in
//! Cloud Monitoring (`monitoring`); where it cannot be asked (the emulator,
//! credentials without the right), they are unknown, never 0. `convert`
//! turns a pulled message into dlq's message, with the topic of the source
//! subscription (which only the server knows) as the fact the
//! `pubsub-dead-letter` convention reads its origin from.

mod admin;
mod browse;
mod connect;
mod convert;
mod errors;
mod monitoring;
mod names;
mod publish;
mod redrive;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use anyhow::Result;
use async_trait::async_trait;
use gcloud_gax::conn::Channel;
use gcloud_googleapis::pubsub::v1::publisher_client::PublisherClient as RawPublisher;
use gcloud_pubsub::apiv1::conn_pool::ConnectionManager;
use gcloud_pubsub::apiv1::subscriber_client::SubscriberClient;

use super::capability::{Flag, Setting};
use super::{
    Broker, Capabilities, LagQuery, LagRow, OriginKind, PublishOptions, PurgeOptions, QueueInfo,
    ReadOptions, RedriveOptions, Visitor,
};
use crate::bulk::publish::Publisher;
use crate::bulk::Ledger;
use crate::config::BrokerSettings;

use names::Names;

/// The broker's name in messages and errors.
const NAME: &str = "pubsub";

/// What this backend can do, and the flags and settings it honours.
pub const CAPABILITIES: Capabilities = Capabilities {
    name: NAME,
    purge_all: true,
    origins: &[OriginKind::Topic],
    flags: &[Flag::Key, Flag::EndpointUrl, Flag::Force],
    settings: &[Setting::EndpointUrl],
    keys: true,
};

/// A connected client: the admin and data calls of one project.
pub struct PubSub {
    names: Names,
    subscriber: SubscriberClient,
    /// Channels for the topic calls and for pulls that carry their own
    /// deadline, made through the generated clients.
    channels: ConnectionManager,
    /// Cloud Monitoring, or why it cannot be asked.
    monitoring: monitoring::Monitoring,
    /// Bound on each call.
    timeout: std::time::Duration,
    /// Pulls may ask not to wait (the emulator; see `browse`).
    immediate_pulls: bool,
    /// Unknown counts were warned about once.
    counts_warned: AtomicBool,
    warner: crate::output::Warner,
    /// The topic of each subscription asked about, None when it is gone.
    topics: Mutex<HashMap<String, Option<String>>>,
}

impl PubSub {
    /// A client of the topic calls (gcloud-pubsub keeps its own private).
    fn topics(&self) -> RawPublisher<Channel> {
        RawPublisher::new(self.channels.conn())
    }
}

#[async_trait]
impl Broker for PubSub {
    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    async fn queues(&self) -> Result<Vec<QueueInfo>> {
        admin::queues(self).await
    }

    async fn depth(&self, queue: &str, _opts: &ReadOptions) -> Result<Option<u64>> {
        admin::depth(self, queue).await
    }

    async fn browse(&self, queue: &str, opts: &ReadOptions, visit: &mut Visitor<'_>) -> Result<()> {
        browse::browse(self, queue, opts, visit).await
    }

    async fn check_target(&self, to: &str) -> Result<()> {
        self.existing_topic(to).await.map(|_| ())
    }

    async fn redrive(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        redrive::redrive(self, queue, opts, run).await
    }

    async fn purge(&self, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        redrive::purge(self, queue, opts, run).await
    }

    async fn purge_all(&self, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        redrive::purge_all(self, queue, opts, run).await
    }

    async fn publisher<'a>(
        &'a self,
        target: &str,
        opts: &PublishOptions,
    ) -> Result<Box<dyn Publisher + 'a>> {
        Ok(Box::new(
            publish::Sender::open(self, target, opts.key.clone()).await?,
        ))
    }

    async fn fan_out(&self, copies: &[(String, Option<String>)]) -> Vec<String> {
        let mut fan: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (to, source) in copies {
            let sources = fan.entry(to.clone()).or_default();
            sources.extend(source.clone());
        }
        redrive::fan_out(self, &fan).await
    }

    async fn lag(&self, query: &LagQuery) -> Result<Vec<LagRow>> {
        admin::lag(self, query).await
    }
}

/// Connects to Pub/Sub or its emulator.
pub async fn connect(settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
    Ok(Box::new(connect::open(settings).await?))
}
