//! Reads, publish, purge, lag and errors on SQS (moto), each checked with
//! an independent aws-sdk-sqs client.

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

    let id = e["id"].as_str().unwrap();
    let r = run(m.dlq().args(["peek", &dlq_name, id, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()[0]["id"], id);
    let r = run(m
        .dlq()
        .args(["list", &dlq_name, "-o", "ndjson", "--limit", "3"]));
    assert_eq!(r.ndjson().len(), 3);
    let r = run(m.dlq().args(["export", &dlq_name]));
    assert_eq!(r.code, 0, "{r:?}");
    let ids: HashSet<String> = r
        .ndjson()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 12);
    assert_eq!(m.counts(&dlq), (12, 0));
    let r = run(m.dlq().args(["peek", &dlq_name, "not-an-id"]));
    assert_ne!(r.code, 0, "{r:?}");

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
    assert_eq!(row["dlq_depth"], 3);
    let r = run(m.dlq().args(["lag", &src_name, "--max-dlq", "0"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&src_name), "{r:?}");
    let r = run(m
        .dlq()
        .args(["lag", &src_name, "--max-lag", "0", "--max-dlq", "10"]));
    assert_eq!(r.code, 1, "{r:?}");
    let r = run(m
        .dlq()
        .args(["lag", &src_name, "--max-lag", "5", "--max-dlq", "10"]));
    assert_eq!(r.code, 0, "{r:?}");
    // lag never receives.
    assert_eq!(m.counts(&src), (1, 0));
    m.delete_queue(&src);
    m.delete_queue(&dlq);
}

#[test]
fn errors_have_the_right_exit_codes() {
    let m = Moto::new();
    for args in [
        vec!["list", "no-such-queue-dlq-test"],
        vec!["lag", "no-such-queue-dlq-test"],
        vec!["retry-all", "no-such-queue-dlq-test", "--yes"],
        vec!["purge", "no-such-queue-dlq-test", "--yes"],
    ] {
        let r = run(m.dlq().args(&args));
        assert_eq!(r.code, 4, "{args:?}: {r:?}");
        assert!(r.stderr.contains("queue not found"), "{r:?}");
        assert_eq!(r.stderr.trim().lines().count(), 1, "{r:?}");
    }
    // A host:port is not a region.
    let r = run(common::dlq("sqs://127.0.0.1:4566").args(["queues"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--endpoint-url"), "{r:?}");
    // An endpoint nobody listens on: exit 4 within the timeout.
    let mut c = common::dlq("sqs://us-east-1");
    c.envs(sqs_support::ENV).args([
        "--endpoint-url",
        "http://127.0.0.1:9",
        "--timeout",
        "3s",
        "queues",
    ]);
    let r = run(&mut c);
    assert!(r.stderr.contains("reach"), "{r:?}");
    assert_eq!(r.code, 4, "{r:?}");
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
    assert!(r.stderr.contains("credentials"), "{r:?}");
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

#[test]
fn publish_in_each_format() {
    let m = Moto::new();
    let name = common::unique("sqs-pub");
    let url = m.create(&name, &[]);
    let r = run(m.dlq().args([
        "publish",
        &name,
        "--body",
        "hello",
        "--header",
        "tenant=acme",
        "--count",
        "3",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let r = run_with_stdin(
        m.dlq().args(["publish", &name, "--format", "lines"]),
        b"one\ntwo\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
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
    assert_eq!(got.len(), 6);
    let bodies: Vec<&str> = got.iter().map(|g| g.body().unwrap()).collect();
    assert_eq!(bodies.iter().filter(|b| **b == "hello").count(), 3);
    assert!(bodies.contains(&"one") && bodies.contains(&"two"));
    let hello = got.iter().find(|g| g.body() == Some("hello")).unwrap();
    assert_eq!(
        attrs_of(hello)["tenant"],
        ("String".into(), b"acme".to_vec())
    );
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

    // A malformed line stops the run; the summary says what went out.
    let r = run_with_stdin(
        m.dlq()
            .args(["publish", &name, "--format", "ndjson", "-o", "json"]),
        b"{\"body\":\"a\"}\nnot json\n",
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.json()["published"], 1);

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
            assert_eq!(r.code, 4, "body {i}: {r:?}");
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
fn purge_filtered_keeps_the_rest_and_full_purge_empties() {
    let m = Moto::new();
    let name = common::unique("sqs-purge");
    let url = m.create(&name, &[]);
    for i in 0..8 {
        let body = if i % 4 == 0 {
            format!("junk {i}")
        } else {
            format!("keep {i}")
        };
        m.send(&url, &body, &[], None);
    }
    let r = run(m.dlq().args(["purge", &name]));
    assert_eq!(r.code, 2, "{r:?}");
    let r = run(m
        .dlq()
        .args(["purge", &name, "--grep", "junk", "--dry-run", "-o", "json"]));
    assert_eq!(r.json()["purged"], 2);
    assert_eq!(m.counts(&url), (8, 0));
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("b.ndjson");
    let r = run(m.dlq().args([
        "purge",
        &name,
        "--grep",
        "junk",
        "--yes",
        "-o",
        "json",
        "--backup",
        backup.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["purged"], 2);
    assert_eq!(std::fs::read_to_string(&backup).unwrap().lines().count(), 2);
    assert_eq!(m.counts(&url), (6, 0));

    let r = run(m.dlq().args(["purge", &name, "--yes", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["purged"], 6);
    common::wait_for("the purge", std::time::Duration::from_secs(60), || {
        (m.counts(&url) == (0, 0)).then_some(())
    });
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
