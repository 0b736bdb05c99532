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
