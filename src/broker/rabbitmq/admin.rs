//! The RabbitMQ management HTTP API: the queue list, dead-letter links, lag
//! figures and queue types, none of which AMQP 0-9-1 can tell.
//!
//! The base URL is the profile's `management_url`, else `http://HOST:PORT`
//! at the AMQP port plus 10000 (15672 for 5672), with the AMQP user and
//! password. Dead-letter links come from each queue's
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
use lapin::uri::AMQPUri;
use serde_json::Value;

use crate::exit::broker_msg;
use crate::http::{Http, Service};
use crate::message::value_text;
use crate::tls::Files;

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
    /// Dead-letter queue to the queues that dead-letter into it, sorted
    /// (each source comes once, in the targets' order).
    pub fn sources(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (src, dsts) in &self.targets {
            for d in dsts {
                out.entry(d.clone()).or_default().push(src.clone());
            }
        }
        out
    }
}

/// Percent-encodes one path segment (a vhost or queue name).
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).into()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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

/// The text field `k` of a JSON object.
fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k)?.as_str()
}

fn stats(q: &Value) -> QueueStats {
    let u = |k: &str| q.get(k).and_then(Value::as_u64);
    let s = |arg: &str, policy: &str| Some(arg_or_policy(q, arg, policy)?.as_str()?.to_owned());
    QueueStats {
        name: text(q, "name").unwrap_or("").to_owned(),
        kind: text(q, "type").unwrap_or("classic").to_owned(),
        messages: u("messages"),
        ready: u("messages_ready"),
        unacked: u("messages_unacknowledged"),
        ready_bytes: u("message_bytes_ready"),
        consumers: u("consumers"),
        head_timestamp: u("head_message_timestamp"),
        dead_letter_exchange: s("x-dead-letter-exchange", "dead-letter-exchange"),
        dead_letter_routing_key: s("x-dead-letter-routing-key", "dead-letter-routing-key"),
        delivery_limit: arg_or_policy(q, "x-delivery-limit", "delivery-limit")
            .and_then(|v| v.as_i64())
            .or_else(|| q.get("delivery_limit").and_then(Value::as_i64)),
    }
}

/// The delivery limit of the policies of `policies` that apply to quorum
/// queue `name` with the highest priority (a pattern that does not compile
/// here is taken to match: a limit is never missed).
fn applying_limit(policies: &[Value], name: &str) -> Option<i64> {
    let priority = |p: &Value| p.get("priority").and_then(Value::as_i64).unwrap_or(0);
    let applies = |p: &&Value| {
        matches!(
            text(p, "apply-to").unwrap_or("all"),
            "all" | "queues" | "quorum_queues"
        ) && text(p, "pattern")
            .is_none_or(|pat| regex::Regex::new(pat).map_or(true, |r| r.is_match(name)))
    };
    let matching: Vec<&Value> = policies.iter().filter(applies).collect();
    let top = matching.iter().map(|p| priority(p)).max()?;
    matching
        .iter()
        .filter(|p| priority(p) == top)
        .filter_map(|p| p.get("definition")?.get("delivery-limit")?.as_i64())
        .min()
}

/// Whether an exchange of type `kind` routes `key` through a binding with
/// `binding_key` (headers and other types: every binding).
pub fn routes(kind: &str, binding_key: &str, key: &str) -> bool {
    match kind {
        "direct" => binding_key == key,
        "topic" => topic_matches(binding_key, key),
        _ => true,
    }
}

