//! Which broker to talk to, and with what options.
//!
//! The broker comes from, first wins: `--broker`, `DLQ_BROKER`, `--profile` or
//! `DLQ_PROFILE`, the config file's default profile. The config file is TOML
//! at `--config`, `DLQ_CONFIG`, or `dlq/config.toml` in the user's config
//! directory. A profile is a URL plus broker options; its password may come
//! from a named environment variable so the file itself holds no secret.
//! The result is one [`BrokerSettings`] that every backend reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use crate::exit::usage;
use crate::output::Warner;
use crate::secrets;
use crate::url_parts::UrlParts;

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile used when none is named (else the one called "default").
    pub default: Option<String>,
    /// `journal = false` turns the journal of changes off (see `dlq history`).
    pub journal: Option<bool>,
    /// The size at which the journal is set aside and a new one started:
    /// bytes, or text such as "64MiB" (default 64 MiB, at least 64 KiB).
    pub journal_max_bytes: Option<Bytes>,
    /// How many set-aside journal files are kept (default 3).
    pub journal_keep: Option<usize>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// A size in bytes: a whole number, or text with a unit (`"64MiB"`,
/// `"500 KB"`; KiB, MiB, GiB are powers of 1024, KB, MB, GB of 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl Bytes {
    pub fn parse(text: &str) -> std::result::Result<u64, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (n, unit) = (&t[..split], t[split..].trim());
        let scale: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => {
                return Err(format!(
                    "{text:?} is not a size: use bytes, or a number with KiB, MiB or GiB"
                ))
            }
        };
        n.parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .ok_or_else(|| {
                format!("{text:?} is not a size: use bytes, or a number with KiB, MiB or GiB")
            })
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let n = match Raw::deserialize(d)? {
            Raw::Number(n) => n,
            Raw::Text(t) => Bytes::parse(&t).map_err(serde::de::Error::custom)?,
        };
        if n < 64 << 10 {
            return Err(serde::de::Error::custom(format!(
                "journal_max_bytes {n} is below the least, 64 KiB (65536)"
            )));
        }
        Ok(Bytes(n))
    }
}

/// A named broker: a URL plus options. Each option applies to the brokers
/// that have the notion and is ignored by the others.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub url: Option<String>,
    /// Environment variable holding the password (RabbitMQ, NATS, Kafka SASL).
    pub password_env: Option<String>,
    /// RabbitMQ: management HTTP API base URL (default `http://HOST:15672`, the AMQP port plus 10000).
    pub management_url: Option<String>,
    /// SQS: AWS region.
    pub region: Option<String>,
    /// SQS: endpoint of an SQS-compatible server; Pub/Sub: of the emulator
    /// (`http://HOST:PORT`) or a Google endpoint (`https://HOST`). Also
    /// spelled `endpoint`.
    #[serde(alias = "endpoint")]
    pub endpoint_url: Option<String>,
    /// SQS: named AWS profile from the shared AWS config.
    pub aws_profile: Option<String>,
    /// Kafka: librdkafka properties (`"security.protocol" = "SASL_SSL"`).
    #[serde(default)]
    pub kafka: BTreeMap<String, String>,
    /// Kafka: extra topic-name patterns that mark a DLQ (`*` wildcards).
    #[serde(default)]
    pub dlq_patterns: Vec<String>,
    /// NATS: credentials file.
    pub creds_file: Option<PathBuf>,
    /// NATS: NKey seed file.
    pub nkey_file: Option<PathBuf>,
    /// NATS: environment variable holding an auth token.
    pub token_env: Option<String>,
    /// TLS: CA certificate file (PEM).
    pub tls_ca_file: Option<PathBuf>,
    /// TLS: client certificate file (PEM).
    pub tls_cert_file: Option<PathBuf>,
    /// TLS: client key file (PEM).
    pub tls_key_file: Option<PathBuf>,
    /// Schema registry base URL (Confluent-compatible), for schema-encoded bodies.
    pub schema_registry: Option<String>,
    /// Schema registry: basic-auth user.
    pub schema_registry_user: Option<String>,
    /// Schema registry: environment variable holding the basic-auth password.
    pub schema_registry_password_env: Option<String>,
    /// Schema registry: CA certificate file (PEM) trusted besides the system's.
    pub schema_registry_ca_file: Option<PathBuf>,
    /// Refuse every command that changes messages (retry, retry-all, purge,
    /// edit, publish); dry runs still work.
    pub read_only: Option<bool>,
}

