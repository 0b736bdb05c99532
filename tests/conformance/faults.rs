//! Faults, the same on every broker: dlq killed with SIGKILL at several
//! points of a `retry-all` and of a `purge --backup`, interrupted with
//! Ctrl-C, and cut off from the broker midway. Afterwards every original
//! message must be on the DLQ, on the origin, or (purge) in the backup file;
//! duplicates are allowed and counted, losses never.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::fixture::{Fixture, Msg};

fn spawn(f: &dyn Fixture, args: &[String], extra: &[&str]) -> Child {
    spawn_journaled(f, &super::common::test_journal(), args, extra)
}

fn spawn_journaled(f: &dyn Fixture, journal: &Path, args: &[String], extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dlq"))
        .env_remove("DLQ_BROKER")
        .env_remove("DLQ_PROFILE")
        .env("DLQ_CONFIG", "/nonexistent/dlq-test-config.toml")
        .env("DLQ_JOURNAL", journal)
        .args(args)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: spawn dlq: {e}", f.name()))
}

/// Waits until the run journaled in `journal` has moved a message: then it
/// is well under way (its Ctrl-C handler is in place), whatever the load.
fn wait_until_moving(f: &dyn Fixture, journal: &Path, child: &mut Child) {
    super::common::wait_for(
        "dlq to move a first message",
        Duration::from_secs(60),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{}: dlq ended before it was stopped: {status}", f.name());
            }
            let text = std::fs::read_to_string(journal).unwrap_or_default();
            text.lines()
                .any(|l| l.contains("\"type\":\"message\"") && l.contains("\"action\":\"moved\""))
                .then_some(())
        },
    );
}

fn bodies(msgs: &[Msg]) -> BTreeMap<Vec<u8>, usize> {
    let mut out = BTreeMap::new();
    for m in msgs {
        *out.entry(m.body.clone()).or_default() += 1;
    }
    out
}

/// Every original body is somewhere; returns how many duplicates there are.
fn nothing_lost(f: &dyn Fixture, what: &str, originals: &[Msg], places: &[Vec<Msg>]) -> usize {
    let mut found: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for p in places {
        for (b, n) in bodies(p) {
            *found.entry(b).or_default() += n;
        }
    }
    let missing: Vec<String> = originals
        .iter()
        .filter(|m| !found.contains_key(&m.body))
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{}: {what}: messages lost, e.g. {missing:?}",
        f.name()
    );
    found.values().map(|n| n - 1).sum()
}

fn batch(f: &dyn Fixture, tag: &str) -> Vec<Msg> {
    (0..f.bulk_size())
        .map(|i| Msg::new(format!("{tag} {i:06}")).header("idx", &i.to_string()))
        .collect()
}

/// How far into a run each SIGKILL lands: after the first message, then at
/// a share of the batch.
const KILL_AT: [f64; 5] = [0.0, 0.1, 0.2, 0.3, 0.5];

/// Messages of the run in `journal` recorded as `action` so far.
fn recorded(journal: &Path, action: &str) -> usize {
    std::fs::read_to_string(journal)
        .map(|t| t.matches(&format!("\"action\":\"{action}\"")).count())
        .unwrap_or(0)
}

/// Kills dlq with SIGKILL once its journal records `at` messages as
/// `action`, and proves the kill landed while the run was moving them: the
/// process is frozen (SIGSTOP) first, so that it cannot finish between the
/// check and the kill, and the run has no end record afterwards. Returns
/// how many were recorded.
fn kill_midway(
    f: &dyn Fixture,
    child: &mut Child,
    journal: &Path,
    action: &str,
    at: usize,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(120);
    // Polled often: a fast broker moves a batch in a fraction of a second.
    while recorded(journal, action) < at.max(1) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{}: dlq finished ({status}) before {at} messages were {action}: the kill would not land midway",
                f.name()
            );
        }
        assert!(Instant::now() < deadline, "{}: no progress", f.name());
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: a signal to the child this test spawned and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGSTOP) };
    assert!(
        child.try_wait().unwrap().is_none(),
        "{}: dlq finished before the kill landed",
        f.name()
    );
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    assert!(
        !text.contains("\"type\":\"run_end\""),
        "{}: the killed run has no end",
        f.name()
    );
    recorded(journal, action)
}

