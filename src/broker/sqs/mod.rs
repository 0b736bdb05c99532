//! The Amazon SQS backend, on aws-sdk-sqs and aws-config.
//!
//! `connect` turns `sqs://[REGION][?endpoint=URL&profile=NAME]`, the profile's
//! `region` / `endpoint_url` / `aws_profile` and `--endpoint-url` into one SDK
//! client whose every call is bounded by `--timeout` (operation timeout over
//! the SDK's own retries), so an unreachable endpoint is exit 4 within the
//! timeout. A QUEUE argument may be a name, a queue URL or an ARN; [`Sqs::url`]
//! resolves it once per command. The rest lives in small rooms: `browse`
//! (receive, hold, give back), `redrive` and `purge` (batch pipelines),
//! `publish`, `admin` (queues, lag, depth, full purge), `codec` (SQS message
//! to envelope and back) and `errors` (service errors to one line).

mod admin;
mod browse;
mod codec;
mod deliveries;
mod errors;
mod publish;
mod redrive;

use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sqs::config::ProvideCredentials;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;

use super::capability::{Flag, Setting};
use super::{
    Broker, Capabilities, LagQuery, LagRow, OriginKind, PublishOptions, PurgeOptions, QueueInfo,
    ReadOptions, RedriveOptions, Visitor,
};
use crate::broker::round_trip::RoundTrip;
use crate::bulk::publish::Publisher;
use crate::bulk::Ledger;
use crate::config::BrokerSettings;
use crate::exit::{broker_msg, broker_with, usage};

pub(crate) use errors::fail;

/// The broker's name in messages and errors.
pub(crate) const NAME: &str = "sqs";

/// What this backend can do, and the flags and settings it honours.
pub const CAPABILITIES: Capabilities = Capabilities {
    name: NAME,
    purge_all: true,
    origins: &[OriginKind::Queue],
    flags: &[
        Flag::GroupId,
        Flag::DedupId,
        Flag::Delay,
        Flag::EndpointUrl,
        Flag::Native,
        Flag::Force,
    ],
    settings: &[
        Setting::Region,
        Setting::EndpointUrl,
        Setting::AwsProfile,
        Setting::TlsCaFile,
    ],
    keys: false,
};

/// What `sqs://...` says.
#[derive(Debug, Default, PartialEq)]
struct SqsUrl {
    region: Option<String>,
    endpoint: Option<String>,
    aws_profile: Option<String>,
}

/// Parses `sqs://`, `sqs://REGION`, `sqs://REGION?endpoint=URL&profile=NAME`.
/// A host that looks like `127.0.0.1:4566` is refused: the host is a region.
fn parse_url(url: &str, display: &str) -> Result<SqsUrl> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| usage(format!("bad SQS URL {display}: expected sqs://[REGION]")))?;
    let (host, query) = rest.split_once('?').unwrap_or((rest, ""));
    let host = host.trim_end_matches('/');
    let mut out = SqsUrl::default();
    if !host.is_empty() {
        if !is_region(host) {
            return Err(usage(format!(
                "bad SQS URL {display}: the host of an sqs:// URL is an AWS region (sqs://us-east-1); \
                 for an SQS-compatible server pass --endpoint-url http://{host} or use sqs://REGION?endpoint=http://{host}"
            )));
        }
        out.region = Some(host.to_owned());
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "endpoint" | "endpoint_url" if is_http(v) => out.endpoint = Some(v.to_owned()),
            "endpoint" | "endpoint_url" => {
                return Err(usage(format!(
                    "bad SQS URL {display}: endpoint must be an http:// or https:// URL"
                )))
            }
            "profile" if !v.is_empty() => out.aws_profile = Some(v.to_owned()),
            _ => {
                return Err(usage(format!(
                    "bad SQS URL {display}: unknown option {k:?} (known: endpoint, profile)"
                )))
            }
        }
    }
    Ok(out)
}

