//! What `dlq history` asks of the journal: the newest runs, and the
//! message records of one run.
//!
//! Both start from the index. The newest runs are the greatest run IDs in
//! it (IDs sort by time); each is read from its `run_start` and `run_end`
//! lines, found by their offsets, with its counts from the index. Only a
//! run without a `run_end` (going on, or killed) is read further: its
//! records, from where it started to the end of the files it wrote to. The
//! messages of one run are read from its start to its `run_end`, passing
//! over the records other runs wrote in between, and nothing else. A file
//! an older dlq wrote (no header, so not indexed) is read whole, and only
//! when it can hold what was asked: when fewer runs are indexed than asked
//! for, when it was written to after the oldest of them started, or when
//! the run asked for is not indexed. A run ID the index does not know is
//! also looked for in the files written to since that ID's time. An index
//! that does not match the files (they were pruned while it was read) is
//! rebuilt once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How far a file's modification time may trail the clock that named a run.
const MTIME_SLACK: Duration = Duration::from_secs(2);

use serde_json::{json, Map, Value};

use super::files::{self, Files, Lock};
use super::index::{self, Index, Places};
use super::scan::{self, Kind, Line};

/// One run as `dlq history` shows it: `run_start` and `run_end` merged, with
/// the message records counted (a killed run has no `run_end`).
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub record: Map<String, Value>,
    pub recorded: BTreeMap<String, u64>,
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

    /// Takes in one record of the run (`run_start` or `run_end`).
    fn merge(&mut self, record: Map<String, Value>) {
        for (k, v) in record {
            self.record.insert(k, v);
        }
    }

    fn count(&mut self, action: &str) {
        match self.recorded.get_mut(action) {
            Some(n) => *n += 1,
            None => {
                self.recorded.insert(action.to_owned(), 1);
            }
        }
    }
}

struct JournalFile {
    file: File,
    /// The header's file ID; None for a file an older dlq wrote.
    id: Option<String>,
    modified: Option<SystemTime>,
}

/// The journal's files, opened, with their index.
pub struct View {
    files: Files,
    list: Vec<JournalFile>,
    index: Index,
    rebuilt: bool,
}

impl View {
    /// Opens the journal at `path` (no files: an empty journal). Rebuilds
    /// the index when it does not cover every file.
    pub fn open(path: &Path) -> io::Result<View> {
        let files = Files::new(path);
        let mut v = View {
            list: open_all(&files)?,
            index: Index::load(&files.index())?.unwrap_or_default(),
            files,
            rebuilt: false,
        };
        if !covers(&v.index, &v.list) {
            v.rebuild(false)?;
        }
        Ok(v)
    }

    /// Every journal file, oldest first.
    pub fn paths(&self) -> io::Result<Vec<PathBuf>> {
        self.files.all()
    }

    /// Rebuilds the index from the files: saved when the journal's lock can
    /// be taken (writers wait meanwhile), else kept in memory.
    fn rebuild(&mut self, force: bool) -> io::Result<()> {
        self.rebuilt = true;
        let lock = Lock::open(&self.files.lock()).ok();
        let held = lock.as_ref().and_then(|l| l.exclusive().ok());
        if held.is_some() {
            // Another reader may have rebuilt it, or a writer rotated, meanwhile.
            self.list = open_all(&self.files)?;
            if let Some(i) = Index::load(&self.files.index())? {
                if !force && covers(&i, &self.list) {
                    self.index = i;
                    return Ok(());
                }
            }
        }
        let indexed: Vec<(&str, &File)> = self
            .list
            .iter()
            .filter_map(|f| Some((f.id.as_deref()?, &f.file)))
            .collect();
        let entries = index::build(&indexed)?;
        if held.is_some() {
            let _ = index::write(&self.files, &entries);
        }
        self.index = Index::from_entries(entries);
        Ok(())
    }

    fn file(&self, id: &str) -> Option<&File> {
        self.list
            .iter()
            .find(|f| f.id.as_deref() == Some(id))
            .map(|f| &f.file)
    }