/// Whether a topic binding pattern matches a routing key.
fn topic_matches(pattern: &str, key: &str) -> bool {
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
    /// A client at `base` with the user, password and vhost of the AMQP URL.
    pub fn new(base: String, uri: &AMQPUri, timeout: Duration, tls: &Files) -> Result<Self> {
        let user = &uri.authority.userinfo;
        let auth = Some((user.username.clone(), user.password.clone()));
        let service = Service {
            name: "rabbitmq",
            api: "management API",
            unreachable: "is the rabbitmq_management plugin on? set management_url in the profile",
            forbidden: "the user needs the management or monitoring tag",
        };
        Ok(Admin {
            http: Http::new(service, &base, auth, timeout, tls)?,
            vhost: uri.vhost.clone(),
        })
    }

    /// GET a path under `/api`; None on 404.
    async fn get(&self, path: &str) -> Result<Option<Value>> {
        self.http.get(&format!("api/{path}")).await
    }

    /// GET a list under `/api`; empty on 404.
    async fn list(&self, path: &str) -> Result<Vec<Value>> {
        match self.get(path).await? {
            Some(Value::Array(a)) => Ok(a),
            _ => Ok(Vec::new()),
        }
    }

    /// PUT or DELETE a path under `/api`; a DELETE of what is gone is fine.
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<()> {
        self.http.send(method, &format!("api/{path}"), body).await
    }

    /// The path of the dynamic shovel `name` of the vhost, under `/api`.
    pub fn shovel_path(&self, name: &str) -> String {
        let (vhost, name) = (segment(&self.vhost), segment(name));
        format!("parameters/shovel/{vhost}/{name}")
    }

    /// Creates (or replaces) the dynamic shovel `name` of the vhost.
    pub async fn put_shovel(&self, name: &str, value: &Value) -> Result<()> {
        let body = serde_json::json!({ "value": value });
        let path = self.shovel_path(name);
        self.send(reqwest::Method::PUT, &path, Some(&body)).await
    }

    /// Whether the shovel's parameter still exists (a shovel with
    /// `src-delete-after` removes it when done).
    pub async fn shovel_exists(&self, name: &str) -> Result<bool> {
        Ok(self.get(&self.shovel_path(name)).await?.is_some())
    }

    /// The shovel's state and reason as the status API reports them
    /// (`running`, `starting`, `terminated`), None when not listed.
    pub async fn shovel_state(&self, name: &str) -> Result<Option<(String, Option<String>)>> {
        let all = self
            .list(&format!("shovels/{}", segment(&self.vhost)))
            .await?;
        Ok(all.iter().find(|s| text(s, "name") == Some(name)).map(|s| {
            let state = text(s, "state").unwrap_or("").to_owned();
            (state, s.get("reason").map(value_text))
        }))
    }

    pub async fn delete_shovel(&self, name: &str) -> Result<()> {
        let path = self.shovel_path(name);
        self.send(reqwest::Method::DELETE, &path, None).await
    }

    /// The routing keys an exchange's queue bindings use, with its type;
    /// None when the exchange does not exist.
    pub async fn exchange_bindings(&self, name: &str) -> Result<Option<(String, Vec<String>)>> {
        let path = format!("exchanges/{}/{}", segment(&self.vhost), segment(name));
        let Some(x) = self.get(&path).await? else {
            return Ok(None);
        };
        let kind = text(&x, "type").unwrap_or("direct").to_owned();
        let bindings = self.list(&format!("{path}/bindings/source")).await?;
        let keys = bindings.iter().filter_map(|b| text(b, "routing_key"));
        Ok(Some((kind, keys.map(str::to_owned).collect())))
    }

    /// The base URL, for the commands dlq prints.
    pub fn base(&self) -> &str {
        self.http.base()
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
        let path = format!("queues/{}/{}", segment(&self.vhost), segment(name));
        Ok(self.get(&path).await?.as_ref().map(stats))
    }

    /// The delivery limit the vhost's policies give quorum queue `name`, as
    /// RabbitMQ applies them: of the policies and of the operator policies,
    /// the matching ones of the highest priority, the lower limit of the
    /// two. Asked of the policies themselves, which a new policy reaches at
    /// once; the queue's own figures in the API follow seconds later.
    pub async fn policy_delivery_limit(&self, name: &str) -> Result<Option<i64>> {
        let vh = segment(&self.vhost);
        let mut limits = Vec::new();
        for kind in ["policies", "operator-policies"] {
            let list = self.list(&format!("{kind}/{vh}")).await?;
            limits.extend(applying_limit(&list, name));
        }
        Ok(limits.into_iter().min())
    }

    /// Every queue of the vhost with the dead-letter graph.
    pub async fn topology(&self) -> Result<Topology> {
        let vh = segment(&self.vhost);
        let queues: Vec<QueueStats> = self
            .list(&format!("queues/{vh}"))
            .await?
            .iter()
            .map(stats)
            .collect();
        if queues.is_empty() && self.get(&format!("vhosts/{vh}")).await?.is_none() {
            let vhost = &self.vhost;
            return Err(broker_msg(format!("rabbitmq: vhost '{vhost}' not found")));
        }
        let exchanges = self.list(&format!("exchanges/{vh}")).await?;
        let exchanges: HashMap<&str, &str> = exchanges
            .iter()
            .filter_map(|e| Some((text(e, "name")?, text(e, "type")?)))
            .collect();
        let bindings = self.list(&format!("bindings/{vh}")).await?;
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
    exchanges: &HashMap<&str, &str>,
    bindings: &[Value],
    names: &BTreeSet<&str>,
) -> Vec<String> {
    let key = q.dead_letter_routing_key.clone();
    if dlx.is_empty() {
        let target = key.unwrap_or_else(|| q.name.clone());
        let found = names.contains(target.as_str()) && target != q.name;
        return found.then_some(target).into_iter().collect();
    }
    let bound: Vec<(&str, &str)> = bindings
        .iter()
        .filter(|b| text(b, "source") == Some(dlx) && text(b, "destination_type") == Some("queue"))
        .filter_map(|b| Some((text(b, "destination")?, text(b, "routing_key")?)))
        .collect();
    let kind = exchanges.get(dlx).copied().unwrap_or("direct");
    let matching = |k: &str| -> Vec<String> {
        bound
            .iter()
            .filter(|(_, bk)| routes(kind, bk, k))
            .map(|(d, _)| d.to_string())
            .collect()
    };
    let mut found = match &key {
        Some(k) => matching(k),
        // Every bound queue when none takes the queue's name.
        None => Some(matching(&q.name))
            .filter(|by_name| !by_name.is_empty())
            .unwrap_or_else(|| bound.iter().map(|(d, _)| d.to_string()).collect()),
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
    fn the_highest_priority_matching_policy_sets_the_delivery_limit() {
        let p = |pattern: &str, to: &str, prio: i64, def: serde_json::Value| json!({"pattern": pattern, "apply-to": to, "priority": prio, "definition": def});
        let policies = [
            p("^orders$", "queues", 0, json!({"delivery-limit": 3})),
            p("^other$", "all", 9, json!({"delivery-limit": 1})),
            p("^ord", "exchanges", 9, json!({"delivery-limit": 1})),
        ];
        assert_eq!(applying_limit(&policies, "orders"), Some(3));
        assert_eq!(applying_limit(&policies, "billing"), None);
        // A higher priority policy without a limit is the one that applies.
        let mut over = policies.to_vec();
        over.push(p(".*", "quorum_queues", 5, json!({"max-length": 10})));
        assert_eq!(applying_limit(&over, "orders"), None);
        // A pattern that does not compile here counts as matching.
        assert_eq!(
            applying_limit(&[p("(?<=x)y", "all", 0, json!({"delivery-limit": 2}))], "q"),
            Some(2)
        );
    }

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
        let exchanges = HashMap::from([("dlx", "direct")]);
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