/// Everything a backend needs to connect.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// The URL with any password from the environment filled in. Secret:
    /// never print it; print `display_url`.
    pub url: String,
    /// The URL with its password masked.
    pub display_url: String,
    /// The password, from the URL or the profile's `password_env`.
    pub password: Option<String>,
    pub profile: Profile,
    pub profile_name: Option<String>,
    /// Bound on connecting and on each broker call that could hang.
    pub timeout: Duration,
    /// `--endpoint-url` (SQS), which beats the profile's.
    pub endpoint_url: Option<String>,
    /// Where the backend's warnings go.
    pub warner: Warner,
}

impl BrokerSettings {
    /// The URL scheme, lowercased.
    pub fn scheme(&self) -> String {
        scheme_of(&self.url).unwrap_or_default()
    }

    /// Settings for a bare URL, as `-b` gives it.
    pub fn from_url(url: &str, timeout: Duration) -> Result<Self> {
        resolve_url(url, Profile::default(), None, timeout, None)
    }
}

/// The inputs to [`resolve`], from flags and environment.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub broker: Option<String>,
    pub broker_env: Option<String>,
    pub profile: Option<String>,
    pub config: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub endpoint_url: Option<String>,
    /// The path `--config` gave, if it did (`config` may come from `DLQ_CONFIG`).
    pub config_flag: Option<PathBuf>,
}

impl Selector {
    /// Reads `DLQ_BROKER`, `DLQ_PROFILE` and `DLQ_CONFIG` where the flags are absent.
    pub fn with_env(mut self) -> Self {
        self.config_flag = self.config.clone();
        self.broker_env = std::env::var("DLQ_BROKER").ok().filter(|s| !s.is_empty());
        if self.profile.is_none() {
            self.profile = std::env::var("DLQ_PROFILE").ok().filter(|s| !s.is_empty());
        }
        if self.config.is_none() {
            self.config = std::env::var_os("DLQ_CONFIG")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from);
        }
        self
    }
}

/// The config file path: explicit, else the user's config directory.
pub fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| dirs::config_dir().map(|d| d.join("dlq").join("config.toml")))
}

