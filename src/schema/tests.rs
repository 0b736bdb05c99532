//! The golden messages of `tests/corpus/schema/`, made by Confluent's own
//! serializers against the registry double (`tests/schema_support/`), read
//! back with the registry's state as it was saved (`registry.json`): every
//! format, unions, logical types, references, message indexes, imports,
//! well-known types, local schemas, failures, and encoding back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/schema")
        .join(name)
}

/// One golden message, as fixtures.py wrote it.
struct Golden {
    name: String,
    format: Format,
    framed: bool,
    schema_id: Option<u32>,
    subject: Option<String>,
    message_type: Option<String>,
    value: Value,
    bytes: Vec<u8>,
}

fn goldens() -> Vec<Golden> {
    std::fs::read_to_string(corpus("messages.ndjson"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Golden {
                name: v["name"].as_str().unwrap().to_owned(),
                format: match v["format"].as_str().unwrap() {
                    "avro" => Format::Avro,
                    "protobuf" => Format::Protobuf,
                    _ => Format::JsonSchema,
                },
                framed: v["framed"].as_bool().unwrap(),
                schema_id: v["schema_id"].as_u64().map(|n| n as u32),
                subject: v["subject"].as_str().map(str::to_owned),
                message_type: v["message_type"].as_str().map(str::to_owned),
                value: v["value"].clone(),
                bytes: crate::message::b64_decode(v["base64"].as_str().unwrap()).unwrap(),
            }
        })
        .collect()
}

fn golden(name: &str) -> Golden {
    goldens().into_iter().find(|g| g.name == name).unwrap()
}

/// The registry's saved state as the registry would answer for `id`.
fn fetched(id: u32) -> Fetched {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus("registry.json")).unwrap()).unwrap();
    let schema = &state["schemas"][id.to_string()];
    let mut references = Vec::new();
    let mut todo: Vec<Value> = schema["references"].as_array().unwrap().clone();
    while let Some(r) = todo.pop() {
        let subject = r["subject"].as_str().unwrap();
        let ref_id = state["subjects"][subject][r["version"].as_u64().unwrap() as usize - 1]
            .as_u64()
            .unwrap();
        let s = &state["schemas"][ref_id.to_string()];
        references.push((
            r["name"].as_str().unwrap().to_owned(),
            s["schema"].as_str().unwrap().to_owned(),
        ));
        todo.extend(s["references"].as_array().unwrap().iter().cloned());
    }
    let subject = state["subjects"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, ids)| {
            ids.as_array()
                .unwrap()
                .iter()
                .any(|i| i.as_u64() == Some(id as u64))
        })
        .map(|(s, _)| s.clone());
    Fetched {
        id,
        format: match schema["schemaType"].as_str().unwrap() {
            "AVRO" => Format::Avro,
            "PROTOBUF" => Format::Protobuf,
            _ => Format::JsonSchema,
        },
        schema: schema["schema"].as_str().unwrap().to_owned(),
        references,
        subject,
    }
}

/// A registry on a port nothing listens on: only preloaded IDs decode.
fn unreachable_registry() -> RegistrySettings {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    RegistrySettings {
        url: format!("http://127.0.0.1:{port}"),
        user: None,
        password: None,
        ca_pem: None,
        timeout: Duration::from_secs(2),
    }
}

/// A decoder over the saved registry state (every ID of the goldens preloaded).
fn registry_decoder() -> Decoder {
    let settings = SchemaSettings {
        registry: Some(unreachable_registry()),
        ..Default::default()
    };
    let d = Decoder::new(&settings, Warner::default()).unwrap().unwrap();
    for g in goldens().iter().filter(|g| g.framed) {
        let id = g.schema_id.unwrap();
        let f = fetched(id);
        let parsed = Parsed::from_fetched(&f).unwrap();
        d.cache.lock().unwrap().insert(
            id,
            Ok(Arc::new(Entry {
                parsed,
                subject: f.subject.clone(),
            })),
        );
    }
    d
}

fn local_decoder(settings: SchemaSettings) -> Decoder {
    Decoder::new(&settings, Warner::default()).unwrap().unwrap()
}