/// A batch of `f.kill_size()` messages tagged `tag`.
fn kill_batch(f: &dyn Fixture, tag: &str) -> Vec<Msg> {
    (0..f.kill_size())
        .map(|i| Msg::new(format!("{tag} {i:06}")).header("idx", &i.to_string()))
        .collect()
}

pub fn sigkill_during_retry_all_loses_nothing(f: &dyn Fixture) {
    for (point, share) in KILL_AT.into_iter().enumerate().take(f.kill_points()) {
        let msgs = kill_batch(f, &format!("kill-retry-{point}"));
        let pair = f.dead_letters(&msgs);
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.ndjson");
        let mut child = spawn_journaled(
            f,
            &journal,
            &f.args(),
            &["retry-all", &pair.dlq, "--yes", "-q"],
        );
        let at = (msgs.len() as f64 * share) as usize;
        let moved = kill_midway(f, &mut child, &journal, "moved", at);
        f.settle(&pair);
        let dups = nothing_lost(
            f,
            &format!("SIGKILL after {moved} of {} moved", msgs.len()),
            &msgs,
            &[f.read_dlq(&pair), f.read_origin(&pair)],
        );
        eprintln!(
            "{}: SIGKILL after {moved} of {} moved: {dups} duplicates",
            f.name(),
            msgs.len()
        );
        f.cleanup(&pair);
    }
}

pub fn sigkill_during_purge_backup_loses_nothing(f: &dyn Fixture) {
    for (point, share) in KILL_AT.into_iter().enumerate().take(f.kill_points()) {
        let msgs = kill_batch(f, &format!("kill-purge-{point}"));
        let pair = f.dead_letters(&msgs);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backup.ndjson");
        let journal = dir.path().join("journal.ndjson");
        // A filtered purge takes the message-by-message path that a backup needs.
        let mut child = spawn_journaled(
            f,
            &journal,
            &f.args(),
            &[
                "purge",
                &pair.dlq,
                "--grep",
                "kill-purge",
                "--backup",
                file.to_str().unwrap(),
                "--yes",
                "-q",
            ],
        );
        let at = (msgs.len() as f64 * share) as usize;
        let purged = kill_midway(f, &mut child, &journal, "purged", at);
        f.settle(&pair);
        let backed_up: Vec<Msg> = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["body"].as_str().map(|b| Msg::new(b.as_bytes().to_vec())))
            .collect();
        nothing_lost(
            f,
            &format!("purge SIGKILL after {purged} of {} purged", msgs.len()),
            &msgs,
            &[f.read_dlq(&pair), backed_up],
        );
        f.cleanup(&pair);
    }
}

pub fn ctrl_c_stops_cleanly(f: &dyn Fixture) {
    let msgs = batch(f, "ctrl-c");
    let pair = f.dead_letters(&msgs);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.ndjson");
    let mut child = spawn_journaled(
        f,
        &journal,
        &f.args(),
        &[
            "retry-all",
            &pair.dlq,
            "--yes",
            "--rate",
            &f.slow_rate().to_string(),
            "-o",
            "json",
        ],
    );
    wait_until_moving(f, &journal, &mut child);
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = wait_bounded(&mut child, Duration::from_secs(60));
    assert_eq!(
        out.0,
        130,
        "{}: Ctrl-C exit code; stderr: {}",
        f.name(),
        out.2
    );
    let summary: serde_json::Value = serde_json::from_str(&out.1)
        .unwrap_or_else(|e| panic!("{}: summary on stdout ({e}): {}", f.name(), out.1));
    assert_eq!(summary["interrupted"], true, "{}: {summary}", f.name());
    let moved = summary["moved"].as_u64().unwrap() as usize;
    f.settle(&pair);
    let (dlq, origin) = (f.read_dlq(&pair), f.read_origin(&pair));
    nothing_lost(f, "Ctrl-C", &msgs, &[dlq.clone(), origin.clone()]);
    assert_eq!(
        origin.len(),
        moved,
        "{}: the summary counts what reached the origin",
        f.name()
    );
    assert!(
        dlq.len() + moved >= msgs.len()
            && dlq.len() + moved - msgs.len() <= f.clean_stop_duplicates(),
        "{}: {} on the DLQ and {moved} moved of {}: duplicates after a clean stop",
        f.name(),
        dlq.len(),
        msgs.len()
    );
    if f.ordered() {
        // The first `moved` went, in order; the rest stayed, in order.
        let body = |m: &Msg| m.body.clone();
        let (sent, kept) = msgs.split_at(moved);
        let same = |have: &[Msg], want: &[Msg]| have.iter().map(body).eq(want.iter().map(body));
        assert!(
            same(&origin, sent),
            "{}: origin order after Ctrl-C",
            f.name()
        );
        assert!(same(&dlq, kept), "{}: DLQ order after Ctrl-C", f.name());
    }
    f.cleanup(&pair);
}

