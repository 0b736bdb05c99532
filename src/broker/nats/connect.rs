//! Naming and reaching a NATS server: the URL (`nats://`, `tls://`, several
//! hosts separated by commas, user and password or a token in the userinfo),
//! the profile's credentials, NKey seed, token and TLS files, and a bounded
//! wait. async-nats does not read credentials from the URL, so they are taken
//! out here and passed as options; the server list it gets has none.
//! Connecting also asks for the JetStream account info once, so that a server
//! without JetStream is one clear error; the question goes out at once, and
//! the command's first request goes out beside it instead of a round trip
//! later ([`Nats::checked`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use async_nats::jetstream::context::RequestErrorKind;
use async_nats::{ConnectErrorKind, ConnectOptions, Event, ServerAddr, ServerError};
use futures::FutureExt;
use serde_json::{json, Value};

use super::{Nats, NAME};
use crate::broker::round_trip::RoundTrip;
use crate::config::BrokerSettings;
use crate::exit::{broker, broker_with, usage};
use crate::secrets;
use crate::url_parts::{percent_decode, UrlParts};

/// What the URL names: servers without credentials, and the credentials.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Target {
    pub servers: Vec<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub tls: bool,
}

fn bad_url(why: &str) -> anyhow::Error {
    usage(format!(
        "bad NATS URL: {why}; expected nats://HOST:PORT or tls://HOST:PORT, optionally with user:password@ or token@"
    ))
}

/// Splits a `nats://` or `tls://` URL into servers and credentials.
pub(super) fn parse(url: &str) -> Result<Target> {
    let parts = UrlParts::split(url).ok_or_else(|| bad_url("no scheme"))?;
    let scheme = parts.scheme.to_ascii_lowercase();
    if scheme != "nats" && scheme != "tls" {
        return Err(bad_url(&format!("scheme {scheme:?}")));
    }
    if !matches!(parts.tail, "" | "/") {
        return Err(bad_url("a NATS URL has no path or query"));
    }
    let mut target = Target {
        tls: scheme == "tls",
        ..Default::default()
    };
    if let Some(userinfo) = parts.userinfo {
        match userinfo.split_once(':') {
            Some((user, pass)) => {
                let (user, pass) = (percent_decode(user), percent_decode(pass));
                if user.is_empty() {
                    target.token = Some(pass);
                } else {
                    target.user = Some(user);
                    target.password = Some(pass);
                }
            }
            None if !userinfo.is_empty() => target.token = Some(percent_decode(userinfo)),
            None => {}
        }
    }
    for host in parts.hosts.split(',') {
        let host = host.trim();
        let host = host.split_once("://").map(|(_, h)| h).unwrap_or(host);
        if host.is_empty() {
            return Err(bad_url("no host"));
        }
        let parsed = url::Url::parse(&format!("{scheme}://{host}"))
            .map_err(|e| bad_url(&format!("{host:?}: {e}")))?;
        let Some(name) = parsed.host_str().filter(|h| !h.is_empty()) else {
            return Err(bad_url(&format!("{host:?} has no host name")));
        };
        let port = parsed.port().unwrap_or(4222);
        target.servers.push(format!("{scheme}://{name}:{port}"));
    }
    for secret in [&target.token, &target.password].into_iter().flatten() {
        secrets::register(secret);
    }
    Ok(target)
}

