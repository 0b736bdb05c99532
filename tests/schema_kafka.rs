//! Schema-encoded bodies on Kafka (noida-db) with the registry double: the
//! messages are made by Confluent's own serializers (Avro, Protobuf, JSON
//! Schema) and produced with rdkafka; dlq decodes them in list, peek and
//! export, greps decoded fields, and reads on when the registry does not
//! know an ID, cannot be reached, refuses the credentials, or is served
//! over HTTPS with a private CA. The topic is read back with rdkafka to
//! check that nothing changed and that export then publish replays bytes.

mod common;
mod kafka_support;
#[allow(dead_code)]
#[path = "tls_support/pki.rs"]
mod pki;
mod schema_support;

use common::{run, run_with_stdin, unique};
use kafka_support::*;
use schema_support::{fixtures, fixtures_trusting, warnings, Golden, Registry};
use serde_json::Value;

/// A topic holding every framed golden message (in fixtures order), a
/// plain JSON body, and a body framed with an ID no registry knows.
fn topic_with(goldens: &[Golden]) -> (String, Vec<Vec<u8>>) {
    let topic = unique("schema");
    create_topic(&topic, 1);
    let mut bodies: Vec<Vec<u8>> = goldens
        .iter()
        .filter(|g| g.framed)
        .map(|g| g.bytes.clone())
        .collect();
    bodies.push(br#"{"plain":"json"}"#.to_vec());
    bodies.push(vec![0, 0x7f, 0xff, 0xff, 0xfe, 2, 4, 6]);
    let recs: Vec<Rec> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| rec(&format!("k{i}"), b, &[]))
        .collect();
    produce(&topic, &recs, Some(0));
    (topic, bodies)
}

fn list(topic: &str, extra: &[&str]) -> (Vec<Value>, common::Run) {
    let r = run(k().args(["list", topic, "-o", "json"]).args(extra));
    assert_eq!(r.code, 0, "{r:?}");
    (r.json().as_array().unwrap().clone(), r)
}

