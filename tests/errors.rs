//! Broker errors read as one line naming broker and operation; `-v` adds the
//! cause chain under it, and no secret shows in either.

mod common;

use common::{amqp_url, dlq, run};

/// dlq against `url`, with AWS keys so that SQS gets as far as the network.
fn dlq_with_keys(url: &str) -> std::process::Command {
    let mut c = dlq(url);
    c.env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x");
    c
}

/// Every broker: an unknown host is exit 4 in one line; `-v` adds causes.
#[test]
fn unknown_host_is_one_line_and_verbose_shows_the_causes() {
    for url in [
        "amqp://guest:guest@no-such-host.invalid:5672/%2f",
        "nats://no-such-host.invalid:4222",
        "kafka://no-such-host.invalid:9092",
        "sqs://us-east-1?endpoint=http://no-such-host.invalid:1",
        "pubsub://p?endpoint=http://no-such-host.invalid:8085",
    ] {
        let quiet = run(dlq_with_keys(url).args(["--timeout", "3s", "queues"]));
        assert_eq!(quiet.code, 4, "{url}: {quiet:?}");
        assert_eq!(quiet.stderr.lines().count(), 1, "{url}: {quiet:?}");
        assert!(quiet.stderr.starts_with("dlq: error: "), "{quiet:?}");
        let loud = run(dlq_with_keys(url).args(["-v", "--timeout", "3s", "queues"]));
        assert_eq!(loud.code, 4, "{url}: {loud:?}");
        assert!(
            loud.stderr.lines().any(|l| l.starts_with("  caused by: ")),
            "{url}: -v shows the chain: {loud:?}"
        );
        let line = quiet.stderr.trim();
        assert!(loud.stderr.contains(line), "same line with -v: {loud:?}");
    }
}

/// RabbitMQ: a wrong password is exit 4, one line that says so; `-v` shows
/// the broker's refusal; the password appears nowhere.
#[test]
fn wrong_password_on_rabbitmq_shows_the_chain_not_the_password() {
    let url = amqp_url().replacen("guest:guest@", "guest:Wr0ngPassw0rd@", 1);
    let r = run(dlq(&url).args(["-v", "queues"]));
    assert_eq!(r.code, 4, "{r:?}");
    let first = r
        .stderr
        .lines()
        .find(|l| l.starts_with("dlq: error:"))
        .unwrap();
    assert!(first.contains("access refused"), "{r:?}");
    assert!(r.stderr.contains("  caused by: "), "{r:?}");
    assert!(r.stderr.contains("ACCESS_REFUSED"), "{r:?}");
    assert!(!r.stderr.contains("Wr0ngPassw0rd") && !r.stdout.contains("Wr0ngPassw0rd"));
}

/// Every broker: a port nobody listens on is exit 4 in one line within
/// `--timeout`; a port that is not a number is a usage error, exit 2.
#[test]
fn refused_port_is_exit_4_and_a_bad_port_exit_2() {
    for (refused, bad) in [
        (
            "amqp://guest:guest@127.0.0.1:1/%2f",
            "amqp://guest:guest@127.0.0.1:notaport/",
        ),
        ("nats://127.0.0.1:1", "nats://127.0.0.1:notaport"),
        ("kafka://127.0.0.1:1", "kafka://nohostport"),
        (
            "sqs://us-east-1?endpoint=http://127.0.0.1:1",
            "sqs://127.0.0.1:4566",
        ),
        (
            "pubsub://p?endpoint=http://127.0.0.1:1",
            "pubsub://p?endpoint=http://127.0.0.1:notaport",
        ),
    ] {
        let r = run(dlq_with_keys(refused).args(["--timeout", "3s", "queues"]));
        assert_eq!(r.code, 4, "{refused}: {r:?}");
        assert_eq!(r.stderr.trim().lines().count(), 1, "{refused}: {r:?}");
        let r = run(dlq(bad).args(["queues"]));
        assert_eq!(r.code, 2, "{bad}: {r:?}");
    }
}