fn is_http(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `il-central-1`.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// The SQS backend: one SDK client, shared by the pipeline tasks.
pub struct Sqs {
    client: Client,
    warner: crate::output::Warner,
    /// The region in use, for "not found in REGION" messages.
    region: String,
    /// Seconds a read keeps the messages it holds invisible before it
    /// extends them; also how long a killed run's messages stay hidden.
    visibility: i32,
}

/// Connects to SQS (no network call except resolving credentials).
pub async fn connect(settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
    let parsed = parse_url(&settings.url, &settings.display_url)?;
    let profile = &settings.profile;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(name) = parsed.aws_profile.as_ref().or(profile.aws_profile.as_ref()) {
        loader = loader.profile_name(name);
    }
    if let Some(region) = parsed.region.as_ref().or(profile.region.as_ref()) {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    // --endpoint-url, then the URL's, then the profile's; else aws-config
    // reads AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL itself.
    let endpoint = settings
        .endpoint_url
        .as_ref()
        .or(parsed.endpoint.as_ref())
        .or(profile.endpoint_url.as_ref());
    if let Some(ep) = endpoint {
        if !is_http(ep) {
            return Err(usage(format!(
                "bad endpoint URL {ep:?}: expected http://HOST:PORT or https://HOST"
            )));
        }
        loader = loader.endpoint_url(ep);
    }
    if let Some(client) = https_client(settings)? {
        loader = loader.http_client(client);
    }
    let timeout = settings.timeout.max(Duration::from_secs(2));
    loader = loader
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        )
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(2)),
        );
    let config = loader.load().await;
    let Some(region) = config.region().map(|r| r.to_string()) else {
        return Err(usage(
            "sqs: no AWS region: use sqs://REGION, a profile's region, or AWS_REGION / AWS_DEFAULT_REGION",
        ));
    };
    let Some(provider) = config.credentials_provider() else {
        return Err(broker_msg(
            "sqs: no AWS credentials provider: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
        ));
    };
    match tokio::time::timeout(timeout, provider.provide_credentials()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            let why = match &e {
                CredentialsError::CredentialsNotLoaded(_) => "none found in the environment, the AWS profile, web identity, ECS or instance metadata".to_owned(),
                e => crate::exit::chain(e),
            };
            // The provider's error stays the cause, for -v.
            return Err(broker_with(NAME, "loading AWS credentials", format!(
                "{why}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                 AWS_PROFILE (or the profile's aws_profile), or run where an instance role is available"
            ), e));
        }
        Err(_) => {
            return Err(broker_msg(format!(
                "sqs: loading AWS credentials: no answer within {}",
                humantime::format_duration(timeout)
            )))
        }
    }
    let visibility = std::env::var("DLQ_SQS_VISIBILITY_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|v| (1..=43_200).contains(v))
        .unwrap_or(60);
    Ok(Box::new(Sqs {
        region,
        client: Client::new(&config),
        warner: settings.warner.clone(),
        visibility,
    }))
}

/// An HTTPS client that also trusts the profile's `tls_ca_file`, else the
/// file `AWS_CA_BUNDLE` names (which the Rust SDK does not read itself).
fn https_client(
    settings: &BrokerSettings,
) -> Result<Option<aws_sdk_sqs::config::SharedHttpClient>> {
    use aws_smithy_http_client::tls;
    let mut profile = settings.profile.clone();
    if profile.tls_cert_file.is_some() || profile.tls_key_file.is_some() {
        return Err(usage(
            "sqs: tls_cert_file and tls_key_file do not apply to SQS (it authenticates by AWS credentials)",
        ));
    }
    if profile.tls_ca_file.is_none() {
        profile.tls_ca_file = std::env::var_os("AWS_CA_BUNDLE")
            .filter(|v| !v.is_empty())
            .map(Into::into);
    }
    let Some(pem) = crate::tls::Files::load(&profile)?.ca_pem else {
        return Ok(None);
    };
    let context = tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::default().with_pem_certificate(pem))
        .build()
        .map_err(|e| usage(format!("sqs: the CA file: {e}")))?;
    Ok(Some(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context)
            .build_https(),
    ))
}