/// Connects, within `settings.timeout`, and checks that JetStream answers.
pub(super) async fn open(settings: &BrokerSettings) -> Result<Nats> {
    let target = parse(&settings.url)?;
    let addrs: Vec<ServerAddr> = target
        .servers
        .iter()
        .map(|s| s.parse::<ServerAddr>())
        .collect::<std::io::Result<_>>()
        .map_err(|e| bad_url(&e.to_string()))?;
    let files = crate::tls::Files::load(&settings.profile)?;
    let has_cert = files.identity.is_some();
    let tls = target.tls || files.any();
    let violation: Violation = Arc::default();
    let options = options(settings, &target, violation.clone()).await?;
    // The servers as errors may show them (never with credentials).
    let shown = target.servers.join(",");
    let op = || format!("connecting to {shown}");
    let timeout = settings.timeout;
    let waited = format!("no answer within {} (--timeout)", show(timeout));
    let client = match tokio::time::timeout(timeout, options.connect(addrs)).await {
        Err(_) => return Err(broker(NAME, op(), waited)),
        Ok(Err(e)) => {
            let text = secrets::scrub(&crate::exit::chain(&e));
            let why = match crate::tls::explain(&text, tls, has_cert, crate::tls::CA_HINT) {
                Some(why) => why,
                None => match e.kind() {
                    ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                        "authorization violation: check the user, password, token or credentials"
                            .to_string()
                    }
                    ConnectErrorKind::TimedOut => waited,
                    ConnectErrorKind::Tls => format!("TLS error: {text}"),
                    _ => text,
                },
            };
            return Err(broker_with(NAME, op(), secrets::scrub(&why), e));
        }
        Ok(Ok(c)) => c,
    };
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(timeout)
        .max_ack_inflight(8192)
        .build(client.clone());
    let ready = check(js.clone(), violation, shown, timeout)
        .boxed()
        .shared();
    // Polled once here so that the question goes out now; whoever waits on
    // it next drives it on.
    let _ = ready.clone().now_or_never();
    Ok(Nats {
        ready,
        client,
        js,
        counted: Default::default(),
    })
}

/// Why the JetStream check failed: the operation and the cause, kept as
/// text so that every command waiting on the check gets the same error.
#[derive(Clone, Debug)]
pub(super) struct Refusal {
    pub op: String,
    pub why: String,
}

impl Refusal {
    pub fn error(&self) -> anyhow::Error {
        broker(NAME, &self.op, self.why.clone())
    }
}

/// Asks for the JetStream account info: its time is the round trip; an
/// error or a permission violation is the reason no command can run.
async fn check(
    js: async_nats::jetstream::Context,
    violation: Violation,
    shown: String,
    timeout: Duration,
) -> Result<RoundTrip, Refusal> {
    let empty = json!({});
    let started = std::time::Instant::now();
    let op = format!("using JetStream on {shown}");
    let asked = tokio::select! {
        asked = tokio::time::timeout(timeout, js.request::<_, _, Value>("INFO", &empty)) => asked,
        text = denied(&violation) => {
            return Err(Refusal { op, why: format!("permission violation: {text}") });
        }
    };
    let not_enabled =
        "JetStream is not enabled on this server or account (start nats-server with -js)";
    let why = match asked {
        Err(_) => Some(format!("no answer within {}", show(timeout))),
        Ok(Err(e)) => Some(match e.kind() {
            RequestErrorKind::NoResponders => not_enabled.to_string(),
            RequestErrorKind::TimedOut => format!(
                "no answer within {} (JetStream disabled, or no permission to use $JS.API)",
                show(timeout)
            ),
            _ => e.to_string(),
        }),
        Ok(Ok(reply)) => reply.get("error").map(|err| {
            if err["err_code"].as_u64() == Some(10039) || err["code"].as_u64() == Some(503) {
                not_enabled.to_string()
            } else {
                err["description"].as_str().unwrap_or("error").to_string()
            }
        }),
    };
    match why {
        Some(why) => Err(Refusal { op, why }),
        None => Ok(RoundTrip::of(started.elapsed())),
    }
}

