//! DLQs filled by the frameworks' own worker code, not by hand-built
//! headers: a worker per framework whose handler always fails
//! (`tests/frameworks/`), run with the framework's own package as
//! `scripts/frameworks.sh` installs it: rascal (both recovery strategies),
//! dramatiq and FastStream on RabbitMQ, sqs-consumer on an SQS redrive
//! policy (moto).
//! Then dlq's `list`, `stats` and `retry-all` (with and without `--to`),
//! checked through the broker's own client: bodies exact, origins right,
//! nothing delivered anywhere but the destination, the DLQ empty.
//!
//! Each worker ends itself after 60 s and is killed by its PID when its
//! test is done. Without the frameworks installed (`scripts/frameworks.sh`,
//! which the test command runs), a test fails and says so. `DLQ_CAPTURE_CORPUS=1` writes what `list -o ndjson`
//! read to `tests/corpus/`, for the unit tests of the conventions.
mod common;
mod rabbitmq_support;
mod sqs_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{run, unique, wait_for};
use rabbitmq_support::lapin::options::{BasicPublishOptions, ExchangeDeleteOptions};
use rabbitmq_support::lapin::types::{AMQPValue, FieldTable};
use rabbitmq_support::lapin::BasicProperties;
use rabbitmq_support::{dlq, Rmq};
use serde_json::{json, Value};
use sqs_support::Moto;

/// Where `scripts/frameworks.sh` installed the frameworks, or why not.
fn frameworks() -> Result<PathBuf, String> {
    let cache = std::env::var("DLQ_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let base = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
            base.join("dlq-test")
        });
    let dir = cache.join("frameworks");
    for need in ["py/bin/python", "bin/node", "js/node_modules/rascal"] {
        if !dir.join(need).exists() {
            return Err(format!(
                "{} is missing: run scripts/frameworks.sh",
                dir.join(need).display()
            ));
        }
    }
    Ok(dir)
}

fn script(name: &str) -> String {
    format!("{}/tests/frameworks/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A worker process, killed by its PID when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a worker and waits (30 s at most) for its "ready" line.
fn start(mut cmd: Command) -> Worker {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting a worker");
    let out = child.stdout.take().unwrap();
    let worker = Worker(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.trim() == "ready" {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the worker says ready within 30 s");
    worker
}

fn node(dir: &Path, name: &str) -> Command {
    let mut c = Command::new(dir.join("bin/node"));
    c.env("NODE_PATH", dir.join("js/node_modules"))
        .env("NODE_NO_WARNINGS", "1")
        .arg(script(name));
    c
}

fn python(dir: &Path) -> Command {
    let mut c = Command::new(dir.join("py/bin/python"));
    c.arg(script("dramatiq_worker.py"));
    c
}

/// `list -o ndjson` of a queue, written to the corpus when asked.
fn listed(mut cmd: Command, queue: &str, corpus: &str) -> Vec<Value> {
    let out = run(cmd.args(["list", queue, "-o", "ndjson"]));
    assert_eq!(out.code, 0, "{out:?}");
    if std::env::var("DLQ_CAPTURE_CORPUS").is_ok() {
        let path = format!("{}/tests/corpus/{corpus}", env!("CARGO_MANIFEST_DIR"));
        // Paths in tracebacks as on a server, not as on this machine.
        let venv = format!("{}/", frameworks().unwrap().join("py").display());
        let kept = out
            .stdout
            .replace(
                &format!("{}/tests/frameworks/", env!("CARGO_MANIFEST_DIR")),
                "/srv/app/",
            )
            .replace(&venv, "/srv/app/.venv/");
        std::fs::write(path, kept).unwrap();
    }
    out.ndjson()
}

fn dead_letter<'a>(env: &'a Value, field: &str) -> &'a Value {
    &env["dead_letter"][field]
}

/// The one fingerprint every envelope shares.
fn one_fingerprint(envs: &[Value]) -> String {
    let fps: std::collections::BTreeSet<String> = envs
        .iter()
        .map(|e| {
            dead_letter(e, "fingerprint")
                .as_str()
                .unwrap_or_else(|| panic!("a fingerprint: {e}"))
                .to_owned()
        })
        .collect();
    assert_eq!(fps.len(), 1, "one failure, one fingerprint: {fps:?}");
    fps.into_iter().next().unwrap()
}

/// `stats --by KEYS -o json` groups as (key object, count), by count.
fn stats(mut cmd: Command, queue: &str, by: &str) -> Vec<(Value, u64)> {
    let out = run(cmd.args(["stats", queue, "--by", by, "-o", "json"]));
    assert_eq!(out.code, 0, "{out:?}");
    out.json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].clone(), g["count"].as_u64().unwrap()))
        .collect()
}