    /// The run's places, when any of them is in a file that is still there.
    fn places(&self, run_id: &str) -> Option<&Places> {
        self.index
            .runs
            .get(run_id)
            .filter(|p| p.files().any(|f| self.file(f).is_some()))
    }

    /// The newest runs first, at most `limit`.
    pub fn runs(&mut self, limit: Option<usize>) -> io::Result<Vec<RunSummary>> {
        match self.try_runs(limit)? {
            Some(runs) => Ok(runs),
            None if !self.rebuilt => {
                self.rebuild(true)?;
                self.runs(limit)
            }
            None => Err(stale()),
        }
    }

    fn try_runs(&self, limit: Option<usize>) -> io::Result<Option<Vec<RunSummary>>> {
        let mut ids: Vec<&str> = self
            .index
            .runs
            .keys()
            .map(String::as_str)
            .filter(|id| self.places(id).is_some())
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let mut older = if self.older_files_needed(&ids, limit) {
            self.scan_older_runs()?
        } else {
            BTreeMap::new()
        };
        let mut all: Vec<String> = ids
            .iter()
            .map(|s| s.to_string())
            .chain(older.keys().cloned())
            .collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        all.dedup();
        if let Some(n) = limit {
            all.truncate(n);
        }
        let mut out = Vec::with_capacity(all.len());
        for id in all {
            let mut run = match self.places(&id) {
                Some(p) => match self.summary(&id, p)? {
                    Some(s) => s,
                    None => return Ok(None),
                },
                None => RunSummary::default(),
            };
            if let Some(o) = older.remove(&id) {
                for (k, v) in o.record {
                    run.record.entry(k).or_insert(v);
                }
                for (a, n) in o.recorded {
                    *run.recorded.entry(a).or_default() += n;
                }
            }
            run.record.entry("run_id").or_insert(json!(id));
            out.push(run);
        }
        Ok(Some(out))
    }

    /// Whether the files an older dlq wrote can hold one of the runs asked for.
    fn older_files_needed(&self, newest: &[&str], limit: Option<usize>) -> bool {
        let older: Vec<&JournalFile> = self.list.iter().filter(|f| f.id.is_none()).collect();
        if older.is_empty() {
            return false;
        }
        let Some(n) = limit else { return true };
        let Some(oldest_shown) = newest.get(n - 1) else {
            return true;
        };
        // A run that started later than the oldest shown was written later.
        match files::time_of(oldest_shown) {
            Some(t) => older.iter().any(|f| f.modified.is_none_or(|m| m >= t)),
            None => true,
        }
    }

