//! The broker stopped and started again in the middle of a `retry-all`, for
//! the brokers whose data survives a restart (RabbitMQ, NATS JetStream). dlq
//! must report it (exit 3 or 4 with the counts), lose nothing, and a rerun
//! must finish the job. The Pub/Sub emulator keeps nothing across a restart,
//! so there dlq must report it (exit 3 or 4, in time, no hang) and what it
//! counted as moved must have reached the origin before the cut; that nothing
//! is lost when the server stays is the conformance suite's connection cut.
//!
//! This file is its own test binary, its tests taking turns, so no other test
//! sees the broker go away. Each cut comes once the first messages have
//! moved, never after a fixed sleep. RabbitMQ is stopped with `rabbitmqctl
//! stop_app` (the node process stays), and separately has dlq's own
//! connections closed through the management API once it lists them; NATS
//! runs as a server of the test's own on another port.

#![allow(dead_code)]

#[path = "common/mod.rs"]
mod common;
#[path = "conformance/fixture.rs"]
mod fixture;
#[path = "conformance/nats.rs"]
mod nats;
#[path = "nats/support.rs"]
mod nats_support;
#[path = "conformance/pubsub.rs"]
mod pubsub;
#[path = "pubsub_support/mod.rs"]
mod pubsub_support;
#[path = "conformance/rabbitmq.rs"]
mod rabbitmq;
mod rabbitmq_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fixture::{Fixture, Msg};

fn spawn_dlq(args: &[String], extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dlq"))
        .env("DLQ_CONFIG", "/nonexistent/dlq-test-config.toml")
        .env("DLQ_JOURNAL", common::test_journal())
        .args(args)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn check(f: &dyn Fixture, pair: &fixture::Pair, msgs: &[Msg], what: &str) {
    let mut seen: Vec<Vec<u8>> = f
        .read_dlq(pair)
        .into_iter()
        .chain(f.read_origin(pair))
        .map(|m| m.body)
        .collect();
    seen.sort();
    seen.dedup();
    let lost: Vec<_> = msgs
        .iter()
        .filter(|m| seen.binary_search(&m.body).is_err())
        .take(3)
        .collect();
    assert!(lost.is_empty(), "{}: {what}: lost {lost:?}", f.name());
}

/// Starts a paced `retry-all` of 3,000 messages, waits until some have
/// moved, calls `stop` with the dlq process's PID, then `start`.
fn restart_midway(f: &dyn Fixture, stop: impl FnOnce(u32), start: impl FnOnce()) {
    let msgs: Vec<Msg> = (0..3000)
        .map(|i| Msg::new(format!("restart {i:05}")))
        .collect();
    let pair = f.dead_letters(&msgs);
    let child = spawn_dlq(
        &f.args(),
        &[
            "retry-all",
            &pair.dlq,
            "--yes",
            "--rate",
            // Ten seconds of run: room for the cut to come midway on a busy host.
            "300",
            "-o",
            "json",
        ],
    );
    common::wait_for("the first messages moved", Duration::from_secs(30), || {
        (!f.read_origin(&pair).is_empty()).then_some(())
    });
    stop(child.id());
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    start();
    assert!(
        [3, 4].contains(&code),
        "{}: exit {code}: {stderr}",
        f.name()
    );
    // Either the run stopped with an error, or each failed message is listed.
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let listed = summary["failed"].as_u64().unwrap_or(0) > 0 || summary["stopped_by"].is_string();
    assert!(
        stderr.contains("dlq: error:") || listed,
        "{}: reports the failure: {stderr}",
        f.name()
    );
    check(f, &pair, &msgs, "after the restart");
    let rerun = spawn_dlq(&f.args(), &["retry-all", &pair.dlq, "--yes", "-q"])
        .wait_with_output()
        .unwrap();
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}: rerun: {}",
        f.name(),
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert!(
        f.read_dlq(&pair).is_empty(),
        "{}: rerun empties the DLQ",
        f.name()
    );
    check(f, &pair, &msgs, "after the rerun");
    f.cleanup(&pair);
}

fn rabbitmqctl(args: &[&str]) {
    let st = Command::new("rabbitmqctl")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("rabbitmqctl");
    assert!(st.success(), "rabbitmqctl {args:?}");
}

fn rabbit_restart() {
    let f = rabbitmq::Rabbit::new();
    restart_midway(
        &f,
        |_| rabbitmqctl(&["stop_app"]),
        || {
            rabbitmqctl(&["start_app"]);
            rabbitmqctl(&["await_startup"]);
        },
    );
}

/// A NATS server of this test's own, so stopping it disturbs nobody.
struct OwnNats {
    child: Option<Child>,
    store: tempfile::TempDir,
    port: u16,
}

