//! Fixing schema-encoded messages written without a registry, on RabbitMQ
//! and NATS JetStream, with local schemas (Avro and Protobuf): a
//! `--transform` result that does not fit leaves every message on the DLQ
//! (exit 3); `edit` and `--transform` encode the new value again with the
//! local schema (plain bytes stay plain, a framed body keeps its framing);
//! fastavro and the protobuf classes of the corpus read the copies back, as
//! they do what `publish --encode` writes with a local schema.

mod common;
#[path = "nats/support.rs"]
mod nats_support;
mod rabbitmq_support;
mod schema_support;

use std::process::Command;

use common::run;
use rabbitmq_support::Rmq;
use schema_support::{avro_flags, committed, editor, proto_flags, reference_decode, Golden};
use serde_json::Value;

fn golden(name: &str) -> Golden {
    committed().into_iter().find(|g| g.name == name).unwrap()
}

/// Puts a body on the DLQ.
type Put = Box<dyn Fn(&[u8])>;

/// One broker as the scenario needs it.
struct Broker {
    /// `dlq` for that broker.
    dlq: Box<dyn Fn() -> Command>,
    /// The DLQ's name, and the `--to` target whose messages `sent` reads.
    queue: String,
    to: String,
    put: Put,
    sent: Box<dyn Fn() -> Vec<Vec<u8>>>,
    left: Box<dyn Fn() -> usize>,
}

/// The format's names: two DLQ messages, the field a fix changes, a misfit filter.
struct Case {
    format: &'static str,
    flags: Vec<String>,
    first: &'static str,
    second: &'static str,
    field: &'static str,
    misfit: &'static str,
}

fn avro() -> Case {
    Case {
        format: "avro",
        flags: avro_flags(),
        first: "plain-avro-order-card",
        second: "plain-avro-order-null-union",
        field: "customer",
        misfit: r#".order_id = "x""#,
    }
}

fn protobuf() -> Case {
    Case {
        format: "protobuf",
        flags: proto_flags(),
        first: "plain-proto-order",
        second: "proto-order-empty",
        field: "customerName",
        misfit: r#".orderId = "not a number""#,
    }
}

/// Reads a copy back with the reference library: plain, or after the framing
/// (5 bytes and one message index) a local schema keeps.
fn reference(c: &Case, body: &[u8]) -> Value {
    let plain = if body.first() == Some(&0) && c.format == "protobuf" {
        body[6..].to_vec()
    } else {
        body.to_vec()
    };
    reference_decode(c.format, None, "shop.v1.Order", &[plain])
        .pop()
        .unwrap()
}

fn scenario(b: &Broker, c: &Case) {
    let (first, second) = (golden(c.first), golden(c.second));
    (b.put)(&first.bytes);
    (b.put)(&second.bytes);
    let dlq = |args: &[&str]| {
        let mut cmd = (b.dlq)();
        cmd.args(args).args(&c.flags);
        cmd
    };

    // A result that does not fit: both stay, both listed.
    let r = run(
        dlq(&["retry-all", &b.queue, "--to", &b.to, "-y", "-o", "json"])
            .args(["--transform", c.misfit]),
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.json()["failed"], 2, "{r:?}");
    assert!(r.stdout.contains("does not fit"), "{r:?}");
    assert_eq!((b.left)(), 2);
    assert!((b.sent)().is_empty());

    // edit the first: its decoded value in the file, encoded again once saved.
    let l = run(&mut dlq(&["list", &b.queue, "-o", "json"]));
    let id = l
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["decoded"]["value"] == first.value)
        .unwrap_or_else(|| panic!("{l:?}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let fixer = editor(
        dir.path(),
        "fix.sh",
        &format!(
            r#"sed -i 's/"{}": "Ada Lovelace"/"{}": "Edited Name"/' "$1""#,
            c.field, c.field
        ),
    );
    let r = run(dlq(&["edit", &b.queue, &id, "--to", &b.to, "--yes"])
        .env_remove("VISUAL")
        .env("EDITOR", &fixer)
        .env("TMPDIR", dir.path()));
    assert_eq!(r.code, 0, "{r:?}");
    let sent = (b.sent)();
    assert_eq!(sent.len(), 1);
    let v = reference(c, &sent[0]);
    let mut expect = first.value.clone();
    expect[c.field] = "Edited Name".into();
    assert_eq!(v, expect);
    assert_eq!((b.left)(), 1);

    // --transform on the second: its framing (if any) kept.
    let t = format!(r#".{} = "Fixed Name""#, c.field);
    let r = run(
        dlq(&["retry-all", &b.queue, "--to", &b.to, "-y", "-o", "json"]).args(["--transform", &t]),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let sent = (b.sent)();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].first() == Some(&0), second.framed, "framing kept");
    if second.framed {
        assert_eq!(sent[1][..6], second.bytes[..6]);
    }
    let mut expect = second.value.clone();
    expect[c.field] = "Fixed Name".into();
    assert_eq!(reference(c, &sent[1]), expect);
    assert_eq!((b.left)(), 0);

    // publish --encode with the local schema writes what the reference library wrote.
    let r =
        run(dlq(&["publish", &b.to, "--encode", c.format])
            .args(["--body", &first.value.to_string()]));
    assert_eq!(r.code, 0, "{r:?}");
    let sent = (b.sent)();
    assert_eq!(sent.len(), 3);
    assert_eq!(reference(c, &sent[2]), first.value);
}

