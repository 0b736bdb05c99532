//! The RabbitMQ management HTTP API: the queue list, dead-letter links, lag
//! figures and queue types, none of which AMQP 0-9-1 can tell.
//!
//! The base URL is the profile's `management_url`, else `http://HOST:15672`
//! with the AMQP user and password. Dead-letter links come from each queue's
//! `x-dead-letter-exchange`/`x-dead-letter-routing-key` arguments (which win,
//! as in RabbitMQ) or its policy's `dead-letter-exchange`/
//! `dead-letter-routing-key`, resolved through the exchange's bindings the way
//! the exchange type routes (direct, fanout, topic; headers and other types
//! count every bound queue). Without a dead-letter routing key a message keeps
//! its own key, which is unknown here: the source queue's name is tried, then
//! every bound queue. The default exchange routes to the queue of that name.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::exit::broker_msg;
use crate::http::{Http, Service};

/// A management API client for one vhost.
pub struct Admin {
    http: Http,
    vhost: String,
}

/// What the API says about one queue, reduced to what dlq uses.
#[derive(Debug, Clone, Default)]
pub struct QueueStats {
    pub name: String,
    /// classic, quorum or stream.
    pub kind: String,
    pub messages: Option<u64>,
    pub ready: Option<u64>,
    pub unacked: Option<u64>,
    /// Bytes of the bodies of the ready messages.
    pub ready_bytes: Option<u64>,
    pub consumers: Option<u64>,
    /// Seconds since the epoch of the head message's `timestamp` property.
    pub head_timestamp: Option<u64>,
    pub dead_letter_exchange: Option<String>,
    pub dead_letter_routing_key: Option<String>,
    /// The delivery limit of a quorum queue, from its argument or policy.
    pub delivery_limit: Option<i64>,
}

/// Queues with the dead-letter graph between them.
pub struct Topology {
    pub queues: Vec<QueueStats>,
    /// Source queue to the queues its dead letters reach.
    pub targets: BTreeMap<String, Vec<String>>,
}

impl Topology {
    /// Dead-letter queue to the queues that dead-letter into it.
    pub fn sources(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (src, dsts) in &self.targets {
            for d in dsts {
                out.entry(d.clone()).or_default().insert(src.clone());
            }
        }
        out
    }
}

/// Percent-encodes one path segment (a vhost or queue name).
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn arg_or_policy(q: &Value, arg: &str, policy: &str) -> Option<Value> {
    q.get("arguments")
        .and_then(|a| a.get(arg))
        .or_else(|| {
            q.get("effective_policy_definition")
                .and_then(|p| p.get(policy))
        })
        .cloned()
}

fn stats(q: &Value) -> QueueStats {
    let u = |k: &str| q.get(k).and_then(Value::as_u64);
    let s = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_owned));
    QueueStats {
        name: q
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        kind: q
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("classic")
            .to_owned(),
        messages: u("messages"),
        ready: u("messages_ready"),
        unacked: u("messages_unacknowledged"),
        ready_bytes: u("message_bytes_ready"),
        consumers: u("consumers"),
        head_timestamp: u("head_message_timestamp"),
        dead_letter_exchange: s(arg_or_policy(
            q,
            "x-dead-letter-exchange",
            "dead-letter-exchange",
        )),
        dead_letter_routing_key: s(arg_or_policy(
            q,
            "x-dead-letter-routing-key",
            "dead-letter-routing-key",
        )),
        delivery_limit: arg_or_policy(q, "x-delivery-limit", "delivery-limit")
            .and_then(|v| v.as_i64())
            .or_else(|| q.get("delivery_limit").and_then(Value::as_i64)),
    }
}

/// Whether a topic binding pattern matches a routing key.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

impl Admin {
    pub fn new(
        base: String,
        user: String,
        password: String,
        vhost: String,
        timeout: Duration,
        tls: &crate::tls::Files,
    ) -> Result<Self> {
        let service = Service {
            name: "rabbitmq",
            api: "management API",
            unreachable: "is the rabbitmq_management plugin on? set management_url in the profile",
            forbidden: "the user needs the management or monitoring tag",
        };
        Ok(Admin {
            http: Http::new(service, &base, Some((user, password)), timeout, tls)?,
            vhost,
        })
    }

    /// GET a path under `/api`; None on 404.
    async fn get(&self, path: &str) -> Result<Option<Value>> {
        self.http.get(&format!("api/{path}")).await
    }

