//! The journal: a local NDJSON file of every change dlq made.
//!
//! A command that changes messages opens a [`Journal`] just before its bulk
//! run; that appends a `run_start` record (run ID, time, user, host, broker
//! and command line with secrets masked, queue). The backend then reports
//! each message it acted on through `BulkContext::record`, which appends a
//! `message` record; the buffer is written out with every progress tick (one
//! batch) and at least every 250 ms, so a run killed with SIGKILL leaves the
//! records of the batches it finished. [`Journal::finish`] appends the
//! failures of the summary and a `run_end` record (end time, counts, exit
//! code). A run without `run_end` was killed. The file is opened in append
//! mode and each record goes out in one write, so runs in parallel do not
//! tear each other's lines. A journal that cannot be written is one warning,
//! then silence: it never stops a run.

use std::collections::hash_map::RandomState;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::exit::Exit;
use crate::message::rfc3339;
use crate::report::{Action, BulkReport};
use crate::secrets;

/// Where the journal is: `$DLQ_JOURNAL`, else `dlq/journal.ndjson` in the
/// user's state directory (the data directory where there is none).
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DLQ_JOURNAL").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    dirs::state_dir()
        .or_else(dirs::data_dir)
        .map(|d| d.join("dlq").join("journal.ndjson"))
}

/// A run ID: UTC time to the millisecond, then a random suffix; IDs sort by time.
pub fn new_run_id(now: SystemTime) -> String {
    let t = rfc3339(now); // 2026-12-01T22:14:05.123Z
    let compact: String = t.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{compact}-{:04x}", h.finish() & 0xffff)
}

/// The command line with the password of every URL masked.
pub fn masked_argv(args: impl IntoIterator<Item = String>) -> Vec<String> {
    args.into_iter()
        .map(|a| {
            let masked = match a.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") && value.contains("://") => {
                    format!("{flag}={}", secrets::redact_url(value))
                }
                _ if a.contains("://") => secrets::redact_url(&a),
                _ => a,
            };
            secrets::scrub(&masked)
        })
        .collect()
}

fn user() -> Option<String> {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(user_of_uid)
}

/// The name of the process's user from /etc/passwd, where no variable says it.
#[cfg(unix)]
fn user_of_uid() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid).then(|| f[0].to_owned())
    })
}

#[cfg(not(unix))]
fn user_of_uid() -> Option<String> {
    None
}

fn host() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            ["HOSTNAME", "COMPUTERNAME"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        })
}

/// What a run record says about the run before it starts.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// `retry`, `retry-all`, `purge`, `publish`, `edit`.
    pub command: String,
    /// The queue, topic, stream or subject acted on.
    pub queue: String,
    /// The broker as shown to people: masked URL.
    pub broker: String,
    /// The profile used, when one was.
    pub profile: Option<String>,
    /// What a finished message counts as: moved, purged or published.
    pub action: Action,
}

struct State {
    out: BufWriter<File>,
    path: PathBuf,
    last_flush: Instant,
}

struct Inner {
    run_id: String,
    action: Action,
    started: Instant,
    state: Mutex<Option<State>>,
    /// Says once that the journal cannot be written.
    warn: Box<dyn Fn(&str) + Send + Sync>,
}

/// A run's handle on the journal; cheap to clone; `Journal::off()` records nothing.
#[derive(Clone, Default)]
pub struct Journal(Option<Arc<Inner>>);

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &self.0 {
            Some(i) => i.run_id.as_str(),
            None => "journal off",
        })
    }
}

const FLUSH_EVERY: Duration = Duration::from_millis(250);

impl Journal {
    /// A journal that records nothing.
    pub fn off() -> Self {
        Journal(None)
    }

