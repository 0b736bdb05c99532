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
use crate::exit::{broker_msg, usage};

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
    let (host, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
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
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "endpoint" | "endpoint_url"
                if v.starts_with("http://") || v.starts_with("https://") =>
            {
                out.endpoint = Some(v.to_owned())
            }
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
        if !(ep.starts_with("http://") || ep.starts_with("https://")) {
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
    if config.region().is_none() {
        return Err(usage(
            "sqs: no AWS region: use sqs://REGION, a profile's region, or AWS_REGION / AWS_DEFAULT_REGION",
        ));
    }
    if let Some(provider) = config.credentials_provider() {
        match tokio::time::timeout(timeout, provider.provide_credentials()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                let why = crate::exit::chain(&e);
                let why = if why.contains("no credentials found in chain") {
                    "none found in the environment, the AWS profile, web identity, ECS or instance metadata".to_owned()
                } else {
                    why
                };
                return Err(broker_msg(format!(
                    "sqs: loading AWS credentials: {why}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                     AWS_PROFILE (or the profile's aws_profile), or run where an instance role is available"
                )));
            }
            Err(_) => {
                return Err(broker_msg(format!(
                    "sqs: loading AWS credentials: no answer within {}",
                    humantime::format_duration(timeout)
                )))
            }
        }
    } else {
        return Err(broker_msg(
            "sqs: no AWS credentials provider: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
        ));
    }
    let visibility = std::env::var("DLQ_SQS_VISIBILITY_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|v| (1..=43_200).contains(v))
        .unwrap_or(60);
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
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
        if arg.starts_with("http://") || arg.starts_with("https://") {
            return Ok(Queue {
                url: arg.to_owned(),
                name: name_of(arg),
            });
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
    pub(crate) async fn sources_of(&self, q: &Queue) -> Result<Vec<Queue>> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = match self
                .client
                .list_dead_letter_source_queues()
                .queue_url(&q.url)
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if e.code() == Some("InvalidAction") && names.is_empty() => {
                    return admin::sources_by_scan(self, q).await;
                }
                Err(e) => return Err(fail(&format!("listing the source queues of {}", q.name), e)),
            };
            names.extend(out.queue_urls().iter().map(|u| Queue {
                url: u.clone(),
                name: name_of(u),
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(names)
    }

    /// Resolves a queue to read from, with its attributes, refusing a queue
    /// that has a RedrivePolicy of its own (a receive raises the receive
    /// count and can push its messages into its DLQ) unless `--force`.
    pub(crate) async fn readable(&self, arg: &str, force: bool) -> Result<(Queue, Attributes)> {
        let q = self.queue(arg).await?;
        let attrs = self.attributes(&q).await?;
        if let (false, Some(policy)) = (force, attrs.get(&QueueAttributeName::RedrivePolicy)) {
            let dlq = serde_json::from_str::<serde_json::Value>(policy)
                .ok()
                .and_then(|v| v["deadLetterTargetArn"].as_str().map(name_of))
                .unwrap_or_else(|| "its dead-letter queue".into());
            return Err(usage(format!(
                "{} has a redrive policy of its own (to {dlq}): reading it receives its messages and raises \
                 their receive count, which can push them into {dlq}; pass --force to read it anyway",
                q.name
            )));
        }
        Ok((q, attrs))
    }
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

    async fn redrive(&self, queue: &str, opts: &RedriveOptions, run: &Ledger) -> Result<()> {
        redrive::redrive(self, queue, opts, run).await
    }

    async fn purge(&self, queue: &str, opts: &PurgeOptions, run: &Ledger) -> Result<()> {
        redrive::purge(self, queue, opts, run).await
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
        assert!(parse_url("sqs://127.0.0.1:4566", "")
            .unwrap_err()
            .to_string()
            .contains("--endpoint-url"));
        assert!(parse_url("sqs://localhost", "").is_err());
        assert!(parse_url("sqs://us-east-1?endpoint=ftp://x", "").is_err());
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("us-east"));
    }

    #[test]
    fn names() {
        assert_eq!(
            name_of("http://h:4566/123456789012/orders.dlq"),
            "orders.dlq"
        );
        assert_eq!(
            name_of("arn:aws:sqs:us-east-1:123456789012:orders"),
            "orders"
        );
    }
}
