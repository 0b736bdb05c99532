//! `dlq edit` on every broker, with `$EDITOR` set to small shell scripts:
//! the edited copy reaches the origin and the original leaves the DLQ; an
//! unchanged file, an emptied file, a failing editor and a file that does
//! not read back change nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use super::common::{self, Run};
use super::fixture::{Fixture, Msg};
use super::suite::dlq_command;

fn edit(f: &dyn Fixture, tmp: &Path, editor: &str, args: &[&str]) -> Run {
    let mut all = vec!["edit"];
    all.extend(args);
    let mut c = dlq_command(f, &all);
    // A file kept after a parse error lands in the test's own directory.
    c.env("TMPDIR", tmp)
        .env_remove("VISUAL")
        .env("EDITOR", editor);
    common::run(&mut c)
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}

fn id_of(f: &dyn Fixture, dlq: &str, body: &str) -> String {
    let listed = common::run(&mut dlq_command(f, &["list", dlq, "-o", "json"])).json();
    listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["body"] == body)
        .and_then(|e| e["id"].as_str())
        .unwrap_or_else(|| panic!("{}: {body} not listed: {listed}", f.name()))
        .to_owned()
}

fn sorted(mut v: Vec<Msg>) -> Vec<Msg> {
    v.sort();
    v
}

fn strip(msgs: Vec<Msg>, keep: &[&str]) -> Vec<Msg> {
    let keep: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
    msgs.iter()
        .map(|m| {
            let mut m = m.only_headers(&keep);
            m.key = None;
            m
        })
        .collect()
}

pub fn edit_sends_the_edited_copy(f: &dyn Fixture) {
    let msgs = vec![
        Msg::new(r#"{"amount":12,"id":"a"}"#)
            .header("tenant", "acme")
            .header("idx", "0"),
        Msg::new(r#"{"amount":7}"#)
            .header("tenant", "acme")
            .header("idx", "1"),
    ];
    let pair = f.dead_letters(&msgs);
    let dir = tempfile::tempdir().unwrap();
    let fixer = script(
        dir.path(),
        "fix.sh",
        r#"kill -INT $PPID; sed -i -e 's/^tenant: acme$/tenant: globex/' -e 's/"amount": 12/"amount": 1200/' "$1""#,
    );
    let emptier = script(dir.path(), "empty.sh", r#": > "$1""#);
    let breaker = script(
        dir.path(),
        "break.sh",
        r#"printf 'tenant acme\n\n{}\n' > "$1""#,
    );
    let id = id_of(f, &pair.dlq, r#"{"amount":12,"id":"a"}"#);
    let keep = ["tenant", "idx", "dlq-redrive-count"];
    let untouched = |what: &str| {
        assert_eq!(
            sorted(strip(f.read_dlq(&pair), &keep)),
            sorted(strip(msgs.clone(), &keep)),
            "{}: {what}: the DLQ changed",
            f.name()
        );
        assert!(
            f.read_origin(&pair).is_empty(),
            "{}: {what}: sent",
            f.name()
        );
    };

    let r = edit(f, dir.path(), &fixer, &[&pair.dlq, &id]);
    assert_eq!(r.code, 2, "{}: no terminal, no --yes: {r:?}", f.name());
    untouched("refused");
    let r = edit(f, dir.path(), "true", &[&pair.dlq, &id, "--yes"]);
    assert_eq!(r.code, 0, "{}: {r:?}", f.name());
    assert!(
        r.stderr.contains("unchanged: nothing sent"),
        "{}: {r:?}",
        f.name()
    );
    untouched("unchanged");
    let r = edit(f, dir.path(), &emptier, &[&pair.dlq, &id, "--yes"]);
    assert_eq!(r.code, 0, "{}: {r:?}", f.name());
    assert!(r.stderr.contains("aborted"), "{}: {r:?}", f.name());
    untouched("emptied");
    let r = edit(f, dir.path(), "false", &[&pair.dlq, &id, "--yes"]);
    assert_eq!(r.code, 2, "{}: failing editor: {r:?}", f.name());
    untouched("failing editor");
    let r = edit(f, dir.path(), &breaker, &[&pair.dlq, &id, "--yes"]);
    assert_eq!(r.code, 2, "{}: parse error: {r:?}", f.name());
    assert!(
        r.stderr.contains("line 1"),
        "{}: names the line: {r:?}",
        f.name()
    );
    untouched("parse error");

    let dry = edit(
        f,
        dir.path(),
        &fixer,
        &[&pair.dlq, &id, "--yes", "--dry-run", "-o", "json"],
    );
    assert_eq!(dry.code, 0, "{}: {dry:?}", f.name());
    let plan: Value = dry.json()["plan"][0].clone();
    assert_eq!(
        plan["body"],
        r#"{"amount":1200,"id":"a"}"#,
        "{}: {dry:?}",
        f.name()
    );
    assert_eq!(plan["headers"]["tenant"], "globex", "{}: {dry:?}", f.name());
    untouched("dry run");

    let r = edit(
        f,
        dir.path(),
        &fixer,
        &[&pair.dlq, &id, "--yes", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}: {r:?}", f.name());
    assert_eq!(r.json()["moved"], 1, "{}: {r:?}", f.name());
    assert_eq!(
        strip(f.read_origin(&pair), &keep),
        vec![Msg::new(r#"{"amount":1200,"id":"a"}"#)
            .header("tenant", "globex")
            .header("idx", "0")
            .header("dlq-redrive-count", "1")],
        "{}: the origin has the edited copy",
        f.name()
    );
    assert_eq!(
        strip(f.read_dlq(&pair), &keep),
        strip(msgs[1..].to_vec(), &keep),
        "{}: the DLQ lost the original only",
        f.name()
    );
    f.cleanup(&pair);
}