pub fn connection_cut_midway_then_rerun_finishes(f: &dyn Fixture) {
    let msgs = batch(f, "cut");
    let pair = f.dead_letters(&msgs);
    let relay = f.relay();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.ndjson");
    let mut child = spawn_journaled(
        f,
        &journal,
        &f.args_via(relay.port),
        &[
            "retry-all",
            &pair.dlq,
            "--yes",
            "--rate",
            &f.slow_rate().to_string(),
            "-o",
            "json",
        ],
    );
    wait_until_moving(f, &journal, &mut child);
    relay.cut(true);
    let (code, stdout, stderr) = wait_bounded(&mut child, Duration::from_secs(120));
    assert!(
        [3, 4].contains(&code),
        "{}: cut connection: exit {code}\n{stdout}\n{stderr}",
        f.name()
    );
    assert!(
        stderr.starts_with("dlq: error:") || stderr.contains("dlq: error:"),
        "{}: says why: {stderr}",
        f.name()
    );
    f.settle(&pair);
    nothing_lost(
        f,
        "connection cut",
        &msgs,
        &[f.read_dlq(&pair), f.read_origin(&pair)],
    );
    let rerun = spawn(f, &f.args(), &["retry-all", &pair.dlq, "--yes", "-q"])
        .wait_with_output()
        .unwrap();
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}: rerun: {}",
        f.name(),
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert!(
        f.read_dlq(&pair).is_empty(),
        "{}: rerun finishes the job",
        f.name()
    );
    nothing_lost(f, "after rerun", &msgs, &[f.read_origin(&pair)]);
    f.cleanup(&pair);
}

pub fn missing_origin_keeps_the_message(f: &dyn Fixture) {
    let msgs: Vec<Msg> = (0..3).map(|i| Msg::new(format!("orphan {i}"))).collect();
    let pair = f.dead_letters(&msgs);
    let missing = f.missing_target();
    let r = spawn(
        f,
        &f.args(),
        &[
            "retry-all",
            &pair.dlq,
            "--to",
            &missing,
            "--yes",
            "-o",
            "json",
        ],
    )
    .wait_with_output()
    .unwrap();
    let code = r.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        code == 4 || code == 3,
        "{}: exit {code}: {stdout} {}",
        f.name(),
        String::from_utf8_lossy(&r.stderr)
    );
    if code == 4 && stdout.trim().is_empty() {
        // Refused up front: the target does not exist.
    } else {
        let s: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(s["moved"], 0, "{}: {s}", f.name());
        assert_eq!(s["failed"], 3, "{}: {s}", f.name());
        assert_eq!(s["failures"].as_array().unwrap().len(), 3);
    }
    f.settle(&pair);
    assert_eq!(
        f.read_dlq(&pair).len(),
        3,
        "{}: messages stay on the DLQ",
        f.name()
    );
    f.cleanup(&pair);
}

fn wait_bounded(child: &mut Child, limit: Duration) -> (i32, String, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            use std::io::Read;
            let (mut out, mut err) = (String::new(), String::new());
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), out, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dlq did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