fn avro_local() -> SchemaSettings {
    SchemaSettings {
        avro_schema: vec![corpus("item.avsc"), corpus("order.avsc")],
        ..Default::default()
    }
}

fn proto_local() -> SchemaSettings {
    SchemaSettings {
        proto: vec![corpus("proto/shop/v1/order.proto")],
        proto_path: vec![corpus("proto")],
        proto_message: Some("shop.v1.Order".into()),
        ..Default::default()
    }
}

#[test]
fn every_framed_golden_decodes_as_confluent_wrote_it() {
    let d = registry_decoder();
    let mut seen = 0;
    for g in goldens().iter().filter(|g| g.framed) {
        let got = d
            .decode(&g.bytes)
            .unwrap_or_else(|| panic!("{}: not decoded", g.name));
        assert_eq!(got.value_json().unwrap(), g.value, "{}", g.name);
        assert_eq!(got.format, Some(g.format), "{}", g.name);
        assert_eq!(got.schema_id, g.schema_id, "{}", g.name);
        assert_eq!(got.subject, g.subject, "{}", g.name);
        assert_eq!(got.message_type, g.message_type, "{}", g.name);
        seen += 1;
    }
    assert_eq!(seen, 9);
}

#[test]
fn avro_unions_logical_types_bytes_and_references() {
    let d = registry_decoder();
    let card = d
        .decode(&golden("avro-order-card").bytes)
        .unwrap()
        .value_json()
        .unwrap();
    // A union's value without its branch name, a record branch as an object.
    assert_eq!(card["payment"], json!({"last4": "4242"}));
    assert_eq!(card["note"], json!("leave at door"));
    // Logical types as their underlying type.
    assert_eq!(card["created_at"], json!(1795772571123u64));
    assert_eq!(card["day"], json!(20780));
    assert_eq!(card["id"], json!("6f1c3b2a-9d8e-4f00-8a11-2b3c4d5e6f70"));
    // bytes, fixed and a decimal's bytes: one code point per byte.
    assert_eq!(card["raw"], json!("\u{0}\u{ff}\u{10}a"));
    assert_eq!(card["hash"], json!("\u{de}\u{ad}\u{be}\u{ef}"));
    assert_eq!(card["amount"], json!("\u{1}\u{e2}:"));
    // A named type from another subject, through the reference.
    assert_eq!(card["items"], json!([{"sku": "A-7", "qty": 2}]));
    let empty = d
        .decode(&golden("avro-order-null-union").bytes)
        .unwrap()
        .value_json()
        .unwrap();
    assert_eq!(empty["payment"], Value::Null);
    assert_eq!(empty["counts"], json!({}));
    let long = d
        .decode(&golden("avro-order-long-branch").bytes)
        .unwrap()
        .value_json()
        .unwrap();
    assert_eq!(long["payment"], json!(7));
    assert_eq!(long["order_id"], json!(-5));
}

#[test]
fn protobuf_indexes_imports_and_well_known_types() {
    let d = registry_decoder();
    let order = d.decode(&golden("proto-order").bytes).unwrap();
    let v = &order.value_json().unwrap();
    // lowerCamelCase, 64-bit integers as strings, enums by name.
    assert_eq!(v["orderId"], json!("9000000001"));
    assert_eq!(v["customerName"], json!("Ada Lovelace"));
    assert_eq!(v["status"], json!("STATUS_PAID"));
    // An imported type (a reference), and well-known types.
    assert_eq!(v["total"], json!({"currency": "EUR", "units": "4250"}));
    assert_eq!(v["createdAt"], json!("2026-11-27T09:42:51.123Z"));
    assert_eq!(v["coupon"], json!("WINTER"));
    assert_eq!(v["lines"][0]["qty"], json!("18446744073709551615"));
    // The message-index list picks the type: [1] and the nested [0, 0].
    let refund = d.decode(&golden("proto-refund").bytes).unwrap();
    assert_eq!(refund.message_type.as_deref(), Some("shop.v1.Refund"));
    assert_eq!(
        refund.framing,
        Framing::Framed {
            schema_id: 4,
            indexes: Some(vec![1])
        }
    );
    let line = d.decode(&golden("proto-line-nested").bytes).unwrap();
    assert_eq!(line.message_type.as_deref(), Some("shop.v1.Order.Line"));
    assert_eq!(
        line.value_json().unwrap(),
        json!({"sku": "B-2", "qty": "1"})
    );
}

