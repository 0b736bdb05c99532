//! The checks, each written once for every broker.

use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::Value;

use super::common::{self, Run};
use super::fixture::{Fixture, Msg};

const REDRIVE: &str = "dlq-redrive-count";

/// dlq on the fixture's broker, with the test journal and no config of the user's.
pub fn dlq_command(f: &dyn Fixture, args: &[&str]) -> Command {
    dlq_reaching(f.args(), args)
}

/// dlq with `broker` args (as `Fixture::args` gives them), the test journal
/// and no config of the user's.
fn dlq_reaching(broker: Vec<String>, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlq"));
    c.env_remove("DLQ_BROKER")
        .env_remove("DLQ_PROFILE")
        .env("DLQ_CONFIG", "/nonexistent/dlq-test-config.toml")
        .env("DLQ_JOURNAL", common::test_journal())
        .env("NO_COLOR", "1")
        .args(broker)
        .args(args)
        .stdin(Stdio::null());
    c
}

fn dlq(f: &dyn Fixture, args: &[&str]) -> Run {
    common::run(&mut dlq_command(f, args))
}

fn ok(f: &dyn Fixture, args: &[&str]) -> Run {
    let r = dlq(f, args);
    assert_eq!(r.code, 0, "{} {args:?}: {r:?}", f.name());
    r
}

/// The header names the suite compares: those the test set, and the re-drive counter.
fn keep(msgs: &[Msg]) -> Vec<String> {
    let mut k: Vec<String> = msgs
        .iter()
        .flat_map(|m| m.headers.keys().cloned())
        .collect();
    k.push(REDRIVE.into());
    k.sort();
    k.dedup();
    k
}

fn norm(f: &dyn Fixture, msgs: &[Msg], keep: &[String]) -> Vec<Msg> {
    let mut out: Vec<Msg> = msgs
        .iter()
        .map(|m| {
            let mut m = m.only_headers(keep);
            if !f.has_keys() {
                m.key = None;
            }
            m
        })
        .collect();
    if !f.ordered() {
        out.sort();
    }
    out
}

fn assert_same(f: &dyn Fixture, what: &str, have: &[Msg], want: &[Msg]) {
    let k = keep(want);
    let (h, w) = (norm(f, have, &k), norm(f, want, &k));
    assert_eq!(
        h.len(),
        w.len(),
        "{}: {what}: {} messages, expected {}",
        f.name(),
        h.len(),
        w.len()
    );
    for (i, (a, b)) in h.iter().zip(&w).enumerate() {
        assert!(
            a == b,
            "{}: {what}: message {i} differs\n have: {}\n want: {}",
            f.name(),
            show(a),
            show(b)
        );
    }
}

fn show(m: &Msg) -> String {
    let body = if m.body.len() > 80 {
        format!("<{} bytes>", m.body.len())
    } else {
        format!("{:?}", String::from_utf8_lossy(&m.body))
    };
    format!("body {body} headers {:?} key {:?}", m.headers, m.key)
}

fn without_redrive(msgs: &[Msg], expect_count: &str) -> Vec<Msg> {
    msgs.iter()
        .map(|m| {
            let mut m = m.clone();
            assert_eq!(
                m.headers.remove(REDRIVE).as_deref(),
                Some(expect_count),
                "re-drive header on {}",
                show(&m)
            );
            m
        })
        .collect()
}

fn envelope_body(v: &Value) -> Vec<u8> {
    match (&v["body"], &v["body_base64"]) {
        (Value::String(s), _) => s.as_bytes().to_vec(),
        (_, Value::String(b)) => base64::engine::general_purpose::STANDARD.decode(b).unwrap(),
        _ => panic!("envelope without body: {v}"),
    }
}

fn ids(r: &Run) -> Vec<String> {
    r.json()
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect()
}