#[test]
fn all_three_formats_decode_in_list_peek_and_export() {
    let reg = Registry::start(&[]);
    let prefix = unique("k");
    let goldens = fixtures(&reg, &format!("{prefix}-"), None);
    let framed: Vec<&Golden> = goldens.iter().filter(|g| g.framed).collect();
    assert_eq!(framed.len(), 9);
    let (topic, bodies) = topic_with(&goldens);

    let (envs, r) = list(&topic, &["--schema-registry", &reg.url]);
    assert_eq!(envs.len(), bodies.len());
    for (env, g) in envs.iter().zip(&framed) {
        let d = &env["decoded"];
        assert_eq!(d["value"], g.value, "{}", g.name);
        assert_eq!(d["format"], g.format.as_str(), "{}", g.name);
        assert_eq!(d["schema_id"].as_u64(), g.schema_id, "{}", g.name);
        assert_eq!(d["subject"].as_str(), g.subject.as_deref(), "{}", g.name);
        assert_eq!(
            d["message_type"].as_str(),
            g.message_type.as_deref(),
            "{}",
            g.name
        );
        // The body still holds the exact bytes.
        use base64::Engine as _;
        let raw = match env["body"].as_str() {
            Some(t) => t.as_bytes().to_vec(),
            None => base64::engine::general_purpose::STANDARD
                .decode(env["body_base64"].as_str().unwrap())
                .unwrap(),
        };
        assert_eq!(raw, g.bytes, "{}", g.name);
    }
    // A body without framing is shown as it is.
    assert!(envs[9]["decoded"].is_null());
    assert_eq!(envs[9]["body"], r#"{"plain":"json"}"#);
    // An ID the registry does not know: listed, the error in decoded, one warning.
    let unknown = &envs[10]["decoded"];
    assert_eq!(unknown["schema_id"], 0x7fff_fffe_u64);
    assert!(unknown["format"].is_null());
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("is not in schema registry"),
        "{unknown}"
    );
    assert_eq!(warnings(&r.stderr).len(), 1, "{r:?}");

    // The table previews decoded values.
    let t = run(k().args(["list", &topic, "--schema-registry", &reg.url]));
    assert_eq!(t.code, 0, "{t:?}");
    assert!(
        t.stdout
            .contains(r#"{"order_id":9000000001,"customer":"Ada Lovelace""#),
        "{t:?}"
    );
    assert!(
        t.stdout
            .contains(r#"{"orderId":"9000000001","customerName":"Ada Lo"#),
        "{t:?}"
    );

    // peek prints the decoded value pretty under its format and schema.
    let avro_id = framed[0].schema_id.unwrap();
    let p = run(k().args(["peek", &topic, "0:0", "--schema-registry", &reg.url]));
    assert_eq!(p.code, 0, "{p:?}");
    assert!(
        p.stdout.contains(&format!(
            "body (avro, schema {avro_id})\n{{\n  \"order_id\": 9000000001,"
        )),
        "{p:?}"
    );
    let proto = framed
        .iter()
        .position(|g| g.name == "proto-refund")
        .unwrap();
    let p = run(k().args([
        "peek",
        &topic,
        &format!("0:{proto}"),
        "--schema-registry",
        &reg.url,
    ]));
    assert!(
        p.stdout.contains(&format!(
            "body (protobuf, schema {}, shop.v1.Refund)",
            framed[proto].schema_id.unwrap()
        )),
        "{p:?}"
    );
    assert!(p.stdout.contains("\"reason\": \"damaged\""), "{p:?}");

    // export carries decoded; DLQ_SCHEMA_REGISTRY names the registry too.
    let e = run(k()
        .args(["export", &topic])
        .env("DLQ_SCHEMA_REGISTRY", &reg.url));
    assert_eq!(e.code, 0, "{e:?}");
    let exported = e.ndjson();
    assert_eq!(exported.len(), bodies.len());
    assert_eq!(exported[0]["decoded"]["value"], framed[0].value);
    // --no-decode turns it off.
    let (plain, _) = list(&topic, &["--schema-registry", &reg.url, "--no-decode"]);
    assert!(plain.iter().all(|e| e["decoded"].is_null()));

    // Reading changed nothing: the topic holds the same records.
    assert_eq!(bodies_of(&read_all(&topic)), bodies);
    delete_topic(&topic);
}

#[test]
fn grep_searches_decoded_values() {
    let reg = Registry::start(&[]);
    let goldens = fixtures(&reg, &format!("{}-", unique("g")), None);
    let (topic, _) = topic_with(&goldens);
    // Text that is only in the decoded JSON: an enum's name, a key with its value.
    let (envs, _) = list(
        &topic,
        &["--schema-registry", &reg.url, "--grep", "STATUS_PAID"],
    );
    let names: Vec<&str> = envs
        .iter()
        .map(|e| e["decoded"]["message_type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["shop.v1.Order"]);
    let (envs, _) = list(
        &topic,
        &[
            "--schema-registry",
            &reg.url,
            "--grep",
            r#""payment":"invoice""#,
        ],
    );
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0]["decoded"]["value"]["customer"], "Grace Hopper");
    // Without decoding the same grep finds nothing.
    let (envs, _) = list(&topic, &["--grep", "STATUS_PAID"]);
    assert!(envs.is_empty());
    delete_topic(&topic);
}

#[test]
fn an_unreachable_registry_never_stops_a_read() {
    let reg = Registry::start(&[]);
    let goldens = fixtures(&reg, &format!("{}-", unique("u")), None);
    let (topic, bodies) = topic_with(&goldens);
    drop(reg);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (envs, r) = list(&topic, &["--schema-registry", &url]);
    assert_eq!(envs.len(), bodies.len());
    for e in envs.iter().filter(|e| !e["decoded"].is_null()) {
        assert!(
            e["decoded"]["error"]
                .as_str()
                .unwrap()
                .contains("unreachable"),
            "{e}"
        );
        assert!(e["decoded"]["format"].is_null());
    }
    assert_eq!(envs.iter().filter(|e| !e["decoded"].is_null()).count(), 10);
    assert_eq!(warnings(&r.stderr).len(), 1, "{r:?}");

    // A registry that answers too slowly is the same: --timeout bounds each call.
    let slow = Registry::start(&["--delay", "5"]);
    let t = std::time::Instant::now();
    let (envs, r) = list(&topic, &["--schema-registry", &slow.url, "--timeout", "1s"]);
    assert!(
        envs[0]["decoded"]["error"]
            .as_str()
            .unwrap()
            .contains("timeout"),
        "{r:?}"
    );
    assert_eq!(warnings(&r.stderr).len(), 1, "{r:?}");
    eprintln!("slow registry: list took {:?}", t.elapsed());
    delete_topic(&topic);
}

#[test]
fn registry_credentials_from_the_profile_and_refused_ones() {
    let reg = Registry::start(&["--user", "ops", "--password", "s3cret-registry-pw"]);
    let goldens = fixtures(
        &reg,
        &format!("{}-", unique("a")),
        Some(("ops", "s3cret-registry-pw")),
    );
    let (topic, _) = topic_with(&goldens);
    // No credentials: a decoded.error, exit 0, one warning.
    let (envs, r) = list(&topic, &["--schema-registry", &reg.url]);
    let err = envs[0]["decoded"]["error"].as_str().unwrap();
    assert!(err.contains("refused the credentials (HTTP 401)"), "{err}");
    assert_eq!(warnings(&r.stderr).len(), 1, "{r:?}");
    // The profile's user and password (from an environment variable).
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[profiles.sr]\nurl = \"{}\"\nschema_registry = \"{}\"\nschema_registry_user = \"ops\"\nschema_registry_password_env = \"DLQ_TEST_SR_PW\"\n",
            url(),
            reg.url
        ),
    )
    .unwrap();
    let r = run(common::dlq(&url())
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "-p",
            "sr",
            "list",
            &topic,
            "-o",
            "json",
        ])
        .env("DLQ_TEST_SR_PW", "s3cret-registry-pw"));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()[0]["decoded"]["value"], goldens[0].value);
    // A wrong password is refused; no password is printed.
    let r = run(common::dlq(&url())
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "-p",
            "sr",
            "list",
            &topic,
            "-v",
        ])
        .env("DLQ_TEST_SR_PW", "wrong-pw-4711"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("refused the credentials"), "{r:?}");
    assert!(!r.stderr.contains("wrong-pw-4711") && !r.stdout.contains("wrong-pw-4711"));
    delete_topic(&topic);
}