/// A queue resolved to its URL, with the name the operator reads.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub url: String,
    pub name: String,
}

impl Queue {
    /// The queue at a URL.
    pub fn at(url: &str) -> Queue {
        Queue {
            url: url.to_owned(),
            name: name_of(url),
        }
    }

    pub fn is_fifo(&self) -> bool {
        self.name.ends_with(".fifo")
    }
}

/// The last path segment of a queue URL, or the last field of an ARN.
pub(crate) fn name_of(url_or_arn: &str) -> String {
    url_or_arn
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(url_or_arn)
        .to_owned()
}

impl Sqs {
    /// Resolves a QUEUE argument: a URL as is, an ARN by GetQueueUrl with
    /// its account, a name by GetQueueUrl.
    pub(crate) async fn queue(&self, arg: &str) -> Result<Queue> {
        if is_http(arg) {
            return Ok(Queue::at(arg));
        }
        let mut req = self.client.get_queue_url();
        let name = if let Some(rest) = arg.strip_prefix("arn:") {
            // arn:PARTITION:sqs:REGION:ACCOUNT:NAME
            let f: Vec<&str> = rest.split(':').collect();
            if f.len() != 5 || f[1] != "sqs" || f[4].is_empty() {
                return Err(usage(format!(
                    "bad SQS queue ARN {arg:?}: expected arn:aws:sqs:REGION:ACCOUNT:NAME"
                )));
            }
            req = req.queue_owner_aws_account_id(f[3]);
            f[4].to_owned()
        } else {
            arg.to_owned()
        };
        let out = req
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| fail(&format!("finding queue {name} in {}", self.region), e))?;
        Ok(Queue {
            url: out.queue_url().unwrap_or_default().to_owned(),
            name,
        })
    }

    /// Every attribute of a queue.
    pub(crate) async fn attributes(&self, q: &Queue) -> Result<Attributes> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&q.url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| fail(&format!("reading attributes of {}", q.name), e))?;
        Ok(out.attributes().cloned().unwrap_or_default())
    }

    /// The distance to the server, probed with calls that read one
    /// attribute of `q` (see `RoundTrip::probe`): an emulator that serves
    /// one call at a time is near, however slowly it answers. A failed call
    /// is timed too; the work that follows reports the failure.
    pub(crate) async fn round_trip(&self, q: &Queue) -> RoundTrip {
        RoundTrip::probe(|| {
            self.client
                .get_queue_attributes()
                .queue_url(&q.url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
        })
        .await
    }

    /// The queues whose RedrivePolicy points at `q`. A server that does not
    /// know ListDeadLetterSourceQueues gets every queue's policy read instead.
    async fn sources(&self, q: &Queue) -> Result<Vec<String>> {
        let listed = self
            .client
            .list_dead_letter_source_queues()
            .queue_url(&q.url)
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        match listed {
            Ok(urls) => Ok(urls.iter().map(|u| name_of(u)).collect()),
            Err(e) if e.code() == Some("InvalidAction") => admin::sources_by_scan(self, q).await,
            Err(e) => Err(fail(&format!("listing the source queues of {}", q.name), e)),
        }
    }

    /// Resolves a queue to read from, refusing a queue that has a
    /// RedrivePolicy of its own (a receive raises the receive count and can
    /// push its messages into its DLQ) unless `--force`.
    pub(crate) async fn open(&self, arg: &str, force: bool) -> Result<Opened> {
        let q = self.queue(arg).await?;
        let attrs = self.attributes(&q).await?;
        if !force && attrs.contains_key(&QueueAttributeName::RedrivePolicy) {
            let dlq = dead_letter_target(&attrs).unwrap_or_else(|| "its dead-letter queue".into());
            return Err(usage(format!(
                "{} has a redrive policy of its own (to {dlq}): reading it receives its messages and raises \
                 their receive count, which can push them into {dlq}; pass --force to read it anyway",
                q.name
            )));
        }
        Ok(Opened {
            at_start: count(&attrs, QueueAttributeName::ApproximateNumberOfMessages).unwrap_or(0),
            sources: self.sources(&q).await?,
            rt: self.round_trip(&q).await,
            q,
        })
    }
}

