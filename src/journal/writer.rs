//! Appending to the journal: whole records, one write at a time, with the
//! index entries that place them, and rotation once the journal is full.
//!
//! The journal is opened `O_APPEND`: each write lands at the end in one
//! piece, so runs writing at once never tear each other's records (on a
//! local file system; NFS does not promise it). Each write happens under
//! the journal's shared lock, after checking that the open file is still
//! the one at the journal's path: rotation and pruning rename files under
//! the exclusive lock, and a writer that finds its file renamed opens the
//! new journal (and says so in the index with a `from` entry) before it
//! writes. When a write leaves the journal at `journal_max_bytes` or more,
//! the writer sets it aside (`journal.ndjson.<time>`), starts a new one, and
//! removes the oldest set-aside files beyond `journal_keep`, with their
//! index entries. A journal path that is not a regular file (`/dev/null`)
//! or whose directory takes no lock file is appended to plainly, never
//! rotated or indexed.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::Path;
use std::time::SystemTime;

use super::files::{self, Files, Lock};
use super::index::{self, Entry, Recorded};
use super::Rotation;
use crate::message::rfc3339;

/// Where a run's records go.
pub struct Sink {
    files: Files,
    /// None: a plain file, appended to without rotation or index.
    lock: Option<Lock>,
    out: File,
    /// Which file `out` is (device, inode).
    id: Option<(u64, u64)>,
    /// The header ID of `out`'s file.
    file_id: Option<String>,
    rotation: Rotation,
    run_id: String,
    wrote: bool,
    /// Set once rotation failed, so it is tried (and said) once.
    rotation_failed: bool,
    index_failed: bool,
}

/// Where the `run_start` and `run_end` records are in a buffer of records.
#[derive(Debug, Default, Clone)]
pub struct Marks {
    pub start: Option<usize>,
    pub end: Option<(usize, Recorded)>,
}