pub fn list_peek_export_change_nothing(f: &dyn Fixture) {
    let msgs = f.edge_messages();
    let pair = f.dead_letters(&msgs);
    assert_same(f, "setup", &f.read_dlq(&pair), &msgs);

    let first = ok(f, &["list", &pair.dlq, "-o", "json"]);
    let a = ids(&first);
    assert_eq!(a.len(), msgs.len(), "{}: list count", f.name());
    let mut unique = a.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), a.len(), "{}: IDs are unique: {a:?}", f.name());
    for e in first.json().as_array().unwrap() {
        for field in [
            "id",
            "queue",
            "timestamp",
            "size",
            "headers",
            "key",
            "body",
            "body_base64",
            "dead_letter",
            "broker",
        ] {
            assert!(
                e.get(field).is_some(),
                "{}: envelope lacks {field}: {e}",
                f.name()
            );
        }
    }
    let b = ids(&ok(f, &["list", &pair.dlq, "-o", "json"]));
    if f.ordered() {
        assert_eq!(a, b, "{}: IDs stable and in order between runs", f.name());
    } else {
        let (mut a2, mut b2) = (a.clone(), b.clone());
        a2.sort();
        b2.sort();
        assert_eq!(a2, b2, "{}: IDs stable between runs", f.name());
    }

    let listed = first.json();
    let target = &listed[1];
    let peek = ok(
        f,
        &[
            "peek",
            &pair.dlq,
            target["id"].as_str().unwrap(),
            "-o",
            "json",
        ],
    );
    let peeked = peek.json();
    assert_eq!(
        peeked.as_array().unwrap().len(),
        1,
        "{}: peek one ID",
        f.name()
    );
    assert_eq!(
        envelope_body(&peeked[0]),
        envelope_body(target),
        "{}: peek body",
        f.name()
    );
    ok(f, &["peek", &pair.dlq]);
    let missing = dlq(f, &["peek", &pair.dlq, "no-such-id-42"]);
    assert_eq!(
        missing.code,
        4,
        "{}: peek of an unknown ID: {missing:?}",
        f.name()
    );
    // The edge set holds escape and bidi characters: the table never prints them raw.
    let table = ok(f, &["list", &pair.dlq]);
    assert!(!table.stdout.contains('\x1b'), "{}: {table:?}", f.name());

    let export = ok(f, &["export", &pair.dlq]);
    let lines = export.ndjson();
    assert_eq!(lines.len(), msgs.len(), "{}: export count", f.name());
    let mut exported: Vec<Vec<u8>> = lines.iter().map(envelope_body).collect();
    let mut want: Vec<Vec<u8>> = msgs.iter().map(|m| m.body.clone()).collect();
    if !f.ordered() {
        exported.sort();
        want.sort();
    }
    assert!(exported == want, "{}: exported bodies differ", f.name());

    assert_same(f, "after list, peek and export", &f.read_dlq(&pair), &msgs);
    assert!(
        f.read_origin(&pair).is_empty(),
        "{}: reads sent something to the origin",
        f.name()
    );
    f.cleanup(&pair);
}

pub fn retry_all_moves_each_message_once_intact(f: &dyn Fixture) {
    let msgs = f.edge_messages();
    let pair = f.dead_letters(&msgs);
    let r = ok(f, &["retry-all", &pair.dlq, "--yes", "-o", "json"]);
    let s = r.json();
    assert_eq!(s["moved"], msgs.len(), "{}: {r:?}", f.name());
    assert_eq!(s["failed"], 0);
    assert_eq!(s["dry_run"], false);
    assert!(
        f.read_dlq(&pair).is_empty(),
        "{}: DLQ not empty after retry-all",
        f.name()
    );
    let origin = f.read_origin(&pair);
    assert_same(
        f,
        "origin after retry-all",
        &without_redrive(&origin, "1"),
        &msgs,
    );
    // Nothing left to move: a second run moves nothing.
    let again = ok(f, &["retry-all", &pair.dlq, "--yes", "-o", "json"]);
    assert_eq!(again.json()["moved"], 0, "{}: second retry-all", f.name());
    f.cleanup(&pair);
}