    /// PUT or DELETE a path under `/api`; a DELETE of what is gone is fine.
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<()> {
        self.http.send(method, &format!("api/{path}"), body).await
    }

    /// Creates (or replaces) the dynamic shovel `name` of the vhost.
    pub async fn put_shovel(&self, name: &str, value: &Value) -> Result<()> {
        let body = serde_json::json!({ "value": value });
        self.send(
            reqwest::Method::PUT,
            &format!(
                "parameters/shovel/{}/{}",
                segment(&self.vhost),
                segment(name)
            ),
            Some(&body),
        )
        .await
    }

    /// Whether the shovel's parameter still exists (a shovel with
    /// `src-delete-after` removes it when done).
    pub async fn shovel_exists(&self, name: &str) -> Result<bool> {
        Ok(self
            .get(&format!(
                "parameters/shovel/{}/{}",
                segment(&self.vhost),
                segment(name)
            ))
            .await?
            .is_some())
    }

    /// The shovel's state and reason as the status API reports them
    /// (`running`, `starting`, `terminated`), None when not listed.
    pub async fn shovel_state(&self, name: &str) -> Result<Option<(String, Option<String>)>> {
        let all = Self::list(
            self.get(&format!("shovels/{}", segment(&self.vhost)))
                .await?,
        );
        Ok(all
            .iter()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
            .map(|s| {
                let state = s
                    .get("state")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let reason = s.get("reason").map(|r| match r {
                    Value::String(t) => t.clone(),
                    other => other.to_string(),
                });
                (state, reason)
            }))
    }

    pub async fn delete_shovel(&self, name: &str) -> Result<()> {
        self.send(
            reqwest::Method::DELETE,
            &format!(
                "parameters/shovel/{}/{}",
                segment(&self.vhost),
                segment(name)
            ),
            None,
        )
        .await
    }

    /// The routing keys an exchange's queue bindings use, with its type;
    /// None when the exchange does not exist.
    pub async fn exchange_bindings(&self, name: &str) -> Result<Option<(String, Vec<String>)>> {
        let vh = segment(&self.vhost);
        let Some(x) = self
            .get(&format!("exchanges/{vh}/{}", segment(name)))
            .await?
        else {
            return Ok(None);
        };
        let kind = x
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("direct")
            .to_owned();
        let keys = Self::list(
            self.get(&format!("exchanges/{vh}/{}/bindings/source", segment(name)))
                .await?,
        )
        .iter()
        .filter_map(|b| b.get("routing_key")?.as_str().map(str::to_owned))
        .collect();
        Ok(Some((kind, keys)))
    }

    /// The base URL, for the commands dlq prints.
    pub fn base(&self) -> &str {
        self.http.base()
    }

    fn list(v: Option<Value>) -> Vec<Value> {
        match v {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        }
    }