/// Connect options from the URL's credentials and the profile.
async fn options(
    settings: &BrokerSettings,
    target: &Target,
    violation: Violation,
) -> Result<ConnectOptions> {
    let p = &settings.profile;
    let unreadable = |what: &str, path: &Path, e: std::io::Error| {
        usage(format!("cannot read the {what} {}: {e}", path.display()))
    };
    let mut o = ConnectOptions::new()
        .name("dlq")
        .connection_timeout(settings.timeout)
        .request_timeout(Some(settings.timeout))
        .max_reconnects(Some(3))
        // A denied publish only shows as an -ERR event; the request itself just times out.
        .event_callback(move |event| {
            let violation = violation.clone();
            async move {
                if let Event::ServerError(ServerError::Other(text)) = event {
                    if text.to_lowercase().contains("permission") {
                        if let Ok(mut v) = violation.lock() {
                            *v = Some(text);
                        }
                    }
                }
            }
        });
    if let Some(path) = &p.creds_file {
        // The seed and the JWT inside are secrets even if a library echoes them.
        if let Ok(text) = std::fs::read_to_string(path) {
            text.lines()
                .map(str::trim)
                .filter(|l| l.len() >= 16 && !l.starts_with("---") && !l.starts_with("***"))
                .filter(|l| !l.contains(' '))
                .for_each(secrets::register);
        }
        o = (o.credentials_file(path).await)
            .map_err(|e| unreadable("NATS credentials file", path, e))?;
    }
    if let Some(path) = &p.nkey_file {
        let seed =
            std::fs::read_to_string(path).map_err(|e| unreadable("NKey seed file", path, e))?;
        let seed = seed
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with('S') && !l.is_empty())
            .ok_or_else(|| {
                usage(format!(
                    "no NKey seed (a line starting with S) in {}",
                    path.display()
                ))
            })?
            .to_string();
        secrets::register(&seed);
        o = o.nkey(seed);
    }
    let token = match &p.token_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            usage(format!(
                "the profile's token_env names {var}, which is not set"
            ))
        })?),
        None => target.token.clone(),
    };
    if let Some(t) = token {
        secrets::register(&t);
        o = o.token(t);
    }
    if let (Some(u), Some(pw)) = (&target.user, &target.password) {
        o = o.user_and_password(u.clone(), pw.clone());
    }
    if target.tls || p.tls_ca_file.is_some() || p.tls_cert_file.is_some() {
        o = o.require_tls(true);
    }
    if let Some(ca) = &p.tls_ca_file {
        o = o.add_root_certificates(ca.clone());
    }
    // Both or neither: checked by tls::Files::load before this.
    if let (Some(c), Some(k)) = (&p.tls_cert_file, &p.tls_key_file) {
        o = o.add_client_certificate(c.clone(), k.clone());
    }
    Ok(o)
}

/// The last permission violation the server reported.
type Violation = Arc<Mutex<Option<String>>>;

/// Waits until the server reports a permission violation.
async fn denied(violation: &Violation) -> String {
    loop {
        if let Some(text) = violation.lock().ok().and_then(|v| v.clone()) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A duration as the user wrote it (`10s`, `500ms`).
pub(super) fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_servers_and_credentials() {
        let t = parse("nats://127.0.0.1:4222").unwrap();
        assert_eq!(t.servers, vec!["nats://127.0.0.1:4222"]);
        assert!(t.user.is_none() && t.token.is_none() && !t.tls);
        let t = parse("nats://alice:s%40cret@host").unwrap();
        assert_eq!(t.servers, vec!["nats://host:4222"]);
        assert_eq!(t.user.as_deref(), Some("alice"));
        assert_eq!(t.password.as_deref(), Some("s@cret"));
        let t = parse("nats://tok3n@host:4223").unwrap();
        assert_eq!(t.token.as_deref(), Some("tok3n"));
        assert_eq!(t.servers, vec!["nats://host:4223"]);
        let t = parse("tls://a:1,b:2").unwrap();
        assert!(t.tls);
        assert_eq!(t.servers, vec!["tls://a:1", "tls://b:2"]);
        assert!(parse("nats://").is_err());
        assert!(parse("nats://host:notaport").is_err());
        assert!(parse("nats://host/path").is_err());
    }
}