pub fn retry_one_moves_only_that_one(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..3)
        .map(|i| {
            Msg::new(format!("retry-one {i}"))
                .header("idx", &i.to_string())
                .key(&format!("k{i}"))
        })
        .collect();
    let pair = f.dead_letters(&msgs);
    let listed = ok(f, &["list", &pair.dlq, "-o", "json"]).json();
    let target = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["body"] == "retry-one 1")
        .expect("listed")
        .clone();
    let r = ok(
        f,
        &[
            "retry",
            &pair.dlq,
            target["id"].as_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_eq!(r.json()["moved"], 1, "{}: {r:?}", f.name());
    assert_same(
        f,
        "DLQ after retry of one",
        &f.read_dlq(&pair),
        &[msgs[0].clone(), msgs[2].clone()],
    );
    assert_same(
        f,
        "origin after retry of one",
        &without_redrive(&f.read_origin(&pair), "1"),
        &[msgs[1].clone()],
    );
    let missing = dlq(f, &["retry", &pair.dlq, "no-such-id-42"]);
    assert_eq!(missing.code, 4, "{}: unknown ID: {missing:?}", f.name());
    f.cleanup(&pair);
}

pub fn dry_runs_touch_nothing(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..4)
        .map(|i| Msg::new(format!("dry {i}")).header("idx", &i.to_string()))
        .collect();
    let pair = f.dead_letters(&msgs);
    let r = ok(f, &["retry-all", &pair.dlq, "--dry-run", "-o", "json"]);
    assert_eq!(r.json()["dry_run"], true);
    assert_eq!(r.json()["moved"], 4, "{}: would move", f.name());
    let r = ok(f, &["purge", &pair.dlq, "--dry-run", "-o", "json"]);
    assert_eq!(r.json()["purged"], 4);
    assert_eq!(r.json()["dry_run"], true);
    let refused = dlq(f, &["retry-all", &pair.dlq]);
    assert_eq!(
        refused.code,
        2,
        "{}: no terminal, no --yes: {refused:?}",
        f.name()
    );
    let refused = dlq(f, &["purge", &pair.dlq]);
    assert_eq!(
        refused.code,
        2,
        "{}: no terminal, no --yes: {refused:?}",
        f.name()
    );
    assert_same(f, "DLQ after dry runs", &f.read_dlq(&pair), &msgs);
    assert!(f.read_origin(&pair).is_empty());
    f.cleanup(&pair);
}

pub fn filtered_purge_keeps_the_rest(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..6)
        .map(|i| {
            Msg::new(format!("purge {i}"))
                .header("kind", if i % 2 == 0 { "junk" } else { "keep" })
                .header("idx", &i.to_string())
        })
        .collect();
    let pair = f.dead_letters(&msgs);
    let r = ok(
        f,
        &[
            "purge",
            &pair.dlq,
            "--header",
            "kind=junk",
            "--yes",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.json()["purged"], 3, "{}: {r:?}", f.name());
    let rest: Vec<Msg> = msgs
        .iter()
        .filter(|m| m.headers["kind"] == "keep")
        .cloned()
        .collect();
    assert_same(f, "DLQ after filtered purge", &f.read_dlq(&pair), &rest);
    let r = ok(
        f,
        &[
            "purge", &pair.dlq, "--grep", "purge 3", "--yes", "-o", "json",
        ],
    );
    assert_eq!(r.json()["purged"], 1);
    assert_same(
        f,
        "DLQ after grep purge",
        &f.read_dlq(&pair),
        &[rest[0].clone(), rest[2].clone()],
    );
    f.cleanup(&pair);
}

pub fn backup_replays_exactly(f: &dyn Fixture) {
    let msgs = f.edge_messages();
    let pair = f.dead_letters(&msgs);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.ndjson");
    let file_s = file.to_str().unwrap();
    let r = ok(
        f,
        &[
            "purge", &pair.dlq, "--backup", file_s, "--yes", "-o", "json",
        ],
    );
    assert_eq!(r.json()["purged"], msgs.len(), "{}: {r:?}", f.name());
    assert!(
        f.read_dlq(&pair).is_empty(),
        "{}: DLQ not empty after purge",
        f.name()
    );
    let lines = std::fs::read_to_string(&file).unwrap().lines().count();
    assert_eq!(lines, msgs.len(), "{}: backup lines", f.name());

    let target = f.empty_target();
    let r = ok(
        f,
        &[
            "publish",
            &target.origin,
            "--file",
            file_s,
            "--format",
            "ndjson",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.json()["published"], msgs.len(), "{}: {r:?}", f.name());
    assert_same(f, "replayed backup", &f.read_origin(&target), &msgs);
    f.cleanup(&target);
    f.cleanup(&pair);
}

pub fn max_redrives_skips(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..4)
        .map(|i| {
            let m = Msg::new(format!("redriven {i}")).header("idx", &i.to_string());
            if i < 2 {
                m.header(REDRIVE, "2")
            } else {
                m
            }
        })
        .collect();
    let pair = f.dead_letters(&msgs);
    let r = ok(
        f,
        &[
            "retry-all",
            &pair.dlq,
            "--max-redrives",
            "2",
            "--yes",
            "-o",
            "json",
        ],
    );
    let s = r.json();
    assert_eq!(
        (s["moved"].as_u64(), s["skipped"].as_u64()),
        (Some(2), Some(2)),
        "{}: {r:?}",
        f.name()
    );
    assert_same(f, "DLQ keeps the skipped", &f.read_dlq(&pair), &msgs[..2]);
    f.cleanup(&pair);
}