    /// The server's major version (3 when the API does not say).
    pub async fn server_major(&self) -> u32 {
        let v = self.get("overview").await.ok().flatten();
        v.as_ref()
            .and_then(|v| v.get("rabbitmq_version"))
            .and_then(Value::as_str)
            .and_then(|s| s.split('.').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(3)
    }

    /// One queue, None when it does not exist.
    pub async fn queue(&self, name: &str) -> Result<Option<QueueStats>> {
        let v = self
            .get(&format!(
                "queues/{}/{}",
                segment(&self.vhost),
                segment(name)
            ))
            .await?;
        Ok(v.as_ref().map(stats))
    }

    /// Every queue of the vhost with the dead-letter graph.
    pub async fn topology(&self) -> Result<Topology> {
        let vh = segment(&self.vhost);
        let queues: Vec<QueueStats> = Self::list(self.get(&format!("queues/{vh}")).await?)
            .iter()
            .map(stats)
            .collect();
        if queues.is_empty() && self.get(&format!("vhosts/{vh}")).await?.is_none() {
            return Err(broker_msg(format!(
                "rabbitmq: vhost '{}' not found",
                self.vhost
            )));
        }
        let exchanges: HashMap<String, String> =
            Self::list(self.get(&format!("exchanges/{vh}")).await?)
                .iter()
                .filter_map(|e| {
                    Some((
                        e.get("name")?.as_str()?.to_owned(),
                        e.get("type")?.as_str()?.to_owned(),
                    ))
                })
                .collect();
        let bindings = Self::list(self.get(&format!("bindings/{vh}")).await?);
        let names: BTreeSet<&str> = queues.iter().map(|q| q.name.as_str()).collect();
        let mut targets = BTreeMap::new();
        for q in &queues {
            let Some(dlx) = &q.dead_letter_exchange else {
                continue;
            };
            let found = route(dlx, q, &exchanges, &bindings, &names);
            if !found.is_empty() {
                targets.insert(q.name.clone(), found);
            }
        }
        Ok(Topology { queues, targets })
    }
}

/// The queues a dead letter of `q` reaches through exchange `dlx`.
fn route(
    dlx: &str,
    q: &QueueStats,
    exchanges: &HashMap<String, String>,
    bindings: &[Value],
    names: &BTreeSet<&str>,
) -> Vec<String> {
    let key = q.dead_letter_routing_key.clone();
    if dlx.is_empty() {
        let target = key.unwrap_or_else(|| q.name.clone());
        return if names.contains(target.as_str()) && target != q.name {
            vec![target]
        } else {
            Vec::new()
        };
    }
    let bound: Vec<(String, String)> = bindings
        .iter()
        .filter(|b| {
            b.get("source").and_then(Value::as_str) == Some(dlx)
                && b.get("destination_type").and_then(Value::as_str) == Some("queue")
        })
        .filter_map(|b| {
            Some((
                b.get("destination")?.as_str()?.to_owned(),
                b.get("routing_key")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    let kind = exchanges.get(dlx).map(String::as_str).unwrap_or("direct");
    let matching = |k: &str| -> Vec<String> {
        bound
            .iter()
            .filter(|(_, bk)| match kind {
                "direct" => bk == k,
                "topic" => topic_matches(bk, k),
                _ => true,
            })
            .map(|(d, _)| d.clone())
            .collect()
    };
    let mut found = match &key {
        Some(k) => matching(k),
        None => {
            let by_name = matching(&q.name);
            if by_name.is_empty() {
                bound.iter().map(|(d, _)| d.clone()).collect()
            } else {
                by_name
            }
        }
    };
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn topic_patterns() {
        assert!(topic_matches("orders.*", "orders.created"));
        assert!(!topic_matches("orders.*", "orders.created.eu"));
        assert!(topic_matches("orders.#", "orders.created.eu"));
        assert!(topic_matches("#", "anything.at.all"));
        assert!(topic_matches("#.dead", "x.dead"));
        assert!(!topic_matches("a.b", "a.c"));
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("/"), "%2F");
        assert_eq!(segment("orders.dlq"), "orders.dlq");
        assert_eq!(segment("a b"), "a%20b");
    }

    #[test]
    fn arguments_win_over_policy() {
        let q = json!({
            "name": "orders", "type": "quorum", "messages": 3,
            "arguments": {"x-dead-letter-exchange": "dlx"},
            "effective_policy_definition": {"dead-letter-exchange": "other", "dead-letter-routing-key": "k", "delivery-limit": 5}
        });
        let s = stats(&q);
        assert_eq!(s.dead_letter_exchange.as_deref(), Some("dlx"));
        assert_eq!(s.dead_letter_routing_key.as_deref(), Some("k"));
        assert_eq!(s.delivery_limit, Some(5));
        assert_eq!(s.kind, "quorum");
    }

    #[test]
    fn routes_through_bindings() {
        let exchanges = HashMap::from([("dlx".to_string(), "direct".to_string())]);
        let bindings = vec![
            json!({"source": "dlx", "destination_type": "queue", "destination": "orders.dlq", "routing_key": "orders"}),
            json!({"source": "dlx", "destination_type": "queue", "destination": "other.dlq", "routing_key": "other"}),
        ];
        let names = BTreeSet::from(["orders", "orders.dlq", "other.dlq"]);
        let q = QueueStats {
            name: "orders".into(),
            dead_letter_exchange: Some("dlx".into()),
            ..Default::default()
        };
        assert_eq!(
            route("dlx", &q, &exchanges, &bindings, &names),
            vec!["orders.dlq"]
        );
        let q2 = QueueStats {
            name: "orders".into(),
            dead_letter_routing_key: Some("orders.dlq".into()),
            ..Default::default()
        };
        assert_eq!(
            route("", &q2, &exchanges, &bindings, &names),
            vec!["orders.dlq"]
        );
    }
}
