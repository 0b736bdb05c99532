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
//! code). A run without `run_end` was killed. A journal that cannot be
//! written is one warning, then silence: it never stops a run.
//!
//! The files are private (`files`), written whole records at a time and
//! rotated by size (`writer`), placed by an index of runs (`index`), read
//! without parsing most lines (`scan`), queried by `dlq history` (`read`)
//! and pruned by age (`prune`).

mod files;
mod index;
mod prune;
mod read;
mod scan;
mod writer;

pub use prune::{prune, Pruned};
pub use read::{RunSummary, View};

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
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

/// One warning naming the journal files at `path` that other users can
/// read, with the fix; None when they are private.
pub fn privacy_warning(path: &Path) -> Option<String> {
    let all = files::Files::new(path).all().unwrap_or_default();
    files::privacy_warning(&files::readable_by_others(&all))
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

/// How big the journal may grow: it is set aside once it reaches
/// `max_bytes`, and `keep` set-aside files are kept (config keys
/// `journal_max_bytes` and `journal_keep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_bytes: u64,
    pub keep: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 64 << 20,
            keep: 3,
        }
    }
}

struct State {
    sink: writer::Sink,
    /// Whole records not yet written, and where the run's own are in it.
    buf: Vec<u8>,
    marks: writer::Marks,
    last_flush: Instant,
    /// The message records of this run, by action.
    recorded: BTreeMap<String, u64>,
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
/// Records are written out at the latest when this much is buffered.
const BUFFER: usize = 64 * 1024;

/// Which of the run's own records a line is, for the index.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    Start,
    End,
}

impl Journal {
    /// A journal that records nothing.
    pub fn off() -> Self {
        Journal(None)
    }

    /// Starts a run in the journal at `path` with the default rotation.
    pub fn start(
        path: Option<&Path>,
        info: &RunInfo,
        argv: Vec<String>,
        warn: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Self {
        Self::start_with(path, info, argv, warn, Rotation::default())
    }

    /// Starts a run in the journal at `path`: writes its `run_start` record.
    /// When the file cannot be written, `warn` is called once and the run
    /// goes on unrecorded; it is also told of journal files others can read.
    pub fn start_with(
        path: Option<&Path>,
        info: &RunInfo,
        argv: Vec<String>,
        warn: Box<dyn Fn(&str) + Send + Sync>,
        rotation: Rotation,
    ) -> Self {
        let now = SystemTime::now();
        let run_id = new_run_id(now);
        #[cfg(unix)]
        // SAFETY: setting a signal to be ignored. Under `ulimit -f` a write
        // past the limit then fails (a warning) instead of killing the run.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        let state = match path {
            Some(p) => match writer::Sink::open(p, &run_id, rotation) {
                Ok((sink, private)) => {
                    if let Some(w) = private {
                        warn(&w);
                    }
                    Some(State {
                        sink,
                        buf: Vec::with_capacity(BUFFER),
                        marks: writer::Marks::default(),
                        last_flush: Instant::now(),
                        recorded: BTreeMap::new(),
                    })
                }
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
            Mark::Start,
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
            Mark::None,
        );
    }

    /// Writes out what is buffered; called after each batch.
    pub fn flush(&self) {
        let Some(inner) = &self.0 else { return };
        let mut guard = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        write_out(inner, &mut guard);
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
            Mark::End,
        );
    }

    fn append(&self, record: &Value, mark: Mark) {
        let Some(inner) = &self.0 else { return };
        let mut line = serde_json::to_vec(record).unwrap_or_default();
        line.push(b'\n');
        let mut guard = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(st) = guard.as_mut() else { return };
        if st.buf.len() + line.len() > BUFFER {
            write_out(inner, &mut guard);
        }
        let Some(st) = guard.as_mut() else { return };
        if mark == Mark::None {
            if let Some(a) = record.get("action").and_then(Value::as_str) {
                *st.recorded.entry(a.to_owned()).or_default() += 1;
            }
        }
        match mark {
            Mark::Start => st.marks.start = Some(st.buf.len()),
            Mark::End => st.marks.end = Some((st.buf.len(), st.recorded.clone())),
            Mark::None => {}
        }
        st.buf.extend_from_slice(&line);
        if mark != Mark::None || st.last_flush.elapsed() >= FLUSH_EVERY {
            write_out(inner, &mut guard);
        }
    }
}

/// Writes the buffered records; on failure says so once and stops recording.
fn write_out(inner: &Inner, guard: &mut Option<State>) {
    let Some(st) = guard.as_mut() else { return };
    let marks = std::mem::take(&mut st.marks);
    let result = st.sink.write(&st.buf, marks, inner.warn.as_ref());
    st.buf.clear();
    st.last_flush = Instant::now();
    if let Err(e) = result {
        let path = st.sink.path().display().to_string();
        *guard = None;
        (inner.warn)(&format!(
            "journal {path} cannot be written ({e}); the rest of this run is not recorded"
        ));
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(guard) = self.state.get_mut() {
            if let Some(st) = guard.as_mut() {
                let _ = st
                    .sink
                    .write(&st.buf, std::mem::take(&mut st.marks), &|_| {});
            }
        }
    }
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

    /// The runs and the message records of `run`, as `history` reads them.
    fn read(path: &Path, run: &str) -> (Vec<RunSummary>, Vec<Value>) {
        let mut view = View::open(path).unwrap();
        let runs = view.runs(None).unwrap();
        let mut msgs = Vec::new();
        view.messages(run, |m| {
            msgs.push(m);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        (runs, msgs)
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
        let (runs, msgs) = read(&path, &run);
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
        let (runs, msgs) = read(&path, &run);
        let v = runs[0].to_json();
        assert_eq!(v["finished"], true);
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["counts"]["moved"], 1);
        assert_eq!(
            v["recorded"],
            json!({"failed": 1, "moved": 1, "skipped": 1})
        );
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
