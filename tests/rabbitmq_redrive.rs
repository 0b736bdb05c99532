//! retry and retry-all where RabbitMQ has its own: AMQP properties and
//! `x-death` kept, an origin that refuses (`x-overflow: reject-publish`),
//! the consumer window on many and on big messages, and `--native` through
//! a shovel. What every broker shares is in tests/conformance/.
mod common;
mod rabbitmq_support;

use std::collections::HashMap;
use std::time::Duration;

use common::{run, unique, wait_for};
use lapin::types::{AMQPValue, FieldTable};
use rabbitmq_support::{bodies, dlq, lapin, ls, table, Rmq};

fn props(i: usize) -> lapin::BasicProperties {
    lapin::BasicProperties::default()
        .with_headers(table(&[
            ("n", AMQPValue::LongLongInt(i as i64)),
            ("tenant", ls("acme")),
        ]))
        .with_content_type("text/plain".into())
        .with_correlation_id(format!("corr-{i}").into())
        .with_priority(3)
        .with_delivery_mode(2)
        .with_app_id("tests".into())
}

fn filled(r: &Rmq, n: usize) -> (String, String, Vec<Vec<u8>>) {
    let (work, dlq_q) = r.dead_letter_pair("redrive");
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("body {i} \u{1F389}").into_bytes())
        .collect();
    for (i, b) in bodies.iter().enumerate() {
        r.publish(&work, b, props(i));
    }
    r.reject(&work, n);
    (work, dlq_q, bodies)
}

