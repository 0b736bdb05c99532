//! JSON over HTTP to the services that stand beside a broker (the RabbitMQ
//! management API, a schema registry): one client with the profile's TLS
//! files, basic auth and the run's timeout, whose failures read as one line
//! naming the service and what to do.
//!
//! A 404 is an answer, not a failure ([`Http::get`] gives None), since the
//! callers ask whether something exists. A refused login, a TLS failure and
//! an unreachable server each get their own words; the library error stays
//! behind them for `-v`.

use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::exit::{broker, broker_with, usage};
use crate::tls::Files;

/// A client for one service at one base URL.
pub struct Http {
    client: reqwest::Client,
    base: String,
    auth: Option<(String, String)>,
    /// Whose service it is, as errors name it ("rabbitmq").
    name: &'static str,
    /// The service, as errors name it ("management API").
    api: &'static str,
    /// What to do when the server cannot be reached.
    unreachable: &'static str,
    /// What a 403 means there.
    forbidden: &'static str,
    has_cert: bool,
}

/// What a [`Http`] client is for, in the words its errors use.
pub struct Service {
    pub name: &'static str,
    pub api: &'static str,
    pub unreachable: &'static str,
    pub forbidden: &'static str,
}

impl Http {
    /// A client for `base`; `auth` is the user and password of basic auth.
    pub fn new(
        service: Service,
        base: &str,
        auth: Option<(String, String)>,
        timeout: Duration,
        tls: &Files,
    ) -> Result<Self> {
        let mut builder = reqwest::Client::builder().timeout(timeout);
        if let Some(pem) = &tls.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| usage(format!("tls_ca_file: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(id) = &tls.identity {
            let identity = reqwest::Identity::from_pem(&id.pem).map_err(|_| {
                usage("tls_cert_file / tls_key_file: not a PEM certificate and key")
            })?;
            builder = builder.identity(identity);
        }
        let client = builder
            .build()
            .map_err(|e| broker(service.name, "setting up the HTTP client", e))?;
        Ok(Http {
            client,
            base: base.trim_end_matches('/').to_owned(),
            auth,
            name: service.name,
            api: service.api,
            unreachable: service.unreachable,
            forbidden: service.forbidden,
            has_cert: tls.identity.is_some(),
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.client.request(method, format!("{}/{path}", self.base));
        match &self.auth {
            Some((user, password)) => req.basic_auth(user, Some(password)),
            None => req,
        }
    }

    /// Sends a request; a failure to reach the server in words.
    async fn send_request(
        &self,
        req: reqwest::RequestBuilder,
        op: &str,
    ) -> Result<reqwest::Response> {
        req.send().await.map_err(|e| {
            let text = crate::exit::chain(&e);
            let https = self.base.starts_with("https:");
            let e = e.without_url();
            let why = crate::tls::explain(&text, https, self.has_cert, crate::tls::CA_HINT)
                .unwrap_or_else(|| format!("{e} ({})", self.unreachable));
            broker_with(self.name, op, why, e)
        })
    }

    /// A refusal by status, with what to do about it.
    fn refused(&self, op: &str, status: u16, detail: &str) -> anyhow::Error {
        let why = match status {
            401 => "401 unauthorized: check the user and password".to_owned(),
            403 => format!("403 forbidden: {}", self.forbidden),
            s => format!(
                "HTTP {s}{}{detail}",
                if detail.is_empty() { "" } else { ": " }
            ),
        };
        broker(self.name, op, why)
    }

    /// GET a JSON document; None on 404.
    pub async fn get(&self, path: &str) -> Result<Option<Value>> {
        let op = format!("{} {}", self.api, self.base);
        let resp = self
            .send_request(self.request(reqwest::Method::GET, path), &op)
            .await?;
        match resp.status().as_u16() {
            404 => return Ok(None),
            s if s >= 400 => {
                let text = resp.text().await.unwrap_or_default();
                return Err(self.refused(&op, s, text.trim()));
            }
            _ => {}
        }
        let v = resp
            .json::<Value>()
            .await
            .map_err(|e| broker(self.name, &op, e.without_url()))?;
        Ok(Some(v))
    }

    /// PUT, POST or DELETE with an optional JSON body; a DELETE of what is
    /// gone is fine.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<()> {
        let op = format!("{} {} {method} /{path}", self.api, self.base);
        let mut req = self.request(method.clone(), path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.send_request(req, &op).await?;
        let status = resp.status().as_u16();
        if status < 300 || (status == 404 && method == reqwest::Method::DELETE) {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(self.refused(&op, status, text.trim()))
    }
}