    /// Starts a run in the journal at `path`: writes its `run_start` record.
    /// When the file cannot be written, `warn` is called once and the run
    /// goes on unrecorded.
    pub fn start(
        path: Option<&Path>,
        info: &RunInfo,
        argv: Vec<String>,
        warn: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Self {
        let now = SystemTime::now();
        let run_id = new_run_id(now);
        let state = match path {
            Some(p) => match open(p) {
                Ok(out) => Some(State {
                    out,
                    path: p.to_path_buf(),
                    last_flush: Instant::now(),
                }),
                Err(e) => {
                    warn(&format!(
                        "journal {} cannot be written ({e}); this run is not recorded",
                        p.display()
                    ));
                    None
                }
            },
            None => {
                warn("no state or data directory for the journal; set DLQ_JOURNAL; this run is not recorded");
                None
            }
        };
        let j = Journal(Some(Arc::new(Inner {
            run_id: run_id.clone(),
            action: info.action,
            started: Instant::now(),
            state: Mutex::new(state),
            warn,
        })));
        j.append(
            &json!({
                "type": "run_start",
                "run_id": run_id,
                "started_at": rfc3339(now),
                "user": user(),
                "host": host(),
                "broker": secrets::redact_url(&info.broker),
                "profile": info.profile,
                "command": info.command,
                "queue": info.queue,
                "action": info.action.as_str(),
                "argv": argv,
                "pid": std::process::id(),
            }),
            true,
        );
        j
    }

    pub fn run_id(&self) -> Option<&str> {
        self.0.as_ref().map(|i| i.run_id.as_str())
    }

    /// What a finished message of this run counts as (moved, purged, published).
    pub fn action(&self) -> Option<Action> {
        self.0.as_ref().map(|i| i.action)
    }

    /// Appends one message record; written out with the next flush.
    pub fn record(&self, id: &str, action: Action, to: Option<&str>, error: Option<&str>) {
        let Some(inner) = &self.0 else { return };
        self.append(
            &json!({
                "type": "message",
                "run_id": inner.run_id,
                "id": id,
                "action": action.as_str(),
                "to": to,
                "error": error.map(secrets::scrub),
                "at": rfc3339(SystemTime::now()),
            }),
            false,
        );
    }

    /// Writes out what is buffered; called after each batch.
    pub fn flush(&self) {
        let Some(inner) = &self.0 else { return };
        let mut guard = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(st) = guard.as_mut() {
            if let Err(e) = st.out.flush() {
                let path = st.path.display().to_string();
                *guard = None;
                (inner.warn)(&format!(
                    "journal {path} cannot be written ({e}); the rest of this run is not recorded"
                ));
            } else {
                st.last_flush = Instant::now();
            }
        }
    }

    /// Ends the run: the failures of the summary (they include messages the
    /// backend never reached, such as unknown IDs), then `run_end`.
    pub fn finish(&self, report: Option<&BulkReport>, exit: Exit, error: Option<&str>) {
        let Some(inner) = &self.0 else { return };
        if let Some(r) = report {
            for f in &r.failures {
                self.record(&f.id, Action::Failed, None, Some(&f.error));
            }
        }
        let counts = report.map(|r| {
            json!({
                inner.action.as_str(): r.done,
                "skipped": r.skipped,
                "failed": r.failed,
            })
        });
        self.append(
            &json!({
                "type": "run_end",
                "run_id": inner.run_id,
                "ended_at": rfc3339(SystemTime::now()),
                "elapsed_ms": inner.started.elapsed().as_millis() as u64,
                "counts": counts,
                "interrupted": report.is_some_and(|r| r.interrupted),
                "stopped_by": report.and_then(|r| r.stopped.as_ref().map(|s| s.message.clone())),
                "error": error.map(secrets::scrub),
                "exit_code": exit as i32,
            }),
            true,
        );
    }

    fn append(&self, record: &Value, flush_now: bool) {
        let Some(inner) = &self.0 else { return };
        let mut line = serde_json::to_vec(record).unwrap_or_default();
        line.push(b'\n');
        let mut guard = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(st) = guard.as_mut() else { return };
        let due = flush_now || st.last_flush.elapsed() >= FLUSH_EVERY;
        let result = st
            .out
            .write_all(&line)
            .and_then(|()| if due { st.out.flush() } else { Ok(()) });
        match result {
            Ok(()) if due => st.last_flush = Instant::now(),
            Ok(()) => {}
            Err(e) => {
                let path = st.path.display().to_string();
                *guard = None;
                (inner.warn)(&format!(
                    "journal {path} cannot be written ({e}); the rest of this run is not recorded"
                ));
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(st) = self.state.get_mut().ok().and_then(Option::as_mut) {
            let _ = st.out.flush();
        }
    }
}

fn open(path: &Path) -> std::io::Result<BufWriter<File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    // Large enough for a batch; each record still goes out whole.
    Ok(BufWriter::with_capacity(64 * 1024, file))
}

/// One run as `dlq history` shows it: `run_start` and `run_end` merged, with
/// the message records counted (a killed run has no `run_end`).
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub record: serde_json::Map<String, Value>,
    pub recorded: std::collections::BTreeMap<String, u64>,
}

impl RunSummary {
    pub fn run_id(&self) -> &str {
        self.record
            .get("run_id")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The history record: the run's fields, `ended_at`/`exit_code` null
    /// when it never finished, and the message records counted by action.
    pub fn to_json(&self) -> Value {
        let mut r = self.record.clone();
        r.shift_remove("type");
        for k in ["ended_at", "exit_code", "counts"] {
            r.entry(k).or_insert(Value::Null);
        }
        r.insert(
            "finished".into(),
            json!(self.record.contains_key("exit_code")),
        );
        r.insert("recorded".into(), json!(self.recorded));
        Value::Object(r)
    }
}

/// Reads the journal once, line by line: every run (memory grows with
/// runs, not messages), and with `messages_of`, that run's message records.
/// Lines that are not journal records (a torn last line) are passed over.
pub fn read(
    path: &Path,
    messages_of: Option<&str>,
) -> std::io::Result<(Vec<RunSummary>, Vec<Value>)> {
    use std::io::BufRead;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e),
    };
    let mut runs: Vec<RunSummary> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut messages = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let Ok(Value::Object(rec)) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = rec.get("run_id").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        let kind = rec.get("type").and_then(Value::as_str).unwrap_or("");
        let i = *index.entry(id.clone()).or_insert_with(|| {
            runs.push(RunSummary::default());
            runs.len() - 1
        });
        let run = &mut runs[i];
        match kind {
            "run_start" | "run_end" => {
                for (k, v) in rec {
                    run.record.insert(k, v);
                }
            }
            "message" => {
                let action = rec.get("action").and_then(Value::as_str).unwrap_or("?");
                *run.recorded.entry(action.to_owned()).or_default() += 1;
                run.record.entry("run_id").or_insert(json!(id));
                if messages_of == Some(id.as_str()) {
                    let mut m = rec;
                    m.shift_remove("type");
                    messages.push(Value::Object(m));
                }
            }
            _ => {}
        }
    }
    Ok((runs, messages))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        RunInfo {
            command: "retry-all".into(),
            queue: "orders.dlq".into(),
            broker: "amqp://guest:hunter2@127.0.0.1:5672".into(),
            profile: None,
            action: Action::Moved,
        }
    }

    #[test]
    fn run_ids_sort_by_time_and_differ() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_120);
        let a = new_run_id(t);
        assert!(a.starts_with("20261118T110640120Z-"), "{a}");
        let b = new_run_id(t + Duration::from_millis(1));
        assert!(b > a);
    }

    #[test]
    fn argv_masks_url_passwords_only() {
        let argv = masked_argv(
            [
                "dlq",
                "-b",
                "amqp://u:s3cret-pw@h:5672/%2f",
                "--broker=nats://tok3n@h:4222",
                "--header",
                "k=v",
                "retry-all",
            ]
            .map(String::from),
        );
        assert_eq!(argv[2], "amqp://u:***@h:5672/%2f");
        assert_eq!(argv[3], "--broker=nats://***@h:4222");
        assert_eq!(argv[5], "k=v");
        assert!(!argv.join(" ").contains("s3cret-pw"));
    }

    #[test]
    fn records_round_trip_through_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("journal.ndjson");
        let j = Journal::start(Some(&path), &info(), vec!["dlq".into()], Box::new(|_| {}));
        j.record("a", Action::Moved, Some("orders"), None);
        j.record("b", Action::Skipped, None, Some("already re-driven"));
        j.flush();
        let run = j.run_id().unwrap().to_owned();
        // Before the end the run shows as unfinished, with what it recorded.
        let (runs, msgs) = read(&path, Some(&run)).unwrap();
        assert_eq!(runs.len(), 1);
        let v = runs[0].to_json();
        assert_eq!(v["finished"], false);
        assert_eq!(v["recorded"]["moved"], 1);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0]["id"], "a");
        assert_eq!(msgs[0]["to"], "orders");
        let mut report = BulkReport {
            done: 1,
            skipped: 1,
            ..Default::default()
        };
        report.fail("c", "no such message");
        j.finish(Some(&report), Exit::Partial, None);
        let (runs, msgs) = read(&path, Some(&run)).unwrap();
        let v = runs[0].to_json();
        assert_eq!(v["finished"], true);
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["counts"]["moved"], 1);
        assert_eq!(v["broker"], "amqp://guest:***@127.0.0.1:5672");
        assert_eq!(msgs[2]["action"], "failed");
        assert_eq!(msgs[2]["error"], "no such message");
    }

    #[test]
    fn unwritable_journal_warns_once_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let warned = Arc::new(Mutex::new(Vec::<String>::new()));
        let w = warned.clone();
        let j = Journal::start(
            Some(&blocker.join("journal.ndjson")),
            &info(),
            vec![],
            Box::new(move |m| w.lock().unwrap().push(m.to_owned())),
        );
        j.record("a", Action::Moved, None, None);
        j.flush();
        j.finish(None, Exit::Ok, None);
        assert_eq!(warned.lock().unwrap().len(), 1);
        assert!(warned.lock().unwrap()[0].contains("cannot be written"));
    }

    #[test]
    fn off_records_nothing() {
        let j = Journal::off();
        j.record("a", Action::Moved, None, None);
        j.finish(None, Exit::Ok, None);
        assert!(j.run_id().is_none());
    }
}
