//! The journal at scale and in private, through the built binary against
//! RabbitMQ: runs appending at once, rotation, pruning, file modes, and
//! journals that cannot be written (a full disk, a file-size limit reached
//! mid-run, a read-only file) never stopping a run. The journal files are
//! read directly, and the queues through a plain AMQP client, not through
//! dlq.

mod common;
mod rabbitmq_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{run, unique, Run};
use lapin::types::FieldTable;
use rabbitmq_support::Rmq;
use serde_json::Value;

/// `dlq` on the test RabbitMQ, journaling to `journal` with `config`.
fn dlq(journal: &Path, config: Option<&Path>) -> Command {
    let mut c = rabbitmq_support::dlq();
    c.env("DLQ_JOURNAL", journal);
    if let Some(cfg) = config {
        c.env("DLQ_CONFIG", cfg);
    }
    c
}

/// dlq naming no broker, journaling to `journal`.
fn bare(journal: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlq"));
    c.env_remove("DLQ_BROKER")
        .env_remove("DLQ_PROFILE")
        .env("DLQ_CONFIG", "/nonexistent/dlq-test-config.toml")
        .env("DLQ_JOURNAL", journal)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

fn history(journal: &Path, args: &[&str]) -> Run {
    run(bare(journal).args(args))
}

fn queue(r: &Rmq, prefix: &str) -> String {
    let q = unique(prefix);
    r.declare(&q, FieldTable::default());
    q
}

fn config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("config.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The journal's files, oldest first: set aside, then the journal.
fn journal_files(journal: &Path) -> Vec<PathBuf> {
    let name = journal.file_name().unwrap().to_string_lossy().into_owned();
    let mut aside: Vec<PathBuf> = std::fs::read_dir(journal.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.strip_prefix(&format!("{name}."))
                .is_some_and(|rest| rest.len() >= 19 && rest.as_bytes()[8] == b'T')
        })
        .collect();
    aside.sort();
    if journal.exists() {
        aside.push(journal.to_path_buf());
    }
    aside
}

/// Every line of every journal file, parsed; panics on one that does not parse.
fn records(journal: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for f in journal_files(journal) {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.ends_with('\n'), "{f:?}: last line cut short");
        for (i, line) in text.lines().enumerate() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{f:?} line {}: {e}: {line:.200}", i + 1));
            out.push(v);
        }
    }
    out
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn warnings(r: &Run) -> Vec<&str> {
    r.stderr
        .lines()
        .filter(|l| l.starts_with("dlq: warning:"))
        .collect()
}

