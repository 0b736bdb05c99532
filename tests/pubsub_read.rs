//! What Pub/Sub has of its own, read side, on the emulator: dead letters the
//! server made, read through the dlq binary and checked through the REST
//! harness (`tests/pubsub_support`): reads change nothing and give every
//! message back at once, the `pubsub-dead-letter` convention with the source
//! subscription's topic as origin, the refusal to pull from a subscription
//! with its own dead-letter policy, DLQ links in `queues`, lag null (never 0)
//! without Cloud Monitoring, and hostile input.

mod common;
mod pubsub_support;

use std::collections::BTreeSet;

use common::run;
use pubsub_support::{Emulator, Out, Setup};
use serde_json::Value;

fn messages() -> Vec<Out> {
    vec![
        Out::new(r#"{"order_id":1}"#).attr("tenant", "acme"),
        Out::new("plain text two").attr("tenant", "globex"),
        Out::new(vec![0u8, 0xff, 0xfe, b'x']).attr("kind", "binary"),
    ]
}

/// A message as the harness reads it back: ID, body, attributes.
type Seen = (String, Vec<u8>, Vec<(String, String)>);

/// What is on the DLQ, by message ID.
fn state(e: &Emulator, s: &Setup) -> Vec<Seen> {
    e.peek_all(&s.dlq)
        .into_iter()
        .map(|m| {
            (
                m.message_id,
                m.data,
                m.attributes.into_iter().collect::<Vec<_>>(),
            )
        })
        .collect()
}

fn ids_of(envelopes: &[Value]) -> BTreeSet<String> {
    envelopes
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn reads_show_dead_letters_and_change_nothing() {
    let e = Emulator::new();
    let s = e.setup("ps-read");
    let ids = e.dead_letter(&s, &messages());
    let before = state(&e, &s);
    assert_eq!(before.len(), 3);

    let listed = run(e.dlq().args(["list", &s.dlq, "-o", "json"]));
    assert_eq!(listed.code, 0, "{listed:?}");
    let envs = listed.json().as_array().unwrap().clone();
    assert_eq!(ids_of(&envs), ids.iter().cloned().collect());
    for env in &envs {
        let dl = &env["dead_letter"];
        assert_eq!(dl["convention"], "pubsub-dead-letter", "{env}");
        assert_eq!(dl["source"], s.source.as_str());
        assert_eq!(dl["attempts"], 5);
        assert_eq!(dl["origin"]["kind"], "topic");
        assert_eq!(dl["origin"]["name"], s.topic.as_str());
        assert_eq!(env["queue"], s.dlq.as_str());
        assert_eq!(env["broker"]["message_id"], env["id"]);
        assert!(env["broker"]["publish_time"].is_string(), "{env}");
        assert!(env["broker"]["delivery_attempt"].is_null(), "{env}");
        assert_eq!(
            env["headers"]["CloudPubSubDeadLetterSourceSubscription"],
            s.source.as_str()
        );
    }
    let binary = envs
        .iter()
        .find(|e| e["headers"]["kind"] == "binary")
        .unwrap();
    assert!(binary["body"].is_null());
    assert_eq!(binary["body_base64"], "AP/+eA==");
    // Given back at once: every message is there right after each read.
    assert_eq!(state(&e, &s), before);

    let again = run(e.dlq().args(["list", &s.dlq, "-o", "ndjson"]));
    assert_eq!(ids_of(&again.ndjson()), ids.iter().cloned().collect());
    let one = &ids[1];
    let peek = run(e.dlq().args(["peek", &s.dlq, one, "-o", "json"]));
    assert_eq!(peek.code, 0, "{peek:?}");
    assert!(peek.stdout.contains(one.as_str()), "{peek:?}");
    let export = run(e.dlq().args(["export", &s.dlq]));
    assert_eq!(export.code, 0, "{export:?}");
    assert_eq!(export.ndjson().len(), 3);
    let stats = run(e
        .dlq()
        .args(["stats", &s.dlq, "--by", "header:tenant", "-o", "json"]));
    assert_eq!(stats.code, 0, "{stats:?}");
    assert_eq!(stats.json()["total"], 3);
    let table = run(e.dlq().args(["list", &s.dlq, "-o", "table"]));
    assert!(table.stdout.contains(&s.source), "{table:?}");
    assert_eq!(state(&e, &s), before);

    let missing = run(e.dlq().args(["peek", &s.dlq, "999999999"]));
    assert_eq!(missing.code, 4, "{missing:?}");
    assert_eq!(state(&e, &s), before);
    e.cleanup(&s);
}

#[test]
fn a_subscription_with_its_own_dead_letter_policy_needs_force() {
    let e = Emulator::new();
    let s = e.setup("ps-force");
    e.publish(&s.topic, &[Out::new("waiting")]);
    let refused = run(e.dlq().args(["list", &s.source]));
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(refused.stderr.contains("--force"), "{refused:?}");
    assert!(refused.stderr.contains(&s.dead_letter_topic), "{refused:?}");
    // Nothing was pulled: the harness's pull is the first delivery.
    let first = e.pull(&s.source, 10);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].delivery_attempt, Some(1));
    e.nack(&s.source, &first);

    let forced = run(e.dlq().args(["list", &s.source, "--force", "-o", "json"]));
    assert_eq!(forced.code, 0, "{forced:?}");
    let envs = forced.json();
    assert_eq!(envs.as_array().unwrap().len(), 1);
    assert_eq!(envs[0]["broker"]["delivery_attempt"], 2);
    // dlq's read was a delivery attempt of its own, and gave the message back.
    let next = e.pull(&s.source, 10);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].delivery_attempt, Some(3));
    e.nack(&s.source, &next);
    e.cleanup(&s);
}