impl Sink {
    /// Opens the journal at `path` for run `run_id`: creates it (and its
    /// directory) privately, sets aside a full journal or one an older dlq
    /// wrote. Returns the warning about files others can read, if any.
    pub fn open(
        path: &Path,
        run_id: &str,
        rotation: Rotation,
    ) -> io::Result<(Sink, Option<String>)> {
        let files = Files::new(path);
        if let Some(dir) = path.parent() {
            files::create_dir(dir)?;
        }
        let plain = match std::fs::metadata(path) {
            Ok(m) => !m.is_file(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        // Rotation needs to tell files apart by inode: Unix only.
        let lock = if plain || cfg!(not(unix)) {
            None
        } else {
            Lock::open(&files.lock()).ok()
        };
        if let Some(lock) = &lock {
            let _held = lock.exclusive()?;
            prepare(&files, rotation)?;
        }
        let out = if plain {
            std::fs::OpenOptions::new().append(true).open(path)?
        } else {
            files::open_append(path)?
        };
        let id = out.metadata().ok().as_ref().and_then(files::identity);
        let file_id = if lock.is_some() {
            files::read_header(&out)?
        } else {
            None
        };
        let warning = if plain {
            None
        } else {
            files::privacy_warning(&files::readable_by_others(&files.all().unwrap_or_default()))
        };
        Ok((
            Sink {
                files,
                lock,
                out,
                id,
                file_id,
                rotation,
                run_id: run_id.to_owned(),
                wrote: false,
                rotation_failed: false,
                index_failed: false,
            },
            warning,
        ))
    }

    pub fn path(&self) -> &Path {
        self.files.path()
    }

    /// Writes `buf` (whole records) in one write, and the index entries of
    /// the marked records. `warn` hears of a rotation or an index that
    /// failed (the records themselves are written: not a reason to stop).
    pub fn write(&mut self, buf: &[u8], marks: Marks, warn: &dyn Fn(&str)) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let Some(lock) = self.lock.take() else {
            return self.out.write_all(buf);
        };
        let result = self.locked_write(&lock, buf, marks, warn);
        self.lock = Some(lock);
        let end = result?;
        if end >= self.rotation.max_bytes && !self.rotation_failed {
            if let Err(e) = self.rotate() {
                self.rotation_failed = true;
                warn(&format!(
                    "journal {} cannot be rotated ({e}); it grows past journal_max_bytes",
                    self.path().display()
                ));
            }
        }
        Ok(())
    }

    fn locked_write(
        &mut self,
        lock: &Lock,
        buf: &[u8],
        marks: Marks,
        warn: &dyn Fn(&str),
    ) -> io::Result<u64> {
        let mut held = lock.shared()?;
        let mut before = Vec::new();
        if !self.is_current() {
            if !self.files.path().exists() {
                // Removed under us: start a new journal, as a first run would.
                drop(held);
                {
                    let _x = lock.exclusive()?;
                    prepare(&self.files, self.rotation)?;
                }
                held = lock.shared()?;
            }
            self.out = files::open_append(self.files.path())?;
            self.id = self.out.metadata().ok().as_ref().and_then(files::identity);
            let file_id = files::read_header(&self.out)?;
            if let (true, Some(f)) = (self.wrote && file_id != self.file_id, &file_id) {
                before.push(Entry::from(f, &self.run_id, self.out.metadata()?.len()));
            }
            self.file_id = file_id;
        }
        self.index(&before, warn);
        self.out.write_all(buf)?;
        self.wrote = true;
        let end = self.out.stream_position()?;
        let base = end - buf.len() as u64;
        if let Some(f) = self.file_id.clone() {
            let mut after = Vec::new();
            if let Some(s) = marks.start {
                after.push(Entry::start(&f, &self.run_id, base + s as u64));
            }
            if let Some((e, recorded)) = marks.end {
                after.push(Entry::end(&f, &self.run_id, base + e as u64, recorded));
            }
            self.index(&after, warn);
        }
        drop(held);
        Ok(end)
    }

    /// Whether `out` is still the file at the journal's path.
    fn is_current(&self) -> bool {
        let now = std::fs::metadata(self.files.path());
        self.id.is_some() && now.ok().as_ref().and_then(files::identity) == self.id
    }

    fn index(&mut self, entries: &[Entry], warn: &dyn Fn(&str)) {
        if entries.is_empty() || self.file_id.is_none() || self.index_failed {
            return;
        }
        if index::append(&self.files.index(), entries).is_err() {
            // An index that misses entries must not be trusted: without it,
            // `history` rebuilds one from the journal.
            self.index_failed = true;
            let path = self.files.index();
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    warn(&format!(
                        "journal index {} can be neither written nor removed ({e}); remove it and `dlq history` rebuilds it",
                        path.display()
                    ));
                }
            }
        }
    }

    /// Sets the journal aside if it is still the file this run filled.
    fn rotate(&mut self) -> io::Result<()> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        let _x = lock.exclusive()?;
        let full = std::fs::metadata(self.files.path())
            .ok()
            .filter(|m| files::identity(m) == self.id && m.len() >= self.rotation.max_bytes);
        if full.is_some() {
            set_aside(&self.files, self.rotation)?;
        }
        Ok(())
    }
}

/// Makes the journal ready to append to, under the exclusive lock: a new
/// one with its header when there is none; a full one, or one without a
/// header (an older dlq wrote it), set aside first.
fn prepare(files: &Files, rotation: Rotation) -> io::Result<()> {
    let file = match File::open(files.path()) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return create(files),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    match files::read_header(&file)? {
        Some(_) if len < rotation.max_bytes => Ok(()),
        Some(_) => set_aside(files, rotation),
        None if len == 0 => create(files),
        None => set_aside(files, rotation),
    }
}

