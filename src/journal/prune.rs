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
