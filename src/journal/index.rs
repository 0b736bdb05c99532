//! The index of runs: where each run's records are, so that `history` reads
//! a few lines instead of the whole journal.
//!
//! One NDJSON entry a line, appended by the writers as they go (under the
//! journal's shared lock, in the same turn as the records they place):
//! `{"file":F,"open":T}` when journal file F is created, `{"file":F,"run":R,
//! "start":N}` for run R's `run_start` at byte N of F, `{"file":F,"run":R,
//! "from":N}` when R goes on writing in F after a rotation (its records
//! there are at N or later), and `{"file":F,"run":R,"end":N,"recorded":{..}}`
//! for its `run_end`, with its message records counted by action. Files are
//! named by the ID in their header, which a rename keeps.
//!
//! The index is a cache of the journal, never the only copy of anything.
//! It covers a file only when it holds that file's `open` entry; a file it
//! does not cover (the index was lost, or the files were written by hand)
//! is scanned and the whole index rebuilt. A writer that cannot append to
//! the index removes it, so that it is rebuilt rather than trusted when
//! incomplete.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::files::{self, Files};
use super::scan::{self, Kind};

/// What a run recorded, by action: `{"moved": 3, "failed": 1}`.
pub type Recorded = BTreeMap<String, u64>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Recorded>,
}

impl Entry {
    pub fn open(file: &str, created_at: &str) -> Self {
        Entry {
            file: file.into(),
            open: Some(created_at.into()),
            ..Default::default()
        }
    }

    pub fn start(file: &str, run: &str, offset: u64) -> Self {
        Entry {
            file: file.into(),
            run: Some(run.into()),
            start: Some(offset),
            ..Default::default()
        }
    }

    pub fn from(file: &str, run: &str, offset: u64) -> Self {
        Entry {
            file: file.into(),
            run: Some(run.into()),
            from: Some(offset),
            ..Default::default()
        }
    }

    pub fn end(file: &str, run: &str, offset: u64, recorded: Recorded) -> Self {
        Entry {
            file: file.into(),
            run: Some(run.into()),
            end: Some(offset),
            recorded: Some(recorded),
            ..Default::default()
        }
    }
}

/// A byte offset in a journal file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub offset: u64,
}

/// Where one run's records are.
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub start: Option<Place>,
    pub from: Vec<Place>,
    pub end: Option<Place>,
    pub recorded: Option<Recorded>,
}

impl Places {
    /// The files the run wrote to.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.start
            .iter()
            .chain(&self.from)
            .chain(&self.end)
            .map(|p| p.file.as_str())
    }

    /// Where its records in `file` begin (at or before the first) and end
    /// (its `run_end`, when it is in that file).
    pub fn span(&self, file: &str) -> Option<(u64, Option<u64>)> {
        let begin = self
            .start
            .iter()
            .chain(&self.from)
            .filter(|p| p.file == file)
            .map(|p| p.offset)
            .min();
        let end = self
            .end
            .as_ref()
            .filter(|p| p.file == file)
            .map(|p| p.offset);
        match (begin, end) {
            (Some(b), e) => Some((b, e)),
            (None, Some(e)) => Some((0, Some(e))),
            (None, None) => None,
        }
    }
}

/// The index as read: the files it covers and the places of every run.
#[derive(Debug, Default)]
pub struct Index {
    pub covered: HashSet<String>,
    pub runs: HashMap<String, Places>,
}

impl Index {
    pub fn add(&mut self, e: Entry) {
        let Entry {
            file,
            run,
            open,
            start,
            from,
            end,
            recorded,
        } = e;
        if open.is_some() {
            self.covered.insert(file.clone());
        }
        let Some(run) = run else { return };
        let p = self.runs.entry(run).or_default();
        let at = |offset| Place {
            file: file.clone(),
            offset,
        };
        if let Some(o) = start {
            p.start.get_or_insert(at(o));
        }
        if let Some(o) = from {
            if !p.from.contains(&at(o)) {
                p.from.push(at(o));
            }
        }
        if let Some(o) = end {
            if p.end.is_none() {
                p.end = Some(at(o));
                p.recorded = recorded;
            }
        }
    }

    /// Reads the index at `path`; None when there is none.
    pub fn load(path: &Path) -> io::Result<Option<Index>> {
        Ok(read_entries(path)?.map(|entries| {
            let mut index = Index::default();
            entries.into_iter().for_each(|e| index.add(e));
            index
        }))
    }

    pub fn from_entries(entries: Vec<Entry>) -> Index {
        let mut index = Index::default();
        entries.into_iter().for_each(|e| index.add(e));
        index
    }
}

/// Every entry of the index at `path` (lines that are not entries are
/// passed over); None when there is no index.
pub fn read_entries(path: &Path) -> io::Result<Option<Vec<Entry>>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(
        text.split(|&b| b == b'\n')
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect(),
    ))
}

