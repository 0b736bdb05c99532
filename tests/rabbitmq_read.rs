//! list, peek, export, queues and depth on a real RabbitMQ: nothing changes,
//! order is kept, IDs are stable, every body round-trips; the refusals and
//! exit codes of a read.
mod common;
mod rabbitmq_support;

use common::{run, unique};
use rabbitmq_support::{bodies, dlq, ls, table, Rmq};
use serde_json::Value;

use lapin::types::{AMQPValue, FieldTable};
use rabbitmq_support::lapin;

/// A DLQ holding `bodies` dead-lettered (rejected) from its work queue.
fn filled(r: &Rmq, bodies: &[Vec<u8>]) -> (String, String) {
    let (work, dlq) = r.dead_letter_pair("read");
    for (i, b) in bodies.iter().enumerate() {
        let props = lapin::BasicProperties::default()
            .with_headers(table(&[
                ("n", AMQPValue::LongLongInt(i as i64)),
                ("tenant", ls("acme")),
            ]))
            .with_content_type("application/octet-stream".into());
        r.publish(&work, b, props);
    }
    r.reject(&work, bodies.len());
    (work, dlq)
}

/// What RabbitMQ's own `x-death` history and properties become in the
/// envelope; the conformance suite proves the reads change nothing.
#[test]
fn x_death_becomes_the_dead_letter_fields() {
    let r = Rmq::new();
    let all = vec![b"first".to_vec(), b"second".to_vec()];
    let (work, dlq_q) = filled(&r, &all);
    let before = r.peek_all(&dlq_q);
    let list = run(dlq().args(["-o", "json", "list", &dlq_q]));
    assert_eq!(list.code, 0, "{list:?}");
    let envs = list.json();
    let envs = envs.as_array().unwrap();
    assert_eq!(envs.len(), all.len());
    for env in envs {
        assert_eq!(env["id"].as_str().unwrap().len(), 12);
        assert_eq!(env["queue"], dlq_q.as_str());
        assert_eq!(env["dead_letter"]["reason"], "rejected");
        assert_eq!(env["dead_letter"]["source"], work.as_str());
        assert_eq!(env["dead_letter"]["attempts"], 1);
        assert!(env["dead_letter"]["first_death_at"].is_string());
        assert_eq!(env["headers"]["tenant"], "acme");
        assert_eq!(env["broker"]["content_type"], "application/octet-stream");
        assert!(env["broker"]["x_death"].is_array());
        assert_eq!(env["key"], Value::Null);
    }
    // The card of one message names the queue it died on.
    let card = run(dlq().args(["peek", &dlq_q, envs[1]["id"].as_str().unwrap()]));
    assert_eq!(card.code, 0, "{card:?}");
    assert!(card.stdout.contains(&format!("queue '{work}'")), "{card:?}");
    assert_eq!(r.peek_all(&dlq_q), before);
}

#[test]
fn message_id_property_is_the_id() {
    let r = Rmq::new();
    let q = unique("read-mid");
    r.declare(&q, FieldTable::default());
    r.publish(
        &q,
        b"a",
        lapin::BasicProperties::default().with_message_id("order-17".into()),
    );
    let out = run(dlq().args(["-o", "json", "list", &q]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()[0]["id"], "order-17");
    assert_eq!(out.json()[0]["dead_letter"]["reason"], Value::Null);
}

#[test]
fn queues_marks_dlqs_and_sources() {
    let r = Rmq::new();
    let (work, dlq_q) = r.dead_letter_pair("queues");
    r.publish(&dlq_q, b"x", Default::default());
    let all = common::wait_for(
        "queue depth in the management API",
        std::time::Duration::from_secs(30),
        || {
            let out = run(dlq().args(["-o", "json", "queues"]));
            assert_eq!(out.code, 0, "{out:?}");
            let all = out.json();
            let depth = all
                .as_array()
                .unwrap()
                .iter()
                .find(|q| q["name"] == dlq_q.as_str())?["depth"]
                .clone();
            (depth == 1).then_some(all)
        },
    );
    let find = |n: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == n)
            .cloned()
            .unwrap()
    };
    let d = find(&dlq_q);
    assert_eq!(d["is_dlq"], true);
    assert_eq!(d["sources"][0], work.as_str());
    assert_eq!(d["depth"], 1);
    assert_eq!(d["queue_type"], "classic");
    let w = find(&work);
    assert_eq!(w["is_dlq"], false);
    assert_eq!(w["dead_letter_queue"], dlq_q.as_str());
}