/// Loads the config file; a missing default file is an empty config, a
/// missing explicit one is an error.
pub fn load(explicit: Option<&Path>) -> Result<(ConfigFile, Option<PathBuf>)> {
    let Some(path) = config_path(explicit) else {
        return Ok((ConfigFile::default(), None));
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let cfg =
                parse(&text).map_err(|e| usage(format!("config file {}: {e}", path.display())))?;
            Ok((cfg, Some(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            Ok((ConfigFile::default(), None))
        }
        Err(e) => Err(usage(format!(
            "cannot read config file {}: {e}",
            path.display()
        ))),
    }
}

/// Parses config TOML; the error names the line and field.
pub fn parse(text: &str) -> std::result::Result<ConfigFile, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
}

/// Picks the broker by the precedence of SPEC.md.
pub fn resolve(sel: &Selector) -> Result<BrokerSettings> {
    let timeout = sel.timeout.unwrap_or(Duration::from_secs(10));
    let needs_file = sel.broker.is_none() && sel.broker_env.is_none() || sel.profile.is_some();
    let (cfg, path) = if needs_file {
        load(sel.config.as_deref())?
    } else {
        // `--config PATH` names a file the user expects read: a typo must not pass
        // unseen. (`DLQ_CONFIG` pointing nowhere is how scripts run without one.)
        if let Some(flag) = sel.config_flag.as_deref().filter(|p| !p.exists()) {
            return Err(usage(format!(
                "cannot read config file {}: it does not exist",
                flag.display()
            )));
        }
        (ConfigFile::default(), None)
    };
    let where_ = || {
        path.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "no config file".into())
    };

    let named = |name: &str| -> Result<Profile> {
        cfg.profiles.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = cfg.profiles.keys().map(String::as_str).collect();
            usage(format!(
                "unknown profile {name:?} ({}; profiles there: {})",
                where_(),
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ))
        })
    };

    if let Some(url) = sel.broker.as_ref().or(sel.broker_env.as_ref()) {
        // A profile named alongside a URL still lends its options.
        let profile = match &sel.profile {
            Some(name) => named(name)?,
            None => Profile::default(),
        };
        return resolve_url(
            url,
            profile,
            sel.profile.clone(),
            timeout,
            sel.endpoint_url.clone(),
        );
    }
    let name = match (&sel.profile, &cfg.default) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) if cfg.profiles.contains_key("default") => "default".into(),
        _ => {
            return Err(usage(format!(
                "no broker named: pass --broker URL (e.g. -b amqp://guest:guest@127.0.0.1:5672), set DLQ_BROKER, \
                 or name a profile with --profile or DLQ_PROFILE ({})",
                where_()
            )))
        }
    };
    let profile = named(&name)?;
    let url = profile
        .url
        .clone()
        .ok_or_else(|| usage(format!("profile {name:?} has no url ({})", where_())))?;
    resolve_url(&url, profile, Some(name), timeout, sel.endpoint_url.clone())
}

fn scheme_of(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once("://")?;
    let ok = !scheme.is_empty()
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    ok.then(|| scheme.to_ascii_lowercase())
}

fn resolve_url(
    url: &str,
    profile: Profile,
    profile_name: Option<String>,
    timeout: Duration,
    endpoint_url: Option<String>,
) -> Result<BrokerSettings> {
    let url = url.trim();
    // Which schemes name a broker is the registry's to say (`broker::registry`).
    scheme_of(url).ok_or_else(|| {
        usage(format!(
            "bad broker URL {:?}: expected SCHEME://..., such as amqp://guest:guest@127.0.0.1:5672, sqs://us-east-1, \
             kafka://127.0.0.1:9092, nats://127.0.0.1:4222 or pubsub://my-project",
            secrets::redact_url(url)
        ))
    })?;
    if secrets::unencoded_userinfo(url).is_some() {
        return Err(usage(format!(
            "bad broker URL {}: its password holds a '/', '?' or '#': percent-encode them (%2F, %3F, %23), \
             or put the password in an environment variable named by the profile's password_env",
            secrets::redact_url(url)
        )));
    }
    for p in secrets::nested_passwords(url) {
        secrets::register(&p);
    }
    let mut full = url.to_owned();
    let mut password = userinfo_password(url);
    if let Some(var) = &profile.password_env {
        let value = std::env::var(var).map_err(|_| {
            usage(format!(
                "the profile's password_env names {var}, which is not set"
            ))
        })?;
        full = with_password(url, &value);
        password = Some(value);
    }
    if let Some(p) = &password {
        // A password equal to its user name (guest/guest) would mask the user everywhere.
        if userinfo_user(url).as_deref() != Some(p.as_str()) {
            secrets::register(p);
        }
    }
    Ok(BrokerSettings {
        display_url: secrets::redact_url(&full),
        url: full,
        password,
        profile,
        profile_name,
        timeout,
        endpoint_url,
        warner: Warner::default(),
    })
}

fn userinfo_password(url: &str) -> Option<String> {
    UrlParts::split(url)?.password()
}

fn userinfo_user(url: &str) -> Option<String> {
    UrlParts::split(url)?.user()
}