fn rabbit(c: Case) {
    let r = std::rc::Rc::new(Rmq::new());
    let queue = common::unique(&format!("schema-fix-{}", c.format));
    let to = format!("{queue}-origin");
    r.declare(&queue, Default::default());
    r.declare(&to, Default::default());
    let sent = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (rp, rs, rl) = (r.clone(), r.clone(), r.clone());
    let (q1, q2, t1) = (queue.clone(), queue.clone(), to.clone());
    let keep = sent.clone();
    let b = Broker {
        dlq: Box::new(rabbitmq_support::dlq),
        queue: queue.clone(),
        to: to.clone(),
        put: Box::new(move |body| rp.publish(&q1, body, Default::default())),
        // Taken off as they come, kept here, so that each check sees all so far.
        sent: Box::new(move || {
            keep.borrow_mut()
                .extend(rabbitmq_support::bodies(&rs.drain(&t1)));
            keep.borrow().clone()
        }),
        left: Box::new(move || rl.count(&q2) as usize),
    };
    scenario(&b, &c);
    r.delete(&queue);
    r.delete(&to);
}

#[test]
fn rabbitmq_avro_fix_then_retry() {
    rabbit(avro());
}

#[test]
fn rabbitmq_protobuf_fix_then_retry() {
    rabbit(protobuf());
}

fn nats(c: Case) {
    let rt = std::rc::Rc::new(tokio::runtime::Runtime::new().unwrap());
    let js = rt.block_on(nats_support::js());
    let (name, subject) = nats_support::names(&format!("SCHEMA-FIX-{}", c.format));
    let (origin, origin_subject) = nats_support::names(&format!("SCHEMA-ORIG-{}", c.format));
    rt.block_on(async {
        nats_support::stream(&js, &name, vec![format!("{subject}.>")], true).await;
        nats_support::stream(&js, &origin, vec![format!("{origin_subject}.>")], true).await;
    });
    let url = common::nats_url();
    let (r1, r2, r3) = (rt.clone(), rt.clone(), rt.clone());
    let (j1, j2, j3) = (js.clone(), js.clone(), js.clone());
    let (n1, o1) = (name.clone(), origin.clone());
    let b = Broker {
        dlq: Box::new(move || common::dlq(&url)),
        queue: name.clone(),
        to: format!("{origin_subject}.fixed"),
        put: Box::new(move |body| {
            r1.block_on(nats_support::publish(
                &j1,
                &format!("{subject}.x"),
                Default::default(),
                body,
            ));
        }),
        sent: Box::new(move || {
            r2.block_on(nats_support::messages(&j2, &o1))
                .into_iter()
                .map(|(_, _, _, b)| b)
                .collect()
        }),
        left: Box::new(move || r3.block_on(nats_support::count(&j3, &n1)) as usize),
    };
    scenario(&b, &c);
    rt.block_on(nats_support::delete(&js, &[&name, &origin]));
}

#[test]
fn nats_avro_fix_then_retry() {
    nats(avro());
}

#[test]
fn nats_protobuf_fix_then_retry() {
    nats(protobuf());
}
