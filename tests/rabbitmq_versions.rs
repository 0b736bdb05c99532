//! What changed between RabbitMQ 3.x and 4.x for dlq, checked on whichever
//! server `DLQ_TEST_AMQP` (and `DLQ_TEST_AMQP_MANAGEMENT`) names: the test
//! matrix runs this file on 3.10 and on 4.0. The server's version comes from
//! its management API and says which behaviour to expect.
//!
//! - 4.x gives every quorum queue a delivery limit of 20 unless told
//!   otherwise (`x-delivery-limit: -1` turns it off), so dlq refuses to read
//!   a plain quorum queue there and reads it on 3.x.
//! - 4.x ignores an `x-death` header a publisher sets: a copy dlq sends back
//!   to its origin starts a fresh history when it dies again (count 1), where
//!   3.x goes on counting. dlq's own `dlq-redrive-count` is kept on both, so
//!   `--max-redrives` works on both.
mod common;
mod rabbitmq_support;

use common::{run, unique};
use lapin::types::AMQPValue;
use rabbitmq_support::{bodies, dlq, lapin, ls, table, Rmq};

/// The major version of the server under test.
fn major() -> u32 {
    let version = rabbitmq_support::server_version();
    version.split('.').next().unwrap().parse().unwrap()
}

#[test]
fn quorum_queue_default_delivery_limit() {
    let major = major();
    let r = Rmq::new();
    let plain = unique("versions-quorum");
    r.declare(&plain, table(&[("x-queue-type", ls("quorum"))]));
    r.publish(&plain, b"keep me", Default::default());
    let out = run(dlq().args(["list", &plain, "-o", "json"]));
    if major >= 4 {
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("delivery limit of 20"), "{out:?}");
    } else {
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json().as_array().unwrap().len(), 1, "{out:?}");
    }
    assert_eq!(bodies(&r.peek_all(&plain)), [b"keep me".to_vec()]);

    if major >= 4 {
        // With the limit turned off, 4.x reads like 3.x.
        let free = unique("versions-quorum-free");
        r.declare(
            &free,
            table(&[
                ("x-queue-type", ls("quorum")),
                ("x-delivery-limit", AMQPValue::LongLongInt(-1)),
            ]),
        );
        r.publish(&free, b"read me", Default::default());
        let out = run(dlq().args(["list", &free, "-o", "json"]));
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json().as_array().unwrap().len(), 1, "{out:?}");
        assert_eq!(bodies(&r.peek_all(&free)), [b"read me".to_vec()]);
    }
}

