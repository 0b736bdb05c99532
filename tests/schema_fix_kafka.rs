//! Fixing schema-encoded messages on Kafka (noida-db) with the registry
//! double: `--transform` and `edit` work on the decoded value and encode it
//! again with the same schema ID and message type, which confluent-kafka's
//! own deserializers then read; a result that does not fit leaves the
//! message on the DLQ (exit 3). `publish --encode` writes the wire format
//! for all three formats, refuses a value that does not fit with its line
//! number, and a registry that refuses the credentials in one line (exit 4).

mod common;
mod kafka_support;
mod schema_support;

use common::{run, run_with_stdin, unique};
use kafka_support::*;
use schema_support::{editor, fixtures, reference_decode, Golden, Registry};
use serde_json::{json, Value};

fn golden<'g>(goldens: &'g [Golden], name: &str) -> &'g Golden {
    goldens.iter().find(|g| g.name == name).unwrap()
}

/// The bodies on `topic`, in order.
fn bodies_on(topic: &str) -> Vec<Vec<u8>> {
    bodies(&read_all(topic))
}

/// The schema ID and, for Protobuf, the message-index bytes of a framed body.
fn framing(body: &[u8], golden: &Golden) -> Vec<u8> {
    let len = if golden.format == "protobuf" { 6 } else { 5 };
    body[..len].to_vec()
}

fn list_all(topic: &str, extra: &[&str]) -> (Vec<Value>, common::Run) {
    let r = run(k().args(["list", topic, "--all", "-o", "json"]).args(extra));
    assert_eq!(r.code, 0, "{r:?}");
    (r.json().as_array().unwrap().clone(), r)
}

#[test]
fn transform_and_edit_encode_again_with_the_same_schema() {
    let reg = Registry::start(&[]);
    let goldens = fixtures(&reg, &format!("{}-", unique("fx")), None);
    let names = ["avro-order-card", "proto-order", "json-order"];
    let (dlq, origin) = (unique("schema-fix-dlq"), unique("schema-fix"));
    create_topic(&dlq, 1);
    create_topic(&origin, 1);
    let recs: Vec<Rec> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            rec(
                &format!("k{i}"),
                &golden(&goldens, n).bytes,
                &[("dlq-original-topic", origin.as_bytes())],
            )
        })
        .collect();
    produce(&dlq, &recs, Some(0));
    let sr = ["--schema-registry", reg.url.as_str()];

    // A result that does not fit the schema: the message stays, listed in failures.
    let r = run(k()
        .args([
            "retry",
            &dlq,
            "0:0",
            "-o",
            "json",
            "--transform",
            r#".order_id = "not a number""#,
        ])
        .args(sr));
    assert_eq!(r.code, 3, "{r:?}");
    let err = r.json()["failures"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        err.contains("does not fit") && err.contains("avro, schema"),
        "{err}"
    );
    assert!(bodies_on(&origin).is_empty());
    let l = run(k().args(["list", &dlq, "-o", "json"]));
    assert_eq!(l.json().as_array().unwrap().len(), 3, "{l:?}");

    // One filter for all three: Avro and JSON Schema call it customer, Protobuf customerName.
    let t = r#"if has("customerName") then .customerName = "Fixed Name" else .customer = "Fixed Name" end"#;
    let r = run(k()
        .args(["retry-all", &dlq, "-y", "-o", "json", "--transform", t])
        .args(sr));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], 3, "{r:?}");
    let sent = bodies_on(&origin);
    assert_eq!(sent.len(), 3);
    for (body, name) in sent.iter().zip(names) {
        let g = golden(&goldens, name);
        assert_eq!(
            framing(body, g),
            framing(&g.bytes, g),
            "{name}: same schema ID and type"
        );
        let mt = g.message_type.as_deref().unwrap_or("shop.v1.Order");
        let v = &reference_decode(&g.format, Some(&reg), mt, std::slice::from_ref(body))[0];
        let field = if g.format == "protobuf" {
            "customerName"
        } else {
            "customer"
        };
        assert_eq!(v[field], "Fixed Name", "{name}: {v}");
        let same = if g.format == "protobuf" {
            "orderId"
        } else {
            "order_id"
        };
        assert_eq!(v[same], g.value[same], "{name}: {v}");
        if g.format == "protobuf" {
            assert_eq!(v["total"], g.value["total"], "{v}");
            assert_eq!(v["lines"], g.value["lines"], "{v}");
        }
    }

    // edit: the decoded value in the file, encoded again when saved.
    produce(
        &dlq,
        &[rec(
            "k9",
            &golden(&goldens, "avro-order-null-union").bytes,
            &[("dlq-original-topic", origin.as_bytes())],
        )],
        Some(0),
    );
    let dir = tempfile::tempdir().unwrap();
    let shown = dir.path().join("shown.txt");
    let fixer = editor(
        dir.path(),
        "fix.sh",
        &format!(
            r#"cp "$1" {}; sed -i 's/"customer": "Ada Lovelace"/"customer": "Edited Name"/' "$1""#,
            shown.display()
        ),
    );
    let misfit = editor(
        dir.path(),
        "misfit.sh",
        r#"sed -i 's/"total": 42.5/"total": "lots"/' "$1""#,
    );
    let edit = |script: &str| {
        run(k()
            .args(["edit", &dlq, "0:3", "--yes", "-o", "json"])
            .args(sr)
            .env_remove("VISUAL")
            .env("EDITOR", script)
            .env("TMPDIR", dir.path()))
    };
    let r = edit(&misfit);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("does not fit"), "{r:?}");
    assert_eq!(bodies_on(&origin).len(), 3);
    let r = edit(&fixer);
    assert_eq!(r.code, 0, "{r:?}");
    let file = std::fs::read_to_string(&shown).unwrap();
    assert!(file.contains("@body: avro\n"), "{file}");
    assert!(file.contains("decoded (avro, schema"), "{file}");
    let sent = bodies_on(&origin);
    assert_eq!(sent.len(), 4);
    let g = golden(&goldens, "avro-order-null-union");
    assert_eq!(framing(&sent[3], g), framing(&g.bytes, g));
    let v = &reference_decode("avro", Some(&reg), "", &[sent[3].clone()])[0];
    assert_eq!(v["customer"], "Edited Name", "{v}");
    assert_eq!(v["order_id"], g.value["order_id"], "{v}");
    assert_eq!(v["note"], Value::Null, "{v}");
    delete_topic(&dlq);
    delete_topic(&origin);
}