#[test]
fn a_registry_over_https_with_a_private_ca() {
    let pki = pki::Pki::new();
    let (cert, key) = (
        pki.server_cert.to_str().unwrap(),
        pki.server_key.to_str().unwrap(),
    );
    let reg = Registry::start(&["--cert", cert, "--key", key]);
    let goldens = fixtures_trusting(&reg, &format!("{}-", unique("h")), None, Some(&pki.ca));
    let (topic, _) = topic_with(&goldens);
    let dir = tempfile::tempdir().unwrap();
    // `dlq list -o json` through a profile naming the registry, with or without its CA.
    let list_with = |ca: Option<&std::path::Path>| {
        let cfg = dir.path().join("config.toml");
        let mut text = format!(
            "[profiles.sr]\nurl = \"{}\"\nschema_registry = \"{}\"\n",
            url(),
            reg.url
        );
        if let Some(ca) = ca {
            text.push_str(&format!("schema_registry_ca_file = \"{}\"\n", ca.display()));
        }
        std::fs::write(&cfg, text).unwrap();
        let cfg = cfg.to_str().unwrap();
        run(common::dlq(&url()).args(["--config", cfg, "-p", "sr", "list", &topic, "-o", "json"]))
    };
    let r = list_with(Some(&pki.ca));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()[0]["decoded"]["value"], goldens[0].value);
    // Without the CA: not trusted, said once, the read goes on.
    let r = list_with(None);
    assert_eq!(r.code, 0, "{r:?}");
    let err = r.json()[0]["decoded"]["error"].as_str().unwrap().to_owned();
    assert!(
        err.contains("not trusted") && err.contains("schema_registry_ca_file"),
        "{err}"
    );
    assert_eq!(warnings(&r.stderr).len(), 1, "{r:?}");
    delete_topic(&topic);
}