impl OwnNats {
    fn start(store: tempfile::TempDir, port: u16) -> Self {
        let bin = if std::path::Path::new("/usr/sbin/nats-server").exists() {
            "/usr/sbin/nats-server"
        } else {
            "nats-server"
        };
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server");
        common::wait_for("own nats-server", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        OwnNats {
            child: Some(child),
            store,
            port,
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
    }
}

fn nats_restart() {
    let port = 4299;
    let server = std::sync::Arc::new(std::sync::Mutex::new(OwnNats::start(
        tempfile::tempdir().unwrap(),
        port,
    )));
    std::env::set_var("DLQ_TEST_NATS", format!("nats://127.0.0.1:{port}"));
    let f = nats::Nats::new();
    let (s1, s2) = (server.clone(), server.clone());
    restart_midway(
        &f,
        move |_| s1.lock().unwrap().stop(),
        move || {
            let mut g = s2.lock().unwrap();
            let store = std::mem::replace(&mut g.store, tempfile::tempdir().unwrap());
            let port = g.port;
            *g = OwnNats::start(store, port);
        },
    );
}

/// A Pub/Sub emulator of this test's own (it keeps everything in memory).
struct OwnEmulator(Option<Child>);

impl OwnEmulator {
    fn start(port: u16) -> Self {
        let bin = std::env::var("DLQ_PUBSUB_EMULATOR").unwrap_or_else(|_| {
            "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator".into()
        });
        let child = Command::new(bin)
            .args(["--host=127.0.0.1", &format!("--port={port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cloud-pubsub-emulator");
        common::wait_for("own Pub/Sub emulator", Duration::from_secs(90), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        OwnEmulator(Some(child))
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnEmulator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn pubsub_restart() {
    let port = 8095;
    let mut server = OwnEmulator::start(port);
    std::env::set_var("DLQ_TEST_PUBSUB", format!("http://127.0.0.1:{port}"));
    let f = pubsub::PubSub::new();
    let msgs: Vec<Msg> = (0..3000)
        .map(|i| Msg::new(format!("restart {i:05}")))
        .collect();
    let pair = f.dead_letters(&msgs);
    let journal = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dlq"))
        .env("DLQ_CONFIG", "/nonexistent/dlq-test-config.toml")
        .env("DLQ_JOURNAL", journal.path())
        .args(f.args())
        .args([
            "retry-all",
            &pair.dlq,
            "--yes",
            "--rate",
            "300",
            "-o",
            "json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_for("the first messages moved", Duration::from_secs(30), || {
        (!f.read_origin(&pair).is_empty()).then_some(())
    });
    // What dlq counted as moved up to now reached the origin.
    let moved_before: Vec<Vec<u8>> = f.read_origin(&pair).into_iter().map(|m| m.body).collect();
    server.stop();
    let _fresh = OwnEmulator::start(port);
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "pubsub: dlq took {:?} to see the emulator gone",
        started.elapsed()
    );
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!([3, 4].contains(&code), "pubsub: exit {code}: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let listed = summary["failed"].as_u64().unwrap_or(0) > 0 || summary["stopped_by"].is_string();
    assert!(
        stderr.contains("dlq: error:") || listed,
        "pubsub: reports the failure: {stderr}"
    );
    let moved = summary["moved"].as_u64().unwrap_or(0) as usize;
    // A copy seen on the origin before the stop is counted as moved, or, when
    // the stop came between the copy and its original's acknowledgement,
    // listed as a failure that says the message is now in both.
    let in_both = summary["failures"].as_array().map_or(0, |f| {
        f.iter()
            .filter(|x| {
                x["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("it is now in both"))
            })
            .count()
    });
    assert!(
        moved + in_both >= moved_before.len().min(1),
        "pubsub: the copies made are accounted for: {summary}"
    );
    assert!(moved < msgs.len(), "pubsub: the cut came midway: {summary}");
}

/// The local ports of a process's TCP connections to `peer_port`.
fn ports_of(pid: u32, peer_port: u16) -> Vec<u16> {
    let out = Command::new("ss").args(["-tnpH"]).output().expect("ss");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("pid={pid},")))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let (local, peer) = (cols.get(3)?, cols.get(4)?);
            peer.ends_with(&format!(":{peer_port}"))
                .then(|| local.rsplit(':').next()?.parse().ok())?
        })
        .collect()
}

/// The management API's names of the connections coming from `ports`.
fn rabbit_connections_from(ports: &[u16]) -> Vec<String> {
    let out = Command::new("curl")
        .args([
            "-fsS",
            "-u",
            "guest:guest",
            "http://127.0.0.1:15672/api/connections?columns=name,peer_port",
        ])
        .output()
        .expect("curl");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["peer_port"]
                .as_u64()
                .is_some_and(|p| ports.contains(&(p as u16)))
        })
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect()
}

/// Closes the dlq process's own connections (not those of anyone else on
/// the shared broker) once the management API lists them, the broker up.
fn rabbit_close_connections() {
    let f = rabbitmq::Rabbit::new();
    restart_midway(
        &f,
        |pid| {
            let names = common::wait_for(
                "the management API to list dlq's connections",
                Duration::from_secs(30),
                || {
                    let names = rabbit_connections_from(&ports_of(pid, 5672));
                    (!names.is_empty()).then_some(names)
                },
            );
            for name in names {
                let encoded: String = name
                    .bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_' {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect();
                let _ = Command::new("curl")
                    .args([
                        "-fsS",
                        "-u",
                        "guest:guest",
                        "-X",
                        "DELETE",
                        "-H",
                        "X-Reason: closed by the dlq fault test",
                        &format!("http://127.0.0.1:15672/api/connections/{encoded}"),
                    ])
                    .stdout(Stdio::null())
                    .status();
            }
        },
        || {},
    );
}

/// The tests of this file take turns: a broker stopped by one must not
/// break the other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn rabbitmq_restart_midway_loses_nothing_and_a_rerun_finishes() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    rabbit_restart();
}

#[test]
fn nats_restart_midway_loses_nothing_and_a_rerun_finishes() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    nats_restart();
}

#[test]
fn pubsub_emulator_restart_midway_is_reported() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    pubsub_restart();
}

#[test]
fn rabbitmq_close_connection_midway_loses_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    rabbit_close_connections();
}
