//! `dlq history --prune --older-than DURATION`: removes the runs that
//! started before a time, with all their records.
//!
//! A run's age is read from its ID (its start time), so a record is judged
//! without being parsed. Each file is read once to see what it holds; a
//! file without old runs is left as it is, a set-aside file with nothing
//! else is removed, and any other is rewritten without them (a scratch file
//! renamed over it). Lines that are not records are kept. All of it happens
//! under the journal's exclusive lock: runs writing meanwhile wait, then
//! find their file renamed and open it again. The index is rebuilt at the
//! end, since the offsets in rewritten files changed.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::files::{self, Files, Lock};
use super::index;
use super::scan;

/// What a prune removed (or, in a dry run, would remove).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub pruned_runs: u64,
    pub pruned_records: u64,
    pub kept_runs: u64,
    pub files_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub dry_run: bool,
}

/// Removes the runs of the journal at `path` that started before `cutoff`.
pub fn prune(path: &Path, cutoff: SystemTime, dry_run: bool) -> io::Result<Pruned> {
    let files = Files::new(path);
    let mut done = Pruned {
        dry_run,
        ..Default::default()
    };
    if files.all()?.is_empty() {
        return Ok(done);
    }
    let lock = if dry_run {
        None
    } else {
        Some(Lock::open(&files.lock())?)
    };
    let _held = lock.as_ref().map(Lock::exclusive).transpose()?;
    let old = |run_id: &str| files::time_of(run_id).is_some_and(|t| t < cutoff);
    let mut pruned: HashSet<String> = HashSet::new();
    let mut kept: HashSet<String> = HashSet::new();
    let mut changed = false;
    for p in files.all()? {
        let file = File::open(&p)?;
        let len = file.metadata()?.len();
        done.bytes_before += len;
        let (mut records, mut bytes, mut keeps) = (0u64, 0u64, false);
        scan::lines(&file, 0, None, |_, raw, whole| {
            match scan::classify(raw, whole) {
                Some(l) if old(l.run_id) => {
                    records += 1;
                    bytes += raw.len() as u64 + u64::from(whole);
                    if !pruned.contains(l.run_id) {
                        pruned.insert(l.run_id.to_owned());
                    }
                }
                Some(l) if l.kind == scan::Kind::Header => {}
                Some(l) => {
                    keeps = true;
                    if !kept.contains(l.run_id) {
                        kept.insert(l.run_id.to_owned());
                    }
                }
                None => keeps |= !raw.is_empty(),
            }
            ControlFlow::Continue(())
        })?;
        done.pruned_records += records;
        let removed = records > 0 && !keeps && p != files.path();
        if removed {
            done.files_removed += 1;
        } else {
            done.bytes_after += len - bytes;
        }
        if records == 0 || dry_run {
            continue;
        }
        changed = true;
        if removed {
            std::fs::remove_file(&p)?;
        } else {
            files::replace(&files, &p, |out| copy_kept(&file, out, &old))?;
        }
    }
    kept.retain(|id| !pruned.contains(id));
    done.pruned_runs = pruned.len() as u64;
    done.kept_runs = kept.len() as u64;
    if changed {
        reindex(&files)?;
    }
    Ok(done)
}

/// Copies every line of `file` but the records of old runs.
fn copy_kept(file: &File, out: &mut impl Write, old: &impl Fn(&str) -> bool) -> io::Result<()> {
    let mut result = Ok(());
    scan::lines(file, 0, None, |_, raw, whole| {
        if scan::classify(raw, whole).is_some_and(|l| old(l.run_id)) {
            return ControlFlow::Continue(());
        }
        result = out
            .write_all(raw)
            .and_then(|()| if whole { out.write_all(b"\n") } else { Ok(()) });
        if result.is_err() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    result
}

/// Rebuilds the index from the files as they are now.
fn reindex(files: &Files) -> io::Result<()> {
    let mut opened = Vec::new();
    for p in files.all()? {
        let f = File::open(&p)?;
        if let Some(id) = files::read_header(&f)? {
            opened.push((id, f));
        }
    }
    let list: Vec<(&str, &File)> = opened.iter().map(|(id, f)| (id.as_str(), f)).collect();
    index::write(files, &index::build(&list)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::View;
    use std::time::Duration;

    fn run(id: &str, messages: usize) -> String {
        let mut s =
            format!("{{\"type\":\"run_start\",\"run_id\":\"{id}\",\"command\":\"purge\"}}\n");
        for i in 0..messages {
            s += &format!("{{\"type\":\"message\",\"run_id\":\"{id}\",\"id\":\"{i}\",\"action\":\"purged\"}}\n");
        }
        s + &format!("{{\"type\":\"run_end\",\"run_id\":\"{id}\",\"exit_code\":0}}\n")
    }

    fn ids(path: &Path) -> Vec<String> {
        let mut view = View::open(path).unwrap();
        let runs = view.runs(None).unwrap();
        runs.iter().map(|r| r.run_id().to_owned()).collect()
    }

    #[test]
    fn old_runs_go_with_all_their_records_and_the_rest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let files = Files::new(&path);
        let header =
            |id: &str| String::from_utf8(files::header_line(id, SystemTime::now())).unwrap();
        let (old1, old2) = ("20200101T000000000Z-0001", "20200102T000000000Z-0002");
        let (new1, new2) = ("20300101T000000000Z-0003", "20300102T000000000Z-0004");
        // A set-aside file with old runs only, one with an old run going on
        // into the journal, and a journal that also holds newer runs.
        let only_old = path.with_file_name("journal.ndjson.20200101T120000000Z");
        let mixed = path.with_file_name("journal.ndjson.20200103T000000000Z");
        std::fs::write(&only_old, header("A") + &run(old1, 3)).unwrap();
        std::fs::write(&mixed, header("B") + &run(new1, 2)).unwrap();
        let old2_tail = run(old2, 4);
        std::fs::write(
            &path,
            header("C") + &old2_tail + &run(new2, 1) + "not a record\n",
        )
        .unwrap();
        assert_eq!(ids(&path), vec![new2, new1, old2, old1]);
        let before: Vec<_> = files
            .all()
            .unwrap()
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();

        let cutoff = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let dry = prune(&path, cutoff, true).unwrap();
        let after: Vec<_> = files
            .all()
            .unwrap()
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        assert_eq!(before, after, "a dry run changes nothing");
        let done = prune(&path, cutoff, false).unwrap();
        assert_eq!(
            dry,
            Pruned {
                dry_run: true,
                ..done.clone()
            }
        );
        assert_eq!((done.pruned_runs, done.kept_runs), (2, 2));
        assert_eq!(done.pruned_records, 5 + 6);
        assert_eq!(done.files_removed, 1);
        assert!(!only_old.exists());
        assert_eq!(ids(&path), vec![new2, new1]);
        let journal = std::fs::read_to_string(&path).unwrap();
        assert!(
            journal.starts_with(&header("C")[..30]),
            "header kept: {journal}"
        );
        assert!(
            !journal.contains(old2) && journal.contains(new2) && journal.contains("not a record")
        );
        assert_eq!(
            done.bytes_before - done.bytes_after,
            (header("A").len() + run(old1, 3).len() + old2_tail.len()) as u64
        );
        // Nothing left to prune.
        assert_eq!(prune(&path, cutoff, false).unwrap().pruned_runs, 0);
        let none = dir.path().join("none.ndjson");
        assert_eq!(prune(&none, cutoff, false).unwrap().pruned_runs, 0);
        assert!(!none.exists() && !Files::new(&none).lock().exists());
    }
}