pub fn lag_threshold_exits_1(f: &dyn Fixture) {
    let (name, pair) = f.lagging();
    let r = dlq(f, &["lag", &name, "--max-lag", "0", "-o", "json"]);
    assert_eq!(r.code, 1, "{}: {r:?}", f.name());
    let v = r.json();
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["lag"].as_u64() >= Some(1)),
        "{}: {r:?}",
        f.name()
    );
    assert!(!v["breaches"].as_array().unwrap().is_empty());
    assert!(
        r.stderr.contains("threshold"),
        "{}: breach on stderr: {r:?}",
        f.name()
    );
    let r = dlq(f, &["lag", &name, "--max-lag", "100000000", "-o", "json"]);
    assert_eq!(r.code, 0, "{}: {r:?}", f.name());
    f.cleanup(&pair);
}

pub fn unknown_queue_exits_4(f: &dyn Fixture) {
    let name = common::unique("no-such-queue");
    for cmd in [
        vec!["list", &name],
        vec!["lag", &name],
        vec!["retry-all", &name, "--yes"],
        vec!["purge", &name, "--yes"],
    ] {
        let r = dlq(f, &cmd);
        assert_eq!(r.code, 4, "{}: {cmd:?}: {r:?}", f.name());
        assert_eq!(r.stderr.lines().count(), 1, "{}: one line: {r:?}", f.name());
    }
}