    /// One indexed run; None when the index does not match the files.
    fn summary(&self, run_id: &str, places: &Places) -> io::Result<Option<RunSummary>> {
        let mut run = RunSummary::default();
        if let Some((file, p)) = places
            .start
            .as_ref()
            .and_then(|p| Some((self.file(&p.file)?, p)))
        {
            match record_at(file, p.offset, Kind::RunStart, run_id)? {
                Some(r) => run.merge(r),
                None => return Ok(None),
            }
        }
        let end = places
            .end
            .as_ref()
            .and_then(|p| Some((self.file(&p.file)?, p)));
        if let (Some((file, p)), Some(recorded)) = (end, &places.recorded) {
            match record_at(file, p.offset, Kind::RunEnd, run_id)? {
                Some(r) => run.merge(r),
                None => return Ok(None),
            }
            run.recorded = recorded.clone();
            return Ok(Some(run));
        }
        // No run_end indexed: the run goes on, or was killed. Count what it wrote.
        self.each_record(run_id, places, |line| {
            match line.kind {
                Kind::Message => run.count(line.action),
                Kind::RunStart | Kind::RunEnd => {
                    if let Some(r) = line.json() {
                        run.merge(r);
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        })?;
        Ok(Some(run))
    }

    /// Calls `each` for every record of an indexed run, in the order written.
    fn each_record(
        &self,
        run_id: &str,
        places: &Places,
        mut each: impl FnMut(&Line) -> ControlFlow<()>,
    ) -> io::Result<()> {
        for f in &self.list {
            let Some(span) = f.id.as_deref().and_then(|id| places.span(id)) else {
                continue;
            };
            let mut stopped = false;
            scan::lines(
                &f.file,
                span.0,
                span.1,
                |_, raw, whole| match scan::classify(raw, whole) {
                    Some(l) if l.run_id == run_id && l.kind != Kind::Header => {
                        let flow = each(&l);
                        stopped = flow.is_break();
                        flow
                    }
                    _ => ControlFlow::Continue(()),
                },
            )?;
            if stopped {
                break;
            }
        }
        Ok(())
    }

    /// Calls `each` with the message records of run `run_id` in the order
    /// written, until it says stop. False when there is no such run.
    pub fn messages(
        &mut self,
        run_id: &str,
        mut each: impl FnMut(Value) -> ControlFlow<()>,
    ) -> io::Result<bool> {
        if let Some(places) = self.places(run_id) {
            let valid = match places.start.as_ref() {
                Some(p) => match self.file(&p.file) {
                    Some(f) => record_at(f, p.offset, Kind::RunStart, run_id)?.is_some(),
                    None => true,
                },
                None => true,
            };
            if !valid {
                if self.rebuilt {
                    return Err(stale());
                }
                self.rebuild(true)?;
                return self.messages(run_id, each);
            }
            self.each_record(run_id, places, |line| message(line, &mut each))?;
            return Ok(true);
        }
        // Not indexed: written by an older dlq, or by a run killed between
        // its first record and its index entry. Only files written to after
        // the run started can hold it (a file's time lags the clock by a tick).
        let started = files::time_of(run_id);
        let may_hold = |f: &&JournalFile| match (&f.id, started, f.modified) {
            (None, _, _) => true,
            (Some(_), Some(t), Some(m)) => m + MTIME_SLACK >= t,
            (Some(_), _, _) => false,
        };
        let mut found = false;
        let mut stopped = false;
        for f in self.list.iter().filter(may_hold) {
            scan::lines(&f.file, 0, None, |_, raw, whole| {
                match scan::classify(raw, whole) {
                    Some(l) if l.run_id == run_id => {
                        found = true;
                        let flow = message(&l, &mut each);
                        stopped = flow.is_break();
                        flow
                    }
                    _ => ControlFlow::Continue(()),
                }
            })?;
            if stopped {
                break;
            }
        }
        Ok(found)
    }

    /// Every run in the files an older dlq wrote, read whole (memory grows
    /// with runs, not messages).
    fn scan_older_runs(&self) -> io::Result<BTreeMap<String, RunSummary>> {
        let mut runs: HashMap<String, RunSummary> = HashMap::new();
        for f in self.list.iter().filter(|f| f.id.is_none()) {
            scan::lines(&f.file, 0, None, |_, raw, whole| {
                let Some(line) = scan::classify(raw, whole) else {
                    return ControlFlow::Continue(());
                };
                if matches!(line.kind, Kind::Header | Kind::Other) {
                    return ControlFlow::Continue(());
                }
                let run = match runs.get_mut(line.run_id) {
                    Some(r) => r,
                    None => runs.entry(line.run_id.to_owned()).or_default(),
                };
                match line.kind {
                    Kind::Message => run.count(line.action),
                    _ => {
                        if let Some(r) = line.json() {
                            run.merge(r);
                        }
                    }
                }
                ControlFlow::Continue(())
            })?;
        }
        Ok(runs.into_iter().collect())
    }
}

/// A message record as `history RUN_ID` prints it.
fn message(line: &Line, each: &mut impl FnMut(Value) -> ControlFlow<()>) -> ControlFlow<()> {
    if line.kind != Kind::Message {
        return ControlFlow::Continue(());
    }
    match line.json() {
        Some(mut m) => {
            m.shift_remove("type");
            each(Value::Object(m))
        }
        None => ControlFlow::Continue(()),
    }
}

/// The record of `kind` for `run_id` that starts at `offset`, if it is there.
fn record_at(
    file: &File,
    offset: u64,
    kind: Kind,
    run_id: &str,
) -> io::Result<Option<Map<String, Value>>> {
    let Some(raw) = scan::line_at(file, offset)? else {
        return Ok(None);
    };
    Ok(scan::classify(&raw, true)
        .filter(|l| l.kind == kind && l.run_id == run_id)
        .and_then(|l| l.json()))
}

fn stale() -> io::Error {
    io::Error::other("the journal changed while it was read; try again")
}

/// Whether the index covers every journal file that has a header.
fn covers(index: &Index, list: &[JournalFile]) -> bool {
    let ids: HashSet<&str> = list.iter().filter_map(|f| f.id.as_deref()).collect();
    ids.iter().all(|id| index.covered.contains(*id))
}

/// Opens every journal file, oldest first (one renamed away meanwhile is
/// passed over; its records are in the file it became).
fn open_all(files: &Files) -> io::Result<Vec<JournalFile>> {
    loop {
        let paths = files.all()?;
        let opened = open_paths(&paths)?;
        // A rotation between listing and opening would hide the file it set aside.
        if files.all()? == paths {
            return Ok(opened);
        }
    }
}

fn open_paths(paths: &[PathBuf]) -> io::Result<Vec<JournalFile>> {
    let mut out = Vec::new();
    for path in paths {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            continue;
        }
        out.push(JournalFile {
            id: files::read_header(&file)?,
            modified: meta.modified().ok(),
            file,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Action, Journal, Rotation, RunInfo};

    fn start(path: &Path, max_bytes: u64) -> Journal {
        let info = RunInfo {
            command: "retry-all".into(),
            queue: "q".into(),
            broker: "amqp://h".into(),
            profile: None,
            action: Action::Moved,
        };
        let rotation = Rotation {
            max_bytes,
            keep: 100,
        };
        Journal::start_with(
            Some(path),
            &info,
            vec![],
            Box::new(|w| panic!("{w}")),
            rotation,
        )
    }

    /// What a reader that parses every line of every file finds.
    fn whole_read(path: &Path) -> (BTreeMap<String, RunSummary>, BTreeMap<String, Vec<Value>>) {
        let mut runs: BTreeMap<String, RunSummary> = BTreeMap::new();
        let mut msgs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for p in Files::new(path).all().unwrap() {
            for line in std::fs::read_to_string(p).unwrap().lines() {
                let Ok(Value::Object(mut r)) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                let Some(id) = r.get("run_id").and_then(Value::as_str).map(str::to_owned) else {
                    continue;
                };
                let run = runs.entry(id.clone()).or_default();
                if r["type"] == "message" {
                    run.count(r["action"].as_str().unwrap());
                    r.shift_remove("type");
                    msgs.entry(id).or_default().push(Value::Object(r));
                } else {
                    run.merge(r);
                }
            }
        }
        (runs, msgs)
    }

    fn check_against_whole_read(path: &Path) {
        let (want_runs, want_msgs) = whole_read(path);
        let mut view = View::open(path).unwrap();
        let got = view.runs(None).unwrap();
        let got_ids: Vec<&str> = got.iter().map(RunSummary::run_id).collect();
        let mut want_ids: Vec<&str> = want_runs.keys().map(String::as_str).collect();
        want_ids.reverse();
        assert_eq!(got_ids, want_ids, "newest first");
        for r in &got {
            assert_eq!(r.to_json(), want_runs[r.run_id()].to_json());
            let mut msgs = Vec::new();
            assert!(view
                .messages(r.run_id(), |m| {
                    msgs.push(m);
                    ControlFlow::Continue(())
                })
                .unwrap());
            assert_eq!(&msgs, want_msgs.get(r.run_id()).unwrap_or(&Vec::new()));
        }
        let two = view.runs(Some(2)).unwrap();
        assert_eq!(two.len(), 2.min(got.len()));
        assert_eq!(
            two.first().map(RunSummary::run_id),
            got_ids.first().copied()
        );
    }

    #[test]
    fn runs_written_at_once_across_rotations_read_as_a_whole_read_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let a = start(&path, 4000);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = start(&path, 4000);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let killed = start(&path, 4000);
        for i in 0..300 {
            a.record(&format!("a{i}"), Action::Moved, Some("q"), None);
            if i % 2 == 0 {
                b.record(&format!("b{i}"), Action::Skipped, None, Some("why"));
            }
            if i < 50 {
                killed.record(&format!("k{i}"), Action::Moved, Some("q"), None);
            }
            if i % 7 == 0 {
                a.flush();
                b.flush();
                killed.flush();
            }
        }
        a.finish(None, crate::exit::Exit::Ok, None);
        b.finish(None, crate::exit::Exit::Ok, None);
        drop(killed);
        assert!(Files::new(&path).set_aside().unwrap().len() > 5, "rotated");
        check_against_whole_read(&path);
        let mut view = View::open(&path).unwrap();
        let killed = view.runs(Some(1)).unwrap().remove(0);
        assert_eq!(killed.to_json()["finished"], false);
        assert_eq!(killed.recorded["moved"], 50);

        // Without its index, or with one that no longer fits the files, the
        // same answers.
        std::fs::remove_file(Files::new(&path).index()).unwrap();
        check_against_whole_read(&path);
        assert!(Files::new(&path).index().exists(), "rebuilt and saved");
        let index = Files::new(&path).index();
        let text = std::fs::read_to_string(&index).unwrap();
        std::fs::write(&index, text.replace("\"start\":", "\"start\":1")).unwrap();
        check_against_whole_read(&path);
    }

    #[test]
    fn files_of_an_older_dlq_are_read_whole_beside_indexed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let old = concat!(
            r#"{"type":"run_start","run_id":"20200101T000000000Z-aaaa","command":"purge"}"#,
            "\n",
            r#"{"type":"message","run_id":"20200101T000000000Z-aaaa","id":"7","action":"purged"}"#,
            "\n",
        );
        std::fs::write(&path, old).unwrap();
        #[cfg(unix)]
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let j = start(&path, 1 << 20);
        j.record("x", Action::Moved, None, None);
        j.finish(None, crate::exit::Exit::Ok, None);
        assert_eq!(
            Files::new(&path).set_aside().unwrap().len(),
            1,
            "set aside whole"
        );
        check_against_whole_read(&path);
        let mut view = View::open(&path).unwrap();
        assert_eq!(view.runs(Some(1)).unwrap()[0].run_id(), j.run_id().unwrap());
        let mut ids = Vec::new();
        view.messages("20200101T000000000Z-aaaa", |m| {
            ids.push(m["id"].clone());
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(ids, vec![json!("7")]);
        assert!(!view
            .messages("nope", |_| ControlFlow::Continue(()))
            .unwrap());
    }

    #[test]
    fn a_run_missing_from_the_index_is_still_found_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let j = start(&path, 1 << 20);
        j.finish(None, crate::exit::Exit::Ok, None);
        // A run killed between its first record and its index entry.
        let id = crate::journal::new_run_id(SystemTime::now());
        let mut f = files::open_append(&path).unwrap();
        std::io::Write::write_all(
            &mut f,
            format!(
                "{{\"type\":\"run_start\",\"run_id\":\"{id}\"}}\n{{\"type\":\"message\",\"run_id\":\"{id}\",\"id\":\"m\",\"action\":\"moved\"}}\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut view = View::open(&path).unwrap();
        let mut n = 0;
        assert!(view
            .messages(&id, |_| {
                n += 1;
                ControlFlow::Continue(())
            })
            .unwrap());
        assert_eq!(n, 1);
    }
}
