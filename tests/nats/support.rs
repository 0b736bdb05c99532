//! What the NATS tests share: an independent async-nats client to set up
//! streams and check their state, real dead-letter advisories, cleanup.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream, AckKind};
use async_nats::HeaderMap;
use futures::StreamExt;

use crate::common;

/// Polls `check` until it returns Some or the deadline passes, without
/// blocking the runtime the NATS client needs to get its answers.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn js() -> jetstream::Context {
    let client = async_nats::connect(common::nats_url().trim_start_matches("nats://"))
        .await
        .expect("NATS on 127.0.0.1:4222 (bash scripts/brokers/nats.sh)");
    jetstream::new(client)
}

/// A unique stream name (letters, digits, dashes) and a subject prefix of its own.
pub fn names(prefix: &str) -> (String, String) {
    let name = common::unique(prefix).to_uppercase();
    let subject = name.to_lowercase().replace('-', "_");
    (name, subject)
}

pub async fn stream(
    js: &jetstream::Context,
    name: &str,
    subjects: Vec<String>,
    direct: bool,
) -> stream::Stream {
    js.create_stream(stream::Config {
        name: name.to_string(),
        subjects,
        allow_direct: direct,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("creating stream {name}: {e}"))
}

pub async fn publish(
    js: &jetstream::Context,
    subject: &str,
    headers: HeaderMap,
    body: &[u8],
) -> u64 {
    js.publish_with_headers(subject.to_string(), headers, body.to_vec().into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

pub async fn count(js: &jetstream::Context, name: &str) -> u64 {
    js.get_stream(name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages
}

pub async fn delete(js: &jetstream::Context, names: &[&str]) {
    for n in names {
        let _ = js.delete_stream(n).await;
    }
}

/// Every message of a stream, in order: (sequence, subject, headers, body).
pub async fn messages(
    js: &jetstream::Context,
    name: &str,
) -> Vec<(u64, String, HeaderMap, Vec<u8>)> {
    let mut s = js.get_stream(name).await.unwrap();
    let state = s.info().await.unwrap().state.clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
    }
    use base64::Engine as _;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .unwrap()
    };
    for seq in state.first_sequence..=state.last_sequence {
        let reply: serde_json::Value = js
            .request(
                format!("STREAM.MSG.GET.{name}"),
                &serde_json::json!({"seq": seq}),
            )
            .await
            .unwrap();
        let m = &reply["message"];
        if m.is_null() {
            continue;
        }
        // The client's raw-get parser keeps one value per header; parse here.
        let mut headers = HeaderMap::new();
        if m["hdrs"].is_string() {
            let block = String::from_utf8(b64(&m["hdrs"])).unwrap();
            for line in block.split("\r\n").skip(1) {
                if let Some((k, v)) = line.split_once(':') {
                    headers.append(k.trim(), v.trim());
                }
            }
        }
        out.push((
            seq,
            m["subject"].as_str().unwrap().to_string(),
            headers,
            b64(&m["data"]),
        ));
    }
    out
}

/// A source stream, a DLQ stream of its advisories, and `failing` bodies
/// that a consumer with max_deliver 2 nak'ed until the server gave up, then
/// `terminated` bodies the consumer terminated. Returns (source, dlq, subject).
pub async fn advisories(
    js: &jetstream::Context,
    failing: &[(&[u8], HeaderMap)],
    terminated: &[(&[u8], HeaderMap)],
) -> (String, String, String) {
    let (src, subject) = names("ADV");
    let dlq = format!("{src}-DLQ");
    stream(js, &src, vec![format!("{subject}.>")], false).await;
    stream(
        js,
        &dlq,
        vec![
            format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{src}.>"),
            format!("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{src}.>"),
        ],
        false,
    )
    .await;
    let s = js.get_stream(&src).await.unwrap();
    let worker = s
        .create_consumer(consumer::pull::Config {
            durable_name: Some("worker".into()),
            max_deliver: 2,
            ack_wait: Duration::from_millis(500),
            ..Default::default()
        })
        .await
        .unwrap();
    let total = failing.len() + terminated.len();
    for (body, headers) in failing {
        publish(js, &format!("{subject}.fail"), headers.clone(), body).await;
    }
    for (body, headers) in terminated {
        publish(js, &format!("{subject}.term"), headers.clone(), body).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(js, &dlq).await < total as u64 {
        assert!(
            Instant::now() < deadline,
            "the server never gave up on the messages"
        );
        let mut batch = worker
            .fetch()
            .max_messages(100)
            .expires(Duration::from_millis(300))
            .messages()
            .await
            .unwrap();
        while let Some(Ok(m)) = batch.next().await {
            if m.subject.ends_with(".term") {
                m.ack_with(AckKind::Term).await.unwrap();
            } else {
                m.ack_with(AckKind::Nak(None)).await.unwrap();
            }
        }
    }
    // The consumer gave up; remove it so nothing reads what retry sends back.
    s.delete_consumer("worker").await.unwrap();
    (src, dlq, subject)
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, *v);
    }
    h
}