#[test]
fn quorum_queue_with_delivery_limit_is_refused() {
    let r = Rmq::new();
    let q = unique("read-quorum");
    r.declare(
        &q,
        table(&[
            ("x-queue-type", ls("quorum")),
            ("x-delivery-limit", AMQPValue::LongLongInt(3)),
        ]),
    );
    r.publish(&q, b"keep me", Default::default());
    for args in [vec!["list", &q], vec!["peek", &q], vec!["export", &q]] {
        let out = run(dlq().args(&args));
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("delivery limit of 3"), "{out:?}");
    }
    let got = r.peek_all(&q);
    assert_eq!(bodies(&got), vec![b"keep me".to_vec()]);
}

/// A policy set a moment before the read: the queue already applies it,
/// though the API's figures of the queue do not show it for seconds.
#[test]
fn quorum_queue_with_a_fresh_policy_limit_is_refused() {
    let r = Rmq::new();
    let q = unique("read-quorum-policy");
    r.declare(&q, table(&[("x-queue-type", ls("quorum"))]));
    r.publish(&q, b"keep me too", Default::default());
    let policy = format!("{q}-limit");
    let url = format!(
        "{}/api/policies/%2F/{policy}",
        common::amqp_management_url()
    );
    let curl = |args: &[&str]| {
        let ok = std::process::Command::new("curl")
            .args([
                "-fsS",
                "-u",
                "guest:guest",
                "-H",
                "content-type: application/json",
            ])
            .args(args)
            .arg(&url)
            .status()
            .expect("curl")
            .success();
        assert!(ok, "curl {args:?} {url}");
    };
    let body = format!(
        r#"{{"pattern": "^{q}$", "definition": {{"delivery-limit": 1}}, "apply-to": "queues"}}"#
    );
    curl(&["-X", "PUT", "-d", &body]);
    for args in [vec!["list", &q], vec!["peek", &q]] {
        let out = run(dlq().args(&args));
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("delivery limit of 1"), "{out:?}");
    }
    curl(&["-X", "DELETE"]);
    assert_eq!(r.count(&q), 1, "the message is still there");
}

