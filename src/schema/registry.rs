//! The client of a Confluent-compatible schema registry: it only reads.
//!
//! A schema is asked for by ID (`GET /schemas/ids/{id}`, then
//! `/schemas/ids/{id}/versions` for its subject) or by subject and version
//! (`GET /subjects/{s}/versions/{v|latest}`), and each reference it names is
//! fetched by subject and version, transitively. Calls carry the
//! `application/vnd.schemaregistry.v1+json` type, basic auth when a user is
//! set, and the run's `--timeout`; the CA named by `schema_registry_ca_file`
//! is trusted besides the system's, as `tls_ca_file` is for the brokers.
//!
//! The commands call it from synchronous code deep inside a broker's read
//! loop, so each fetch runs on a thread of its own with a small runtime of
//! its own; fetches happen once per schema ID and run, so that costs
//! nothing that shows. Connections are not pooled across those runtimes.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::{Failure, FailureKind, Format};
use crate::exit::usage;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Where the registry is and how to reach it.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// The base URL, without credentials.
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// PEM text of CAs to trust besides the system's.
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

/// A schema as the registry gives it, with its references' texts.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub id: u32,
    pub format: Format,
    pub schema: String,
    /// Every schema it refers to, transitively: (reference name, text).
    pub references: Vec<(String, String)>,
    pub subject: Option<String>,
}

/// A registry client.
pub struct Registry {
    settings: RegistrySettings,
    client: reqwest::Client,
}

impl Registry {
    /// Checks the settings (URL, CA file) and builds the client.
    pub fn new(settings: RegistrySettings) -> anyhow::Result<Registry> {
        Url::parse(&settings.url).map_err(|e| {
            usage(format!(
                "bad schema registry URL {:?}: {e} (expected http:// or https://HOST:PORT)",
                crate::secrets::redact_url(&settings.url)
            ))
        })?;
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(0);
        if let Some(pem) = &settings.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| usage(format!("schema_registry_ca_file: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| usage(format!("the schema registry client: {e}")))?;
        Ok(Registry { settings, client })
    }

    /// The URL as it can be shown.
    pub fn display_url(&self) -> &str {
        &self.settings.url
    }

    /// The schema of an ID, with its subject and references.
    pub fn by_id(&self, id: u32) -> Result<Fetched, Failure> {
        blocking(async {
            let v = self
                .get(&["schemas", "ids", &id.to_string()], Some(id))
                .await?;
            // Which subject holds it: only a name to show, so a failure is no error.
            let subject = match self
                .get(&["schemas", "ids", &id.to_string(), "versions"], None)
                .await
            {
                Ok(Value::Array(a)) => a
                    .first()
                    .and_then(|x| x["subject"].as_str())
                    .map(str::to_owned),
                _ => None,
            };
            self.complete(id, &v, subject).await
        })
    }

    /// The schema of a subject's version (`None`: the latest).
    pub fn by_subject(&self, subject: &str, version: Option<u32>) -> Result<Fetched, Failure> {
        let v = version.map_or("latest".to_owned(), |n| n.to_string());
        blocking(async {
            let body = self
                .get(&["subjects", subject, "versions", &v], None)
                .await?;
            let id = body["id"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| unusable("the registry's answer has no schema id"))?;
            self.complete(id, &body, Some(subject.to_owned())).await
        })
    }

    /// A fetched schema with its references' texts.
    async fn complete(
        &self,
        id: u32,
        v: &Value,
        subject: Option<String>,
    ) -> Result<Fetched, Failure> {
        let format = match v["schemaType"].as_str().unwrap_or("AVRO") {
            "AVRO" => Format::Avro,
            "PROTOBUF" => Format::Protobuf,
            "JSON" => Format::JsonSchema,
            other => {
                return Err(unusable(&format!(
                    "schema type {other} is not one dlq reads"
                )))
            }
        };
        let schema = v["schema"]
            .as_str()
            .ok_or_else(|| unusable("the registry's answer has no schema"))?
            .to_owned();
        let mut references = Vec::new();
        let mut todo: Vec<Value> = refs(v);
        while let Some(r) = todo.pop() {
            let (Some(name), Some(subj), Some(ver)) = (
                r["name"].as_str(),
                r["subject"].as_str(),
                r["version"].as_u64(),
            ) else {
                return Err(unusable(
                    "a reference of the schema lacks name, subject or version",
                ));
            };
            if references.iter().any(|(n, _): &(String, String)| n == name) {
                continue;
            }
            let body = self
                .get(&["subjects", subj, "versions", &ver.to_string()], None)
                .await?;
            let text = body["schema"]
                .as_str()
                .ok_or_else(|| unusable("a referenced schema has no text"))?;
            references.push((name.to_owned(), text.to_owned()));
            todo.extend(refs(&body));
        }
        Ok(Fetched {
            id,
            format,
            schema,
            references,
            subject,
        })
    }

    /// GET a path; the registry's errors become failures of their kind.
    async fn get(&self, segments: &[&str], id: Option<u32>) -> Result<Value, Failure> {
        let mut url = Url::parse(&self.settings.url).map_err(|e| unusable(&e.to_string()))?;
        url.path_segments_mut()
            .map_err(|_| unusable("the registry URL cannot have a path"))?
            .pop_if_empty()
            .extend(segments);
        let mut req = self.client.get(url).header("Accept", CONTENT_TYPE);
        if let Some(user) = &self.settings.user {
            req = req.basic_auth(user, self.settings.password.as_deref());
        }
        let base = &self.settings.url;
        let resp = req.send().await.map_err(|e| {
            let text = crate::exit::chain(&e);
            let hint = "name the CA that signed it with schema_registry_ca_file in the profile";
            let why = crate::tls::explain(&text, base.starts_with("https:"), false, hint)
                .unwrap_or_else(|| {
                    if e.is_timeout() {
                        "no answer within the timeout (--timeout)".to_owned()
                    } else {
                        // The causes say what happened (connection refused, no such host).
                        crate::exit::chain(&e.without_url())
                    }
                });
            Failure::new(
                FailureKind::Unreachable,
                format!("schema registry {base} unreachable: {why}"),
            )
        })?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let code = body["error_code"].as_i64().unwrap_or(0);
        let message = body["message"].as_str().unwrap_or("").to_owned();
        Err(match (status.as_u16(), code, id) {
            (401 | 403, _, _) => Failure::new(
                FailureKind::Refused,
                format!(
                    "schema registry {base} refused the credentials (HTTP {}): check schema_registry_user and schema_registry_password_env",
                    status.as_u16()
                ),
            ),
            (404, 40403, Some(id)) => Failure::new(
                FailureKind::UnknownId,
                format!("schema ID {id} is not in schema registry {base}"),
            ),
            _ => unusable(&format!(
                "schema registry {base} answered HTTP {} for /{}{}",
                status.as_u16(),
                segments.join("/"),
                if message.is_empty() { String::new() } else { format!(": {message}") }
            )),
        })
    }
}

fn refs(v: &Value) -> Vec<Value> {
    v["references"].as_array().cloned().unwrap_or_default()
}

fn unusable(text: &str) -> Failure {
    Failure::new(FailureKind::Unusable, text.to_owned())
}

/// Runs a future to its end on a thread and runtime of its own, so that
/// synchronous code can call it from inside (or outside) any runtime.
fn blocking<T: Send>(fut: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the schema registry")
                .block_on(fut)
        })
        .join()
        .expect("the schema registry thread")
    })
}