pub fn retry_rewrites_headers_and_body(f: &dyn Fixture) {
    let msgs = vec![
        Msg::new(r#"{"amount":12,"id":"a"}"#)
            .header("tenant", "acme")
            .header("x-error", "boom")
            .header("idx", "0"),
        Msg::new(r#"{"amount":5,"id":"b"}"#)
            .header("tenant", "acme")
            .header("x-error", "boom")
            .header("idx", "1"),
        Msg::new("not json")
            .header("tenant", "acme")
            .header("x-error", "boom")
            .header("idx", "2"),
    ];
    let pair = f.dead_letters(&msgs);
    let fix = [
        "--set-header",
        "tenant=globex",
        "--unset-header",
        "x-error",
        "--transform",
        ".amount |= . * 100",
    ];
    let bad = dlq(
        f,
        &["retry-all", &pair.dlq, "--yes", "--transform", ".amount |"],
    );
    assert_eq!(
        bad.code,
        2,
        "{}: filter that does not compile: {bad:?}",
        f.name()
    );
    assert!(bad.stderr.contains("--transform"), "{}: {bad:?}", f.name());

    let mut args = vec!["retry-all", &pair.dlq, "--dry-run", "-o", "json"];
    args.extend(fix);
    let dry = dlq(f, &args);
    assert_eq!(
        dry.code,
        3,
        "{}: dry run predicts the partial run: {dry:?}",
        f.name()
    );
    let plan = dry.json()["plan"].as_array().unwrap().clone();
    let moving: Vec<&Value> = plan.iter().filter(|p| p["action"] == "move").collect();
    assert_eq!(moving.len(), 2, "{}: {dry:?}", f.name());
    for p in &moving {
        assert_eq!(p["headers"]["tenant"], "globex", "{}: {p}", f.name());
        assert!(p["headers"].get("x-error").is_none(), "{}: {p}", f.name());
        assert!(
            p["body"].as_str().unwrap().contains("00,"),
            "{}: {p}",
            f.name()
        );
    }
    assert_same(f, "DLQ after the dry run", &f.read_dlq(&pair), &msgs);
    assert!(
        f.read_origin(&pair).is_empty(),
        "{}: dry run sent",
        f.name()
    );

    let mut args = vec!["retry-all", &pair.dlq, "--yes", "-o", "json"];
    args.extend(fix);
    let r = dlq(f, &args);
    assert_eq!(
        r.code,
        3,
        "{}: one message fails the filter: {r:?}",
        f.name()
    );
    let s = r.json();
    assert_eq!(
        (s["moved"].as_u64(), s["failed"].as_u64()),
        (Some(2), Some(1)),
        "{r:?}"
    );
    assert!(
        s["failures"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not JSON"),
        "{}: {r:?}",
        f.name()
    );
    let origin = f.read_origin(&pair);
    for m in &origin {
        assert!(
            !m.headers.contains_key("x-error"),
            "{}: unset: {}",
            f.name(),
            show(m)
        );
    }
    let want = vec![
        Msg::new(r#"{"amount":1200,"id":"a"}"#)
            .header("tenant", "globex")
            .header("idx", "0"),
        Msg::new(r#"{"amount":500,"id":"b"}"#)
            .header("tenant", "globex")
            .header("idx", "1"),
    ];
    assert_same(
        f,
        "origin after the rewrite",
        &without_redrive(&origin, "1"),
        &want,
    );
    assert_same(
        f,
        "DLQ keeps the failed one intact",
        &f.read_dlq(&pair),
        &msgs[2..],
    );
    f.cleanup(&pair);
}

pub fn stats_groups_without_changing(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..5)
        .map(|i| {
            Msg::new(format!("stats {i}"))
                .header("kind", if i < 3 { "timeout" } else { "parse" })
                .header("idx", &i.to_string())
        })
        .collect();
    let pair = f.dead_letters(&msgs);
    let listed = ids(&ok(f, &["list", &pair.dlq, "-o", "json"]));

    let r = ok(
        f,
        &["stats", &pair.dlq, "--by", "header:kind,age", "-o", "json"],
    );
    let s = r.json();
    assert_eq!(s["total"], 5, "{}: {r:?}", f.name());
    assert_eq!(s["by"], serde_json::json!(["header:kind", "age"]));
    let groups = s["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2, "{}: {r:?}", f.name());
    assert_eq!(groups[0]["key"]["header:kind"], "timeout");
    // Age needs a timestamp; a broker that gives none groups it as null.
    let age = &groups[0]["key"]["age"];
    assert!(age == "<1h" || age.is_null(), "{}: age {age}", f.name());
    assert_eq!(groups[0]["count"], 3);
    assert_eq!(groups[1]["key"]["header:kind"], "parse");
    assert_eq!(groups[1]["count"], 2);
    for g in groups {
        let sample = g["sample_id"].as_str().expect("sample_id");
        assert!(
            listed.iter().any(|i| i == sample),
            "{}: sample {sample} not listed",
            f.name()
        );
        assert_eq!(
            g["oldest"].is_null(),
            g["newest"].is_null(),
            "{}: {g}",
            f.name()
        );
        assert!(
            g["oldest"].as_str() <= g["newest"].as_str(),
            "{}: {g}",
            f.name()
        );
    }
    // The sample of a group is a message `peek` finds, of that group.
    let sample = groups[1]["sample_id"].as_str().unwrap();
    let peeked = ok(f, &["peek", &pair.dlq, sample, "-o", "json"]).json();
    assert_eq!(
        peeked[0]["headers"]["kind"],
        "parse",
        "{}: {peeked}",
        f.name()
    );

    let d = ok(f, &["stats", &pair.dlq, "-o", "json"]).json();
    assert_eq!(d["by"], serde_json::json!(["reason", "source"]));
    let sum: u64 = d["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["count"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, 5, "{}: {d}", f.name());
    for g in d["groups"].as_array().unwrap() {
        let key = g["key"].as_object().unwrap();
        assert!(
            key.contains_key("reason") && key.contains_key("source"),
            "{}: {g}",
            f.name()
        );
    }

    let nd = ok(
        f,
        &[
            "stats",
            &pair.dlq,
            "--by",
            "header:kind",
            "--header",
            "kind=parse",
            "-o",
            "ndjson",
        ],
    );
    let lines = nd.ndjson();
    assert_eq!(lines.len(), 1, "{}: {nd:?}", f.name());
    assert_eq!(lines[0]["count"], 2);

    let t = ok(
        f,
        &["stats", &pair.dlq, "--by", "header:kind", "-o", "table"],
    );
    assert!(
        t.stdout.contains("COUNT") && t.stdout.contains("SAMPLE"),
        "{}: {t:?}",
        f.name()
    );
    assert!(
        t.stdout.contains("timeout") && t.stdout.contains("total"),
        "{}: {t:?}",
        f.name()
    );

    let bad = dlq(f, &["stats", &pair.dlq, "--by", "reason,colour"]);
    assert_eq!(bad.code, 2, "{}: {bad:?}", f.name());
    assert!(bad.stderr.contains("colour"), "{}: {bad:?}", f.name());

    assert_same(f, "DLQ after stats", &f.read_dlq(&pair), &msgs);
    assert!(
        f.read_origin(&pair).is_empty(),
        "{}: stats sent something",
        f.name()
    );
    f.cleanup(&pair);
}

/// True when `promtool` is on this machine (scripts/tools.sh installs it).
pub fn have_promtool() -> bool {
    Command::new("promtool").arg("--version").output().is_ok()
}

/// Runs `promtool check metrics` on `text`.
fn promtool(text: &str) -> Run {
    let mut c = Command::new("promtool");
    c.args(["check", "metrics"]);
    common::run_with_stdin(&mut c, text.as_bytes())
}

pub fn prometheus_passes_promtool(f: &dyn Fixture) {
    let (name, pair) = f.lagging();
    let lag = ok(f, &["lag", &name, "-o", "prometheus"]);
    assert!(
        lag.stdout.contains("# TYPE dlq_lag gauge"),
        "{}: {lag:?}",
        f.name()
    );
    let line = lag
        .stdout
        .lines()
        .find(|l| l.starts_with("dlq_lag{") && l.contains(&format!("name=\"{name}")))
        .unwrap_or_else(|| panic!("{}: no dlq_lag sample for {name}: {lag:?}", f.name()));
    assert!(line.contains("broker=\""), "{}: {line}", f.name());
    assert!(!lag.stdout.contains(" NaN"), "{}: {lag:?}", f.name());
    let queues = ok(f, &["queues", "-o", "prometheus"]);
    assert!(
        queues.stdout.contains("# TYPE dlq_queue_depth gauge"),
        "{}: {queues:?}",
        f.name()
    );
    for pw in f
        .args()
        .iter()
        .filter_map(|a| a.split_once("://"))
        .filter_map(|(_, r)| {
            let (ui, _) = r.split_once('@')?;
            ui.split_once(':').map(|(_, p)| p.to_owned())
        })
    {
        assert!(
            !queues.stdout.contains(&format!(":{pw}@")),
            "{}: password in metrics",
            f.name()
        );
    }
    let refused = dlq(f, &["list", &pair.dlq, "-o", "prometheus"]);
    assert_eq!(refused.code, 2, "{}: {refused:?}", f.name());
    assert!(refused.stderr.contains("list"), "{refused:?}");
    for (what, text) in [("lag", &lag.stdout), ("queues", &queues.stdout)] {
        let r = promtool(text);
        assert_eq!(r.code, 0, "{}: promtool on {what}: {r:?}\n{text}", f.name());
    }
    f.cleanup(&pair);
}

pub fn full_purge_empties(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..4)
        .map(|i| Msg::new(format!("all {i}")).header("idx", &i.to_string()))
        .collect();
    let pair = f.dead_letters(&msgs);
    let r = ok(f, &["purge", &pair.dlq, "--yes", "-o", "json"]);
    assert_eq!(r.json()["purged"], 4, "{}: {r:?}", f.name());
    assert_eq!(r.json()["dry_run"], false);
    assert!(
        f.read_dlq(&pair).is_empty(),
        "{}: DLQ after a full purge",
        f.name()
    );
    assert!(f.read_origin(&pair).is_empty(), "{}: purge sent", f.name());
    f.cleanup(&pair);
}

pub fn filtered_retry_all_keeps_the_rest(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..6)
        .map(|i| {
            Msg::new(format!("filtered {i}"))
                .header("kind", if i % 2 == 0 { "go" } else { "stay" })
                .header("idx", &i.to_string())
        })
        .collect();
    let (go, stay): (Vec<Msg>, Vec<Msg>) = msgs
        .iter()
        .cloned()
        .partition(|m| m.headers["kind"] == "go");
    let pair = f.dead_letters(&msgs);
    let args = [
        "retry-all",
        &pair.dlq,
        "--header",
        "kind=go",
        "--yes",
        "-o",
        "json",
    ];
    let r = ok(f, &args);
    assert_eq!(r.json()["moved"], 3, "{}: {r:?}", f.name());
    assert_same(f, "DLQ keeps the rest in order", &f.read_dlq(&pair), &stay);
    let origin = without_redrive(&f.read_origin(&pair), "1");
    assert_same(f, "origin after filtered retry-all", &origin, &go);
    f.cleanup(&pair);
}

pub fn retry_needs_an_origin_or_to(f: &dyn Fixture) {
    // Published straight into a queue: no origin recorded, so each stays and says --to.
    let plain = f.empty_target();
    ok(
        f,
        &[
            "publish",
            &plain.origin,
            "--body",
            "no origin",
            "--count",
            "2",
        ],
    );
    // Every message failed for a reason of its own: partly done (3), not a broker error.
    let r = dlq(f, &["retry-all", &plain.dlq, "--yes", "-o", "json"]);
    assert_eq!(r.code, 3, "{}: {r:?}", f.name());
    assert!(
        r.stdout.contains("--to") || r.stderr.contains("--to"),
        "{}: {r:?}",
        f.name()
    );
    f.settle(&plain);
    assert_eq!(
        f.read_dlq(&plain).len(),
        2,
        "{}: the messages stay",
        f.name()
    );

    // --to sends every message to that target instead of its origin, intact.
    let msgs: Vec<Msg> = (0..3)
        .map(|i| Msg::new(format!("elsewhere {i}")).header("idx", &i.to_string()))
        .collect();
    let pair = f.dead_letters(&msgs);
    let other = f.empty_target();
    let r = ok(
        f,
        &[
            "retry-all",
            &pair.dlq,
            "--to",
            &other.origin,
            "--yes",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.json()["moved"], 3, "{}: {r:?}", f.name());
    assert!(f.read_dlq(&pair).is_empty(), "{}: DLQ after --to", f.name());
    assert!(
        f.read_origin(&pair).is_empty(),
        "{}: origin untouched",
        f.name()
    );
    let moved = without_redrive(&f.read_origin(&other), "1");
    assert_same(f, "the --to target", &moved, &msgs);

    // A --to that does not exist stops the run, and its dry run says so alike.
    let missing = f.missing_target();
    for last in ["--dry-run", "--yes"] {
        let r = dlq(f, &["retry-all", &plain.dlq, "--to", &missing, last]);
        assert_eq!(
            r.code,
            4,
            "{}: retry-all {last} to {missing}: {r:?}",
            f.name()
        );
    }
    f.settle(&plain);
    assert_eq!(f.read_dlq(&plain).len(), 2, "{}: nothing moved", f.name());
    for p in [&plain, &other, &pair] {
        f.cleanup(p);
    }
}

pub fn publish_formats(f: &dyn Fixture) {
    let t = f.empty_target();
    let publish = |extra: &[&str], input: &[u8]| {
        let mut args = vec!["publish", t.origin.as_str()];
        args.extend(extra);
        let mut c = dlq_command(f, &args);
        common::run_with_stdin(&mut c, input)
    };
    let r = publish(&["--body", "hello", "--header", "k=v", "--count", "2"], b"");
    assert_eq!(r.code, 0, "{}: {r:?}", f.name());
    let r = publish(&["--format", "lines", "--header", "src=lines"], b"l1\nl2\n");
    assert_eq!(r.code, 0, "{}: {r:?}", f.name());
    let r = publish(&["--format", "raw"], b"raw\nbody");
    assert_eq!(r.code, 0, "{}: {r:?}", f.name());
    // A malformed line stops the run; the summary says what went out.
    let input = b"{\"body\":\"first\",\"headers\":{\"h\":\"x\"}}\nnot json\n{\"body\":\"never\"}\n";
    let r = publish(&["--format", "ndjson", "-o", "json"], input);
    assert_eq!(r.code, 3, "{}: {r:?}", f.name());
    assert!(r.stderr.contains("line 2"), "{}: {r:?}", f.name());
    assert_eq!(r.json()["published"], 1, "{}: {r:?}", f.name());
    let want = vec![
        Msg::new("hello").header("k", "v"),
        Msg::new("hello").header("k", "v"),
        Msg::new("l1").header("src", "lines"),
        Msg::new("l2").header("src", "lines"),
        Msg::new("raw\nbody"),
        Msg::new("first").header("h", "x"),
    ];
    assert_same(f, "published", &f.read_origin(&t), &want);
    let missing = dlq(f, &["publish", &f.missing_target(), "--body", "x"]);
    assert_eq!(
        missing.code,
        f.missing_publish_exit(),
        "{}: {missing:?}",
        f.name()
    );
    f.cleanup(&t);
}

pub fn lag_watch_repeats_until_ctrl_c(f: &dyn Fixture) {
    let (name, pair) = f.lagging();
    let errors = tempfile::NamedTempFile::new().unwrap();
    let mut child = dlq_command(f, &["lag", &name, "--watch", "200ms", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(errors.reopen().unwrap())
        .spawn()
        .expect("spawn dlq");
    // Read stdout as it comes; stop dlq once two reports are out.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let reader = {
        let (seen, mut out) = (seen.clone(), child.stdout.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let reports_in = |bytes: &[u8]| {
        serde_json::Deserializer::from_slice(bytes)
            .into_iter::<Value>()
            .take_while(Result::is_ok)
            .count()
    };
    common::wait_for(
        "two lag reports",
        std::time::Duration::from_secs(60),
        || {
            // A watch that ended on its own will never print the second report.
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "{}: lag --watch ended by itself ({status}): {}",
                    f.name(),
                    std::fs::read_to_string(errors.path()).unwrap()
                );
            }
            (reports_in(&seen.lock().unwrap()) >= 2).then_some(())
        },
    );
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let stdout = seen.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{}: {status:?}", f.name());
    let reports: Vec<Value> = serde_json::Deserializer::from_slice(&stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        reports.len() >= 2,
        "{}: one report per refresh: {reports:?}",
        f.name()
    );
    for rep in &reports {
        let rows = rep["rows"].as_array().unwrap();
        assert!(
            rows.iter().any(|r| r["lag"].as_u64() >= Some(1)),
            "{}: {rep}",
            f.name()
        );
    }
    f.cleanup(&pair);
}

/// One rule on every broker: a message the broker refuses for a reason of
/// its own fails alone, is listed by its line, and the rest go through.
pub fn publish_refused_message_fails_alone(f: &dyn Fixture) {
    let (pair, refused) = f.refusing_target();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.ndjson");
    let input = format!("{{\"body\":\"first\"}}\n{refused}\n{{\"body\":\"third\"}}\n");
    std::fs::write(&file, input).unwrap();
    let r = dlq(
        f,
        &[
            "publish",
            &pair.origin,
            "--format",
            "ndjson",
            "--file",
            file.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 3, "{}: {r:?}", f.name());
    let s = r.json();
    assert_eq!(
        (s["published"].as_u64(), s["failed"].as_u64()),
        (Some(2), Some(1)),
        "{}: {s}",
        f.name()
    );
    assert_eq!(s["failures"][0]["id"], "line 2", "{}: {s}", f.name());
    let got: Vec<Vec<u8>> = f.read_origin(&pair).into_iter().map(|m| m.body).collect();
    assert_eq!(
        got,
        [b"first".to_vec(), b"third".to_vec()],
        "{}: the others went through",
        f.name()
    );
    f.cleanup(&pair);
}

/// `-v` adds the cause chain under the one line, on every broker: a refused
/// connection, an unknown queue, a failed publish.
pub fn verbose_errors_show_the_cause_chain(f: &dyn Fixture) {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let chained = |what: &str, r: &Run| {
        assert_eq!(r.code, 4, "{}: {what}: {r:?}", f.name());
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert!(
            lines.iter().any(|l| l.starts_with("dlq: error: ")),
            "{}: {what}: {r:?}",
            f.name()
        );
        assert!(
            lines.iter().any(|l| l.starts_with("  caused by: ")),
            "{}: {what}: -v shows the chain: {r:?}",
            f.name()
        );
    };
    let via_closed = |args: &[&str]| {
        let mut c = dlq_reaching(f.args_via(closed), &["-v", "--timeout", "3s"]);
        c.args(args);
        common::run(&mut c)
    };
    chained("refused connection", &via_closed(&["queues"]));
    let missing = f.missing_target();
    chained(
        "unknown queue",
        &dlq(f, &["-v", "list", &common::unique("no-such-queue")]),
    );
    let publish = if f.missing_publish_exit() == 4 {
        dlq(f, &["-v", "publish", &missing, "--body", "x"])
    } else {
        via_closed(&["publish", &missing, "--body", "x"])
    };
    chained("failed publish", &publish);
}
