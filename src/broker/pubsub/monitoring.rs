//! Counts and ages, which Pub/Sub keeps only in Cloud Monitoring.
//!
//! The Pub/Sub API says nothing about how many messages wait on a
//! subscription. Cloud Monitoring samples it every minute:
//! `subscription/num_undelivered_messages` and
//! `subscription/oldest_unacked_message_age` (seconds), per subscription ID.
//! One `timeSeries.list` call per metric (paged) covers every subscription of
//! the project; the newest point of the last ten minutes is the value, so a
//! count is up to a few minutes old. Where Monitoring cannot be asked (the
//! emulator has none; credentials without `monitoring.timeSeries.list`), the
//! caller gets the reason once and shows the values as unknown, never as 0.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use token_source::TokenSource;

use crate::message::rfc3339;

const API: &str = "https://monitoring.googleapis.com/v3";
const UNDELIVERED: &str = "pubsub.googleapis.com/subscription/num_undelivered_messages";
const OLDEST: &str = "pubsub.googleapis.com/subscription/oldest_unacked_message_age";

/// Where counts come from.
pub enum Monitoring {
    /// Counts are unknown, for this reason.
    Unavailable(String),
    Api {
        project: String,
        token: Arc<dyn TokenSource>,
        http: reqwest::Client,
    },
}

/// The latest figures of each subscription ID.
#[derive(Debug, Default)]
pub struct Counts {
    pub undelivered: HashMap<String, u64>,
    pub oldest_age: HashMap<String, Duration>,
}

impl Monitoring {
    pub fn new(project: &str, token: Arc<dyn TokenSource>, timeout: Duration) -> Self {
        match reqwest::Client::builder().timeout(timeout).build() {
            Ok(http) => Monitoring::Api {
                project: project.to_owned(),
                token,
                http,
            },
            Err(e) => Monitoring::Unavailable(format!("no HTTP client for Cloud Monitoring: {e}")),
        }
    }

    /// Every subscription's figures, or why there are none.
    pub async fn counts(&self) -> Result<Counts, String> {
        let (project, token, http) = match self {
            Monitoring::Unavailable(why) => return Err(why.clone()),
            Monitoring::Api {
                project,
                token,
                http,
            } => (project, token, http),
        };
        let undelivered = series(http, token.as_ref(), project, UNDELIVERED).await?;
        let oldest = series(http, token.as_ref(), project, OLDEST).await?;
        Ok(Counts {
            undelivered,
            oldest_age: oldest
                .into_iter()
                .map(|(k, v)| (k, Duration::from_secs(v)))
                .collect(),
        })
    }
}

/// The newest value of `metric` per subscription ID, over every page.
async fn series(
    http: &reqwest::Client,
    token: &dyn TokenSource,
    project: &str,
    metric: &str,
) -> Result<HashMap<String, u64>, String> {
    let bearer = token
        .token()
        .await
        .map_err(|e| format!("no token for Cloud Monitoring: {e}"))?;
    let now = SystemTime::now();
    let start = rfc3339(now - Duration::from_secs(600));
    let end = rfc3339(now);
    let filter = format!("metric.type = \"{metric}\"");
    let mut out = HashMap::new();
    let mut page = String::new();
    loop {
        let mut query = vec![
            ("filter", filter.as_str()),
            ("interval.startTime", start.as_str()),
            ("interval.endTime", end.as_str()),
        ];
        if !page.is_empty() {
            query.push(("pageToken", page.as_str()));
        }
        let resp = http
            .get(format!("{API}/projects/{project}/timeSeries"))
            .header("authorization", &bearer)
            .query(&query)
            .send()
            .await
            .map_err(|e| format!("Cloud Monitoring did not answer: {e}"))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| format!("Cloud Monitoring answered {status} without JSON: {e}"))?;
        if !status.is_success() {
            let msg = body["error"]["message"].as_str().unwrap_or("");
            return Err(format!(
                "Cloud Monitoring refused ({status}: {msg}); reading counts needs monitoring.timeSeries.list (roles/monitoring.viewer)"
            ));
        }
        out.extend(latest(&body));
        match body["nextPageToken"].as_str() {
            Some(t) if !t.is_empty() => page = t.to_owned(),
            _ => return Ok(out),
        }
    }
}

/// (subscription ID, newest value) of each series of a `timeSeries.list`
/// page; points come newest first, int64 values as JSON strings.
fn latest(page: &Value) -> Vec<(String, u64)> {
    page["timeSeries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let id = s["resource"]["labels"]["subscription_id"].as_str()?;
            let v = &s["points"][0]["value"]["int64Value"];
            let n = v
                .as_str()
                .and_then(|t| t.parse().ok())
                .or_else(|| v.as_u64())?;
            Some((id.to_owned(), n))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn newest_point_of_each_series() {
        let page = json!({"timeSeries": [
            {"resource": {"labels": {"subscription_id": "orders", "project_id": "p"}},
             "points": [{"value": {"int64Value": "42"}}, {"value": {"int64Value": "40"}}]},
            {"resource": {"labels": {"subscription_id": "orders-dlq"}},
             "points": [{"value": {"int64Value": 3}}]},
            {"resource": {"labels": {}}, "points": [{"value": {"int64Value": "1"}}]},
            {"resource": {"labels": {"subscription_id": "empty"}}, "points": []}
        ]});
        assert_eq!(
            latest(&page),
            vec![("orders".to_owned(), 42), ("orders-dlq".to_owned(), 3)]
        );
        assert!(latest(&json!({})).is_empty());
    }
}