/// Renames the journal aside, starts a new one, and removes the oldest
/// set-aside files beyond `keep` with their index entries.
fn set_aside(files: &Files, rotation: Rotation) -> io::Result<()> {
    std::fs::rename(files.path(), files.set_aside_name(SystemTime::now()))?;
    create(files)?;
    let aside = files.set_aside()?;
    let extra = aside.len().saturating_sub(rotation.keep);
    if extra == 0 {
        return Ok(());
    }
    let mut gone = Vec::new();
    for old in &aside[..extra] {
        if let Some(id) = File::open(old)
            .ok()
            .and_then(|f| files::read_header(&f).ok()?)
        {
            gone.push(id);
        }
        std::fs::remove_file(old)?;
    }
    if let Some(entries) = index::read_entries(&files.index())? {
        let kept: Vec<Entry> = entries
            .into_iter()
            .filter(|e| !gone.contains(&e.file))
            .collect();
        if index::write(files, &kept).is_err() {
            let _ = std::fs::remove_file(files.index());
        }
    }
    Ok(())
}

/// Gives the journal (new, or empty) its header, and its `open` entry in
/// the index.
fn create(files: &Files) -> io::Result<()> {
    let now = SystemTime::now();
    let id = files::new_file_id(now);
    let mut f = files::open_append(files.path())?;
    if f.metadata()?.len() > 0 {
        return Ok(());
    }
    f.write_all(&files::header_line(&id, now))?;
    if index::append(&files.index(), &[Entry::open(&id, &rfc3339(now))]).is_err() {
        let _ = std::fs::remove_file(files.index());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::index::Index;

    fn rot(max_bytes: u64, keep: usize) -> Rotation {
        Rotation { max_bytes, keep }
    }

    #[test]
    fn a_full_journal_is_set_aside_and_old_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let (mut sink, warning) = Sink::open(&path, "R", rot(1000, 2)).unwrap();
        assert!(warning.is_none());
        let record = format!(
            "{{\"type\":\"message\",\"run_id\":\"R\",\"id\":\"{}\",\"action\":\"moved\"}}\n",
            "x".repeat(200)
        );
        let start = "{\"type\":\"run_start\",\"run_id\":\"R\"}\n";
        sink.write(
            start.as_bytes(),
            Marks {
                start: Some(0),
                end: None,
            },
            &|w| panic!("{w}"),
        )
        .unwrap();
        for _ in 0..40 {
            sink.write(record.as_bytes(), Marks::default(), &|w| panic!("{w}"))
                .unwrap();
        }
        let files = Files::new(&path);
        let aside = files.set_aside().unwrap();
        assert_eq!(aside.len(), 2, "keep 2: {aside:?}");
        for f in files.all().unwrap() {
            let len = std::fs::metadata(&f).unwrap().len();
            assert!(len < 1000 + record.len() as u64, "{f:?}: {len}");
        }
        // The index names only files that are still there; the run goes on in each.
        let index = Index::load(&files.index()).unwrap().unwrap();
        let ids: Vec<String> = files
            .all()
            .unwrap()
            .iter()
            .map(|p| {
                files::read_header(&File::open(p).unwrap())
                    .unwrap()
                    .unwrap()
            })
            .collect();
        assert_eq!(index.covered.len(), 3);
        assert!(ids.iter().all(|id| index.covered.contains(id)));
        let places = &index.runs["R"];
        assert!(places.start.is_none(), "its start was in a removed file");
        assert!(ids[..2]
            .iter()
            .all(|id| places.from.iter().any(|p| &p.file == id)));
    }

    #[test]
    fn an_older_journal_is_set_aside_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let old = "{\"type\":\"run_start\",\"run_id\":\"OLD\"}\n";
        std::fs::write(&path, old).unwrap();
        let (sink, _) = Sink::open(&path, "R", rot(1 << 20, 3)).unwrap();
        let files = Files::new(&path);
        let aside = files.set_aside().unwrap();
        assert_eq!(aside.len(), 1);
        assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), old);
        assert!(sink.file_id.is_some());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("{\"type\":\"journal\",\"file_id\":"),
            "{text}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_appended_to_plainly() {
        let (mut sink, _) = Sink::open(Path::new("/dev/null"), "R", rot(10, 0)).unwrap();
        assert!(sink.lock.is_none());
        sink.write(b"{}\n", Marks::default(), &|w| panic!("{w}"))
            .unwrap();
        assert!(!Path::new("/dev/null.lock").exists());
    }
}