fn lines_of(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        if serde_json::to_writer(&mut out, e).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

/// Appends entries in one write. Hold the journal's lock.
pub fn append(path: &Path, entries: &[Entry]) -> io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    files::open_append(path)?.write_all(&lines_of(entries))
}

/// Replaces the whole index. Hold the journal's exclusive lock.
pub fn write(files: &Files, entries: &[Entry]) -> io::Result<()> {
    let text = lines_of(entries);
    files::replace(files, &files.index(), |out| out.write_all(&text))
}

/// The entries for journal files scanned whole, oldest first: each with
/// its header's file ID. A run's counts go on across files.
pub fn build(journal: &[(&str, &File)]) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut recorded: HashMap<String, Recorded> = HashMap::new();
    for (fid, file) in journal {
        entries.push(Entry::open(fid, ""));
        let mut here: HashSet<String> = HashSet::new();
        let mut last: Option<String> = None;
        scan::lines(file, 0, None, |offset, raw, whole| {
            let Some(line) = scan::classify(raw, whole) else {
                return ControlFlow::Continue(());
            };
            let offset = offset + line.skip as u64;
            let run = line.run_id;
            if matches!(line.kind, Kind::Header | Kind::Other) {
                return ControlFlow::Continue(());
            }
            // Most lines belong to the run of the line before.
            let same = last.as_deref() == Some(run);
            if !same && !here.contains(run) {
                here.insert(run.to_owned());
                entries.push(if line.kind == Kind::RunStart {
                    Entry::start(fid, run, offset)
                } else {
                    Entry::from(fid, run, offset)
                });
            } else if line.kind == Kind::RunStart {
                entries.push(Entry::start(fid, run, offset));
            }
            if !same {
                last = Some(run.to_owned());
            }
            match line.kind {
                Kind::Message => {
                    let counts = match recorded.get_mut(run) {
                        Some(c) => c,
                        None => recorded.entry(run.to_owned()).or_default(),
                    };
                    match counts.get_mut(line.action) {
                        Some(n) => *n += 1,
                        None => {
                            counts.insert(line.action.to_owned(), 1);
                        }
                    }
                }
                Kind::RunEnd => entries.push(Entry::end(
                    fid,
                    run,
                    offset,
                    recorded.remove(run).unwrap_or_default(),
                )),
                _ => {}
            }
            ControlFlow::Continue(())
        })?;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_merge_into_places() {
        let mut i = Index::default();
        i.add(Entry::open("F1", "t"));
        i.add(Entry::start("F1", "R", 10));
        i.add(Entry::from("F2", "R", 0));
        i.add(Entry::from("F2", "R", 0));
        i.add(Entry::end("F2", "R", 99, [("moved".to_owned(), 3)].into()));
        assert!(i.covered.contains("F1") && !i.covered.contains("F2"));
        let p = &i.runs["R"];
        assert_eq!(p.from.len(), 1, "a repeated entry counts once");
        assert_eq!(p.span("F1"), Some((10, None)));
        assert_eq!(p.span("F2"), Some((0, Some(99))));
        assert_eq!(p.span("F3"), None);
        assert_eq!(p.recorded.as_ref().unwrap()["moved"], 3);
        let line = String::from_utf8(lines_of(&[Entry::start("F1", "R", 10)])).unwrap();
        assert_eq!(line, "{\"file\":\"F1\",\"run\":\"R\",\"start\":10}\n");
    }

    #[test]
    fn build_places_runs_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let start = r#"{"type":"run_start","run_id":"R","command":"purge"}"#;
        let msg = r#"{"type":"message","run_id":"R","id":"1","action":"purged"}"#;
        let end = r#"{"type":"run_end","run_id":"R","exit_code":0}"#;
        let header = r#"{"type":"journal","file_id":"A"}"#;
        std::fs::write(&a, format!("{header}\n{start}\n{msg}\n")).unwrap();
        std::fs::write(&b, format!("{msg}\n{msg}\n{end}\n")).unwrap();
        let (fa, fb) = (File::open(&a).unwrap(), File::open(&b).unwrap());
        let index = Index::from_entries(build(&[("A", &fa), ("B", &fb)]).unwrap());
        let p = &index.runs["R"];
        let h = header.len() as u64 + 1;
        assert_eq!(
            p.start,
            Some(Place {
                file: "A".into(),
                offset: h
            })
        );
        assert_eq!(
            p.from,
            vec![Place {
                file: "B".into(),
                offset: 0
            }]
        );
        let e = 2 * (msg.len() as u64 + 1);
        assert_eq!(
            p.end,
            Some(Place {
                file: "B".into(),
                offset: e
            })
        );
        assert_eq!(p.recorded.as_ref().unwrap()["purged"], 3);
        assert!(index.covered.contains("A") && index.covered.contains("B"));
    }
}
