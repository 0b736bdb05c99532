//! From `pubsub://PROJECT[?endpoint=URL]` to connected gRPC clients.
//!
//! The endpoint is, first wins: `--endpoint-url`, the URL's `endpoint`, the
//! profile's `endpoint_url` (or `endpoint`), `PUBSUB_EMULATOR_HOST` (the
//! variable Google's own clients read), else pubsub.googleapis.com. An
//! `http://HOST:PORT` endpoint (or a bare `HOST:PORT`, as the variable holds
//! it) is the emulator, reached in plain text without credentials; an
//! `https://HOST` endpoint is Google's service (a regional or private
//! endpoint), reached with Application Default Credentials, which also ask
//! Cloud Monitoring for counts. Channels connect at once, each bounded by
//! `--timeout`, so an unreachable endpoint is exit 4 within it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;
use gcloud_gax::conn::{ConnectionOptions, Environment};
use gcloud_pubsub::apiv1::conn_pool::{ConnectionManager, AUDIENCE, PUBSUB, SCOPES};
use gcloud_pubsub::apiv1::subscriber_client::SubscriberClient;
use gcloud_pubsub::client::google_cloud_auth::project::Config;
use gcloud_pubsub::client::google_cloud_auth::token::DefaultTokenSourceProvider;
use token_source::TokenSourceProvider;

use super::monitoring::Monitoring;
use super::names::{valid_project, Names};
use super::{PubSub, NAME};
use crate::config::BrokerSettings;
use crate::exit::{broker_msg, broker_with, usage};

/// Where the calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The emulator at `HOST:PORT`: plain text, no credentials.
    Emulator(String),
    /// Google's service at a host name, with Application Default Credentials.
    Google(String),
}

/// What `pubsub://...` says.
#[derive(Debug, Default, PartialEq)]
struct PubSubUrl {
    project: String,
    endpoint: Option<String>,
}

fn parse_url(url: &str, display: &str) -> Result<PubSubUrl> {
    let bad = |why: &str| {
        usage(format!(
            "bad Pub/Sub URL {display}: {why} (pubsub://PROJECT, or pubsub://PROJECT?endpoint=http://127.0.0.1:8085 for the emulator)"
        ))
    };
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or_default();
    let (project, query) = rest.split_once('?').unwrap_or((rest, ""));
    let project = project.trim_end_matches('/');
    if project.is_empty() {
        return Err(bad("no project"));
    }
    if !valid_project(project) {
        return Err(bad(&format!(
            "{project:?} is not a project ID (a letter, then letters, digits, - . or :)"
        )));
    }
    let mut out = PubSubUrl {
        project: project.to_owned(),
        endpoint: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("endpoint", v)) if !v.is_empty() => out.endpoint = Some(v.to_owned()),
            _ => {
                return Err(bad(&format!(
                    "unknown option {:?} (known: endpoint)",
                    pair.split('=').next().unwrap_or(pair)
                )))
            }
        }
    }
    Ok(out)
}

/// Reads an endpoint as the flag, URL, profile or variable gives it.
pub fn parse_endpoint(text: &str) -> Result<Endpoint> {
    let bad = || {
        usage(format!(
            "bad Pub/Sub endpoint {text:?}: expected http://HOST:PORT (the emulator) or https://HOST (Google's service)"
        ))
    };
    let text = text.trim().trim_end_matches('/');
    let (scheme, host) = match text.split_once("://") {
        Some((s, h)) => (Some(s.to_ascii_lowercase()), h),
        None => (None, text),
    };
    let port_ok = |p: &str| !p.is_empty() && p.parse::<u16>().is_ok();
    match scheme.as_deref() {
        None | Some("http") => match host.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && !h.contains('/') && port_ok(p) => {
                Ok(Endpoint::Emulator(host.to_owned()))
            }
            _ => Err(bad()),
        },
        Some("https") => {
            let name = host.strip_suffix(":443").unwrap_or(host);
            if name.is_empty() || name.contains([':', '/', '@']) {
                return Err(bad());
            }
            Ok(Endpoint::Google(name.to_owned()))
        }
        Some(_) => Err(bad()),
    }
}

/// The endpoint by the precedence of the module docs.
fn choose(settings: &BrokerSettings, url: &PubSubUrl) -> Result<Endpoint> {
    let env = std::env::var("PUBSUB_EMULATOR_HOST")
        .ok()
        .filter(|v| !v.trim().is_empty());
    match settings
        .endpoint_url
        .as_ref()
        .or(url.endpoint.as_ref())
        .or(settings.profile.endpoint_url.as_ref())
        .or(env.as_ref())
    {
        Some(e) => parse_endpoint(e),
        None => Ok(Endpoint::Google(PUBSUB.to_owned())),
    }
}

