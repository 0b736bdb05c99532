//! What Pub/Sub has of its own, on the side that changes messages, on the
//! emulator, checked through the REST harness (`tests/pubsub_support`):
//! retry names the other subscriptions of the origin topic (which get the
//! copy too), `--native` is refused before connecting, a subscription with
//! its own dead-letter policy is not pulled from without `--force`, the
//! ordering key and attributes travel with the copy, and hostile input is
//! one line with exit 2 or 4.

mod common;
mod pubsub_support;

use common::run;
use pubsub_support::{Emulator, Out};

#[test]
fn retry_names_the_other_subscriptions_and_they_get_the_copy() {
    let e = Emulator::new();
    let s = e.setup("ps-fan");
    let audit = format!("{}-audit", s.topic);
    e.create_subscription(&audit, &s.topic, None);
    let mut keyed = Out::new("keyed").attr("tenant", "acme");
    keyed.ordering_key = Some("customer-7".into());
    e.dead_letter(&s, &[keyed, Out::new("plain").attr("tenant", "globex")]);
    // The audit subscription saw the originals; start from nothing there.
    let old = e.peek_all(&audit);
    e.ack(&audit, &e.pull(&audit, 1000));
    assert_eq!(old.len(), 2);

    let dry = run(e
        .dlq()
        .args(["retry-all", &s.dlq, "--dry-run", "-o", "json"]));
    assert_eq!(dry.code, 0, "{dry:?}");
    let notes = dry.json()["notes"].to_string();
    assert!(notes.contains(&audit), "dry run names {audit}: {dry:?}");
    assert!(!notes.contains(&format!("{}\"", s.source)), "{dry:?}");
    assert_eq!(e.peek_all(&s.dlq).len(), 2, "a dry run changes nothing");

    let r = run(e.dlq().args(["retry-all", &s.dlq, "--yes", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], 2, "{r:?}");
    assert!(r.json()["notes"].to_string().contains(&audit), "{r:?}");
    assert!(e.peek_all(&s.dlq).is_empty(), "the DLQ is empty");
    let got = e.peek_all(&audit);
    assert_eq!(got.len(), 2, "the audit subscription got each copy");
    let k = got.iter().find(|m| m.data == b"keyed").expect("keyed copy");
    assert_eq!(k.ordering_key.as_deref(), Some("customer-7"));
    assert_eq!(k.attributes["tenant"], "acme");
    assert_eq!(k.attributes["dlq-redrive-count"], "1");
    e.delete_subscription(&audit);
    e.cleanup(&s);
}

#[test]
fn native_is_refused_before_connecting() {
    let mut c = common::dlq("pubsub://dlq-test");
    let r = run(c.env_remove("PUBSUB_EMULATOR_HOST").args([
        "--endpoint-url",
        "http://127.0.0.1:9",
        "retry-all",
        "some-dlq",
        "--native",
        "--yes",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--native"), "{r:?}");
    assert_eq!(r.stderr.trim().lines().count(), 1, "{r:?}");
}

#[test]
fn purge_and_retry_refuse_a_subscription_with_its_own_policy_without_force() {
    let e = Emulator::new();
    let s = e.setup("ps-force");
    e.publish(&s.topic, &[Out::new("waiting").attr("k", "v")]);
    for args in [
        vec![
            "retry-all",
            s.source.as_str(),
            "--to",
            s.topic.as_str(),
            "--yes",
        ],
        vec!["purge", s.source.as_str(), "--header", "k=v", "--yes"],
    ] {
        let r = run(e.dlq().args(&args));
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains("--force"), "{r:?}");
    }
    let left = e.pull(&s.source, 10);
    assert_eq!(left.len(), 1, "still there");
    assert_eq!(left[0].delivery_attempt, Some(1), "never pulled by dlq");
    e.nack(&s.source, &left);
    let r = run(e
        .dlq()
        .args(["purge", &s.source, "--header", "k=v", "--force", "--yes"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(e.pull(&s.source, 10).is_empty());
    e.cleanup(&s);
}

#[test]
fn hostile_input_is_one_line() {
    let e = Emulator::new();
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["retry-all", "bad name!", "--yes"], 2),
        (vec!["purge", "bad name!", "--yes"], 2),
        (vec!["publish", "bad/topic", "--body", "x"], 2),
        (vec!["retry-all", "no-such-sub-xyz", "--yes"], 4),
        (vec!["purge", "no-such-sub-xyz", "--yes"], 4),
        (vec!["publish", "no-such-topic-xyz", "--body", "x"], 4),
        (
            vec!["retry-all", "no-such-sub-xyz", "--to", "bad topic", "--yes"],
            4,
        ),
    ];
    for (args, code) in cases {
        let r = run(e.dlq().args(&args));
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {r:?}");
        assert!(r.stderr.starts_with("dlq: error:"), "{args:?}: {r:?}");
    }
    let mut c = common::dlq("pubsub://no-such-project-xyz");
    let r = run(c.env_remove("PUBSUB_EMULATOR_HOST").args([
        "--endpoint-url",
        &pubsub_support::endpoint(),
        "retry-all",
        "orders-dlq",
        "--yes",
    ]));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("no-such-project-xyz"), "{r:?}");
    let r = run(common::dlq("pubsub://bad/project").args(["purge", "x-dlq", "--yes"]));
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn publish_sends_headers_as_attributes_and_key_as_ordering_key() {
    let e = Emulator::new();
    let topic = common::unique("ps-pub");
    let sub = format!("{topic}-sub");
    e.create_topic(&topic);
    e.create_subscription(&sub, &topic, None);
    let r = run(e.dlq().args([
        "publish",
        &topic,
        "--body",
        "hello",
        "--header",
        "tenant=acme",
        "--key",
        "k1",
        "--count",
        "3",
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["published"], 3);
    let got = e.peek_all(&sub);
    assert_eq!(got.len(), 3);
    for m in &got {
        assert_eq!(m.data, b"hello");
        assert_eq!(m.attributes["tenant"], "acme");
        assert_eq!(m.ordering_key.as_deref(), Some("k1"));
    }
    // An attribute Pub/Sub reserves fails alone.
    let r = run(e
        .dlq()
        .args(["publish", &topic, "--body", "x", "--header", "googthing=1"]));
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("goog") || r.stdout.contains("goog"),
        "{r:?}"
    );
    e.delete_subscription(&sub);
    e.delete_topic(&topic);
}

/// A paced re-drive acknowledges each original and records it in the
/// journal as it goes, not at the end of the run: killed midway, every
/// message the journal names as moved has its copy at the origin and is
/// off the DLQ, and every message is in one place or the other.
#[test]
fn a_paced_retry_all_records_each_move_as_it_goes() {
    let e = Emulator::new();
    let s = e.setup("ps-pace");
    let n = 10;
    let msgs: Vec<Out> = (0..n).map(|i| Out::new(format!("m{i}"))).collect();
    e.dead_letter(&s, &msgs);
    // The dead-lettering attempts left nothing on the source subscription.
    assert!(e.peek_all(&s.source).is_empty());
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.ndjson");
    let mut child = e
        .dlq()
        .env("DLQ_JOURNAL", &journal)
        .args(["retry-all", &s.dlq, "--rate", "4", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let moved = || -> Vec<String> {
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["type"] == "message" && r["action"] == "moved")
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    common::wait_for(
        "a moved message in the journal while the run goes on",
        std::time::Duration::from_secs(30),
        || {
            if !moved().is_empty() {
                return Some(());
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before it recorded any message"
            );
            None
        },
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let recorded = moved();
    assert!(recorded.len() < n, "killed midway: {recorded:?}");
    let copies = e.peek_all(&s.source);
    let copied: Vec<&[u8]> = copies.iter().map(|m| m.data.as_slice()).collect();
    // The originals the run held come back once their lease ends.
    let left = common::wait_for(
        "the unacknowledged originals back on the DLQ",
        std::time::Duration::from_secs(60),
        || {
            let left = e.peek_all(&s.dlq);
            (left.len() + recorded.len() >= n).then_some(left)
        },
    );
    assert_eq!(
        left.len() + recorded.len(),
        n,
        "every recorded original acknowledged, no other"
    );
    for id in &recorded {
        assert!(
            left.iter().all(|m| &m.message_id != id),
            "{id} recorded as moved but still on the DLQ"
        );
    }
    for m in &msgs {
        let on_dlq = left.iter().any(|l| l.data == m.data);
        assert!(
            on_dlq || copied.contains(&m.data.as_slice()),
            "{:?} lost",
            m.data
        );
    }
    assert!(
        copies.len() >= recorded.len(),
        "{} copies for {} recorded",
        copies.len(),
        recorded.len()
    );
    e.cleanup(&s);
}

/// A full purge removes what another subscriber holds too: after pulling
/// and acknowledging what it can (the emulator cannot count by Monitoring),
/// it seeks the subscription to the present.
#[test]
fn a_full_purge_removes_what_another_subscriber_holds() {
    let e = Emulator::new();
    let topic = common::unique("ps-held");
    let sub = format!("{topic}-sub");
    e.create_topic(&topic);
    e.create_subscription(&sub, &topic, None);
    e.publish(&topic, &[Out::new("a"), Out::new("b"), Out::new("c")]);
    let held = common::wait_for(
        "a message to hold",
        std::time::Duration::from_secs(10),
        || {
            let got = e.pull(&sub, 1);
            (!got.is_empty()).then_some(got)
        },
    );
    let r = run(e.dlq().args(["purge", &sub, "--yes", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["purged"], 2, "{r:?}");
    assert!(
        r.json()["notes"]
            .to_string()
            .contains("sought to the present"),
        "{r:?}"
    );
    // Given back by its holder, the held message would be delivered again, unless the seek took it.
    let _ = e.call(
        "POST",
        &format!("subscriptions/{sub}:modifyAckDeadline"),
        serde_json::json!({"ackIds": [held[0].ack_id], "ackDeadlineSeconds": 0}),
    );
    assert!(
        e.peek_all(&sub).is_empty(),
        "{:?} survived the purge",
        held[0].data
    );
    e.delete_subscription(&sub);
    e.delete_topic(&topic);
}
