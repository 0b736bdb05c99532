//! Schema-encoded bodies written without a registry, read with local
//! schemas: plain Avro (fastavro) and plain Protobuf bytes, and framed ones,
//! on RabbitMQ and NATS JetStream. dlq decodes them in list, peek and export
//! and greps decoded fields; each queue or stream is read back with the
//! broker's own client afterwards, unchanged.

mod common;
#[path = "nats/support.rs"]
mod nats_support;
mod rabbitmq_support;
mod schema_support;

use common::run;
use rabbitmq_support::{bodies, Rmq};
use schema_support::{avro_flags, committed, corpus, proto_flags, Golden};
use serde_json::Value;

fn golden(name: &str) -> Golden {
    committed().into_iter().find(|g| g.name == name).unwrap()
}

/// The bodies every local test reads: two plain Avro, a plain Protobuf, a
/// framed Avro, and a JSON text that is none of them.
fn bodies_for(format: &str) -> Vec<(Option<Golden>, Vec<u8>)> {
    let names: &[&str] = match format {
        "avro" => &[
            "plain-avro-order-card",
            "plain-avro-order-null-union",
            "avro-order-string-branch",
        ],
        _ => &["plain-proto-order", "proto-order", "proto-order-empty"],
    };
    let mut out: Vec<(Option<Golden>, Vec<u8>)> = names
        .iter()
        .map(|n| {
            let g = golden(n);
            let b = g.bytes.clone();
            (Some(g), b)
        })
        .collect();
    out.push((None, br#"{"not":"schema-encoded"}"#.to_vec()));
    out
}

/// Checks a `list -o json` against what was published.
fn check_listed(envs: &[Value], expect: &[(Option<Golden>, Vec<u8>)]) {
    assert_eq!(envs.len(), expect.len());
    for (env, (g, _)) in envs.iter().zip(expect) {
        match g {
            Some(g) => {
                let d = &env["decoded"];
                assert_eq!(d["value"], g.value, "{}", g.name);
                assert_eq!(d["format"], g.format.as_str());
                assert_eq!(d["schema_id"].as_u64(), g.schema_id, "{}", g.name);
                if g.format == "protobuf" {
                    assert_eq!(d["message_type"], "shop.v1.Order");
                }
            }
            None => assert!(env["decoded"].is_null(), "{env}"),
        }
    }
}

fn rabbit(format: &str, flags: &[String]) {
    let r = Rmq::new();
    let q = common::unique(&format!("schema-{format}"));
    r.declare(&q, Default::default());
    let expect = bodies_for(format);
    r.publish_many(&q, expect.iter().map(|(_, b)| b.clone()));

    let l = run(rabbitmq_support::dlq()
        .args(["list", &q, "-o", "json"])
        .args(flags));
    assert_eq!(l.code, 0, "{l:?}");
    let envs = l.json().as_array().unwrap().clone();
    check_listed(&envs, &expect);

    // peek shows the decoded value pretty, under its format.
    let id = envs[0]["id"].as_str().unwrap().to_owned();
    let p = run(rabbitmq_support::dlq().args(["peek", &q, &id]).args(flags));
    assert_eq!(p.code, 0, "{p:?}");
    let label = if format == "avro" {
        "body (avro, local schema)"
    } else {
        "body (protobuf, local schema, shop.v1.Order)"
    };
    assert!(p.stdout.contains(label), "{p:?}");
    assert!(p.stdout.contains("Ada Lovelace"), "{p:?}");

    // grep finds text only the decoded JSON has.
    let needle = if format == "avro" {
        r#""status":"PAID""#
    } else {
        r#""status":"STATUS_PAID""#
    };
    let g = run(rabbitmq_support::dlq()
        .args(["list", &q, "-o", "json", "--grep", needle])
        .args(flags));
    let found = g.json().as_array().unwrap().len();
    assert_eq!(found, if format == "avro" { 3 } else { 2 }, "{g:?}");

    where_and_stats(rabbitmq_support::dlq, &q, flags, &expect);

    // export carries decoded.
    let e = run(rabbitmq_support::dlq().args(["export", &q]).args(flags));
    assert_eq!(e.code, 0, "{e:?}");
    check_listed(&e.ndjson(), &expect);

    // The queue is as it was: same bodies, same order.
    let left = r.drain(&q);
    assert_eq!(
        bodies(&left),
        expect.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>()
    );
    r.delete(&q);
}

#[test]
fn rabbitmq_plain_avro_with_avro_schema() {
    rabbit("avro", &avro_flags());
}

#[test]
fn rabbitmq_plain_protobuf_with_proto_files() {
    rabbit("protobuf", &proto_flags());
}

#[test]
fn rabbitmq_plain_protobuf_with_a_descriptor_set() {
    rabbit(
        "protobuf",
        &[
            "--descriptor-set".into(),
            corpus("order.desc").display().to_string(),
            "--proto-message".into(),
            "shop.v1.Order".into(),
        ],
    );
}

fn nats(format: &str, flags: Vec<String>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let js = rt.block_on(nats_support::js());
    let (name, subject) = nats_support::names(&format!("SCHEMA-{format}"));
    let expect = bodies_for(format);
    rt.block_on(async {
        nats_support::stream(&js, &name, vec![format!("{subject}.>")], true).await;
        for (_, b) in &expect {
            nats_support::publish(&js, &format!("{subject}.x"), Default::default(), b).await;
        }
    });
    let url = common::nats_url();
    let l = run(common::dlq(&url)
        .args(["list", &name, "-o", "json"])
        .args(&flags));
    assert_eq!(l.code, 0, "{l:?}");
    check_listed(l.json().as_array().unwrap(), &expect);
    let p = run(common::dlq(&url).args(["peek", &name, "1"]).args(&flags));
    assert!(p.stdout.contains("local schema"), "{p:?}");
    assert!(p.stdout.contains("Ada Lovelace"), "{p:?}");
    let needle = if format == "avro" {
        r#""customer":"Grace Hopper""#
    } else {
        r#""units":"4250""#
    };
    let g = run(common::dlq(&url)
        .args(["list", &name, "-o", "json", "--grep", needle])
        .args(&flags));
    assert_eq!(
        g.json().as_array().unwrap().len(),
        if format == "avro" { 1 } else { 2 },
        "{g:?}"
    );
    where_and_stats(|| common::dlq(&url), &name, &flags, &expect);
    let e = run(common::dlq(&url).args(["export", &name]).args(&flags));
    check_listed(&e.ndjson(), &expect);
    let stored = rt.block_on(nats_support::messages(&js, &name));
    assert_eq!(
        stored.into_iter().map(|(_, _, _, b)| b).collect::<Vec<_>>(),
        expect.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>()
    );
    rt.block_on(nats_support::delete(&js, &[&name]));
}

#[test]
fn nats_plain_avro_with_avro_schema() {
    nats("avro", avro_flags());
}

#[test]
fn nats_plain_protobuf_with_proto_files() {
    nats("protobuf", proto_flags());
}

#[test]
fn bad_local_schemas_are_usage_errors_before_connecting() {
    // A port nothing listens on: the error must come before any connection.
    let r = run(common::dlq("amqp://guest:guest@127.0.0.1:1/%2f").args([
        "list",
        "q",
        "--avro-schema",
        "/nonexistent.avsc",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .starts_with("dlq: error: cannot read --avro-schema /nonexistent.avsc"),
        "{r:?}"
    );
    let r = run(common::dlq("amqp://guest:guest@127.0.0.1:1/%2f").args([
        "list",
        "q",
        "--proto",
        &corpus("proto/shop/v1/order.proto").display().to_string(),
        "--proto-path",
        &corpus("proto").display().to_string(),
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--proto-message"), "{r:?}");
    let r = run(common::dlq("amqp://guest:guest@127.0.0.1:1/%2f").args([
        "list",
        "q",
        "--schema-registry",
        "ftp://x",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("bad schema registry URL"), "{r:?}");
}

/// `--where` and `stats --by field:` see the decoded value: the messages whose
/// decoded `status` is the first fixture's, counted from the fixtures.
fn where_and_stats(
    dlq: impl Fn() -> std::process::Command,
    q: &str,
    flags: &[String],
    expect: &[(Option<Golden>, Vec<u8>)],
) {
    let values: Vec<&Value> = expect
        .iter()
        .filter_map(|(g, _)| g.as_ref().map(|g| &g.value))
        .collect();
    let status = values
        .first()
        .and_then(|v| v.get("status"))
        .cloned()
        .expect("a fixture with a status");
    let want = values
        .iter()
        .filter(|v| v.get("status") == Some(&status))
        .count();
    // Some are left out, so the predicate is seen to choose.
    assert!(want < expect.len(), "every fixture has status {status}");
    let filter = format!(".decoded.value.status == {status}");
    let w = run(dlq()
        .args(["list", q, "-o", "json", "--where", &filter])
        .args(flags));
    assert_eq!(w.code, 0, "{w:?}");
    let envs = w.json().as_array().unwrap().clone();
    assert_eq!(envs.len(), want, "{filter}: {w:?}");
    assert!(
        envs.iter()
            .all(|e| e["decoded"]["value"]["status"] == status),
        "{w:?}"
    );
    let s = run(dlq()
        .args(["stats", q, "--by", "field:.status", "-o", "json"])
        .args(flags));
    assert_eq!(s.code, 0, "{s:?}");
    let s = s.json();
    let group = s["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["key"]["field:.status"] == status))
        .unwrap_or_else(|| panic!("no group {status}: {s}"));
    assert_eq!(group["count"], want as u64, "{s}");
}