#[test]
fn json_schema_bodies_are_their_json() {
    let d = registry_decoder();
    let g = golden("json-order");
    let got = d.decode(&g.bytes).unwrap();
    assert_eq!(got.format, Some(Format::JsonSchema));
    assert_eq!(
        got.value_json().unwrap(),
        json!({"order_id": 77, "customer": "Ada Lovelace", "total": 9.5})
    );
}

#[test]
fn bodies_without_framing_show_as_they_are_with_a_registry() {
    let d = registry_decoder();
    assert_eq!(d.decode(br#"{"order_id":1}"#), None);
    assert_eq!(d.decode(b""), None);
    assert_eq!(d.decode(&[0, 0, 0]), None);
    assert_eq!(d.decode(&golden("plain-proto-order").bytes), None);
}

#[test]
fn plain_and_framed_avro_with_a_local_schema() {
    let d = local_decoder(avro_local());
    for name in ["plain-avro-order-card", "plain-avro-order-null-union"] {
        let g = golden(name);
        let got = d.decode(&g.bytes).unwrap();
        assert_eq!(got.value_json().unwrap(), g.value, "{name}");
        assert_eq!((got.schema_id, got.framing.clone()), (None, Framing::Plain));
        assert_eq!(got.label(), "avro, local schema");
    }
    // A framed body is read after its framing, and keeps its schema ID.
    let g = golden("avro-order-card");
    let got = d.decode(&g.bytes).unwrap();
    assert_eq!(got.value_json().unwrap(), g.value);
    assert_eq!(got.schema_id, g.schema_id);
    // Bodies of other shapes are not this schema's.
    assert_eq!(d.decode(br#"{"order_id":1}"#), None);
    assert_eq!(d.decode(b"plain text"), None);
}

#[test]
fn plain_protobuf_with_proto_files_or_a_descriptor_set() {
    let g = golden("plain-proto-order");
    for settings in [
        proto_local(),
        SchemaSettings {
            descriptor_set: Some(corpus("order.desc")),
            proto_message: Some("shop.v1.Order".into()),
            ..Default::default()
        },
    ] {
        let d = local_decoder(settings);
        let got = d.decode(&g.bytes).unwrap();
        assert_eq!(got.value_json().unwrap(), g.value);
        assert_eq!(got.message_type.as_deref(), Some("shop.v1.Order"));
        assert_eq!(got.label(), "protobuf, local schema, shop.v1.Order");
        // Text is not an Order (fields it does not define), nor JSON.
        assert_eq!(d.decode(b"hello world"), None);
        assert_eq!(d.decode(br#"{"orderId":"1"}"#), None);
        // A framed Order is read after its framing and index list.
        let framed = golden("proto-order");
        assert_eq!(
            d.decode(&framed.bytes).unwrap().value_json().unwrap(),
            framed.value
        );
    }
}

#[test]
fn local_schema_mistakes_are_usage_errors() {
    let bad = |s: SchemaSettings| {
        Decoder::new(&s, Warner::default())
            .err()
            .unwrap()
            .to_string()
    };
    let e = bad(SchemaSettings {
        proto: vec![corpus("proto/shop/v1/order.proto")],
        proto_path: vec![corpus("proto")],
        ..Default::default()
    });
    assert!(e.contains("--proto-message"), "{e}");
    let e = bad(SchemaSettings {
        proto_message: Some("shop.v1.Nope".into()),
        ..proto_local()
    });
    assert!(e.contains("no message type shop.v1.Nope"), "{e}");
    let e = bad(SchemaSettings {
        avro_schema: vec![corpus("order.avsc")],
        ..Default::default()
    });
    assert!(e.contains("shop.Item") || e.contains("Item"), "{e}");
    let e = bad(SchemaSettings {
        avro_schema: vec![corpus("nope.avsc")],
        ..Default::default()
    });
    assert!(e.contains("cannot read --avro-schema"), "{e}");
    let e = bad(SchemaSettings {
        avro_schema: vec![corpus("order.avsc")],
        proto: vec![corpus("proto/shop/v1/order.proto")],
        ..Default::default()
    });
    assert!(e.contains("one local schema"), "{e}");
    assert!(Decoder::new(
        &SchemaSettings {
            no_decode: true,
            ..avro_local()
        },
        Warner::default()
    )
    .unwrap()
    .is_none());
    assert!(Decoder::new(&SchemaSettings::default(), Warner::default())
        .unwrap()
        .is_none());
}

#[test]
fn failures_say_why_and_keep_the_framing_facts() {
    let d = registry_decoder();
    // Bytes that do not fit: a truncated Avro body.
    let mut short = golden("avro-order-card").bytes;
    short.truncate(short.len() - 3);
    let got = d.decode(&short).unwrap();
    assert_eq!(got.format, Some(Format::Avro));
    assert!(
        got.value.as_ref().unwrap_err().contains("do not fit"),
        "{:?}",
        got.value
    );
    // Message indexes that name no type.
    let mut bad = wire::header(4, Some(&[7]));
    bad.extend_from_slice(&[8, 1]);
    let got = d.decode(&bad).unwrap();
    assert!(got.value.unwrap_err().contains("name no message type"));
    // An ID the registry (unreachable here) cannot give: format unknown.
    let got = d.decode(&[0, 0, 0, 0, 99, 1, 2]).unwrap();
    assert_eq!((got.format, got.schema_id), (None, Some(99)));
    assert!(
        got.value.as_ref().unwrap_err().contains("unreachable"),
        "{:?}",
        got.value
    );
    // Once unreachable, later IDs fail at once (no second wait).
    let t = std::time::Instant::now();
    assert!(d.decode(&[0, 0, 0, 0, 98, 1]).unwrap().value.is_err());
    assert!(t.elapsed() < Duration::from_millis(500));
    // The envelope's shapes.
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        format!(
            r#"{{"format":null,"schema_id":99,"error":{}}}"#,
            serde_json::to_string(got.value.as_ref().unwrap_err()).unwrap()
        )
    );
    let ok = d.decode(&golden("json-order").bytes).unwrap();
    assert_eq!(
        serde_json::to_string(&ok).unwrap(),
        r#"{"format":"json-schema","schema_id":5,"subject":"orders-json-value","message_type":null,"value":{"order_id":77,"customer":"Ada Lovelace","total":9.5}}"#
    );
}

#[test]
fn values_encode_back_with_the_same_schema_and_type() {
    let d = registry_decoder();
    for g in goldens().iter().filter(|g| g.framed) {
        let decoded = d.decode(&g.bytes).unwrap();
        let enc = d.encoder_for(&decoded).unwrap();
        let bytes = enc.encode(&decoded.value_json().unwrap()).unwrap();
        // Same schema ID and message indexes, and the same value back.
        let again = d.decode(&bytes).unwrap();
        assert_eq!(again.value_json(), decoded.value_json(), "{}", g.name);
        assert_eq!(again.framing, decoded.framing, "{}", g.name);
        assert_eq!(again.message_type, decoded.message_type, "{}", g.name);
        // Byte for byte, a map's entries in their order.
        assert_eq!(bytes, g.bytes, "{}", g.name);
        assert_eq!(
            enc.encode_like(&decoded.value_json().unwrap(), Some(&g.bytes))
                .unwrap(),
            g.bytes,
            "{}",
            g.name
        );
    }
    // An edited value is encoded with the edit.
    let decoded = d.decode(&golden("avro-order-card").bytes).unwrap();
    let mut v = decoded.value_json().unwrap();
    v["customer"] = json!("Grace");
    v["payment"] = json!("invoice");
    let bytes = d.encoder_for(&decoded).unwrap().encode(&v).unwrap();
    assert_eq!(d.decode(&bytes).unwrap().value_json().unwrap(), v);
}

#[test]
fn a_value_that_does_not_fit_is_an_error_that_says_why() {
    let d = registry_decoder();
    let avro = d.decode(&golden("avro-order-card").bytes).unwrap();
    let enc = d.encoder_for(&avro).unwrap();
    let mut v = avro.value_json().unwrap();
    v["order_id"] = json!("not a number");
    assert!(
        enc.encode(&v).unwrap_err().contains("order_id"),
        "{:?}",
        enc.encode(&v)
    );
    let mut v = avro.value_json().unwrap();
    v["status"] = json!("LOST");
    assert!(enc.encode(&v).unwrap_err().contains("LOST"));
    let mut v = avro.value_json().unwrap();
    v.as_object_mut().unwrap().remove("customer");
    assert!(enc.encode(&v).unwrap_err().contains("customer"));
    let mut v = avro.value_json().unwrap();
    v["payment"] = json!([1]);
    assert!(enc.encode(&v).unwrap_err().contains("union"));

    let proto = d.decode(&golden("proto-order").bytes).unwrap();
    let enc = d.encoder_for(&proto).unwrap();
    assert!(enc.encode(&json!({"noSuchField": 1})).is_err());
    assert!(enc.encode(&json!({"orderId": "x"})).is_err());

    let js = d.decode(&golden("json-order").bytes).unwrap();
    let enc = d.encoder_for(&js).unwrap();
    let e = enc.encode(&json!({"order_id": 1})).unwrap_err();
    assert!(e.contains("customer"), "{e}");
    assert!(enc
        .encode(&json!({"order_id": 1, "customer": "x", "total": -1}))
        .is_err());
    assert!(enc.encode(&json!({"order_id": 1, "customer": "x"})).is_ok());
}

#[test]
fn publish_encoders_from_local_schemas_write_plain_bytes() {
    let d = local_decoder(avro_local());
    let g = golden("plain-avro-order-null-union");
    let enc = d
        .publish_encoder(Format::Avro, &SchemaSource::Local, None)
        .unwrap();
    assert_eq!(enc.encode(&g.value).unwrap(), g.bytes);
    assert!(d
        .publish_encoder(Format::Protobuf, &SchemaSource::Local, None)
        .is_err());
    let e = d
        .publish_encoder(Format::Avro, &SchemaSource::Id(3), None)
        .unwrap_err();
    assert!(e.text.contains("need a schema registry"), "{}", e.text);

    let d = local_decoder(proto_local());
    let g = golden("plain-proto-order");
    let enc = d
        .publish_encoder(Format::Protobuf, &SchemaSource::Local, None)
        .unwrap();
    assert_eq!(
        d.decode(&enc.encode(&g.value).unwrap())
            .unwrap()
            .value_json()
            .unwrap(),
        g.value
    );
}

#[test]
fn publish_encoders_by_id_frame_with_the_type_indexes() {
    let d = registry_decoder();
    let refund = golden("proto-refund");
    let id = refund.schema_id.unwrap();
    let e = d
        .publish_encoder(Format::Protobuf, &SchemaSource::Id(id), None)
        .err()
        .unwrap();
    assert!(e.text.contains("--proto-message"), "{}", e.text);
    let enc = d
        .publish_encoder(
            Format::Protobuf,
            &SchemaSource::Id(id),
            Some("shop.v1.Refund"),
        )
        .unwrap();
    assert_eq!(enc.encode(&refund.value).unwrap(), refund.bytes);
    let e = d
        .publish_encoder(Format::Avro, &SchemaSource::Id(id), None)
        .err()
        .unwrap();
    assert!(
        e.text.contains("--encode avro but the schema is protobuf"),
        "{}",
        e.text
    );
}

#[test]
fn settings_take_the_first_registry_named() {
    let profile = Profile {
        schema_registry: Some("http://profile:8081".into()),
        schema_registry_user: Some("ops".into()),
        ..Default::default()
    };
    let t = Duration::from_secs(3);
    let r = |flag: Option<&str>, env: Option<&str>| {
        SchemaSettings::resolve(SchemaSettings::default(), flag, env, &profile, t)
            .unwrap()
            .registry
            .unwrap()
    };
    assert_eq!(
        r(Some("http://flag:1"), Some("http://env:2")).url,
        "http://flag:1"
    );
    assert_eq!(r(None, Some("http://env:2")).url, "http://env:2");
    let p = r(None, None);
    assert_eq!(
        (p.url.as_str(), p.user.as_deref()),
        ("http://profile:8081", Some("ops"))
    );
    // The profile's user goes to its own registry only.
    assert_eq!(r(Some("http://flag:1"), None).user, None);
    assert_eq!(r(None, Some("http://env:2")).user, None);
    assert_eq!(
        r(Some("http://profile:8081/other"), None).user.as_deref(),
        Some("ops")
    );
    let unset = Profile {
        schema_registry: Some("http://profile:8081".into()),
        schema_registry_password_env: Some("DLQ_TEST_NO_SUCH_VAR".into()),
        ..Default::default()
    };
    let other = SchemaSettings::resolve(
        SchemaSettings::default(),
        Some("http://flag:1"),
        None,
        &unset,
        t,
    )
    .unwrap()
    .registry
    .unwrap();
    assert_eq!(
        other.password, None,
        "another registry needs no profile password"
    );
    // Credentials in the URL are taken out of it.
    let u = SchemaSettings::resolve(
        SchemaSettings::default(),
        Some("https://u:s3cret-pw@h:1/r"),
        None,
        &Profile::default(),
        t,
    )
    .unwrap()
    .registry
    .unwrap();
    assert_eq!(u.url, "https://h:1/r");
    assert_eq!(
        (u.user.as_deref(), u.password.as_deref()),
        (Some("u"), Some("s3cret-pw"))
    );
    assert_eq!(crate::secrets::scrub("x s3cret-pw"), "x ***");
    let bad = SchemaSettings::resolve(
        SchemaSettings::default(),
        Some("kafka://x"),
        None,
        &Profile::default(),
        t,
    );
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("bad schema registry URL"));
    let missing = Profile {
        schema_registry: Some("http://h:1".into()),
        schema_registry_password_env: Some("DLQ_TEST_NO_SUCH_VAR".into()),
        ..Default::default()
    };
    let e =
        SchemaSettings::resolve(SchemaSettings::default(), None, None, &missing, t).unwrap_err();
    assert!(e.to_string().contains("DLQ_TEST_NO_SUCH_VAR"), "{e}");
    assert!(SchemaSettings::resolve(
        SchemaSettings::default(),
        None,
        None,
        &Profile::default(),
        t
    )
    .unwrap()
    .is_off());
}

#[test]
fn a_message_gets_its_decoded_field() {
    let d = registry_decoder();
    let mut m = Message {
        body: golden("avro-order-card").bytes,
        ..Default::default()
    };
    d.attach(&mut m);
    assert_eq!(m.decoded.as_ref().unwrap().label(), "avro, schema 2");
    let env = m.envelope().to_value();
    assert_eq!(env["decoded"]["value"]["customer"], "Ada Lovelace");
    assert_eq!(env["decoded"]["subject"], "orders-avro-value");
    // The exact bytes are still the body.
    assert_eq!(
        crate::message::b64_decode(env["body_base64"].as_str().unwrap()).unwrap(),
        m.body
    );
}

/// `--transform` with the decoder of a run, as `retry` builds it.
fn transform_with(decoder: Decoder, filter: &str) -> crate::rewrite::Rewrite {
    crate::rewrite::Rewrite::new(&[], &[], Some(filter))
        .unwrap()
        .with_schema(Some(decoder))
}

fn message_of(body: &[u8]) -> Message {
    Message {
        id: "1".into(),
        body: body.to_vec(),
        ..Default::default()
    }
}

#[test]
fn a_transform_rewrites_the_decoded_value_and_encodes_it_again() {
    let check = registry_decoder();
    for g in goldens().iter().filter(|g| g.framed) {
        // The identity keeps the value, the schema ID and the message type.
        let out = transform_with(registry_decoder(), ".")
            .copy_of(&message_of(&g.bytes))
            .unwrap_or_else(|e| panic!("{}: {e}", g.name));
        // Avro maps come back in another order (the entries are the same);
        // JSON Schema bodies are written compact.
        if g.format == Format::Protobuf {
            assert_eq!(out.body, g.bytes, "{}", g.name);
        } else {
            assert_eq!(out.body[..5], g.bytes[..5], "{}", g.name);
        }
        let d = check.decode(&out.body).unwrap();
        assert_eq!(d.value_json().unwrap(), g.value, "{}", g.name);
        assert_eq!(d.schema_id, g.schema_id, "{}", g.name);
        assert_eq!(d.message_type, g.message_type, "{}", g.name);
    }
    let g = golden("proto-line-nested");
    let out = transform_with(registry_decoder(), ".qty = \"5\"")
        .copy_of(&message_of(&g.bytes))
        .unwrap();
    let d = check.decode(&out.body).unwrap();
    assert_eq!(d.message_type.as_deref(), Some("shop.v1.Order.Line"));
    assert_eq!(d.value_json().unwrap(), json!({"sku": "B-2", "qty": "5"}));
}

#[test]
fn a_transform_result_that_does_not_fit_fails_that_message() {
    let g = golden("avro-order-card");
    let e = transform_with(registry_decoder(), r#".order_id = "x""#)
        .copy_of(&message_of(&g.bytes))
        .unwrap_err();
    assert!(
        e.starts_with("the new value does not fit its schema (avro, schema"),
        "{e}"
    );
    let g = golden("json-order");
    let e = transform_with(registry_decoder(), ".total = -1")
        .copy_of(&message_of(&g.bytes))
        .unwrap_err();
    assert!(e.contains("does not fit"), "{e}");
    // A framed body whose schema cannot be had is not rewritten blind.
    let e = transform_with(registry_decoder(), ".")
        .copy_of(&message_of(&[0, 0x7f, 0xff, 0xff, 0xfe, 2]))
        .unwrap_err();
    assert!(e.starts_with("the body cannot be decoded"), "{e}");
    // A plain JSON body is still rewritten as JSON.
    let out = transform_with(registry_decoder(), ".a += 1")
        .copy_of(&message_of(br#"{"a":1}"#))
        .unwrap();
    assert_eq!(out.body, br#"{"a":2}"#);
}

#[test]
fn local_schemas_encode_plain_bodies_plain() {
    let g = golden("plain-avro-order-card");
    let out = transform_with(local_decoder(avro_local()), r#".customer = "Bo""#)
        .copy_of(&message_of(&g.bytes))
        .unwrap();
    let d = local_decoder(avro_local()).decode(&out.body).unwrap();
    assert_eq!(d.framing, Framing::Plain);
    let mut expect = g.value.clone();
    expect["customer"] = json!("Bo");
    assert_eq!(d.value_json().unwrap(), expect);
    let g = golden("plain-proto-order");
    let out = transform_with(local_decoder(proto_local()), ".")
        .copy_of(&message_of(&g.bytes))
        .unwrap();
    assert_eq!(out.body, g.bytes);
}

#[test]
fn an_edited_value_is_encoded_with_the_original_schema() {
    let g = golden("proto-order");
    let mut edited = g.value.clone();
    edited["customerName"] = json!("Edited");
    let r = crate::rewrite::Rewrite::replace_with(crate::rewrite::Replacement {
        headers: Default::default(),
        key: None,
        body: serde_json::to_vec(&edited).unwrap(),
        encode: true,
        ..Default::default()
    })
    .with_schema(Some(registry_decoder()));
    let out = r.copy_of(&message_of(&g.bytes)).unwrap();
    assert_eq!(out.body[..6], g.bytes[..6]);
    let d = registry_decoder().decode(&out.body).unwrap();
    assert_eq!(d.value_json().unwrap(), edited);
    edited["customerName"] = json!(7);
    let r = crate::rewrite::Rewrite::replace_with(crate::rewrite::Replacement {
        headers: Default::default(),
        key: None,
        body: serde_json::to_vec(&edited).unwrap(),
        encode: true,
        ..Default::default()
    })
    .with_schema(Some(registry_decoder()));
    let e = r.copy_of(&message_of(&g.bytes)).unwrap_err();
    assert!(e.contains("does not fit"), "{e}");
}