/// Puts `password` into the URL's userinfo (percent-encoded), keeping the user.
fn with_password(url: &str, password: &str) -> String {
    let Some(p) = UrlParts::split(url) else {
        return url.to_owned();
    };
    let enc: String = url::form_urlencoded::byte_serialize(password.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let user = p.userinfo.map_or("", |u| u.split(':').next().unwrap_or(""));
    format!("{}://{user}:{enc}@{}{}", p.scheme, p.hosts, p.tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(
        broker: Option<&str>,
        env: Option<&str>,
        profile: Option<&str>,
        config: Option<PathBuf>,
    ) -> Selector {
        Selector {
            broker: broker.map(Into::into),
            broker_env: env.map(Into::into),
            profile: profile.map(Into::into),
            config,
            ..Default::default()
        }
    }

    fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    const CONFIG: &str = r#"
default = "local"
[profiles.local]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
management_url = "http://127.0.0.1:15672"
[profiles.aws]
url = "sqs://eu-west-1"
endpoint_url = "http://127.0.0.1:4566"
[profiles.secret]
url = "amqp://ops@rabbit:5672"
password_env = "DLQ_TEST_SECRET_PW"
[profiles.kafka]
url = "kafka://a:9092,b:9092"
kafka = { "security.protocol" = "SASL_SSL" }
"#;

    #[test]
    fn precedence_follows_spec() {
        let (_d, path) = write_config(CONFIG);
        let flag = resolve(&sel(
            Some("nats://flag:4222"),
            Some("nats://env:4222"),
            Some("aws"),
            Some(path.clone()),
        ))
        .unwrap();
        assert_eq!(flag.url, "nats://flag:4222");
        assert_eq!(
            flag.profile.endpoint_url.as_deref(),
            Some("http://127.0.0.1:4566")
        );
        let env = resolve(&sel(
            None,
            Some("nats://env:4222"),
            None,
            Some(path.clone()),
        ))
        .unwrap();
        assert_eq!(env.url, "nats://env:4222");
        let prof = resolve(&sel(None, None, Some("aws"), Some(path.clone()))).unwrap();
        assert_eq!(prof.url, "sqs://eu-west-1");
        let default = resolve(&sel(None, None, None, Some(path))).unwrap();
        assert_eq!(default.profile_name.as_deref(), Some("local"));
        assert_eq!(default.display_url, "amqp://guest:***@127.0.0.1:5672/%2f");
    }

    #[test]
    fn a_missing_config_named_by_the_flag_is_an_error_even_with_a_url() {
        let missing = PathBuf::from("/nonexistent/dlq-config-typo.toml");
        let mut s = sel(Some("amqp://h"), None, None, Some(missing.clone()));
        // From DLQ_CONFIG it is not read when the URL is given...
        assert!(resolve(&s).is_ok());
        // ...from --config it is an error that names it.
        s.config_flag = Some(missing);
        let e = resolve(&s).unwrap_err();
        assert_eq!(crate::exit::code_for(&e), crate::exit::Exit::Usage);
        assert!(e.to_string().contains("dlq-config-typo.toml"), "{e}");
    }

    #[test]
    fn an_unencoded_password_is_refused_and_an_endpoints_is_masked() {
        let e = resolve(&sel(
            Some("amqp://u:pa/ss-w0rd@h:5672/%2f"),
            None,
            None,
            None,
        ))
        .unwrap_err();
        assert!(!e.to_string().contains("ss-w0rd"), "{e}");
        assert!(e.to_string().contains("percent-encode"), "{e}");
        let s = resolve(&sel(
            Some("sqs://us-east-1?endpoint=http://admin:endp-S3cret@127.0.0.1:4566"),
            None,
            None,
            None,
        ))
        .unwrap();
        assert!(!s.display_url.contains("endp-S3cret"), "{}", s.display_url);
        assert_eq!(secrets::scrub("to admin:endp-S3cret@h"), "to admin:***@h");
    }

    #[test]
    fn profile_named_default_is_the_fallback() {
        let (_d, path) = write_config("[profiles.default]\nurl = \"nats://127.0.0.1:4222\"\n");
        assert_eq!(
            resolve(&sel(None, None, None, Some(path))).unwrap().url,
            "nats://127.0.0.1:4222"
        );
    }

    #[test]
    fn errors_are_usage_errors() {
        let (_d, path) = write_config(CONFIG);
        let e = resolve(&sel(None, None, Some("nope"), Some(path))).unwrap_err();
        assert_eq!(crate::exit::code_for(&e), crate::exit::Exit::Usage);
        assert!(e.to_string().contains("aws, kafka, local, secret"), "{e}");
        let (_d2, empty) = write_config("");
        let e = resolve(&sel(None, None, None, Some(empty))).unwrap_err();
        assert!(e.to_string().contains("no broker named"), "{e}");
        let e = resolve(&sel(Some("localhost:5672"), None, None, None)).unwrap_err();
        assert!(e.to_string().contains("bad broker URL"), "{e}");
        let e = resolve(&sel(
            None,
            None,
            None,
            Some(PathBuf::from("/nonexistent/dlq.toml")),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("cannot read config"), "{e}");
        let (_d3, bad) = write_config("[profiles.x]\nurl = 5\n");
        let e = resolve(&sel(None, None, Some("x"), Some(bad))).unwrap_err();
        assert!(e.to_string().contains("line"), "{e}");
        let (_d4, typo) = write_config("[profiles.x]\nurll = \"amqp://h\"\n");
        assert!(resolve(&sel(None, None, Some("x"), Some(typo))).is_err());
    }

    #[test]
    fn password_from_env_is_filled_and_masked() {
        let (_d, path) = write_config(CONFIG);
        std::env::set_var("DLQ_TEST_SECRET_PW", "s3cr3t/pw");
        let s = resolve(&sel(None, None, Some("secret"), Some(path))).unwrap();
        assert_eq!(s.url, "amqp://ops:s3cr3t%2Fpw@rabbit:5672");
        assert_eq!(s.password.as_deref(), Some("s3cr3t/pw"));
        assert_eq!(s.display_url, "amqp://ops:***@rabbit:5672");
        assert_eq!(
            crate::secrets::scrub("auth failed: s3cr3t/pw"),
            "auth failed: ***"
        );
    }

    #[test]
    fn a_password_from_env_equal_to_the_user_name_masks_the_password_only() {
        let (_d, path) = write_config(
            "[profiles.same]\nurl = \"amqp://samename@rabbit:5672\"\npassword_env = \"DLQ_TEST_SAME_PW\"\n",
        );
        std::env::set_var("DLQ_TEST_SAME_PW", "samename");
        let s = resolve(&sel(None, None, Some("same"), Some(path))).unwrap();
        assert_eq!(s.display_url, "amqp://samename:***@rabbit:5672");
        assert_eq!(
            crate::secrets::scrub("queue 'samename.dlq' not found"),
            "queue 'samename.dlq' not found"
        );
    }

    #[test]
    fn journal_sizes_read_as_bytes_or_with_units() {
        let c = parse("journal_max_bytes = \"8MiB\"\njournal_keep = 0\n").unwrap();
        assert_eq!(c.journal_max_bytes, Some(Bytes(8 << 20)));
        assert_eq!(c.journal_keep, Some(0));
        let c = parse("journal_max_bytes = 100000\n").unwrap();
        assert_eq!(c.journal_max_bytes, Some(Bytes(100_000)));
        assert_eq!(Bytes::parse("1 GiB"), Ok(1 << 30));
        assert_eq!(Bytes::parse("500KB"), Ok(500_000));
        let e = parse("journal_max_bytes = 1000\n").unwrap_err();
        assert!(e.contains("64 KiB"), "{e}");
        let e = parse("journal_max_bytes = \"lots\"\n").unwrap_err();
        assert!(e.contains("not a size"), "{e}");
        assert!(parse("journal_keep = -1\n").is_err());
    }

    #[test]
    fn kafka_host_lists_are_accepted() {
        let s = BrokerSettings::from_url("kafka://a:9092,b:9092", Duration::from_secs(1)).unwrap();
        assert_eq!(s.scheme(), "kafka");
    }
}
