//! Acting on exactly what was reviewed, on every broker: the filters
//! `--error-type`, `--fingerprint`, `--since`/`--until` and `--where`,
//! `stats --by fingerprint`, `purge QUEUE ID...` and `--ids-from` (all or
//! nothing), read-only runs, and `list --follow` where the broker is a log.
//! The broker's state is read back through its own client.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::common;
use super::fixture::{Fixture, Msg};
use super::suite::dlq_command;

fn dlq(f: &dyn Fixture, args: &[&str]) -> common::Run {
    common::run(&mut dlq_command(f, args))
}

fn ok(f: &dyn Fixture, args: &[&str]) -> common::Run {
    let r = dlq(f, args);
    assert_eq!(r.code, 0, "{} {args:?}: {r:?}", f.name());
    r
}

fn listed(f: &dyn Fixture, dlq_name: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["list", dlq_name, "-o", "json"];
    args.extend_from_slice(extra);
    ok(f, &args).json().as_array().expect("array").clone()
}

fn bodies(envs: &[Value]) -> Vec<String> {
    let mut b: Vec<String> = envs
        .iter()
        .map(|e| e["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    b.sort();
    b
}

/// Messages in a stable order, with only the headers the test set (the
/// broker adds its own, such as `x-death`).
fn sorted(msgs: &[Msg], keep: &[String]) -> Vec<Msg> {
    let mut m: Vec<Msg> = msgs
        .iter()
        .map(|m| Msg {
            key: None,
            ..m.only_headers(keep)
        })
        .collect();
    m.sort();
    m
}

/// Asserts that the DLQ, read by the broker's own client, holds `want`.
fn dlq_holds(f: &dyn Fixture, pair: &super::fixture::Pair, want: &[Msg], what: &str) {
    let mut keep: Vec<String> = want
        .iter()
        .flat_map(|m| m.headers.keys().cloned())
        .collect();
    keep.sort();
    keep.dedup();
    assert_eq!(
        sorted(&f.read_dlq(pair), &keep),
        sorted(want, &keep),
        "{}: {what}",
        f.name()
    );
}

/// Six dead letters: three timeouts that differ only in their numbers, a
/// parse error, and two with no error recorded.
fn failures() -> Vec<Msg> {
    let err = |i: usize, ty: &str, text: &str| {
        Msg::new(format!("select {i}"))
            .header("idx", &i.to_string())
            .header("exception-type", ty)
            .header("exception-message", text)
    };
    vec![
        err(0, "System.TimeoutException", "Order 101 timed out").header("kind", "a"),
        err(1, "System.TimeoutException", "Order 202 timed out").header("kind", "b"),
        err(2, "System.FormatException", "Bad input 'x7'").header("kind", "a"),
        Msg::new("select 3").header("idx", "3"),
        Msg::new("select 4").header("idx", "4"),
        err(5, "System.TimeoutException", "Order 303 timed out"),
    ]
}

pub fn filters_select_on_every_broker(f: &dyn Fixture) {
    let msgs = failures();
    let pair = f.dead_letters(&msgs);
    let q = pair.dlq.as_str();
    let all = listed(f, q, &[]);
    assert_eq!(all.len(), 6, "{}: {all:?}", f.name());

    let timeouts = listed(f, q, &["--error-type", "TimeoutException"]);
    assert_eq!(
        bodies(&timeouts),
        ["select 0", "select 1", "select 5"],
        "{}",
        f.name()
    );
    let full = listed(f, q, &["--error-type", "System.FormatException"]);
    assert_eq!(bodies(&full), ["select 2"], "{}", f.name());

    // The three timeouts share one fingerprint; the others do not.
    let fp = timeouts[0]["dead_letter"]["fingerprint"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no fingerprint: {}", f.name(), timeouts[0]))
        .to_owned();
    assert_eq!(fp.len(), 12);
    for t in &timeouts {
        assert_eq!(t["dead_letter"]["fingerprint"], fp.as_str(), "{}", f.name());
    }
    let same = listed(f, q, &["--fingerprint", &fp]);
    assert_eq!(bodies(&same), bodies(&timeouts), "{}", f.name());

    let s = ok(f, &["stats", q, "--by", "fingerprint", "-o", "json"]).json();
    assert_eq!(s["total"], 6, "{}: {s}", f.name());
    let groups = s["groups"].as_array().unwrap();
    let g = groups
        .iter()
        .find(|g| g["key"]["fingerprint"] == fp.as_str())
        .unwrap_or_else(|| panic!("{}: no group {fp}: {s}", f.name()));
    assert_eq!(g["count"], 3, "{}: {s}", f.name());
    assert_eq!(
        g["error_type"],
        "System.TimeoutException",
        "{}: {g}",
        f.name()
    );
    let text = g["error_message"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("Order ") && text.ends_with(" timed out"),
        "{}: {g}",
        f.name()
    );
    let t = ok(f, &["stats", q, "--by", "fingerprint", "-o", "table"]);
    assert!(
        t.stdout.contains("ERROR TYPE") && t.stdout.contains("System.TimeoutException"),
        "{}: {t:?}",
        f.name()
    );

    // --where sees the envelope as `list -o json` prints it.
    let kind_a = listed(f, q, &["--where", r#".headers.kind == "a""#]);
    assert_eq!(bodies(&kind_a), ["select 0", "select 2"], "{}", f.name());
    let both = listed(
        f,
        q,
        &[
            "--where",
            r#".dead_letter.error_type != null and (.body | test("[15]$"))"#,
            "--error-type",
            "TimeoutException",
        ],
    );
    assert_eq!(bodies(&both), ["select 1", "select 5"], "{}", f.name());
    // A predicate that fails on some messages: no match there, one warning.
    let r = ok(
        f,
        &[
            "list",
            q,
            "-o",
            "json",
            "--where",
            r#".headers.kind | test("b")"#,
        ],
    );
    assert_eq!(
        bodies(r.json().as_array().unwrap()),
        ["select 1"],
        "{}",
        f.name()
    );
    assert_eq!(
        r.stderr.matches("warning").count(),
        1,
        "{}: {r:?}",
        f.name()
    );
    assert!(
        r.stderr.contains("failed on 3 messages"),
        "{}: {r:?}",
        f.name()
    );
    // The same one warning from peek and from the dry runs, which change nothing.
    let target = pair.origin.as_str();
    for args in [
        vec!["peek", q, "--limit", "10", "-o", "json"],
        vec!["purge", q, "--dry-run", "-o", "json"],
        vec!["retry-all", q, "--dry-run", "--to", target, "-o", "json"],
        vec![
            "retry-all",
            q,
            "--dry-run",
            "--set-header",
            "x=1",
            "--to",
            target,
            "-o",
            "json",
        ],
    ] {
        let mut args = args;
        args.extend(["--where", r#".headers.kind | test("b")"#]);
        let r = ok(f, &args);
        assert!(
            r.stderr.contains("failed on 3 messages") && r.stderr.matches("warning").count() == 1,
            "{} {args:?}: {r:?}",
            f.name()
        );
    }

    // A time window: from the timestamp of one message on.
    let stamps: Vec<&str> = all.iter().filter_map(|e| e["timestamp"].as_str()).collect();
    if stamps.len() == all.len() {
        let mut sorted_stamps = stamps.clone();
        sorted_stamps.sort();
        let from = sorted_stamps[3];
        let want = stamps.iter().filter(|s| **s >= from).count();
        let since = listed(f, q, &["--since", from]);
        assert_eq!(since.len(), want, "{}: --since {from}", f.name());
        let until = listed(f, q, &["--until", from]);
        assert_eq!(
            until.len(),
            all.len() - want,
            "{}: --until {from}",
            f.name()
        );
        assert_eq!(
            listed(f, q, &["--since", "2000-01-01", "--until", "2999-01-01"]).len(),
            6
        );
        assert!(listed(f, q, &["--until", "2000-01-01"]).is_empty());
        assert!(listed(f, q, &["--since", "2999-12-31T00:00:00Z"]).is_empty());
        let e = ok(f, &["export", q, "--since", from]);
        assert_eq!(e.ndjson().len(), want, "{}", f.name());
    }

    dlq_holds(f, &pair, &msgs, "reads changed the DLQ");
    assert!(f.read_origin(&pair).is_empty(), "{}", f.name());
    f.cleanup(&pair);
}

fn write(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

pub fn purge_and_retry_exactly_the_reviewed_ids(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..6)
        .map(|i| {
            Msg::new(format!("reviewed {i}"))
                .header("idx", &i.to_string())
                .header("kind", if i < 3 { "junk" } else { "keep" })
        })
        .collect();
    let pair = f.dead_letters(&msgs);
    let q = pair.dlq.as_str();
    let all = listed(f, q, &[]);
    let id_of = |body: &str| {
        all.iter()
            .find(|e| e["body"] == body)
            .and_then(|e| e["id"].as_str())
            .unwrap_or_else(|| panic!("{}: {body} not listed", f.name()))
            .to_owned()
    };
    let (id0, id1) = (id_of("reviewed 0"), id_of("reviewed 1"));

    // An unknown ID among them: nothing is removed, and the error names it.
    let r = dlq(f, &["purge", q, &id0, "no-such-id-42", &id1, "--yes"]);
    assert_eq!(r.code, 4, "{}: {r:?}", f.name());
    assert!(r.stderr.contains("no-such-id-42"), "{}: {r:?}", f.name());
    assert!(
        !r.stderr.contains(&format!("{id0},")),
        "{}: {r:?}",
        f.name()
    );
    dlq_holds(f, &pair, &msgs, "a failed check removed");

    // A garbage line in the file: exit 2 naming the line, nothing read or changed.
    let bad = write(&format!("{id0}\nnot an id\n"));
    let path = bad.path().to_str().unwrap();
    let r = dlq(f, &["purge", q, "--ids-from", path, "--yes"]);
    assert_eq!(r.code, 2, "{}: {r:?}", f.name());
    assert!(r.stderr.contains("line 2"), "{}: {r:?}", f.name());
    assert_eq!(r.stderr.lines().count(), 1, "{}: {r:?}", f.name());
    dlq_holds(f, &pair, &msgs, "nothing changed");

    // Exactly the two named.
    let r = ok(f, &["purge", q, &id0, &id1, "--yes", "-o", "json"]);
    assert_eq!(r.json()["purged"], 2, "{}: {r:?}", f.name());
    dlq_holds(f, &pair, &msgs[2..], "after the purge of two IDs");

    // A reviewed `list -o ndjson` fed back: the junk that is left.
    // SQS shows a message again only once the receives before have let go of it.
    let review = common::wait_for("the junk left to show", Duration::from_secs(60), || {
        let r = ok(f, &["list", q, "--header", "kind=junk", "-o", "ndjson"]);
        (r.ndjson().len() == 1).then_some(r)
    });
    let file = write(&format!("\n{}\n", review.stdout));
    let r = ok(
        f,
        &[
            "purge",
            q,
            "--ids-from",
            file.path().to_str().unwrap(),
            "--yes",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.json()["purged"], 1, "{}: {r:?}", f.name());
    dlq_holds(f, &pair, &msgs[3..], "after the purge of a reviewed list");

    // A plain ID file: peek shows it, retry moves exactly it.
    let id4 = id_of("reviewed 4");
    let plain = write(&format!("{id4}\n\n"));
    let plain_path = plain.path().to_str().unwrap();
    let p = ok(f, &["peek", q, "--ids-from", plain_path, "-o", "json"]).json();
    assert_eq!(p.as_array().unwrap().len(), 1, "{}: {p}", f.name());
    assert_eq!(p[0]["body"], "reviewed 4");
    let r = ok(f, &["retry", q, "--ids-from", plain_path, "-o", "json"]);
    assert_eq!(r.json()["moved"], 1, "{}: {r:?}", f.name());
    let rest: Vec<Msg> = vec![msgs[3].clone(), msgs[5].clone()];
    dlq_holds(f, &pair, &rest, "after the retry of one ID");
    let origin = f.read_origin(&pair);
    assert_eq!(origin.len(), 1, "{}", f.name());
    assert_eq!(origin[0].body, b"reviewed 4");
    f.cleanup(&pair);
}

pub fn read_only_refuses_changes(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..2)
        .map(|i| Msg::new(format!("guarded {i}")).header("idx", &i.to_string()))
        .collect();
    let pair = f.dead_letters(&msgs);
    let q = pair.dlq.as_str();
    let id = listed(f, q, &[])[0]["id"].as_str().unwrap().to_owned();
    let refused = |r: &common::Run, what: &str| {
        assert_eq!(r.code, 2, "{}: {r:?}", f.name());
        assert_eq!(r.stderr.lines().count(), 1, "{}: {r:?}", f.name());
        assert!(
            r.stderr.contains(&format!("{what} changes messages")),
            "{}: {r:?}",
            f.name()
        );
    };
    for (args, what) in [
        (vec!["purge", q, "--yes"], "purge"),
        (vec!["retry-all", q, "--yes"], "retry-all"),
        (vec!["retry", q, id.as_str()], "retry"),
        (vec!["edit", q, id.as_str(), "--yes"], "edit"),
        (vec!["publish", &pair.origin, "--body", "x"], "publish"),
    ] {
        let mut flagged = vec!["--read-only"];
        flagged.extend(&args);
        let r = dlq(f, &flagged);
        refused(&r, what);
        assert!(r.stderr.contains("read-only (--read-only)"), "{r:?}");
        let r = common::run(dlq_command(f, &args).env("DLQ_READ_ONLY", "1"));
        refused(&r, what);
    }
    // A dry run changes nothing, so it is allowed.
    ok(f, &["--read-only", "purge", q, "--dry-run"]);
    ok(f, &["--read-only", "retry-all", q, "--dry-run"]);
    ok(f, &["--read-only", "list", q]);
    dlq_holds(f, &pair, &msgs, "nothing changed");
    assert!(f.read_origin(&pair).is_empty(), "{}", f.name());
    f.cleanup(&pair);
}

pub fn bad_selection_input_is_refused(f: &dyn Fixture) {
    let msgs = vec![Msg::new("bad input").header("idx", "0")];
    let pair = f.dead_letters(&msgs);
    let q = pair.dlq.as_str();
    for args in [
        vec!["list", q, "--since", "yesterday"],
        vec!["purge", q, "--until", "2026-13-01", "--yes"],
        vec!["list", q, "--where", ".headers |"],
        vec!["retry-all", q, "--where", "nosuchfn(1)", "--yes"],
        vec!["stats", q, "--by", "field:.a |"],
    ] {
        let r = dlq(f, &args);
        assert_eq!(r.code, 2, "{} {args:?}: {r:?}", f.name());
        assert_eq!(r.stderr.lines().count(), 1, "{} {args:?}: {r:?}", f.name());
        assert!(r.stdout.is_empty(), "{} {args:?}: {r:?}", f.name());
    }
    if f.follow_target(&pair).is_none() {
        let r = dlq(f, &["list", q, "--follow"]);
        assert_eq!(r.code, 2, "{}: {r:?}", f.name());
        assert_eq!(r.stderr.lines().count(), 1, "{}: {r:?}", f.name());
        assert!(r.stderr.contains("dlq lag"), "{}: {r:?}", f.name());
    }
    dlq_holds(f, &pair, &msgs, "nothing changed");
    f.cleanup(&pair);
}

pub fn follow_prints_new_messages(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..2)
        .map(|i| Msg::new(format!("follow {i}")).header("idx", &i.to_string()))
        .collect();
    let pair = f.dead_letters(&msgs);
    let Some(target) = f.follow_target(&pair) else {
        panic!("{}: follow_prints_new_messages runs on logs only", f.name());
    };
    let q = pair.dlq.as_str();
    let lines = |child_out: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&child_out.lock().unwrap())
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let spawn = |args: &[&str]| {
        let mut child = dlq_command(f, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dlq");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let (s, mut out) = (seen.clone(), child.stdout.take().unwrap());
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
                if n == 0 {
                    break;
                }
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        (child, seen, reader)
    };

    // NDJSON until --limit: what is there, then what comes.
    let (mut child, seen, reader) = spawn(&["list", q, "--follow", "-o", "ndjson", "--limit", "3"]);
    common::wait_for("the two messages there", Duration::from_secs(60), || {
        (lines(&seen).len() >= 2).then_some(())
    });
    ok(
        f,
        &[
            "publish", &target, "--body", "follow 2", "--header", "idx=2",
        ],
    );
    let status = common::wait_for("dlq to end at --limit", Duration::from_secs(60), || {
        child.try_wait().unwrap()
    });
    reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{}: {status:?}", f.name());
    let out = lines(&seen);
    let bodies: Vec<String> = out
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["body"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(bodies, ["follow 0", "follow 1", "follow 2"], "{}", f.name());

    // The table until Ctrl-C: one aligned line a message, exit 130.
    let (mut child, seen, reader) = spawn(&["list", q, "--follow"]);
    common::wait_for(
        "the header and three lines",
        Duration::from_secs(60),
        || (lines(&seen).len() >= 4).then_some(()),
    );
    ok(
        f,
        &[
            "publish", &target, "--body", "follow 3", "--header", "idx=3",
        ],
    );
    common::wait_for("the new message", Duration::from_secs(60), || {
        lines(&seen)
            .iter()
            .any(|l| l.contains("follow 3"))
            .then_some(())
    });
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{}: {status:?}", f.name());
    let out = lines(&seen);
    assert!(out[0].starts_with("ID "), "{}: {out:?}", f.name());
    // Columns are counted in characters (a cut cell ends in `…`).
    let column = |l: &str, what: &str| l.find(what).map(|i| l[..i].chars().count());
    let body_at = column(&out[0], "BODY");
    for l in &out[1..] {
        assert_eq!(column(l, "follow "), body_at, "{}: {out:?}", f.name());
    }
    // Nothing was taken off.
    assert_eq!(f.read_dlq(&pair).len(), 4, "{}", f.name());
    f.cleanup(&pair);
}