#[test]
fn two_runs_of_100000_appending_at_once_leave_every_line_whole() {
    const N: u64 = 100_000;
    let r = Rmq::new();
    let (qa, qb) = (queue(&r, "journal-a"), queue(&r, "journal-b"));
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.ndjson");
    // Small files, so that the two runs also rotate the journal under each other.
    let cfg = config(
        dir.path(),
        "journal_max_bytes = \"4MiB\"\njournal_keep = 100\n",
    );
    let spawn = |q: &str| {
        dlq(&journal, Some(&cfg))
            .args(["-q", "publish", q, "--body", "x", "--count", &N.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&qa), spawn(&qb));
    for (name, child) in [("a", a), ("b", b)] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "run {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "run {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!((r.count(&qa), r.count(&qb)), (N as u32, N as u32));

    let files = journal_files(&journal);
    assert!(files.len() > 4, "the journal was rotated: {files:?}");
    let all = records(&journal);
    let mut by_run: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut queue_of: BTreeMap<String, String> = BTreeMap::new();
    for rec in &all {
        let Some(run) = rec["run_id"].as_str() else {
            assert_eq!(rec["type"], "journal", "{rec}");
            continue;
        };
        let e = by_run.entry(run.to_owned()).or_default();
        match rec["type"].as_str().unwrap() {
            "run_start" => {
                e.0 += 1;
                queue_of.insert(run.to_owned(), rec["queue"].as_str().unwrap().to_owned());
            }
            "run_end" => {
                e.1 += 1;
                assert_eq!(rec["exit_code"], 0, "{rec}");
            }
            "message" => {
                assert_eq!(rec["action"], "published", "{rec}");
                e.2 += 1;
            }
            other => panic!("unknown record {other}"),
        }
    }
    assert_eq!(by_run.len(), 2, "{:?}", by_run.keys());
    for (run, counts) in &by_run {
        assert_eq!(*counts, (1, 1, N), "run {run}");
    }
    // They did write at once: each run started before the other ended.
    let runs = history(&journal, &["history", "-o", "json"]);
    assert_eq!(runs.code, 0, "{runs:?}");
    let runs = runs.json();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs[0]["started_at"].as_str() < runs[1]["ended_at"].as_str());
    assert!(runs[1]["started_at"].as_str() < runs[0]["ended_at"].as_str());
    for run in runs {
        assert_eq!(run["finished"], true, "{run}");
        assert_eq!(run["counts"]["published"], N, "{run}");
        assert_eq!(run["recorded"]["published"], N, "{run}");
        let id = run["run_id"].as_str().unwrap();
        assert_eq!(run["queue"].as_str(), queue_of.get(id).map(String::as_str));
        let msgs = history(&journal, &["history", id, "-o", "ndjson"]);
        assert_eq!(msgs.code, 0, "{}", msgs.stderr);
        assert_eq!(msgs.stdout.lines().count() as u64, N, "history {id}");
        let theirs = format!("\"run_id\":\"{id}\"");
        assert!(msgs.stdout.lines().all(|l| l.contains(&theirs)));
    }
    // The index parses too, and names each of the files.
    let index = std::fs::read_to_string(dir.path().join("journal.ndjson.index")).unwrap();
    let opened = index
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e.get("open").is_some())
        .count();
    assert_eq!(opened, files.len());
}

#[cfg(unix)]
#[test]
fn the_journal_is_private_and_one_others_can_read_is_named_once() {
    use std::os::unix::fs::PermissionsExt;
    let r = Rmq::new();
    let q = queue(&r, "journal-private");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").join("dlq");
    let journal = state.join("journal.ndjson");
    let publish = || run(dlq(&journal, None).args(["publish", &q, "--body", "x", "--count", "3"]));
    let first = publish();
    assert_eq!(first.code, 0, "{first:?}");
    assert!(warnings(&first).is_empty(), "{first:?}");
    assert_eq!(mode(&state), 0o700);
    for f in [
        "journal.ndjson",
        "journal.ndjson.index",
        "journal.ndjson.lock",
    ] {
        assert_eq!(mode(&state.join(f)), 0o600, "{f}");
    }

    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o644)).unwrap();
    let second = publish();
    assert_eq!(second.code, 0, "{second:?}");
    let w = warnings(&second);
    assert_eq!(w.len(), 1, "{second:?}");
    let fix = format!("chmod 600 {}", journal.display());
    assert!(
        w[0].contains("readable by other users") && w[0].ends_with(&fix),
        "{w:?}"
    );
    let h = history(&journal, &["history", "-o", "json"]);
    assert_eq!(warnings(&h).len(), 1, "{h:?}");
    assert_eq!(h.json().as_array().unwrap().len(), 2, "both runs recorded");
    assert_eq!(r.count(&q), 6);

    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o600)).unwrap();
    let third = publish();
    assert!(warnings(&third).is_empty(), "{third:?}");
}