#[test]
fn publish_encode_writes_the_wire_format() {
    let reg = Registry::start(&[]);
    let prefix = format!("{}-", unique("pe"));
    let goldens = fixtures(&reg, &prefix, None);
    let sr = ["--schema-registry", reg.url.as_str()];
    let topic = unique("schema-publish");
    create_topic(&topic, 1);

    // Avro by subject (latest version): the very bytes Confluent's serializer wrote.
    let avro: Vec<&Golden> = goldens
        .iter()
        .filter(|g| g.format == "avro" && g.framed)
        .collect();
    let input: String = avro.iter().map(|g| format!("{}\n", g.value)).collect();
    let subject = format!("{prefix}orders-avro-value");
    let r = run_with_stdin(
        k().args(["publish", &topic, "--format", "lines", "--encode", "avro"])
            .args(["--schema-subject", &subject])
            .args(sr),
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let sent = bodies_on(&topic);
    assert_eq!(sent.len(), avro.len());
    for (body, g) in sent.iter().zip(&avro) {
        // Byte for byte, but for the order of a map's entries, which Avro leaves open.
        if g.value["counts"].as_object().unwrap().len() < 2 {
            assert_eq!(body, &g.bytes, "{}", g.name);
        }
        assert_eq!(body[..5], g.bytes[..5], "{}", g.name);
    }
    let (listed, _) = list_all(&topic, &sr);
    for (env, g) in listed.iter().zip(&avro) {
        assert_eq!(env["decoded"]["value"], g.value, "{}", g.name);
    }
    let v = reference_decode("avro", Some(&reg), "", &sent);
    for (v, g) in v.iter().zip(&avro) {
        assert_eq!(v["customer"], g.value["customer"], "{}", g.name);
        assert_eq!(v["counts"], g.value["counts"], "{}", g.name);
    }

    // Protobuf by schema ID and message type; read back by confluent-kafka.
    let proto = golden(&goldens, "proto-order");
    let id = proto.schema_id.unwrap().to_string();
    let r = run(k()
        .args([
            "publish",
            &topic,
            "--encode",
            "protobuf",
            "--schema-id",
            &id,
        ])
        .args([
            "--proto-message",
            "shop.v1.Order",
            "--body",
            &proto.value.to_string(),
        ])
        .args(sr));
    assert_eq!(r.code, 0, "{r:?}");
    let sent = bodies_on(&topic);
    let last = sent.last().unwrap();
    assert_eq!(framing(last, proto), framing(&proto.bytes, proto));
    let v = &reference_decode(
        "protobuf",
        Some(&reg),
        "shop.v1.Order",
        std::slice::from_ref(last),
    )[0];
    assert_eq!(v, &proto.value);

    // JSON Schema, version 1 of the subject; validated on the way.
    let json_subject = format!("{prefix}orders-json-value");
    let ok = json!({"order_id": 5, "customer": "Bo", "total": 1.5});
    let r = run(k()
        .args([
            "publish",
            &topic,
            "--encode",
            "json-schema",
            "--schema-subject",
            &json_subject,
        ])
        .args(["--schema-version", "1", "--body", &ok.to_string()])
        .args(sr));
    assert_eq!(r.code, 0, "{r:?}");
    let sent = bodies_on(&topic);
    let v = &reference_decode(
        "json-schema",
        Some(&reg),
        "",
        &[sent.last().unwrap().clone()],
    )[0];
    assert_eq!(v, &ok);
    let before = sent.len();

    // A value that does not fit: refused with its line number, as a malformed line is.
    let bad = "{\"order_id\": 6, \"customer\": \"Cy\", \"total\": -1}\n";
    let r = run_with_stdin(
        k().args([
            "publish",
            &topic,
            "--format",
            "lines",
            "--encode",
            "json-schema",
        ])
        .args(["--schema-subject", &json_subject])
        .args(sr),
        bad.as_bytes(),
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("input line 1") && r.stderr.contains("does not fit"),
        "{r:?}"
    );
    let input = format!(
        "{}\n{}\n{{\"order_id\": \"x\"}}\n",
        avro[0].value, avro[1].value
    );
    let r = run_with_stdin(
        k().args([
            "publish", &topic, "--format", "lines", "--encode", "avro", "-o", "json",
        ])
        .args(["--schema-subject", &subject])
        .args(sr),
        input.as_bytes(),
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.json()["published"], 2, "{r:?}");
    assert!(r.stderr.contains("input line 3"), "{r:?}");
    assert_eq!(bodies_on(&topic).len(), before + 2);

    // --format ndjson replays bytes: --encode does not apply there.
    let r = run(k()
        .args(["publish", &topic, "--format", "ndjson", "--encode", "avro"])
        .args(["--schema-id", "1", "--body", "{}"])
        .args(sr));
    assert_eq!(r.code, 2, "{r:?}");
    // A subject the registry does not have.
    let r = run(k()
        .args([
            "publish",
            &topic,
            "--encode",
            "avro",
            "--schema-subject",
            "nope-value",
        ])
        .args(["--body", "{}"])
        .args(sr));
    assert_ne!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert_eq!(bodies_on(&topic).len(), before + 2);
    delete_topic(&topic);
}

#[test]
fn publish_encode_with_refused_credentials_is_one_line() {
    let reg = Registry::start(&["--user", "ops", "--password", "pw-2718"]);
    let prefix = format!("{}-", unique("pa"));
    let goldens = fixtures(&reg, &prefix, Some(("ops", "pw-2718")));
    let topic = unique("schema-publish-auth");
    create_topic(&topic, 1);
    let subject = format!("{prefix}orders-avro-value");
    // Its map is empty: the bytes are Confluent's, exactly.
    let g = golden(&goldens, "avro-order-null-union");
    let body = g.value.to_string();
    let r = run(k()
        .args([
            "publish",
            &topic,
            "--encode",
            "avro",
            "--schema-subject",
            &subject,
        ])
        .args(["--schema-registry", &reg.url, "--body", &body]));
    assert_eq!(r.code, 4, "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(
        r.stderr.starts_with("dlq: error: ") && r.stderr.contains("refused the credentials"),
        "{r:?}"
    );
    // By schema ID too: one error line, no read's warning beside it.
    let r = run(k()
        .args(["publish", &topic, "--encode", "avro", "--schema-id", "1"])
        .args(["--schema-registry", &reg.url, "--body", &body]));
    assert_eq!(r.code, 4, "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(r.stderr.starts_with("dlq: error: "), "{r:?}");
    let with = reg.url.replace("://", "://ops:pw-2718@");
    let r = run(k()
        .args([
            "publish",
            &topic,
            "--encode",
            "avro",
            "--schema-id",
            "999999",
        ])
        .args(["--schema-registry", &with, "--body", &body]));
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(r.stderr.contains("999999"), "{r:?}");
    assert!(bodies_on(&topic).is_empty());
    // With them (in the URL), it goes out.
    let r = run(k()
        .args([
            "publish",
            &topic,
            "--encode",
            "avro",
            "--schema-subject",
            &subject,
        ])
        .args(["--schema-registry", &with, "--body", &body]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(bodies_on(&topic), vec![g.bytes.clone()]);
    delete_topic(&topic);
}