/// The `count` of the x-death entry for `queue`.
/// Without a profile, dlq finds the management API at the AMQP port plus
/// 10000 (15672 for 5672, 15673 for a second server on 5673), so the
/// delivery-limit check reaches this server's API. Pointed at the other
/// server's API, which does not know the queue, a read is refused rather
/// than taken for a classic queue's. Needs both servers (the test matrix
/// runs 3.10 on 5672 and 4.0 on 5673).
#[test]
fn the_management_api_is_this_servers_or_a_read_is_refused() {
    let major = major();
    let r = Rmq::new();
    let queue = unique("versions-api");
    r.declare(&queue, table(&[("x-queue-type", ls("quorum"))]));
    r.publish(&queue, b"keep me", Default::default());
    let out = run(common::dlq(&common::amqp_url()).args(["list", &queue, "-o", "json"]));
    assert_eq!(out.code, if major >= 4 { 2 } else { 0 }, "{out:?}");

    let other = match common::amqp_management_url().as_str() {
        "http://127.0.0.1:15672" => "http://127.0.0.1:15673",
        _ => "http://127.0.0.1:15672",
    };
    let listening = std::net::TcpStream::connect(other.trim_start_matches("http://"));
    assert!(
        listening.is_ok(),
        "this test needs the other RabbitMQ's management API at {other} (scripts/brokers/start-all.sh starts both)"
    );
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        cfg.path(),
        format!("[profiles.other]\nmanagement_url = \"{other}\"\n"),
    )
    .unwrap();
    let out = run(common::dlq(&common::amqp_url())
        .args(["--config", &cfg.path().display().to_string(), "-p", "other"])
        .args(["list", &queue, "-o", "json"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("belongs to another server"), "{out:?}");
    assert_eq!(bodies(&r.peek_all(&queue)), [b"keep me".to_vec()]);
    r.delete(&queue);
}

/// Through an AMQP port relayed alone (nothing listens at its port plus
/// 10000), dlq falls back to the default management port: on the server
/// there (3.10 here) the read of a delivery-limited quorum queue is still
/// refused for its limit; any other server's queue is unknown to that API,
/// and the read is refused for that. Never read as a classic queue's.
#[test]
fn a_relayed_amqp_port_falls_back_to_the_default_management_port() {
    let r = Rmq::new();
    let queue = unique("versions-relayed");
    r.declare(
        &queue,
        table(&[
            ("x-queue-type", ls("quorum")),
            ("x-delivery-limit", AMQPValue::LongLongInt(5)),
        ]),
    );
    r.publish(&queue, b"keep me", Default::default());
    let relay = common::relay::Relay::start(&common::host_port(&common::amqp_url()));
    let via = format!("amqp://guest:guest@127.0.0.1:{}/%2f", relay.port);
    let out = run(common::dlq(&via).args(["list", &queue]));
    assert_eq!(out.code, 2, "{out:?}");
    let why = match common::amqp_management_url().as_str() {
        "http://127.0.0.1:15672" => "delivery limit of 5",
        _ => "belongs to another server",
    };
    assert!(out.stderr.contains(why), "{out:?}");
    assert_eq!(bodies(&r.peek_all(&queue)), [b"keep me".to_vec()]);
    r.delete(&queue);
}

fn death_count(got: &rabbitmq_support::Got, queue: &str) -> Option<i64> {
    let AMQPValue::FieldArray(deaths) = got.header("x-death")? else {
        return None;
    };
    deaths.as_slice().iter().find_map(|d| {
        let AMQPValue::FieldTable(t) = d else {
            return None;
        };
        let of_queue = matches!(t.inner().get("queue"), Some(AMQPValue::LongString(q)) if q.as_bytes() == queue.as_bytes());
        match t.inner().get("count")? {
            AMQPValue::LongLongInt(n) if of_queue => Some(*n),
            AMQPValue::LongInt(n) if of_queue => Some(i64::from(*n)),
            _ => None,
        }
    })
}

#[test]
fn redriven_copy_dies_again() {
    let major = major();
    let r = Rmq::new();
    let (work, dlq_q) = r.dead_letter_pair("versions-redrive");
    r.publish(
        &work,
        b"twice dead",
        lapin::BasicProperties::default().with_delivery_mode(2),
    );
    r.reject(&work, 1);
    let first = r.peek_all(&dlq_q);
    assert_eq!(death_count(&first[0], &work), Some(1));

    let out = run(dlq().args(["retry-all", &dlq_q, "--yes", "-o", "json"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["moved"], 1, "{out:?}");
    r.reject(&work, 1);
    common::wait_for(
        "the copy dead again",
        std::time::Duration::from_secs(10),
        || (r.count(&dlq_q) == 1).then_some(()),
    );
    let again = r.peek_all(&dlq_q);
    assert_eq!(bodies(&again), [b"twice dead".to_vec()]);
    // 4.x keeps no history a publisher wrote; 3.x goes on counting.
    let want = if major >= 4 { 1 } else { 2 };
    assert_eq!(death_count(&again[0], &work), Some(want), "{:?}", again[0]);
    match again[0].header("dlq-redrive-count") {
        Some(AMQPValue::LongString(s)) => assert_eq!(s.as_bytes(), b"1"),
        other => panic!("dlq-redrive-count: {other:?}"),
    }

    // --max-redrives reads dlq's own count, so it skips the copy on both.
    let out = run(dlq().args([
        "retry-all",
        &dlq_q,
        "--max-redrives",
        "1",
        "--yes",
        "-o",
        "json",
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        (out.json()["moved"].as_u64(), out.json()["skipped"].as_u64()),
        (Some(0), Some(1)),
        "{out:?}"
    );
    assert_eq!(r.count(&dlq_q), 1);
}
