//! The journal, the same on every broker: a filtered purge and a retry-all
//! leave a run record and one record per message with the IDs `list`
//! printed; a SIGKILLed run leaves the records of what it did; a journal
//! that cannot be written is a warning and the run completes; secrets stay
//! masked. The broker's state is read through the fixture, never through dlq.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::common::{self, Run};
use super::fixture::{Fixture, Msg};
use super::suite::dlq_command;

fn dlq_with(f: &dyn Fixture, journal: &Path, args: &[&str]) -> Run {
    common::run(dlq_command(f, args).env("DLQ_JOURNAL", journal))
}

fn ok(f: &dyn Fixture, journal: &Path, args: &[&str]) -> Run {
    let r = dlq_with(f, journal, args);
    assert_eq!(r.code, 0, "{} {args:?}: {r:?}", f.name());
    r
}

fn listed(f: &dyn Fixture, journal: &Path, dlq: &str) -> Vec<Value> {
    ok(f, journal, &["list", dlq, "-o", "json"])
        .json()
        .as_array()
        .expect("array")
        .clone()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The run records `history -o json` lists, newest first.
fn runs(f: &dyn Fixture, journal: &Path) -> Vec<Value> {
    ok(f, journal, &["history", "-o", "json"])
        .json()
        .as_array()
        .expect("array")
        .clone()
}

fn messages(f: &dyn Fixture, journal: &Path, run: &str) -> Vec<Value> {
    ok(f, journal, &["history", run, "-o", "json"])
        .json()
        .as_array()
        .expect("array")
        .clone()
}

fn ids_with(records: &[Value], action: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["action"] == action)
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The passwords of the URLs among the arguments (`user:PASSWORD@`).
fn passwords(args: &[String]) -> Vec<String> {
    args.iter()
        .filter_map(|a| {
            let rest = a.split_once("://")?.1;
            let userinfo = rest.split_once('@')?.0;
            Some(userinfo.split_once(':')?.1.to_owned())
        })
        .filter(|p| !p.is_empty())
        .collect()
}

pub fn records_purge_and_retry_all(f: &dyn Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.ndjson");
    let msgs: Vec<Msg> = (0..6)
        .map(|i| {
            Msg::new(format!("journal {i}"))
                .header("kind", if i % 3 == 0 { "junk" } else { "keep" })
                .header("idx", &i.to_string())
        })
        .collect();
    let pair = f.dead_letters(&msgs);
    let before = listed(f, &journal, &pair.dlq);
    let junk: Vec<String> = before
        .iter()
        .filter(|e| e["headers"]["kind"] == "junk")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let keep: Vec<String> = before
        .iter()
        .filter(|e| e["headers"]["kind"] == "keep")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!((junk.len(), keep.len()), (2, 4), "{}: {before:?}", f.name());
    // Reads and dry runs are not journaled.
    ok(f, &journal, &["retry-all", &pair.dlq, "--dry-run"]);
    assert!(
        runs(f, &journal).is_empty(),
        "{}: a read was journaled",
        f.name()
    );

    ok(
        f,
        &journal,
        &["purge", &pair.dlq, "--header", "kind=junk", "--yes"],
    );
    let r = ok(
        f,
        &journal,
        &["retry-all", &pair.dlq, "--yes", "-o", "json"],
    );
    assert_eq!(r.json()["moved"], 4, "{}: {r:?}", f.name());
    // The broker's own view: the junk is gone, the rest is on the origin.
    assert!(f.read_dlq(&pair).is_empty(), "{}: DLQ not empty", f.name());
    assert_eq!(f.read_origin(&pair).len(), 4, "{}: origin", f.name());

    let all = runs(f, &journal);
    assert_eq!(all.len(), 2, "{}: {all:?}", f.name());
    let (retry, purge) = (&all[0], &all[1]);
    assert_eq!(
        retry["command"],
        "retry-all",
        "{}: newest first: {all:?}",
        f.name()
    );
    assert_eq!(purge["command"], "purge");
    for run in [retry, purge] {
        assert_eq!(run["queue"], pair.dlq.as_str());
        assert_eq!(run["exit_code"], 0, "{}: {run}", f.name());
        assert_eq!(run["finished"], true);
        assert!(run["started_at"].as_str() <= run["ended_at"].as_str());
        assert!(run["argv"].as_array().is_some_and(|a| !a.is_empty()));
        assert!(
            run["host"].is_string() && run["broker"].is_string(),
            "{}: {run}",
            f.name()
        );
    }
    assert_eq!(purge["counts"]["purged"], 2, "{}: {purge}", f.name());
    assert_eq!(retry["counts"]["moved"], 4, "{}: {retry}", f.name());
    assert_eq!(retry["counts"]["failed"], 0);

    let purged = messages(f, &journal, purge["run_id"].as_str().unwrap());
    assert_eq!(
        sorted(ids_with(&purged, "purged")),
        sorted(junk),
        "{}: {purged:?}",
        f.name()
    );
    let moved = messages(f, &journal, retry["run_id"].as_str().unwrap());
    assert_eq!(
        sorted(ids_with(&moved, "moved")),
        sorted(keep),
        "{}: {moved:?}",
        f.name()
    );
    for m in &moved {
        let to = m["to"].as_str().unwrap_or("");
        assert!(
            !to.is_empty(),
            "{}: a moved record without destination: {m}",
            f.name()
        );
    }

    // The table forms.
    let t = ok(f, &journal, &["history"]);
    assert!(
        t.stdout.contains("RUN ID") && t.stdout.contains("retry-all"),
        "{t:?}"
    );
    let t = ok(f, &journal, &["history", retry["run_id"].as_str().unwrap()]);
    assert_eq!(t.stdout.matches("moved").count(), 4, "{t:?}");
    let limited = ok(f, &journal, &["history", "--limit", "1", "-o", "json"]).json();
    assert_eq!(limited.as_array().unwrap().len(), 1);
    let unknown = dlq_with(f, &journal, &["history", "20000101T000000000Z-0000"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains("no run 20000101T000000000Z-0000"),
        "{unknown:?}"
    );

    // Secrets never reach the journal.
    let text = std::fs::read_to_string(&journal).unwrap();
    for pw in passwords(&f.args()) {
        assert!(
            !text.contains(&format!(":{pw}@")),
            "{}: password in the journal",
            f.name()
        );
    }
    f.cleanup(&pair);
}

pub fn off_and_unwritable_never_stop_a_run(f: &dyn Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let msgs: Vec<Msg> = (0..3)
        .map(|i| Msg::new(format!("unwritable {i}")))
        .collect();
    let pair = f.dead_letters(&msgs);
    // A journal path under a regular file cannot be created.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let bad = blocker.join("journal.ndjson");
    let r = ok(f, &bad, &["retry-all", &pair.dlq, "--yes", "-o", "json"]);
    assert_eq!(r.json()["moved"], 3, "{}: {r:?}", f.name());
    assert_eq!(
        r.stderr.matches("warning: journal").count(),
        1,
        "{}: one warning: {r:?}",
        f.name()
    );
    assert!(f.read_dlq(&pair).is_empty());
    f.cleanup(&pair);

    let pair = f.dead_letters(&msgs);
    let journal = dir.path().join("off.ndjson");
    ok(f, &journal, &["--no-journal", "purge", &pair.dlq, "--yes"]);
    assert!(
        !journal.exists(),
        "{}: --no-journal wrote the journal",
        f.name()
    );
    assert!(f.read_dlq(&pair).is_empty());
    f.cleanup(&pair);

    // `journal = false` in the config file does the same; the fixture may
    // bring a config file of its own (a management URL), which keeps its profiles.
    let pair = f.dead_letters(&msgs);
    let config = dir.path().join("config.toml");
    let mut args = f.args();
    let own = args.iter().position(|a| a == "--config");
    let theirs = own
        .map(|i| std::fs::read_to_string(&args[i + 1]).expect("fixture config"))
        .unwrap_or_default();
    std::fs::write(&config, format!("journal = false\n{theirs}")).unwrap();
    let config = config.to_str().unwrap().to_owned();
    match own {
        Some(i) => args[i + 1] = config,
        None => args.extend(["--config".into(), config]),
    }
    args.extend(["purge".into(), pair.dlq.clone(), "--yes".into()]);
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlq"));
    c.env_remove("DLQ_BROKER")
        .env_remove("DLQ_PROFILE")
        .env("DLQ_JOURNAL", &journal)
        .env("NO_COLOR", "1")
        .args(&args)
        .stdin(Stdio::null());
    let r = common::run(&mut c);
    assert_eq!(r.code, 0, "{} {args:?}: {r:?}", f.name());
    assert!(
        !journal.exists(),
        "{}: journal = false wrote the journal",
        f.name()
    );
    assert!(f.read_dlq(&pair).is_empty());
    f.cleanup(&pair);
}

pub fn sigkilled_run_leaves_its_records(f: &dyn Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.ndjson");
    let msgs: Vec<Msg> = (0..f.bulk_size())
        .map(|i| Msg::new(format!("journal-kill {i:06}")))
        .collect();
    let pair = f.dead_letters(&msgs);
    let rate = f.slow_rate().to_string();
    let mut child = dlq_command(f, &["retry-all", &pair.dlq, "--yes", "-q", "--rate", &rate])
        .env("DLQ_JOURNAL", &journal)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once a tenth of the messages were recorded as moved.
    let enough = (f.bulk_size() / 10).max(1);
    let recorded = || {
        std::fs::read_to_string(&journal)
            .map(|t| t.matches("\"action\":\"moved\"").count())
            .unwrap_or(0)
    };
    common::wait_for(
        "moved records in the journal",
        Duration::from_secs(60),
        || (recorded() > enough || child.try_wait().unwrap().is_some()).then_some(()),
    );
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    let _ = child.wait();
    f.settle(&pair);
    assert!(
        !finished,
        "{}: the run ended before it could be killed",
        f.name()
    );

    let all = runs(f, &journal);
    assert_eq!(all.len(), 1, "{}: {all:?}", f.name());
    assert_eq!(all[0]["finished"], false, "{}: {}", f.name(), all[0]);
    assert!(all[0]["exit_code"].is_null());
    // A message the broker delivers twice (moto does) is moved, and recorded, twice.
    let moved = ids_with(
        &messages(f, &journal, all[0]["run_id"].as_str().unwrap()),
        "moved",
    );
    // Every message recorded as moved really is on the origin.
    let on_origin = f.read_origin(&pair).len();
    assert!(
        moved.len() >= enough,
        "{}: {} moved records",
        f.name(),
        moved.len()
    );
    assert!(
        moved.len() <= on_origin,
        "{}: {} recorded as moved, {on_origin} on the origin",
        f.name(),
        moved.len()
    );
    let table = ok(f, &journal, &["history"]);
    assert!(table.stdout.contains("killed?"), "{table:?}");
    f.cleanup(&pair);
}