#[test]
fn retry_all_keeps_properties_and_history() {
    let r = Rmq::new();
    let (work, dlq_q, want) = filled(&r, 6);
    let before = r.peek_all(&dlq_q);
    // The plan names the origin queue from x-death.
    let out = run(dlq().args(["retry-all", &dlq_q, "--dry-run"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains(&format!("queue '{work}'")), "{out:?}");

    let out = run(dlq().args(["-o", "json", "retry-all", &dlq_q, "--yes"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["moved"], 6);
    assert_eq!(r.count(&dlq_q), 0);

    let back = r.drain(&work);
    assert_eq!(bodies(&back), want, "byte-identical, in order");
    for (i, (got, orig)) in back.iter().zip(&before).enumerate() {
        let p = &got.props;
        assert_eq!(p.content_type(), orig.props.content_type());
        assert_eq!(p.correlation_id(), orig.props.correlation_id());
        assert_eq!(p.priority(), &Some(3));
        assert_eq!(p.delivery_mode(), &Some(2));
        assert_eq!(p.app_id(), orig.props.app_id());
        assert_eq!(got.header("n"), Some(AMQPValue::LongLongInt(i as i64)));
        assert_eq!(got.header("tenant"), Some(ls("acme")));
        assert_eq!(got.header("dlq-redrive-count"), Some(ls("1")));
        assert_eq!(
            got.header("x-death"),
            orig.header("x-death"),
            "history kept"
        );
    }
}

#[test]
fn origin_refusing_leaves_messages_on_the_dlq() {
    let r = Rmq::new();
    let dlq_q = unique("redrive-full.dlq");
    r.declare(&dlq_q, FieldTable::default());
    let origin = unique("redrive-full");
    r.declare(
        &origin,
        table(&[
            ("x-max-length", AMQPValue::LongLongInt(2)),
            ("x-overflow", ls("reject-publish")),
            ("x-dead-letter-exchange", ls("")),
            ("x-dead-letter-routing-key", ls(&dlq_q)),
        ]),
    );
    let want: Vec<Vec<u8>> = (0..5).map(|i| format!("full {i}").into_bytes()).collect();
    for b in &want {
        r.publish(&origin, b, Default::default());
    }
    // 2 fit; the origin is full, so reject those 2 into the DLQ and refill.
    assert_eq!(r.count(&origin), 2);
    r.reject(&origin, 2);
    r.publish(&origin, b"filler 1", Default::default());
    r.publish(&origin, b"filler 2", Default::default());
    let out = run(dlq().args(["-o", "json", "retry-all", &dlq_q, "--yes"]));
    assert_eq!(out.code, 3, "{out:?}");
    let s = out.json();
    assert_eq!(s["failed"], 2);
    assert!(
        s["failures"][0]["error"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{s}"
    );
    assert_eq!(bodies(&r.peek_all(&dlq_q)), want[..2].to_vec());

    // Room for one: partly done, exit 3, the other stays.
    r.drain(&origin);
    r.publish(&origin, b"filler", Default::default());
    let out = run(dlq().args(["-o", "json", "retry-all", &dlq_q, "--yes"]));
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.json()["moved"], 1);
    assert_eq!(out.json()["failed"], 1);
    assert_eq!(bodies(&r.peek_all(&dlq_q)), vec![want[1].clone()]);
}

/// Killed midway through 10,000 messages: the conformance suite proves
/// nothing is lost; here, that the copies sent twice are at most the
/// mover's confirm window (4,096), RabbitMQ's own.
#[test]
fn sigkill_duplicates_at_most_one_window() {
    let r = Rmq::new();
    let dlq_q = unique("redrive-kill.dlq");
    let origin = unique("redrive-kill");
    r.declare(&dlq_q, FieldTable::default());
    r.declare(&origin, FieldTable::default());
    let n = 10_000;
    let want: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("kill-{i:05}").into_bytes())
        .collect();
    r.publish_many(&dlq_q, want.clone());
    let mut child = dlq()
        .args([
            "-q",
            "retry-all",
            &dlq_q,
            "--to",
            &origin,
            "--yes",
            "--rate",
            "4000",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("some messages to move", Duration::from_secs(30), || {
        (r.count(&origin) >= 1000).then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    // Unacked messages return to the DLQ when the connection drops.
    wait_for("the DLQ to settle", Duration::from_secs(30), || {
        let total = r.count(&dlq_q) as usize + r.count(&origin) as usize;
        (total >= n).then_some(())
    });
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for g in r.drain(&dlq_q).into_iter().chain(r.drain(&origin)) {
        *seen.entry(g.body).or_default() += 1;
    }
    for b in &want {
        assert!(seen.contains_key(b), "lost {}", String::from_utf8_lossy(b));
    }
    let moved_twice = seen.values().filter(|c| **c > 1).count();
    // Copies out but originals not yet acked: at most one window (4096).
    assert!(
        moved_twice <= 4096,
        "duplicates only for the confirm window: {moved_twice}"
    );
}

#[test]
fn retry_all_many_more_than_the_window() {
    let r = Rmq::new();
    let dlq_q = unique("redrive-many.dlq");
    let origin = unique("redrive-many");
    r.declare(&dlq_q, FieldTable::default());
    r.declare(&origin, FieldTable::default());
    // More than the widest window (4096).
    let want: Vec<Vec<u8>> = (0..6000)
        .map(|i| format!("many-{i:05}").into_bytes())
        .collect();
    r.publish_many(&dlq_q, want.clone());
    let out = run(dlq().args(["-o", "json", "retry-all", &dlq_q, "--to", &origin, "--yes"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["moved"], 6000);
    assert_eq!(r.count(&dlq_q), 0);
    assert_eq!(bodies(&r.drain(&origin)), want);

    // A filtered run over more messages than the window keeps the rest in order.
    r.publish_many(&dlq_q, want.clone());
    let out = run(dlq().args([
        "-o",
        "json",
        "retry-all",
        &dlq_q,
        "--to",
        &origin,
        "--grep=-00",
        "--yes",
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["moved"], 1000);
    let rest: Vec<Vec<u8>> = want
        .iter()
        .filter(|b| !b.starts_with(b"many-00"))
        .cloned()
        .collect();
    assert_eq!(bodies(&r.peek_all(&dlq_q)), rest);
}

/// Small messages, then big ones, then small again: the window widens on
/// the first delivery and narrows on the first big one, each time with a
/// fresh consumer, and every message still moves once, in order.
fn mixed_sizes() -> Vec<Vec<u8>> {
    let small = |i: usize| format!("small-{i:04}").into_bytes();
    let big = |i: usize| {
        let mut b = format!("big-{i:02}-").into_bytes();
        b.resize(1024 * 1024, b'0' + (i % 10) as u8);
        b
    };
    (0..300)
        .map(small)
        .chain((0..40).map(big))
        .chain((300..600).map(small))
        .collect()
}

#[test]
fn retry_all_fits_its_window_to_big_messages() {
    let r = Rmq::new();
    let dlq_q = unique("redrive-sizes.dlq");
    let origin = unique("redrive-sizes");
    r.declare(&dlq_q, FieldTable::default());
    r.declare(&origin, FieldTable::default());
    let want = mixed_sizes();
    r.publish_many(&dlq_q, want.clone());
    let out = run(dlq().args(["-o", "json", "retry-all", &dlq_q, "--to", &origin, "--yes"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["moved"], want.len());
    assert_eq!(r.count(&dlq_q), 0);
    assert!(bodies(&r.drain(&origin)) == want, "bodies or order differ");
}

/// The shovels of the vhost whose name starts with `prefix`.
fn shovels_named(prefix: &str) -> Vec<String> {
    let list = rabbitmq_support::mgmt_get("api/parameters/shovel/%2F").unwrap_or_default();
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// `--native` hands the move to a shovel to the origin all messages share:
/// nothing lost, bodies in order, the shovel gone afterwards; refused with
/// exit 2 when a message has no origin or filters are given; `--detach`
/// leaves the shovel to finish by itself.
#[test]
fn retry_all_native_moves_through_a_shovel() {
    let r = Rmq::new();
    let (work, dlq_q) = r.dead_letter_pair("native");
    let want: Vec<Vec<u8>> = (0..2000)
        .map(|i| format!("native-{i:05}").into_bytes())
        .collect();
    r.publish_many(&work, want.clone());
    r.reject(&work, want.len());
    assert_eq!(r.count(&dlq_q) as usize, want.len());

    let out = run(dlq().args(["retry-all", &dlq_q, "--native", "--grep", "x", "--yes"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("no filters"), "{out:?}");
    let out = run(dlq().args(["retry-all", &dlq_q, "--detach", "--yes"]));
    assert_eq!(out.code, 2, "--detach needs --native: {out:?}");

    let out = run(dlq().args(["-o", "json", "retry-all", &dlq_q, "--native", "--yes"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["moved"], 2000, "{out:?}");
    assert_eq!(r.count(&dlq_q), 0);
    assert_eq!(bodies(&r.consume_all(&work)), want);
    assert!(shovels_named(&format!("dlq-{dlq_q}-")).is_empty());

    // A message with no recorded origin: refused before anything moves.
    r.publish_many(&dlq_q, want[..10].to_vec());
    let out = run(dlq().args(["retry-all", &dlq_q, "--native", "--yes"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("no origin recorded"), "{out:?}");
    wait_for("the messages back", Duration::from_secs(10), || {
        (r.count(&dlq_q) == 10).then_some(())
    });

    // --to works too, and --detach returns at once; the shovel removes itself.
    let out = run(dlq().args([
        "retry-all",
        &dlq_q,
        "--native",
        "--detach",
        "--to",
        &work,
        "--yes",
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("DELETE"),
        "says how to stop it: {out:?}"
    );
    wait_for(
        "the detached shovel to finish",
        Duration::from_secs(30),
        || {
            (shovels_named(&format!("dlq-{dlq_q}-")).is_empty() && r.count(&work) == 10)
                .then_some(())
        },
    );
    assert_eq!(r.count(&dlq_q), 0);
    assert_eq!(bodies(&r.consume_all(&work)), want[..10].to_vec());
}

/// Filtered runs over a deep quorum queue act on every selected message and
/// leave the rest in order. A quorum queue sends deliveries that reach the
/// channel after their consumer was cancelled back to the queue, so a read
/// that replaced its consumer while acks made room for more saw some
/// messages late or not at all, and gave them back out of place.
#[test]
fn filtered_runs_on_a_deep_quorum_queue_keep_the_rest_in_order() {
    const N: usize = 30_000;
    let r = Rmq::new();
    let q = unique("deep-quorum");
    let target = unique("deep-quorum-target");
    r.declare(&q, table(&[("x-queue-type", ls("quorum"))]));
    r.declare(&target, FieldTable::default());
    let kind = |i: usize| ["junk", "keep", "move"][i % 3];
    let all: Vec<Vec<u8>> = (0..N)
        .map(|i| format!("{i:06} {}", kind(i)).into_bytes())
        .collect();
    let of = |k: &str| -> Vec<Vec<u8>> {
        all.iter()
            .filter(|b| b.ends_with(k.as_bytes()))
            .cloned()
            .collect()
    };
    r.publish_many(&q, all.clone());
    let out = run(dlq().args(["-o", "json", "purge", &q, "--grep", "junk", "--yes"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["purged"], N / 3, "{out:?}");
    // Their order shows in both queues below (a peek here would requeue them out of order itself).
    assert_eq!(r.count(&q) as usize, N - N / 3, "after the purge");

    let out = run(dlq().args([
        "-o",
        "json",
        "retry-all",
        &q,
        "--to",
        &target,
        "--grep",
        "move",
        "--yes",
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["moved"], N / 3, "{out:?}");
    assert_eq!(bodies(&r.consume_all(&target)), of("move"), "the copies");
    assert_eq!(bodies(&r.consume_all(&q)), of("keep"), "after the re-drive");
}

/// Another client takes messages off the DLQ during a run: dlq acts on what
/// it was delivered, ends when the queue has no more, and says the read came
/// short of what the queue held at the start (the run is not an error).
#[test]
fn a_read_that_comes_short_says_so() {
    const N: usize = 20_000;
    let r = Rmq::new();
    let dlq_q = unique("short.dlq");
    let target = unique("short");
    r.declare(&dlq_q, FieldTable::default());
    r.declare(&target, FieldTable::default());
    r.publish_many(&dlq_q, (0..N).map(|i| format!("short-{i:05}").into_bytes()));
    let child = dlq()
        .args(["-o", "json", "retry-all", &dlq_q, "--to", &target])
        .args(["--yes", "--rate", "2000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the run to start moving", Duration::from_secs(30), || {
        (r.count(&target) >= 100).then_some(())
    });
    // The other client: whatever is ready now is gone before dlq reaches it.
    let taken = r.drain(&dlq_q).len();
    assert!(taken > 0, "the other client took nothing");
    let out = child.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{report}");
    let moved = report["moved"].as_u64().unwrap() as usize;
    assert_eq!(moved + taken, N, "{report}");
    assert_eq!(r.count(&target) as usize, moved);
    assert_eq!(r.count(&dlq_q), 0);
    let notes = report["notes"].to_string();
    assert!(
        notes.contains(&format!("delivered {moved} of the {N} messages")),
        "{report}"
    );
}

/// A message published to one queue with a CC to another died in the CC'd
/// one: the copy goes back to the queue it died in, not to the first
/// routing key (whose queue processed it already), and carries no CC.
#[test]
fn a_cc_copy_goes_back_to_the_queue_it_died_in() {
    let r = Rmq::new();
    let (work, dlq_q) = r.dead_letter_pair("redrive-cc");
    let other = unique("redrive-cc-other");
    r.declare(&other, FieldTable::default());
    let props = lapin::BasicProperties::default().with_headers(table(&[(
        "CC",
        AMQPValue::FieldArray(vec![ls(&work)].into()),
    )]));
    r.publish(&other, b"copied twice", props);
    // The other queue's consumer handled its copy; the work queue's failed.
    assert_eq!(bodies(&r.drain(&other)), [b"copied twice".to_vec()]);
    r.reject(&work, 1);
    assert_eq!(r.count(&dlq_q), 1);
    let out = run(dlq().args(["retry-all", &dlq_q, "--yes", "-o", "json"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["moved"], 1, "{out:?}");
    let back = r.drain(&work);
    assert_eq!(bodies(&back), [b"copied twice".to_vec()]);
    assert!(back[0].header("CC").is_none(), "the copy carries no CC");
    assert_eq!(r.count(&other), 0, "nothing went to the other queue");
    assert_eq!(r.count(&dlq_q), 0);
}