#[test]
fn export_then_publish_replays_bytes_exactly() {
    let reg = Registry::start(&[]);
    let goldens = fixtures(&reg, &format!("{}-", unique("r")), None);
    let (topic, bodies) = topic_with(&goldens);
    let e = run(k().args(["export", &topic, "--schema-registry", &reg.url]));
    assert_eq!(e.code, 0, "{e:?}");
    assert!(e.ndjson().iter().any(|env| !env["decoded"].is_null()));
    let target = unique("schema-replay");
    create_topic(&target, 1);
    let p = run_with_stdin(
        k().args(["publish", &target, "--format", "ndjson"]),
        e.stdout.as_bytes(),
    );
    assert_eq!(p.code, 0, "{p:?}");
    assert_eq!(bodies_of(&read_all(&target)), bodies);
    delete_topic(&topic);
    delete_topic(&target);
}

fn bodies_of(recs: &[(i32, i64, Rec)]) -> Vec<Vec<u8>> {
    recs.iter().map(|(_, _, r)| r.body.clone()).collect()
}

#[test]
fn where_and_stats_see_decoded_values() {
    let reg = Registry::start(&[]);
    let goldens = fixtures(&reg, &format!("{}-", unique("w")), None);
    let framed: Vec<&Golden> = goldens.iter().filter(|g| g.framed).collect();
    let (topic, _) = topic_with(&goldens);
    for format in ["avro", "protobuf", "json-schema"] {
        // A text field of one message of this format, as the serializer was given it.
        let g = framed
            .iter()
            .find(|g| g.format == format)
            .unwrap_or_else(|| panic!("no {format} fixture"));
        let (key, val) = g
            .value
            .as_object()
            .and_then(|o| o.iter().find(|(_, v)| v.is_string()))
            .unwrap_or_else(|| panic!("{}: no text field in {}", g.name, g.value));
        let want = framed
            .iter()
            .filter(|h| h.value.get(key) == Some(val))
            .count();
        // Some are left out, so the predicate is seen to choose.
        assert!(
            want < framed.len(),
            "{format}: every fixture has {key} {val}"
        );
        let filter = format!(".decoded.value[{}] == {val}", Value::from(key.as_str()));
        let (envs, _) = list(&topic, &["--schema-registry", &reg.url, "--where", &filter]);
        assert_eq!(envs.len(), want, "{format}: {filter}: {envs:?}");
        assert!(
            envs.iter().all(|e| e["decoded"]["value"][key] == *val),
            "{format}: {envs:?}"
        );
        // Without decoding the same predicate sees no value.
        let (envs, _) = list(&topic, &["--no-decode", "--where", &filter]);
        assert!(envs.is_empty(), "{format}: {envs:?}");

        // stats groups by the same decoded field.
        let by = format!("field:.[{}]", Value::from(key.as_str()));
        let r = run(k().args([
            "stats",
            &topic,
            "--by",
            &by,
            "-o",
            "json",
            "--schema-registry",
            &reg.url,
        ]));
        assert_eq!(r.code, 0, "{r:?}");
        let s = r.json();
        let group = s["groups"]
            .as_array()
            .and_then(|gs| gs.iter().find(|x| x["key"][&by] == *val))
            .unwrap_or_else(|| panic!("{format}: no group {val}: {s}"));
        assert_eq!(group["count"], want as u64, "{format}: {s}");
    }
    delete_topic(&topic);
}