#[test]
fn ordering_key_is_the_key() {
    let e = Emulator::new();
    let topic = common::unique("ps-key");
    let sub = format!("{topic}-sub");
    e.create_topic(&topic);
    e.create_subscription(&sub, &topic, None);
    let mut m = Out::new("keyed").attr("a", "1");
    m.ordering_key = Some("customer-7".into());
    e.publish(&topic, &[m, Out::new("unkeyed")]);
    let out = run(e.dlq().args(["list", &sub, "-o", "json"]));
    assert_eq!(out.code, 0, "{out:?}");
    let envs = out.json();
    let keyed = envs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["body"] == "keyed")
        .unwrap();
    assert_eq!(keyed["key"], "customer-7");
    assert_eq!(keyed["broker"]["ordering_key"], "customer-7");
    assert!(keyed["dead_letter"]["convention"].is_null());
    let unkeyed = envs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["body"] == "unkeyed")
        .unwrap();
    assert!(unkeyed["key"].is_null());
    assert_eq!(e.peek_all(&sub).len(), 2);
    e.delete_subscription(&sub);
    e.delete_topic(&topic);
}

#[test]
fn queues_link_the_dlq_subscription_to_its_sources() {
    let e = Emulator::new();
    let s = e.setup("ps-queues");
    let out = run(e.dlq().args(["queues", "-o", "json"]));
    assert_eq!(out.code, 0, "{out:?}");
    let rows = out.json();
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no row {name}: {rows}"))
    };
    let dlq = row(&s.dlq);
    assert_eq!(dlq["kind"], "subscription");
    assert_eq!(dlq["is_dlq"], true);
    assert_eq!(dlq["sources"], serde_json::json!([s.source]));
    assert!(dlq["depth"].is_null(), "unknown, never 0: {dlq}");
    let source = row(&s.source);
    assert_eq!(source["is_dlq"], false);
    assert_eq!(source["dead_letter_queue"], s.dlq.as_str());
    assert_eq!(source["dead_letter_topic"], s.dead_letter_topic.as_str());
    assert_eq!(source["max_delivery_attempts"], 5);
    assert_eq!(row(&s.topic)["kind"], "topic");
    assert_eq!(
        out.stderr.matches("no Cloud Monitoring").count(),
        1,
        "{out:?}"
    );
    e.cleanup(&s);
}

#[test]
fn lag_is_null_on_the_emulator_and_thresholds_warn() {
    let e = Emulator::new();
    let s = e.setup("ps-lag");
    e.publish(&s.topic, &[Out::new("waiting")]);
    let out = run(e.dlq().args(["lag", &s.source, "-o", "json"]));
    assert_eq!(out.code, 0, "{out:?}");
    let row = &out.json()["rows"][0];
    assert_eq!(row["name"], s.source.as_str());
    assert!(row["lag"].is_null(), "{row}");
    assert!(row["oldest_age_seconds"].is_null(), "{row}");
    assert!(row["dlq_depth"].is_null(), "{row}");
    assert_eq!(row["dead_letter_queue"], s.dlq.as_str());
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");

    let t = run(e.dlq().args([
        "lag",
        &s.source,
        "--max-lag",
        "0",
        "--max-age",
        "1s",
        "--max-dlq",
        "0",
    ]));
    assert_eq!(t.code, 0, "{t:?}");
    for flag in ["--max-lag", "--max-age", "--max-dlq"] {
        assert!(
            t.stderr.contains(&format!("{flag} was not checked")),
            "{flag}: {t:?}"
        );
    }
    let prom = run(e.dlq().args(["lag", &s.source, "-o", "prometheus"]));
    assert_eq!(prom.code, 0, "{prom:?}");
    assert!(
        !prom.stdout.lines().any(|l| l.starts_with("dlq_lag{")),
        "{prom:?}"
    );
    // The read side never pulled: the first delivery is still to come.
    let first = e.pull(&s.source, 10);
    assert_eq!(first[0].delivery_attempt, Some(1));
    e.nack(&s.source, &first);
    e.cleanup(&s);
}

#[test]
fn hostile_input_is_one_line() {
    let e = Emulator::new();
    let s = e.setup("ps-bad");
    let one_line = |out: &common::Run, code: i32| {
        assert_eq!(out.code, code, "{out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        assert!(out.stderr.starts_with("dlq: error: "), "{out:?}");
    };
    let bad = run(e.dlq().args(["list", "bad name!\u{1b}[31m"]));
    one_line(&bad, 2);
    assert!(bad.stderr.contains("only letters"), "{bad:?}");
    assert!(!bad.stderr.contains('\u{1b}'), "escaped: {bad:?}");
    let unknown_project = run(common::dlq("pubsub://no-such-project-zz")
        .args(["--endpoint-url", &pubsub_support::endpoint()])
        .args(["list", &s.dlq]));
    one_line(&unknown_project, 4);
    assert!(
        unknown_project.stderr.contains("not found"),
        "{unknown_project:?}"
    );
    let topic = run(e.dlq().args(["list", &s.topic]));
    one_line(&topic, 4);
    assert!(topic.stderr.contains("is a topic"), "{topic:?}");
    let lag = run(e.dlq().args(["lag", "no-such-sub-zz"]));
    one_line(&lag, 4);
    for url in [
        "pubsub://",
        "pubsub://my/project",
        "pubsub://p?endpoint=http://127.0.0.1:port",
    ] {
        one_line(&run(common::dlq(url).args(["queues"])), 2);
    }
    let refused = run(common::dlq("pubsub://p?endpoint=http://127.0.0.1:1").args(["queues"]));
    one_line(&refused, 4);
    e.cleanup(&s);
}