#[test]
fn rotation_keeps_journal_keep_files_and_history_reads_across_them() {
    let r = Rmq::new();
    let q = queue(&r, "journal-rotate");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.ndjson");
    let cfg = config(
        dir.path(),
        "journal_max_bytes = \"64KiB\"\njournal_keep = 2\n",
    );
    // About 100 KiB of records a run: each run fills more than a file.
    for _ in 0..5 {
        let p =
            run(dlq(&journal, Some(&cfg)).args(["publish", &q, "--body", "x", "--count", "600"]));
        assert_eq!(p.code, 0, "{p:?}");
        assert!(warnings(&p).is_empty(), "{p:?}");
    }
    assert_eq!(r.count(&q), 3000);
    let files = journal_files(&journal);
    assert_eq!(files.len(), 3, "the journal and 2 set aside: {files:?}");
    // Each file stops growing at the write that takes it past 64 KiB.
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len < 2 * (64 << 10), "{f:?}: {len} bytes");
    }
    records(&journal);

    let runs = history(&journal, &["history", "-o", "json"]).json();
    let runs = runs.as_array().unwrap().clone();
    assert!(
        !runs.is_empty() && runs.len() < 5,
        "the oldest runs went: {runs:?}"
    );
    let newest = &runs[0];
    assert_eq!(newest["finished"], true);
    assert_eq!(newest["recorded"]["published"], 600, "{newest}");
    let id = newest["run_id"].as_str().unwrap();
    let msgs = history(&journal, &["history", id, "-o", "ndjson"]);
    assert_eq!(msgs.stdout.lines().count(), 600, "{}", msgs.stderr);
    let limited = history(&journal, &["history", id, "--limit", "7", "-o", "ndjson"]);
    assert_eq!(limited.stdout.lines().count(), 7);
}