/// A queue a read or a bulk run starts on.
pub(crate) struct Opened {
    pub q: Queue,
    /// ApproximateNumberOfMessages at the start.
    pub at_start: u64,
    /// The queues that dead-letter into it.
    pub sources: Vec<String>,
    /// The round trip of a call, which sizes the windows.
    pub rt: RoundTrip,
}

impl Opened {
    /// The one queue that dead-letters into it, if there is exactly one.
    pub fn source(&self) -> Option<&str> {
        match self.sources.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// The DLQ name a RedrivePolicy points at.
pub(crate) fn dead_letter_target(attrs: &Attributes) -> Option<String> {
    let policy = attrs.get(&QueueAttributeName::RedrivePolicy)?;
    let v: serde_json::Value = serde_json::from_str(policy).ok()?;
    v["deadLetterTargetArn"].as_str().map(name_of)
}

/// Locks a mutex, also after a panic elsewhere.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A queue's attributes as GetQueueAttributes returns them.
pub(crate) type Attributes = std::collections::HashMap<QueueAttributeName, String>;

/// A numeric queue attribute (ApproximateNumberOfMessages, ...).
pub(crate) fn count(attrs: &Attributes, name: QueueAttributeName) -> Option<u64> {
    attrs.get(&name).and_then(|v| v.trim().parse().ok())
}

#[async_trait]
impl Broker for Sqs {
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
        self.queue(to).await.map(|_| ())
    }

    async fn redrive(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        let action = redrive::Action::Redrive(opts);
        redrive::execute(self, queue, opts.read.force, action, run).await
    }

    async fn purge(&self, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        redrive::execute(self, queue, opts.read.force, redrive::Action::Purge, run).await
    }

    async fn purge_all(&self, queue: &str, _opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        admin::purge_all(self, queue, run).await
    }

    async fn native_move(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        redrive::native(self, queue, opts, run).await
    }

    async fn publisher<'a>(
        &'a self,
        target: &str,
        opts: &PublishOptions,
    ) -> Result<Box<dyn Publisher + 'a>> {
        Ok(Box::new(publish::Sender::open(self, target, opts).await?))
    }

    async fn lag(&self, query: &LagQuery) -> Result<Vec<LagRow>> {
        admin::lag(self, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(parse_url("sqs://", "sqs://").unwrap(), SqsUrl::default());
        assert_eq!(
            parse_url("sqs://eu-west-1", "").unwrap().region.as_deref(),
            Some("eu-west-1")
        );
        let u = parse_url(
            "sqs://us-east-1?endpoint=http://127.0.0.1:4566&profile=dev",
            "",
        )
        .unwrap();
        assert_eq!(u.endpoint.as_deref(), Some("http://127.0.0.1:4566"));
        assert_eq!(u.aws_profile.as_deref(), Some("dev"));
        for (bad, says) in [
            ("sqs://127.0.0.1:4566", "--endpoint-url"),
            ("sqs://localhost", ""),
            ("sqs://us-east-1?endpoint=ftp://x", ""),
        ] {
            assert!(parse_url(bad, "").unwrap_err().to_string().contains(says));
        }
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("us-east"));
    }

    #[test]
    fn names() {
        for (url_or_arn, name) in [
            ("http://h:4566/123456789012/orders.dlq", "orders.dlq"),
            ("arn:aws:sqs:us-east-1:123456789012:orders", "orders"),
        ] {
            assert_eq!(name_of(url_or_arn), name);
        }
    }
}