/// Without the management API no read can tell a quorum queue's limit:
/// refused, unless --force says to read the queue as a classic one.
#[test]
fn without_the_management_api_a_read_needs_force() {
    let r = Rmq::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[profiles.noapi]\nmanagement_url = \"http://127.0.0.1:1\"\n",
    )
    .unwrap();
    let dlq = || {
        let mut c = common::dlq(&common::amqp_url());
        c.args(["--config", cfg.to_str().unwrap(), "-p", "noapi"]);
        c
    };
    let quorum = unique("noapi-quorum");
    r.declare(
        &quorum,
        table(&[
            ("x-queue-type", ls("quorum")),
            ("x-delivery-limit", AMQPValue::LongLongInt(1)),
        ]),
    );
    r.publish(&quorum, b"keep", Default::default());
    for args in [
        vec!["list", quorum.as_str()],
        vec!["purge", quorum.as_str(), "--grep", "keep", "--yes"],
    ] {
        let out = run(dlq().args(&args));
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("--force"), "{out:?}");
    }
    assert_eq!(r.count(&quorum), 1);
    let classic = unique("noapi-classic");
    r.declare(&classic, FieldTable::default());
    r.publish(&classic, b"read me", Default::default());
    let out = run(dlq().args(["-o", "json", "list", &classic, "--force"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json().as_array().unwrap().len(), 1, "{out:?}");
    assert!(out.stderr.contains("warning"), "{out:?}");
    common::wait_for(
        "the message back",
        std::time::Duration::from_secs(10),
        || (r.count(&classic) == 1).then_some(()),
    );
}

#[test]
fn quorum_queue_without_limit_reads_in_order() {
    let r = Rmq::new();
    let q = unique("read-quorum-free");
    r.declare(&q, table(&[("x-queue-type", ls("quorum"))]));
    let want: Vec<Vec<u8>> = (0..300).map(|i| format!("m{i}").into_bytes()).collect();
    r.publish_many(&q, want.clone());
    let out = run(dlq().args(["-o", "json", "list", &q]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json().as_array().unwrap().len(), 300);
    let out2 = run(dlq().args(["-o", "json", "list", &q]));
    let ids = |v: Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(out.json()),
        ids(out2.json()),
        "x-delivery-count does not change the ID"
    );
    assert_eq!(bodies(&r.peek_all(&q)), want);
}

#[test]
fn a_missing_queue_names_its_vhost() {
    let missing = unique("no-such-queue");
    let out = run(dlq().args(["list", &missing]));
    assert_eq!(out.code, 4, "{out:?}");
    let want = format!("queue '{missing}' not found in vhost '/'");
    assert!(out.stderr.contains(&want), "{out:?}");
    let out = run(dlq().args(["lag", &missing]));
    assert_eq!(out.code, 4, "{out:?}");
}

#[test]
fn streams_are_refused_clearly() {
    let r = Rmq::new();
    let q = unique("read-stream");
    r.declare(&q, table(&[("x-queue-type", ls("stream"))]));
    let out = run(dlq().args(["list", &q]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("is a stream"), "{out:?}");
}

/// A read deeper than the reader's window (4,096 at most) gives every
/// message back in its place, quickly: on a classic and a quorum queue, after
/// a full list and after a filtered purge that keeps two thirds of them.
#[test]
fn deep_reads_give_back_in_order() {
    let r = Rmq::new();
    const N: usize = 6000;
    let all: Vec<Vec<u8>> = (0..N)
        .map(|i| format!("{i:06} {}", if i % 3 == 0 { "junk" } else { "keep" }).into_bytes())
        .collect();
    for kind in ["classic", "quorum"] {
        let q = unique(&format!("deep-{kind}"));
        r.declare(&q, table(&[("x-queue-type", ls(kind))]));
        r.publish_many(&q, all.clone());
        let out = run(dlq().args(["-o", "ndjson", "list", &q]));
        assert_eq!(out.code, 0, "{kind}: {out:?}");
        let listed: Vec<String> = out
            .ndjson()
            .iter()
            .map(|e| e["body"].as_str().unwrap().to_owned())
            .collect();
        let want: Vec<String> = all
            .iter()
            .map(|b| String::from_utf8(b.clone()).unwrap())
            .collect();
        assert_eq!(listed, want, "{kind}: list order");
        // Back when dlq returns, not a moment later: the next command sees them all.
        assert_eq!(r.count(&q) as usize, N, "{kind}: ready when list returned");
        let out = run(dlq().args(["-o", "json", "purge", &q, "--grep", "junk", "--yes"]));
        assert_eq!(out.code, 0, "{kind}: {out:?}");
        assert_eq!(out.json()["purged"], N / 3, "{kind}: {out:?}");
        assert_eq!(
            r.count(&q) as usize,
            N - N / 3,
            "{kind}: the kept messages ready when purge returned"
        );
        let kept: Vec<Vec<u8>> = all
            .iter()
            .filter(|b| b.ends_with(b"keep"))
            .cloned()
            .collect();
        assert_eq!(
            bodies(&r.consume_all(&q)),
            kept,
            "{kind}: order after the purge"
        );
    }
}

/// A read of 50,000 returns only once the queue has taken them all back
/// (RabbitMQ requeues after the channel took the nack): a command run
/// right after it finds every message ready, none still in transit.
#[test]
fn a_deep_read_returns_with_every_message_ready() {
    let r = Rmq::new();
    const N: usize = 50_000;
    let q = unique("deep-ready");
    r.declare(&q, FieldTable::default());
    r.publish_many(
        &q,
        (0..N).map(|i| format!("{i:06} {}", "x".repeat(100)).into_bytes()),
    );
    let out = run(dlq().args(["-q", "-o", "ndjson", "list", &q]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.lines().count(), N);
    assert_eq!(r.count(&q) as usize, N, "ready when list returned");
}

/// `export --out` replaces its file only once the export is complete: a
/// failed export (here, a queue that does not exist) leaves it as it was.
#[test]
fn export_out_keeps_an_existing_file_when_it_fails() {
    let r = Rmq::new();
    let q = unique("export-out");
    r.declare(&q, FieldTable::default());
    r.publish(&q, b"exported", Default::default());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.ndjson");
    std::fs::write(&file, b"precious\n").unwrap();
    let path = file.to_str().unwrap();
    let out = run(dlq().args(["export", &unique("export-missing"), "--out", path]));
    assert_eq!(out.code, 4, "{out:?}");
    assert_eq!(std::fs::read(&file).unwrap(), b"precious\n");
    let out = run(dlq().args(["export", &q, "--out", path]));
    assert_eq!(out.code, 0, "{out:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    let env: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(env["body"], "exported");
    // Nothing is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// A read another consumer cuts short says so: while dlq's output waits
/// (its stdout pipe full), another client takes the messages dlq counted at
/// the start and had not yet been sent. `list` lists what it got, warns that
/// the rest were not read, exits 0, and gives back what it listed.
#[test]
fn a_read_cut_short_by_another_consumer_says_so() {
    use common::wait_for;
    use std::process::Stdio;
    use std::time::Duration;

    let r = Rmq::new();
    const N: usize = 1200;
    let q = unique("short");
    r.declare(&q, FieldTable::default());
    // 32 KiB bodies: dlq's window is a few hundred, and two lines fill the pipe.
    let all: Vec<Vec<u8>> = (0..N)
        .map(|i| format!("{i:04} {}", "x".repeat(32 * 1024)).into_bytes())
        .collect();
    r.publish_many(&q, all.clone());
    let child = dlq()
        .args(["-o", "ndjson", "list", &q])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        "dlq's consumer on the queue",
        Duration::from_secs(30),
        || (r.consumers(&q) > 0).then_some(()),
    );
    // Another application's consumer: it removes whatever is ready.
    let taken = wait_for(
        "another client to take messages",
        Duration::from_secs(30),
        || Some(r.drain(&q)).filter(|got| !got.is_empty()),
    );
    let done = child.wait_with_output().unwrap();
    let (out, err) = (
        String::from_utf8(done.stdout).unwrap(),
        String::from_utf8_lossy(&done.stderr),
    );
    assert_eq!(done.status.code(), Some(0), "{err}");

    let listed: Vec<Vec<u8>> = out
        .lines()
        .map(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            e["body"].as_str().unwrap().as_bytes().to_vec()
        })
        .collect();
    let taken = bodies(&taken);
    assert_eq!(
        listed.len() + taken.len(),
        N,
        "each message listed or taken"
    );
    let mut together: Vec<Vec<u8>> = listed.iter().chain(&taken).cloned().collect();
    together.sort();
    assert_eq!(together, all, "listed and taken: every message once");
    assert!(
        listed.windows(2).all(|w| w[0] < w[1]),
        "listed in queue order"
    );
    assert!(
        err.contains(&format!(
            "delivered {} of the {N} messages it held at the start",
            listed.len()
        )),
        "the short read is said: {err}"
    );
    // What dlq listed is back, ready; what the other client took is gone.
    assert_eq!(r.count(&q) as usize, listed.len());
    assert_eq!(bodies(&r.drain(&q)), listed);
}