/// Connects the clients; see the module docs.
pub async fn open(settings: &BrokerSettings) -> Result<PubSub> {
    let url = parse_url(&settings.url, &settings.display_url)?;
    let endpoint = choose(settings, &url)?;
    let timeout = settings.timeout;
    let options = ConnectionOptions {
        timeout: Some(timeout),
        connect_timeout: Some(timeout.min(Duration::from_secs(5))),
        ..Default::default()
    };
    let (environment, domain, monitoring, shown) = match &endpoint {
        Endpoint::Emulator(host) => (
            Environment::Emulator(host.clone()),
            PUBSUB.to_owned(),
            Monitoring::Unavailable("the Pub/Sub emulator has no Cloud Monitoring".into()),
            host.clone(),
        ),
        Endpoint::Google(domain) => {
            crate::tls::install_provider();
            let provider = credentials(timeout).await?;
            let monitoring = Monitoring::new(&url.project, provider.token_source(), timeout);
            (
                Environment::GoogleCloud(Box::new(provider)),
                domain.clone(),
                monitoring,
                domain.clone(),
            )
        }
    };
    let channels = || async {
        match tokio::time::timeout(
            timeout,
            ConnectionManager::new(1, &domain, &environment, &options),
        )
        .await
        {
            Ok(Ok(cm)) => Ok(cm),
            Ok(Err(e)) => Err(broker_with(
                NAME,
                format!("connecting to {shown}"),
                crate::exit::chain(&e),
                e,
            )),
            Err(_) => Err(broker_msg(format!(
                "{NAME}: connecting to {shown}: no answer within {}",
                humantime::format_duration(timeout)
            ))),
        }
    };
    let subscriber = SubscriberClient::new(channels().await?, channels().await?);
    let channels = channels().await?;
    Ok(PubSub {
        names: Names {
            project: url.project,
        },
        subscriber,
        channels,
        monitoring,
        timeout,
        immediate_pulls: matches!(endpoint, Endpoint::Emulator(_)),
        counts_warned: Default::default(),
        warner: settings.warner.clone(),
        topics: Mutex::new(HashMap::new()),
    })
}

/// Application Default Credentials, within `timeout`.
async fn credentials(timeout: Duration) -> Result<DefaultTokenSourceProvider> {
    let config = Config::default()
        .with_audience(AUDIENCE)
        .with_scopes(&SCOPES);
    let hint = "set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, \
                or for the emulator pass --endpoint-url http://HOST:PORT or set PUBSUB_EMULATOR_HOST";
    match tokio::time::timeout(timeout, DefaultTokenSourceProvider::new(config)).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(broker_msg(format!(
            "{NAME}: loading Application Default Credentials: {}; {hint}",
            crate::exit::chain(&e)
        ))),
        Err(_) => Err(broker_msg(format!(
            "{NAME}: loading Application Default Credentials: no answer within {}; {hint}",
            humantime::format_duration(timeout)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("pubsub://shop-prod", "").unwrap();
        assert_eq!((u.project.as_str(), u.endpoint), ("shop-prod", None));
        let u = parse_url("pubsub://p1/?endpoint=http://127.0.0.1:8085", "").unwrap();
        assert_eq!(u.endpoint.as_deref(), Some("http://127.0.0.1:8085"));
        for bad in [
            "pubsub://",
            "pubsub://a/b",
            "pubsub://p?x=1",
            "pubsub://p?endpoint=",
        ] {
            let e = parse_url(bad, bad).unwrap_err();
            assert_eq!(crate::exit::code_for(&e), crate::exit::Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn endpoints() {
        let emu = |h: &str| Endpoint::Emulator(h.into());
        assert_eq!(
            parse_endpoint("http://127.0.0.1:8085/").unwrap(),
            emu("127.0.0.1:8085")
        );
        assert_eq!(
            parse_endpoint("localhost:8681").unwrap(),
            emu("localhost:8681")
        );
        assert_eq!(
            parse_endpoint("https://europe-west1-pubsub.googleapis.com").unwrap(),
            Endpoint::Google("europe-west1-pubsub.googleapis.com".into())
        );
        for bad in [
            "127.0.0.1",
            "http://h:port",
            "ftp://h:1",
            "https://h:8443",
            "",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }
}