fn moved(mut cmd: Command, args: &[&str]) -> u64 {
    let out = run(cmd
        .arg("retry-all")
        .args(args)
        .args(["--yes", "-o", "json"]));
    assert_eq!(out.code, 0, "{out:?}");
    let summary = out.json();
    assert_eq!(summary["failed"], 0, "{summary}");
    summary["moved"].as_u64().unwrap()
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

fn body_of(env: &Value) -> Vec<u8> {
    env["body"].as_str().unwrap().as_bytes().to_vec()
}

#[test]
fn rascal_forward_and_republish_on_rabbitmq() {
    let dir = frameworks().unwrap_or_else(|why| panic!("{why}"));
    let rmq = Rmq::new();
    let p = unique("fw-rascal");
    let (fwd, rep, dlq_q) = (format!("{p}.fwd"), format!("{p}.rep"), format!("{p}.dlq"));
    // rascal's forward adds CC "<queue>.<routing key>": on the default
    // exchange, which a re-drive publishes through, that names this queue.
    let cc_queue = format!("{fwd}.fwd");
    let elsewhere = format!("{p}.elsewhere");
    rmq.declare(&cc_queue, FieldTable::default());
    rmq.declare(&elsewhere, FieldTable::default());
    let worker = start({
        let mut c = node(&dir, "rascal_worker.js");
        c.arg(common::amqp_url()).arg(&p);
        c
    });
    let json_props = || BasicProperties::default().with_content_type("application/json".into());
    for (key, orders) in [("fwd", [101, 102, 103].as_slice()), ("rep", &[201, 202])] {
        for n in orders {
            let body = format!(r#"{{"order":{n}}}"#);
            rmq.rt.block_on(async {
                rmq.ch
                    .basic_publish(
                        &format!("{p}.x"),
                        key,
                        BasicPublishOptions::default(),
                        body.as_bytes(),
                        json_props(),
                    )
                    .await
                    .unwrap()
                    .await
                    .unwrap()
            });
        }
    }
    wait_for(
        "5 dead letters from rascal",
        Duration::from_secs(30),
        || (rmq.count(&dlq_q) == 5).then_some(()),
    );
    drop(worker);

    let envs = listed(dlq(), &dlq_q, "rascal.ndjson");
    assert_eq!(envs.len(), 5);
    for e in &envs {
        let order = e["body"].as_str().unwrap();
        let n: u64 = order[9..12].parse().unwrap();
        let (queue, attempts) = if n < 200 { (&fwd, 1) } else { (&rep, 2) };
        assert_eq!(dead_letter(e, "convention"), "rascal", "{e}");
        assert_eq!(
            dead_letter(e, "reason"),
            &json!(format!("Order {n} not found"))
        );
        assert_eq!(dead_letter(e, "error_type"), "E_ORDER_NOT_FOUND");
        assert_eq!(dead_letter(e, "source"), &json!(queue));
        assert_eq!(dead_letter(e, "attempts"), attempts, "{e}");
        assert_eq!(
            dead_letter(e, "origin"),
            &json!({"kind": "queue", "name": queue, "routing_key": null})
        );
        // The forward strategy's CC is on the dead letter as rascal left it.
        assert_eq!(e["headers"].get("CC").is_some(), n < 200, "{e}");
    }
    one_fingerprint(&envs);
    let mut groups = stats(dlq(), &dlq_q, "error_type,origin");
    groups.sort_by_key(|(_, n)| *n);
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(groups[0].0["origin"], json!(format!("queue:{rep}")));
    assert_eq!(groups[1].0["origin"], json!(format!("queue:{fwd}")));
    assert_eq!(
        groups.iter().map(|g| g.1).collect::<Vec<_>>(),
        [2, 3],
        "{groups:?}"
    );

    // --to: one forwarded message to a queue of the test's own.
    assert_eq!(
        moved(
            dlq(),
            &[&dlq_q, "--grep", r#""order":101"#, "--to", &elsewhere]
        ),
        1
    );
    let got = rmq.drain(&elsewhere);
    assert_eq!(
        rabbitmq_support::bodies(&got),
        [br#"{"order":101}"#.to_vec()]
    );
    assert_eq!(
        got[0].header("dlq-original-cc"),
        Some(AMQPValue::FieldArray(
            vec![rabbitmq_support::ls(&cc_queue)].into()
        ))
    );
    assert_eq!(got[0].header("CC"), None);
    assert_eq!(rmq.count(&cc_queue), 0, "a copy went to the CC queue");
    // Without --to: each back to the queue that failed it.
    assert_eq!(moved(dlq(), &[&dlq_q]), 4);
    let back = |q: &str| sorted(rabbitmq_support::bodies(&rmq.drain(q)));
    assert_eq!(
        back(&fwd),
        [br#"{"order":102}"#.to_vec(), br#"{"order":103}"#.to_vec()]
    );
    assert_eq!(
        back(&rep),
        [br#"{"order":201}"#.to_vec(), br#"{"order":202}"#.to_vec()]
    );
    assert_eq!(rmq.count(&cc_queue), 0, "a copy went to the CC queue");
    assert_eq!(rmq.count(&dlq_q), 0);

    for q in [&fwd, &rep, &dlq_q] {
        rmq.delete(q);
    }
    let ch = rmq.channel();
    for x in [format!("{p}.x"), format!("{p}.dlx")] {
        let _ = rmq
            .rt
            .block_on(ch.exchange_delete(&x, ExchangeDeleteOptions::default()));
    }
}

#[test]
fn dramatiq_on_rabbitmq() {
    let dir = frameworks().unwrap_or_else(|why| panic!("{why}"));
    let rmq = Rmq::new();
    let q = unique("fw-dramatiq");
    let xq = format!("{q}.XQ");
    let elsewhere = format!("{q}-elsewhere");
    rmq.declare(&elsewhere, FieldTable::default());
    let sent = run(python(&dir).args([&common::amqp_url(), &q, "send", "3"]));
    assert_eq!(sent.code, 0, "{sent:?}");
    let worker = start({
        let mut c = python(&dir);
        c.args([&common::amqp_url(), &q, "work"]);
        c
    });
    wait_for(
        "3 dead letters from dramatiq",
        Duration::from_secs(45),
        || (rmq.count(&xq) == 3).then_some(()),
    );
    drop(worker);

    let envs = listed(dlq(), &xq, "dramatiq.ndjson");
    assert_eq!(envs.len(), 3);
    let mut bodies = Vec::new();
    for e in &envs {
        let body: Value = serde_json::from_str(e["body"].as_str().unwrap()).unwrap();
        let n = body["args"][0].as_u64().unwrap();
        assert_eq!(dead_letter(e, "convention"), "dramatiq", "{e}");
        assert_eq!(
            dead_letter(e, "reason"),
            &json!(format!("Order {n} not found"))
        );
        assert_eq!(dead_letter(e, "error_type"), "ValueError");
        assert_eq!(dead_letter(e, "source"), &json!(q));
        assert_eq!(dead_letter(e, "attempts"), 2, "{e}");
        assert_eq!(
            dead_letter(e, "origin"),
            &json!({"kind": "queue", "name": q, "routing_key": null})
        );
        bodies.push((n, body_of(e)));
    }
    one_fingerprint(&envs);
    let groups = stats(dlq(), &xq, "error_type,origin");
    assert_eq!(
        groups,
        [(
            json!({"error_type": "ValueError", "origin": format!("queue:{q}")}),
            3
        )]
    );
    bodies.sort();

    assert_eq!(
        moved(dlq(), &[&xq, "--grep", "[1000]", "--to", &elsewhere]),
        1
    );
    assert_eq!(
        rabbitmq_support::bodies(&rmq.drain(&elsewhere)),
        [bodies[0].1.clone()]
    );
    assert_eq!(moved(dlq(), &[&xq]), 2);
    assert_eq!(
        sorted(rabbitmq_support::bodies(&rmq.drain(&q))),
        sorted(vec![bodies[1].1.clone(), bodies[2].1.clone()])
    );
    assert_eq!(rmq.count(&xq), 0);
    for name in [q.clone(), format!("{q}.DQ"), xq] {
        rmq.delete(&name);
    }
}

#[test]
fn sqs_consumer_on_a_redrive_policy() {
    let dir = frameworks().unwrap_or_else(|why| panic!("{why}"));
    let moto = Moto::new();
    let (src_name, src, dlq_name, dlq_url) = moto.pair("fw-sqsc", false);
    let elsewhere = moto.create(&format!("{src_name}-elsewhere"), &[]);
    let bodies: Vec<String> = (1..=3).map(|n| format!(r#"{{"job":{n}}}"#)).collect();
    for b in &bodies {
        moto.send(&src, b, &[("tenant", "String", b"acme")], None);
    }
    let worker = start({
        let mut c = node(&dir, "sqs_consumer_worker.js");
        for (k, v) in sqs_support::ENV {
            c.env(k, v);
        }
        c.arg(common::sqs_endpoint()).arg(&src);
        c
    });
    wait_for(
        "3 dead letters from sqs-consumer",
        Duration::from_secs(45),
        || (moto.counts(&dlq_url).0 == 3).then_some(()),
    );
    drop(worker);

    let envs = listed(moto.dlq(), &dlq_name, "sqs-consumer.ndjson");
    assert_eq!(envs.len(), 3);
    for e in &envs {
        assert_eq!(dead_letter(e, "convention"), "sqs-redrive", "{e}");
        assert_eq!(dead_letter(e, "source"), &json!(src_name));
        assert_eq!(
            dead_letter(e, "origin"),
            &json!({"kind": "queue", "name": src_name, "routing_key": null})
        );
        assert_eq!(e["headers"]["tenant"], "acme");
        // An SQS redrive records no error: no fingerprint.
        assert_eq!(dead_letter(e, "fingerprint"), &Value::Null);
    }
    let groups = stats(moto.dlq(), &dlq_name, "origin");
    assert_eq!(
        groups,
        [(json!({"origin": format!("queue:{src_name}")}), 3)]
    );

    assert_eq!(
        moved(
            moto.dlq(),
            &[&dlq_name, "--grep", r#""job":1"#, "--to", &elsewhere]
        ),
        1
    );
    let got = moto.take_all(&elsewhere);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body(), Some(bodies[0].as_str()));
    assert_eq!(moved(moto.dlq(), &[&dlq_name]), 2);
    let mut back: Vec<String> = moto
        .take_all(&src)
        .iter()
        .map(|m| m.body().unwrap().to_owned())
        .collect();
    back.sort();
    assert_eq!(back, bodies[1..]);
    assert_eq!(moto.counts(&dlq_url), (0, 0));
    for url in [src, dlq_url, elsewhere] {
        moto.delete_queue(&url);
    }
}

#[test]
fn faststream_on_rabbitmq() {
    let dir = frameworks().unwrap_or_else(|why| panic!("{why}"));
    let rmq = Rmq::new();
    let q = unique("fw-faststream");
    let dlq_q = format!("{q}.dlq");
    let elsewhere = format!("{q}-elsewhere");
    rmq.declare(&dlq_q, FieldTable::default());
    rmq.declare(&elsewhere, FieldTable::default());
    let worker = start({
        let mut c = Command::new(dir.join("py/bin/python"));
        c.arg(script("faststream_worker.py"))
            .arg(common::amqp_url())
            .arg(&q);
        c
    });
    let bodies: Vec<Vec<u8>> = (301..=303)
        .map(|n| format!(r#"{{"order":{n}}}"#).into_bytes())
        .collect();
    for b in &bodies {
        rmq.publish(
            &q,
            b,
            BasicProperties::default().with_content_type("application/json".into()),
        );
    }
    wait_for(
        "3 dead letters from FastStream",
        Duration::from_secs(30),
        || (rmq.count(&dlq_q) == 3).then_some(()),
    );
    drop(worker);

    let envs = listed(dlq(), &dlq_q, "faststream.ndjson");
    assert_eq!(envs.len(), 3);
    for e in &envs {
        // FastStream writes no error headers: RabbitMQ's dead-lettering says it all.
        assert_eq!(dead_letter(e, "convention"), "rabbitmq", "{e}");
        assert_eq!(dead_letter(e, "reason"), "rejected");
        assert_eq!(dead_letter(e, "source"), &json!(q));
        assert_eq!(dead_letter(e, "attempts"), 1);
        assert_eq!(
            dead_letter(e, "origin"),
            &json!({"kind": "queue", "name": q, "routing_key": null})
        );
        assert_eq!(dead_letter(e, "fingerprint"), &Value::Null);
    }
    let groups = stats(dlq(), &dlq_q, "reason,origin");
    assert_eq!(
        groups,
        [(
            json!({"reason": "rejected", "origin": format!("queue:{q}")}),
            3
        )]
    );
    assert_eq!(
        moved(
            dlq(),
            &[&dlq_q, "--grep", r#""order":301"#, "--to", &elsewhere]
        ),
        1
    );
    assert_eq!(
        rabbitmq_support::bodies(&rmq.drain(&elsewhere)),
        [bodies[0].clone()]
    );
    assert_eq!(moved(dlq(), &[&dlq_q]), 2);
    assert_eq!(
        sorted(rabbitmq_support::bodies(&rmq.drain(&q))),
        bodies[1..]
    );
    assert_eq!(rmq.count(&dlq_q), 0);
    rmq.delete(&q);
}