#[test]
fn prune_removes_the_runs_older_than_the_age_given() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.ndjson");
    let run_lines = |id: &str, started: &str, n: usize| {
        let mut s = format!(
            "{{\"type\":\"run_start\",\"run_id\":\"{id}\",\"started_at\":\"{started}\",\"command\":\"purge\",\"queue\":\"q\",\"action\":\"purged\"}}\n"
        );
        for i in 0..n {
            s += &format!("{{\"type\":\"message\",\"run_id\":\"{id}\",\"id\":\"{i}\",\"action\":\"purged\"}}\n");
        }
        s + &format!(
            "{{\"type\":\"run_end\",\"run_id\":\"{id}\",\"counts\":{{\"purged\":{n},\"skipped\":0,\"failed\":0}},\"exit_code\":0}}\n"
        )
    };
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let new_id: String = now
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        + "-bbbb";
    let old = run_lines("20200101T000000000Z-aaaa", "2020-01-01T00:00:00.000Z", 5);
    std::fs::write(&journal, old + &run_lines(&new_id, &now, 2)).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(
        &journal,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let before = std::fs::read(&journal).unwrap();

    for bad in [
        &["history", "--prune"][..],
        &["history", "--older-than", "30d"],
        &[
            "history",
            "--prune",
            "--older-than",
            "30d",
            "20200101T000000000Z-aaaa",
        ],
        &["history", "--prune", "--older-than", "soon"],
    ] {
        let r = history(&journal, bad);
        assert_eq!(r.code, 2, "{bad:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    }
    let dry = history(
        &journal,
        &[
            "history",
            "--prune",
            "--older-than",
            "30d",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert_eq!(dry.code, 0, "{dry:?}");
    let d = dry.json();
    assert_eq!(
        (d["pruned_runs"].as_u64(), d["pruned_records"].as_u64()),
        (Some(1), Some(7))
    );
    assert_eq!(d["dry_run"], true);
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        before,
        "a dry run changes nothing"
    );

    let done = history(&journal, &["history", "--prune", "--older-than", "30d"]);
    assert_eq!(done.code, 0, "{done:?}");
    assert!(
        done.stderr.starts_with("pruned 1 run that started before "),
        "{done:?}"
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        !text.contains("20200101T000000000Z-aaaa") && text.contains(&new_id),
        "{text}"
    );
    let runs = history(&journal, &["history", "-o", "json"]).json();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["run_id"], new_id.as_str());
    let gone = history(&journal, &["history", "20200101T000000000Z-aaaa"]);
    assert_eq!(gone.code, 2, "{gone:?}");
}

#[cfg(unix)]
#[test]
fn a_full_disk_is_one_warning_and_the_run_completes() {
    let r = Rmq::new();
    let q = queue(&r, "journal-full");
    // Every write to /dev/full fails with ENOSPC.
    let out = run(dlq(Path::new("/dev/full"), None).args([
        "publish", &q, "--body", "x", "--count", "2000", "-o", "json",
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["published"], 2000);
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{out:?}");
    assert!(
        w[0].contains("/dev/full cannot be written") && w[0].contains("No space left"),
        "{w:?}"
    );
    assert_eq!(r.count(&q), 2000);
}

#[cfg(unix)]
#[test]
fn a_journal_that_fills_up_midway_is_one_warning_and_the_run_completes() {
    use std::os::unix::process::CommandExt;
    const LIMIT: u64 = 256 << 10;
    let r = Rmq::new();
    let q = queue(&r, "journal-fills");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.ndjson");
    let mut c = dlq(&journal, None);
    c.args([
        "publish", &q, "--body", "x", "--count", "20000", "-o", "json",
    ]);
    // A file-size limit stands in for a disk that fills up during the run:
    // writes past it fail (EFBIG) once dlq ignores SIGXFSZ, as it does.
    // SAFETY: setrlimit is async-signal-safe, fit to run between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["published"], 20000);
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{out:?}");
    assert!(
        w[0].contains("the rest of this run is not recorded"),
        "{w:?}"
    );
    assert_eq!(r.count(&q), 20000);
    // What was written before the limit is there, and whole but for the last line.
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.len() as u64 <= LIMIT);
    let lines: Vec<&str> = text.lines().collect();
    let whole = if text.ends_with('\n') {
        lines.len()
    } else {
        lines.len() - 1
    };
    for l in &lines[..whole] {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
    let recorded = text.matches("\"action\":\"published\"").count();
    assert!(
        recorded > 100 && recorded < 20000,
        "{recorded} records before the limit"
    );
    let runs = history(&journal, &["history", "-o", "json"]).json();
    assert_eq!(
        runs[0]["finished"], false,
        "its end could not be written: {runs}"
    );
}

#[cfg(unix)]
#[test]
fn a_read_only_journal_is_one_warning_and_the_run_completes() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let r = Rmq::new();
    let q = queue(&r, "journal-ro");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let journal = dir.path().join("journal.ndjson");
    std::fs::write(&journal, "").unwrap();
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o444)).unwrap();
    let mut c = dlq(&journal, None);
    c.args(["publish", &q, "--body", "x", "--count", "500", "-o", "json"]);
    // root writes to any file; run dlq as nobody, for whom the file is read-only.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        c.uid(65534).gid(65534);
    }
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["published"], 500);
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{out:?}");
    assert!(
        w[0].contains("cannot be written") && w[0].contains("this run is not recorded"),
        "{w:?}"
    );
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), 0);
    assert_eq!(r.count(&q), 500);
}

#[test]
fn a_config_file_with_a_bad_journal_size_is_a_warning_when_the_broker_is_named() {
    let r = Rmq::new();
    let q = queue(&r, "journal-badcfg");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.ndjson");
    let cfg = config(dir.path(), "journal_max_bytes = 10\n");
    let out = run(dlq(&journal, Some(&cfg)).args(["publish", &q, "--body", "x", "--count", "5"]));
    assert_eq!(out.code, 0, "{out:?}");
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{out:?}");
    assert!(
        w[0].contains("64 KiB") && w[0].contains("the journal keeps its defaults"),
        "{w:?}"
    );
    let runs = history(&journal, &["history", "-o", "json"]).json();
    assert_eq!(runs[0]["recorded"]["published"], 5, "{runs}");
    // Where the broker comes from that file, the same file stops the command.
    let named = config(
        dir.path(),
        "journal_max_bytes = 10\n[profiles.p]\nurl = \"amqp://127.0.0.1:1\"\n",
    );
    let refused = run(bare(&journal)
        .env("DLQ_CONFIG", &named)
        .args(["-p", "p", "publish", &q, "--body", "x"]));
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("journal_max_bytes"), "{refused:?}");
}
