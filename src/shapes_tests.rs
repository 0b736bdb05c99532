//! The JSON users see, pinned byte for byte: field names, order, nulls.
//! Scripts parse these shapes (SPEC.md, Output); a change here is a change
//! of the contract, never a side effect of a refactor.

use std::time::{Duration, SystemTime};

use serde_json::{json, Map};

use crate::broker::{DeadLetter, LagRow, Message, Origin, OriginKind, QueueInfo, QueueKind};
use crate::commands::{lag, queues};
use crate::report::Action;
use crate::report::BulkReport;
use crate::schema::{Decoded, Format, Framing};

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn text(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap()
}

fn message() -> Message {
    let mut headers = Map::new();
    headers.insert("tenant".into(), json!("acme"));
    headers.insert("x-n".into(), json!(3));
    let mut broker = Map::new();
    broker.insert("delivery_mode".into(), json!(2));
    Message {
        id: "3:1042".into(),
        queue: "orders.dlq".into(),
        timestamp: Some(at(1_767_225_600)),
        headers,
        key: Some("k1".into()),
        body: br#"{"a":1}"#.to_vec(),
        dead_letter: DeadLetter {
            reason: Some("rejected".into()),
            source: Some("orders".into()),
            attempts: Some(2),
            first_death_at: Some(at(1_767_225_000)),
            error_type: Some("System.TimeoutException".into()),
            convention: Some("masstransit"),
            origin: Some(Origin {
                kind: OriginKind::Exchange,
                name: "orders-x".into(),
                routing_key: Some("orders".into()),
            }),
            fingerprint: Some("5c1e0a9b33d2".into()),
            error_message: Some("timed out".into()),
            cause_type: Some("System.IO.IOException".into()),
        },
        decoded: Some(Decoded {
            format: Some(Format::Protobuf),
            schema_id: Some(42),
            subject: Some("orders-value".into()),
            message_type: Some("shop.v1.Order".into()),
            value: crate::schema::raw(r#"{"orderId":"7"}"#.into()),
            framing: Framing::Plain,
        }),
        broker,
    }
}

#[test]
fn the_envelope() {
    assert_eq!(
        text(&message().envelope()),
        r#"{"id":"3:1042","queue":"orders.dlq","timestamp":"2026-01-01T00:00:00.000Z","size":7,"headers":{"tenant":"acme","x-n":3},"key":"k1","body":"{\"a\":1}","body_base64":null,"dead_letter":{"reason":"rejected","source":"orders","attempts":2,"first_death_at":"2025-12-31T23:50:00.000Z","error_type":"System.TimeoutException","convention":"masstransit","origin":{"kind":"exchange","name":"orders-x","routing_key":"orders"},"fingerprint":"5c1e0a9b33d2"},"decoded":{"format":"protobuf","schema_id":42,"subject":"orders-value","message_type":"shop.v1.Order","value":{"orderId":"7"}},"broker":{"delivery_mode":2}}"#
    );
    let bare = Message {
        id: "a".into(),
        body: vec![0, 255],
        ..Default::default()
    };
    assert_eq!(
        text(&bare.envelope()),
        r#"{"id":"a","queue":"","timestamp":null,"size":2,"headers":{},"key":null,"body":null,"body_base64":"AP8=","dead_letter":{"reason":null,"source":null,"attempts":null,"first_death_at":null,"error_type":null,"convention":null,"origin":null,"fingerprint":null},"decoded":null,"broker":{}}"#
    );
    let failed = Message {
        id: "b".into(),
        body: vec![0, 0, 0, 0, 9, 1],
        decoded: Some(Decoded {
            format: None,
            schema_id: Some(9),
            subject: None,
            message_type: None,
            value: Err("schema ID 9 is not in schema registry http://r:8081".into()),
            framing: Framing::Plain,
        }),
        ..Default::default()
    };
    assert!(text(&failed.envelope()).contains(
        r#""decoded":{"format":null,"schema_id":9,"error":"schema ID 9 is not in schema registry http://r:8081"},"broker":{}"#
    ));
}

#[test]
fn the_bulk_summary() {
    let mut r = BulkReport {
        done: 5,
        skipped: 1,
        ..Default::default()
    };
    assert_eq!(
        text(&r.summary(Action::Moved)),
        r#"{"moved":5,"skipped":1,"failed":0,"dry_run":false,"failures":[]}"#
    );
    r.fail("m1", "refused by the broker");
    r.interrupted = true;
    r.stopped = Some(crate::report::Stopped {
        kind: crate::report::StopKind::Local,
        message: "line 3: not JSON".into(),
        causes: Vec::new(),
    });
    r.notes.push("a note".into());
    assert_eq!(
        text(&r.summary(Action::Purged)),
        r#"{"purged":5,"skipped":1,"failed":1,"dry_run":false,"failures":[{"id":"m1","error":"refused by the broker"}],"interrupted":true,"stopped_by":"line 3: not JSON","notes":["a note"]}"#
    );
    r.dry_run = true;
    assert_eq!(
        text(&r.summary(Action::Published)),
        r#"{"published":5,"skipped":1,"failed":1,"dry_run":true,"failures":[{"id":"m1","error":"refused by the broker"}],"interrupted":true,"stopped_by":"line 3: not JSON","notes":["a note"]}"#
    );
}

#[test]
fn a_queues_row() {
    let mut extra = Map::new();
    extra.insert("consumers".into(), json!(2));
    extra.insert("name".into(), json!("never shadows"));
    let q = QueueInfo {
        name: "orders.dlq".into(),
        kind: QueueKind::Queue,
        depth: Some(12),
        is_dlq: true,
        sources: vec!["orders".into()],
        dead_letter_queue: None,
        extra,
    };
    assert_eq!(
        text(&queues::to_json(&q)),
        r#"{"name":"orders.dlq","kind":"queue","depth":12,"is_dlq":true,"sources":["orders"],"dead_letter_queue":null,"consumers":2}"#
    );
    let unknown = QueueInfo {
        name: "t".into(),
        kind: QueueKind::Topic,
        ..Default::default()
    };
    assert_eq!(
        text(&queues::to_json(&unknown)),
        r#"{"name":"t","kind":"topic","depth":null,"is_dlq":false,"sources":[],"dead_letter_queue":null}"#
    );
}

#[test]
fn lag_rows_and_breaches() {
    let mut extra = Map::new();
    extra.insert("ready".into(), json!(7));
    extra.insert("consumers".into(), json!(0));
    let row = LagRow {
        name: "orders".into(),
        lag: Some(7),
        oldest_age: Some(Duration::from_millis(90_500)),
        dlq_depth: Some(3),
        checked: true,
        extra,
    };
    assert_eq!(
        text(&lag::row_json(&row)),
        r#"{"name":"orders","lag":7,"oldest_age_seconds":90,"dlq_depth":3,"ready":7,"consumers":0}"#
    );
    let bare = LagRow {
        name: "g".into(),
        ..Default::default()
    };
    assert_eq!(
        text(&lag::row_json(&bare)),
        r#"{"name":"g","lag":null,"oldest_age_seconds":null,"dlq_depth":null}"#
    );
    let t = lag::Thresholds {
        max_lag: Some(1),
        max_age: Some(Duration::from_secs(60)),
        max_dlq: Some(0),
    };
    let found = lag::breaches(std::slice::from_ref(&row), &t);
    assert_eq!(
        text(&lag::document(&[row], &found)),
        r#"{"rows":[{"name":"orders","lag":7,"oldest_age_seconds":90,"dlq_depth":3,"ready":7,"consumers":0}],"breaches":[{"name":"orders","metric":"lag","value":7.0,"threshold":1.0},{"name":"orders","metric":"oldest_age","value":90.0,"threshold":60.0},{"name":"orders","metric":"dlq_depth","value":3.0,"threshold":0.0}]}"#
    );
}
