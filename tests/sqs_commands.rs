//! Reads, publish, lag and errors where SQS has its own: attribute types,
//! a source queue that reading could dead-letter, RedrivePolicy links, the
//! bodies SQS refuses, credentials, endpoints and profiles; each checked
//! with an independent aws-sdk-sqs client. What every broker shares is in
//! tests/conformance/.

mod common;
mod sqs_support;

use std::collections::HashSet;

use common::{run, run_with_stdin};
use sqs_support::{attrs_of, group_of, Moto};

#[test]
fn list_peek_export_leave_every_message_visible() {
    let m = Moto::new();
    let (src_name, src, dlq_name, dlq) = m.pair("sqs-read", false);
    for i in 0..12 {
        m.send(
            &src,
            &format!("body {i}"),
            &[
                ("tenant", "String", b"acme"),
                ("sig", "Binary", &[1, 2, 255]),
            ],
            None,
        );
    }
    m.dead_letter(&src, &dlq, 12);

    let r = run(m.dlq().args(["list", &dlq_name, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let envs = r.json();
    let envs = envs.as_array().unwrap();
    assert_eq!(envs.len(), 12);
    let e = &envs[0];
    assert_eq!(e["queue"], dlq_name.as_str());
    assert_eq!(e["dead_letter"]["source"], src_name.as_str());
    assert!(e["dead_letter"]["attempts"].as_u64().unwrap() >= 2);
    assert!(e["dead_letter"]["reason"].is_null());
    assert!(e["key"].is_null());
    assert_eq!(e["headers"]["tenant"], "acme");
    assert_eq!(e["headers"]["sig"], serde_json::json!({"$bytes": "AQL/"}));
    assert_eq!(e["broker"]["MessageAttributeTypes"]["sig"], "Binary");
    assert!(e["broker"]["SentTimestamp"].is_string());
    assert!(e["timestamp"].is_string());
    // Every message is visible again at once, none in flight.
    assert_eq!(m.counts(&dlq), (12, 0));

    let r = run(m
        .dlq()
        .args(["list", &dlq_name, "-o", "ndjson", "--limit", "3"]));
    assert_eq!(r.ndjson().len(), 3);
    assert_eq!(m.counts(&dlq), (12, 0));

    // The source has a RedrivePolicy: reading it could dead-letter its
    // messages, so dlq refuses without --force and receives nothing.
    m.send(&src, "fresh", &[], None);
    let r = run(m.dlq().args(["list", &src_name]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--force"), "{r:?}");
    assert_eq!(m.counts(&src), (1, 0));
    assert_eq!(m.counts(&dlq).0, 12);
    m.delete_queue(&src);
    m.delete_queue(&dlq);
}

#[test]
fn queues_and_lag_thresholds() {
    let m = Moto::new();
    let (src_name, src, dlq_name, dlq) = m.pair("sqs-lag", false);
    for i in 0..3 {
        m.send(&src, &format!("l{i}"), &[], None);
    }
    m.dead_letter(&src, &dlq, 3);
    m.send(&src, "waiting", &[], None);

    let r = run(m.dlq().args(["queues", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let qs = r.json();
    let find = |n: &str| {
        qs.as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(find(&dlq_name)["is_dlq"], true);
    assert_eq!(find(&dlq_name)["sources"][0], src_name.as_str());
    assert_eq!(find(&dlq_name)["depth"], 3);
    assert_eq!(find(&src_name)["dead_letter_queue"], dlq_name.as_str());

    let r = run(m.dlq().args(["lag", &src_name, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let row = &r.json()["rows"][0];
    assert_eq!(row["name"], src_name.as_str());
    assert_eq!(row["lag"], 1);
    assert_eq!(row["visible"], 1, "SQS's own name for it: {r:?}");
    assert_eq!(row["dlq_depth"], 3);
    let r = run(m.dlq().args(["lag", &src_name, "--max-dlq", "0"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&src_name), "{r:?}");
    let r = run(m.dlq().args(["lag", &src_name, "--max-dlq", "10"]));
    assert_eq!(r.code, 0, "{r:?}");
    // lag never receives.
    assert_eq!(m.counts(&src), (1, 0));
    m.delete_queue(&src);
    m.delete_queue(&dlq);
}

#[test]
fn errors_have_the_right_exit_codes() {
    let m = Moto::new();
    let r = run(m.dlq().args(["list", "no-such-queue-dlq-test"]));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("queue not found"), "{r:?}");
    // A host:port is not a region.
    let r = run(common::dlq("sqs://127.0.0.1:4566").args(["queues"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--endpoint-url"), "{r:?}");
    // No credentials at all.
    let r = run(common::dlq("sqs://us-east-1")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "--endpoint-url",
            &common::sqs_endpoint(),
            "--timeout",
            "3s",
            "queues",
        ]));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr
            .contains("loading AWS credentials: none found in the environment"),
        "{r:?}"
    );
    // An ARN and a URL name the same queue as its name.
    let name = common::unique("sqs-arn");
    let url = m.create(&name, &[]);
    m.send(&url, "x", &[], None);
    let arn = format!("arn:aws:sqs:us-east-1:123456789012:{name}");
    for q in [arn.as_str(), url.as_str()] {
        let r = run(m.dlq().args(["list", q, "-o", "json"]));
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(r.json().as_array().unwrap().len(), 1);
    }
    m.delete_queue(&url);
}

/// Attribute types from an envelope, and FIFO groups (the formats
/// themselves are in the conformance suite).
#[test]
fn publish_typed_attributes_and_fifo_groups() {
    let m = Moto::new();
    let name = common::unique("sqs-pub");
    let url = m.create(&name, &[]);
    let env = serde_json::json!({
        "body": "from an envelope",
        "headers": {"sig": "AP8=", "n": "7", "s": "text", "raw": {"$bytes": "AQI="}},
        "broker": {"MessageAttributeTypes": {"sig": "Binary", "n": "Number"}}
    });
    let r = run_with_stdin(
        m.dlq()
            .args(["publish", &name, "--format", "ndjson", "-o", "json"]),
        format!("{env}\n").as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["published"], 1);
    let got = m.take_all(&url);
    assert_eq!(got.len(), 1);
    let e = got
        .iter()
        .find(|g| g.body() == Some("from an envelope"))
        .unwrap();
    let a = attrs_of(e);
    // Declared Binary with plain base64 (older exports), and `$bytes` alone.
    assert_eq!(a["sig"], ("Binary".into(), vec![0, 255]));
    assert_eq!(a["raw"], ("Binary".into(), vec![1, 2]));
    assert_eq!(a["n"], ("Number".into(), b"7".to_vec()));
    assert_eq!(a["s"], ("String".into(), b"text".to_vec()));

    // FIFO: a group is required; with one, order is kept.
    let fname = format!("{}.fifo", common::unique("sqs-pubf"));
    let furl = m.create(
        &fname,
        &[(
            aws_sdk_sqs::types::QueueAttributeName::FifoQueue,
            "true".into(),
        )],
    );
    let r = run(m.dlq().args(["publish", &fname, "--body", "x"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--group-id"), "{r:?}");
    let r = run_with_stdin(
        m.dlq()
            .args(["publish", &fname, "--format", "lines", "--group-id", "g1"]),
        b"a\nb\nc\nd\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    let got = m.take_all(&furl);
    assert_eq!(
        got.iter().map(|g| g.body().unwrap()).collect::<Vec<_>>(),
        ["a", "b", "c", "d"]
    );
    assert_eq!(group_of(&got[0]).as_deref(), Some("g1"));
    m.delete_queue(&url);
    m.delete_queue(&furl);
}

#[test]
fn edge_bodies_sqs_refuses_are_reported_not_mangled() {
    let m = Moto::new();
    let name = common::unique("sqs-edge");
    let url = m.create(&name, &[]);
    let dir = tempfile::tempdir().unwrap();
    let mut ok = Vec::new();
    for (i, body) in common::edge_bodies().into_iter().enumerate() {
        let path = dir.path().join(format!("b{i}"));
        std::fs::write(&path, &body).unwrap();
        let r = run(m.dlq().args([
            "publish",
            &name,
            "--file",
            path.to_str().unwrap(),
            "-o",
            "json",
        ]));
        let sqs_can_carry = !body.is_empty()
            && std::str::from_utf8(&body)
                .is_ok_and(|s| s.chars().all(|c| c >= ' ' || "\t\n\r".contains(c)));
        if sqs_can_carry {
            assert_eq!(r.code, 0, "body {i}: {r:?}");
            ok.push(body);
        } else {
            assert_eq!(r.code, 3, "body {i}: {r:?}");
            let err = r.json()["failures"][0]["error"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(err.contains("SQS"), "{err}");
        }
    }
    // A 1 MiB body is at SQS's limit; one byte over is refused by the broker.
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'a'; 1024 * 1024 + 1]).unwrap();
    let r = run(m.dlq().args([
        "publish",
        &name,
        "--file",
        big.to_str().unwrap(),
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 4, "{r:?}");
    let got = m.take_all(&url);
    let bodies: HashSet<Vec<u8>> = got
        .iter()
        .map(|g| g.body().unwrap().as_bytes().to_vec())
        .collect();
    assert_eq!(bodies, ok.into_iter().collect());
    m.delete_queue(&url);
}

#[test]
fn a_profile_carries_region_and_endpoint() {
    let m = Moto::new();
    let name = common::unique("sqs-profile");
    let url = m.create(&name, &[]);
    m.send(&url, "p", &[], None);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[profiles.moto]\nurl = \"sqs://\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\n",
            common::sqs_endpoint()
        ),
    )
    .unwrap();
    let r = run(std::process::Command::new(env!("CARGO_BIN_EXE_dlq"))
        .envs(sqs_support::ENV)
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_REGION")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("DLQ_BROKER")
        .env("DLQ_JOURNAL", common::test_journal())
        .env("DLQ_CONFIG", &cfg)
        .args(["-p", "moto", "lag", &name, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["rows"][0]["lag"], 1);
    // aws-config's own endpoint variables are honoured.
    let r = run(common::dlq("sqs://us-east-1")
        .envs(sqs_support::ENV)
        .env("AWS_ENDPOINT_URL_SQS", common::sqs_endpoint())
        .args(["lag", &name, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    // The endpoint in the URL works too.
    let r = run(common::dlq(&format!(
        "sqs://us-east-1?endpoint={}",
        common::sqs_endpoint()
    ))
    .envs(sqs_support::ENV)
    .args(["lag", &name, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    m.delete_queue(&url);
}

/// A FIFO queue hands out no more of a group while earlier messages of it
/// are held: a read, or a filtered run, that keeps messages sees the first
/// 10 of the group only, and says so instead of passing for complete.
#[test]
fn a_fifo_read_that_cannot_see_a_whole_group_says_so() {
    let m = Moto::new();
    let name = format!("{}.fifo", common::unique("sqs-fifo-deep"));
    let q = m.create(
        &name,
        &[(
            aws_sdk_sqs::types::QueueAttributeName::FifoQueue,
            "true".to_owned(),
        )],
    );
    for i in 0..15 {
        m.send(&q, &format!("F{i:02}"), &[], Some("G"));
    }
    let r = run(m.dlq().args(["list", &name, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json().as_array().unwrap().len(), 10, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("{name} held 15 messages and 10 could be read")),
        "{r:?}"
    );
    // F12 is past the first 10 of its group: the filtered run cannot reach it, and says so.
    let r = run(m.dlq().args([
        "retry-all",
        &name,
        "--grep",
        "F12",
        "--to",
        &name,
        "--yes",
        "-o",
        "json",
    ]));
    assert_eq!(r.json()["moved"], 0, "{r:?}");
    assert!(
        r.json()["notes"]
            .to_string()
            .contains("held 15 messages and 10 could be read"),
        "{r:?}"
    );
    let (visible, in_flight) = m.counts(&q);
    assert_eq!(visible + in_flight, 15, "nothing taken");
    m.delete_queue(&q);
}

/// Two queues dead-letter into one DLQ: a message that records no origin
/// fails alone, naming both sources to choose from with --to, and stays.
#[test]
fn several_sources_are_named_when_the_origin_is_unknown() {
    let m = Moto::new();
    let (a_name, _a, dlq_name, dlq) = m.pair("sqs-two", false);
    let arn = m.attr(&dlq, aws_sdk_sqs::types::QueueAttributeName::QueueArn);
    let b_name = common::unique("sqs-two-b");
    let b = m.create(
        &b_name,
        &[(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"1"}}"#),
        )],
    );
    m.send(&dlq, "orphan", &[], None);
    let r = run(m
        .dlq()
        .args(["retry-all", &dlq_name, "--yes", "-o", "json"]));
    assert_eq!(r.code, 3, "{r:?}");
    let why = r.json()["failures"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(why.contains("several queues dead-letter into"), "{why}");
    assert!(why.contains(&a_name) && why.contains(&b_name), "{why}");
    assert!(why.contains("--to"), "{why}");
    assert_eq!(m.peek_all(&dlq).len(), 1);
    for q in [&_a, &b, &dlq] {
        m.delete_queue(q);
    }
}
