//! purge, publish and lag where RabbitMQ has its own: AMQP properties in a
//! backup, exchanges and routing keys, lag from the queue and the management
//! API, and full purges with a backup past the reader's window. What every
//! broker shares is in tests/conformance/.
mod common;
mod rabbitmq_support;

use common::{run, run_with_stdin, unique};
use lapin::types::{AMQPValue, FieldTable};
use rabbitmq_support::{bodies, dlq, lapin, ls, table, Rmq};

fn queue(r: &Rmq, prefix: &str) -> String {
    let q = unique(prefix);
    r.declare(&q, FieldTable::default());
    q
}

/// A purge's dry-run plan deletes: no destination, action "purge".
#[test]
fn purge_dry_run_plans_deletes() {
    let r = Rmq::new();
    let q = queue(&r, "purge-plan");
    let want: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("{} {i}", if i % 3 == 0 { "junk" } else { "keep" }).into_bytes())
        .collect();
    r.publish_many(&q, want);
    let out = run(dlq().args(["-o", "json", "purge", &q, "--grep", "junk", "--dry-run"]));
    let plan = out.json()["plan"].as_array().unwrap().clone();
    assert_eq!(plan.len(), 4, "{out:?}");
    assert!(
        plan.iter()
            .all(|p| p["action"] == "purge" && p["to"].is_null() && p["skip_reason"].is_null()),
        "{plan:?}"
    );
    assert_eq!(r.count(&q), 10);
}

/// Typed headers and AMQP properties survive a backup and its replay (the
/// conformance suite proves bodies and string headers on every broker).
#[test]
fn purge_backup_replays_amqp_properties() {
    let r = Rmq::new();
    let q = queue(&r, "purge-backup");
    let all: Vec<Vec<u8>> = vec![b"one".to_vec(), vec![0xff, 0x00], Vec::new()];
    for (i, b) in all.iter().enumerate() {
        let props = lapin::BasicProperties::default()
            .with_headers(table(&[
                ("n", AMQPValue::LongLongInt(i as i64)),
                ("tenant", ls("acme")),
                ("flag", AMQPValue::Boolean(true)),
                ("raw", AMQPValue::LongString(vec![0xff, 0x00].into())),
            ]))
            .with_content_type("application/x-test".into())
            .with_message_id(format!("mid-{i}").into());
        r.publish(&q, b, props);
    }
    let before = r.peek_all(&q);
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.ndjson");
    let out = run(dlq().args(["purge", &q, "--yes", "--backup", backup.to_str().unwrap()]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(r.count(&q), 0);
    let text = std::fs::read(&backup).unwrap();
    assert_eq!(
        text.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        all.len()
    );

    let out = run(dlq().args([
        "publish",
        &q,
        "--format",
        "ndjson",
        "--file",
        backup.to_str().unwrap(),
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    let after = r.peek_all(&q);
    assert_eq!(bodies(&after), all);
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a.props.headers(), b.props.headers());
        assert_eq!(a.props.content_type(), b.props.content_type());
        assert_eq!(a.props.message_id(), b.props.message_id());
    }
}

/// What RabbitMQ's publish adds to the formats the conformance suite
/// checks: persistent delivery, typed NDJSON headers, exchanges and
/// routing keys, an unroutable message and a missing exchange.
#[test]
fn publish_persistent_typed_and_through_exchanges() {
    let r = Rmq::new();
    let q = queue(&r, "publish");
    let input = b"{\"body\":\"first\",\"headers\":{\"h\":1}}\n";
    let out = run_with_stdin(dlq().args(["publish", &q, "--format", "ndjson"]), input);
    assert_eq!(out.code, 0, "{out:?}");
    let got = r.drain(&q);
    assert_eq!(bodies(&got), vec![b"first".to_vec()]);
    assert_eq!(got[0].header("h"), Some(AMQPValue::LongLongInt(1)));
    assert_eq!(got[0].props.delivery_mode(), &Some(2));

    let out = run(dlq().args([
        "-o",
        "json",
        "publish",
        "t",
        "--exchange",
        "amq.direct",
        "--routing-key",
        &unique("nobody"),
        "--body",
        "x",
    ]));
    // Refused for that message alone: partly done, not a broker error.
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.json()["failures"][0]["error"]
        .as_str()
        .unwrap()
        .contains("unroutable"));
    let missing = unique("no-exchange");
    let out = run(dlq().args(["publish", "t", "--exchange", &missing, "--body", "x"]));
    assert_eq!(out.code, 4, "{out:?}");
    // Said before publishing, not as a lost connection after it.
    assert_eq!(
        out.stderr.trim(),
        format!("dlq: error: rabbitmq: exchange '{missing}' not found in vhost '/'"),
        "{out:?}"
    );
}

/// Counts come from the queue itself: right after a publish, with no wait,
/// lag is exact (the management API would still say nothing for seconds).
#[test]
fn lag_is_exact_right_after_publish() {
    let r = Rmq::new();
    let q = queue(&r, "lag-now");
    r.publish_many(&q, (0..5).map(|i| format!("m{i}").into_bytes()));
    let out = run(dlq().args(["-o", "json", "lag", &q, "--max-lag", "1"]));
    assert_eq!(out.code, 1, "{out:?}");
    let rep = out.json();
    assert_eq!(rep["rows"][0]["lag"], 5, "{out:?}");
    assert_eq!(rep["rows"][0]["ready"], 5, "{out:?}");
    assert_eq!(rep["rows"][0]["consumers"], 0, "{out:?}");
    assert_eq!(rep["breaches"][0]["metric"], "lag", "{out:?}");
    assert_eq!(r.count(&q), 5);
}

#[test]
fn lag_thresholds() {
    let r = Rmq::new();
    let (work, dlq_q) = r.dead_letter_pair("lag");
    for i in 0..3 {
        r.publish(
            &work,
            format!("m{i}").as_bytes(),
            lapin::BasicProperties::default().with_timestamp(1_000_000_000),
        );
    }
    r.publish(&dlq_q, b"dead", Default::default());
    // Counts are exact at once; unacked comes from the management API,
    // which refreshes its figures every few seconds.
    common::wait_for(
        "management stats",
        std::time::Duration::from_secs(30),
        || {
            let out = run(dlq().args(["-o", "json", "lag", &work]));
            let row = &out.json()["rows"][0];
            assert_eq!(row["lag"], 3, "{out:?}");
            assert_eq!(row["dlq_depth"], 1, "{out:?}");
            (!row["unacked"].is_null() && !row["oldest_age_seconds"].is_null()).then_some(())
        },
    );
    let out = run(dlq().args(["-o", "json", "lag", &work, &dlq_q]));
    assert_eq!(out.code, 0, "{out:?}");
    let row = &out.json()["rows"][0];
    assert_eq!(row["name"], work.as_str());
    assert_eq!(row["consumers"], 0);
    assert_eq!(row["unacked"], 0);
    assert_eq!(row["dead_letter_queue"], dlq_q.as_str());
    // The DLQ depth comes through the queue's dead-letter arguments.
    let out = run(dlq().args(["lag", &work, "--max-dlq", "0"]));
    assert_eq!(out.code, 1, "{out:?}");
    let out = run(dlq().args(["lag", &work, "--max-lag", "10", "--max-dlq", "5"]));
    assert_eq!(out.code, 0, "{out:?}");
    // The DLQ's message held unacknowledged until the API counts it, then
    // given back: its stale unacked figure is no part of the DLQ depth.
    let ch = r.channel();
    r.rt.block_on(async {
        ch.basic_get(&dlq_q, lapin::options::BasicGetOptions::default())
            .await
            .unwrap()
            .expect("the DLQ's message");
    });
    common::wait_for(
        "the API's unacked figure",
        std::time::Duration::from_secs(30),
        || {
            let out = run(dlq().args(["-o", "json", "lag", &dlq_q]));
            (out.json()["rows"][0]["unacked"] == 1).then_some(())
        },
    );
    r.rt.block_on(ch.close(200, "given back")).unwrap();
    let out = run(dlq().args(["-o", "json", "lag", &work, "--max-dlq", "1"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["rows"][0]["dlq_depth"], 1, "{out:?}");
    // A message without a timestamp has no age: said, never taken for a pass in silence.
    let out = run(dlq().args(["lag", &dlq_q, "--max-age", "1h"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "dlq: warning: {dlq_q}: the age of its oldest message is unknown"
        )) && out.stderr.contains("--max-age was not checked"),
        "{out:?}"
    );
    // Without names, every queue of the vhost.
    let out = run(dlq().args(["-o", "json", "lag"]));
    assert_eq!(out.code, 0, "{out:?}");
    let rows = out.json()["rows"].as_array().unwrap().clone();
    assert!(rows.iter().any(|r| r["name"] == work.as_str()), "{out:?}");
    // Consumed: the API's head message (seconds old figures) is gone, and
    // no age is reported for a queue with none ready.
    assert_eq!(r.drain(&work).len(), 3);
    let out = run(dlq().args(["-o", "json", "lag", &work, "--max-age", "1h"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.json()["rows"][0]["oldest_age_seconds"].is_null(),
        "{out:?}"
    );
    assert!(!out.stderr.contains("warning"), "{out:?}");
}

/// Fills a queue, purges it all with a backup, and checks the queue is
/// empty and the backup holds every body, in order.
fn purge_all_with_backup_keeps_everything(prefix: &str, want: Vec<Vec<u8>>) {
    let r = Rmq::new();
    let q = queue(&r, prefix);
    r.publish_many(&q, want.clone());
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("b.ndjson");
    let out = run(dlq().args([
        "-o",
        "json",
        "purge",
        &q,
        "--yes",
        "--backup",
        backup.to_str().unwrap(),
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["purged"], want.len());
    assert_eq!(r.count(&q), 0);
    let saved: Vec<Vec<u8>> = std::fs::read_to_string(&backup)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["body"].as_str().unwrap().as_bytes().to_vec()
        })
        .collect();
    assert!(saved == want, "backup bodies or order differ");
}

#[test]
fn purge_with_backup_of_many() {
    let want = (0..2000).map(|i| format!("p{i}").into_bytes()).collect();
    purge_all_with_backup_keeps_everything("purge-many", want);
}

#[test]
fn purge_with_backup_of_mixed_sizes_keeps_order() {
    // Small, 40 of 1 MiB, small: the read window widens, then narrows.
    let want = (0..300)
        .map(|i| format!("s{i}").into_bytes())
        .chain((0..40).map(|i| vec![b'a' + (i % 26) as u8; 1024 * 1024]))
        .chain((300..600).map(|i| format!("s{i}").into_bytes()))
        .collect();
    purge_all_with_backup_keeps_everything("purge-sizes", want);
}
