//! The journal's files, side by side in one directory.
//!
//! `journal.ndjson` is the journal (the only file runs write to); rotation
//! sets it aside as `journal.ndjson.20261201T230408832Z` (the time it was
//! set aside, so names sort oldest first); `journal.ndjson.index` lists where
//! each run's records are; `journal.ndjson.lock` orders writers, rotation
//! and pruning (a shared `flock` to append, an exclusive one to rename or
//! rewrite). Every journal file dlq creates starts with a header line
//! (`{"type":"journal","file_id":...}`): the index names files by that ID,
//! which survives the rename. A journal without a header was written by an
//! older dlq (or by hand); it is read whole. dlq creates the directory
//! `0700` and every file `0600`: the journal names queues, message IDs and
//! command lines, which are nobody else's business.

use std::collections::hash_map::RandomState;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::message::rfc3339;

/// The paths of one journal's files.
#[derive(Debug, Clone)]
pub struct Files {
    path: PathBuf,
}

impl Files {
    pub fn new(path: &Path) -> Self {
        Files {
            path: path.to_path_buf(),
        }
    }

    /// The journal runs append to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        self.path.with_file_name(name)
    }

    pub fn index(&self) -> PathBuf {
        self.sibling(".index")
    }

    pub fn lock(&self) -> PathBuf {
        self.sibling(".lock")
    }

    /// A scratch file for a rewrite, renamed over its target when done.
    pub fn scratch(&self, what: &str) -> PathBuf {
        self.sibling(&format!(".{what}.tmp-{}", std::process::id()))
    }

    /// The name the journal gets when it is set aside at `now`: the first
    /// one not taken.
    pub fn set_aside_name(&self, now: SystemTime) -> PathBuf {
        let s = stamp(now);
        let first = self.sibling(&format!(".{s}"));
        if !first.exists() {
            return first;
        }
        (1..)
            .map(|n| self.sibling(&format!(".{s}-{n:03}")))
            .find(|p| !p.exists())
            .unwrap_or(first)
    }

    /// The files rotation set aside, oldest first.
    pub fn set_aside(&self) -> io::Result<Vec<PathBuf>> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let prefix = format!(
            "{}.",
            self.path.file_name().unwrap_or_default().to_string_lossy()
        );
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix(&prefix) {
                if is_stamp(rest) {
                    found.push((rest.to_owned(), entry.path()));
                }
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, p)| p).collect())
    }

    /// Every journal file, oldest first: the ones set aside, then the journal.
    pub fn all(&self) -> io::Result<Vec<PathBuf>> {
        let mut all = self.set_aside()?;
        if self.path.exists() {
            all.push(self.path.clone());
        }
        Ok(all)
    }
}

/// `20261201T230408832Z`: UTC to the millisecond, sortable as text.
pub fn stamp(t: SystemTime) -> String {
    rfc3339(t)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// Whether a name suffix is what [`Files::set_aside_name`] writes.
pub fn is_stamp(s: &str) -> bool {
    let (main, n) = s.split_once('-').unwrap_or((s, "0"));
    let b = main.as_bytes();
    b.len() == 19
        && b[8] == b'T'
        && b[18] == b'Z'
        && b[..8].iter().chain(&b[9..18]).all(u8::is_ascii_digit)
        && !n.is_empty()
        && n.bytes().all(|c| c.is_ascii_digit())
}

/// The time a run ID or stamp names (`20261201T230408832Z...`).
pub fn time_of(id: &str) -> Option<SystemTime> {
    let b = id.as_bytes();
    if b.len() < 19 || b[8] != b'T' || b[18] != b'Z' {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        &id[0..4],
        &id[4..6],
        &id[6..8],
        &id[9..11],
        &id[11..13],
        &id[13..15],
        &id[15..18]
    );
    humantime::parse_rfc3339(&text).ok()
}

/// A file ID: the creation time and a random part.
pub fn new_file_id(now: SystemTime) -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{}-{:08x}", stamp(now), h.finish() & 0xffff_ffff)
}

/// The first line of every journal file dlq creates.
pub fn header_line(file_id: &str, now: SystemTime) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({
        "type": "journal",
        "file_id": file_id,
        "created_at": rfc3339(now),
        "format": 1,
    }))
    .unwrap_or_default();
    line.push(b'\n');
    line
}

/// The file ID in a journal file's header; None for a file without one.
pub fn read_header(file: &File) -> io::Result<Option<String>> {
    let mut buf = vec![0u8; 512];
    let n = read_at(file, &mut buf, 0)?;
    let head = &buf[..n];
    let Some(end) = head.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let Ok(Value::Object(h)) = serde_json::from_slice::<Value>(&head[..end]) else {
        return Ok(None);
    };
    if h.get("type").and_then(Value::as_str) != Some("journal") {
        return Ok(None);
    }
    Ok(h.get("file_id").and_then(Value::as_str).map(str::to_owned))
}

/// Reads up to `buf.len()` bytes at `offset`; fewer only at the end.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(file, &mut buf[done..], offset + done as u64);
        #[cfg(windows)]
        let n =
            std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset + done as u64);
        match n {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Creates the journal's directory (and its missing parents) `0700`.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Opens `path` for appending (and reading its header), creating it `0600`.
pub fn open_append(path: &Path) -> io::Result<File> {
    private(OpenOptions::new().create(true).read(true).append(true)).open(path)
}

/// Creates `path` for writing, `0600`; fails when it exists.
pub fn create_new(path: &Path) -> io::Result<File> {
    private(OpenOptions::new().create_new(true).append(true)).open(path)
}

fn private(o: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(o, 0o600);
    o
}

/// Writes a whole file through a scratch file renamed over `path`, so a
/// reader sees the old file or the new one, never half of one.
pub fn replace(
    files: &Files,
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = files.scratch("rewrite");
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut out = io::BufWriter::with_capacity(1 << 20, create_new(&tmp)?);
        write(&mut out)?;
        out.flush()?;
        out.get_ref().sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Which file a handle or path is: device and inode.
pub fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// The journal files other users can read, with their modes.
pub fn readable_by_others(paths: &[PathBuf]) -> Vec<(PathBuf, u32)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        paths
            .iter()
            .filter_map(|p| {
                let m = std::fs::metadata(p).ok().filter(|m| m.is_file())?;
                let mode = m.permissions().mode() & 0o7777;
                (mode & 0o044 != 0).then(|| (p.clone(), mode))
            })
            .collect()
    }
    #[cfg(not(unix))]
    {
        let _ = paths;
        Vec::new()
    }
}

/// One warning for journal files other users can read, with the fix.
pub fn privacy_warning(found: &[(PathBuf, u32)]) -> Option<String> {
    let names: Vec<String> = found.iter().map(|(p, _)| p.display().to_string()).collect();
    match found {
        [] => None,
        [(p, mode)] => Some(format!(
            "journal {} is readable by other users (mode {mode:04o}); make it private: chmod 600 {}",
            p.display(),
            names[0]
        )),
        _ => Some(format!(
            "journal files {} are readable by other users; make them private: chmod 600 {}",
            names.join(", "),
            names.join(" ")
        )),
    }
}

/// The journal's lock: a shared `flock` to append, an exclusive one to
/// rename or rewrite files. Dropping a [`Held`] releases it.
pub struct Lock {
    #[cfg_attr(not(unix), allow(dead_code))]
    file: File,
}

pub struct Held<'a> {
    #[cfg_attr(not(unix), allow(dead_code))]
    lock: &'a Lock,
}

impl Lock {
    pub fn open(path: &Path) -> io::Result<Lock> {
        Ok(Lock {
            file: open_append(path)?,
        })
    }

    pub fn shared(&self) -> io::Result<Held<'_>> {
        self.take(false)
    }

    pub fn exclusive(&self) -> io::Result<Held<'_>> {
        self.take(true)
    }

    #[cfg(unix)]
    fn take(&self, exclusive: bool) -> io::Result<Held<'_>> {
        use std::os::unix::io::AsRawFd;
        let op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        loop {
            // SAFETY: flock on a descriptor this struct owns.
            if unsafe { libc::flock(self.file.as_raw_fd(), op) } == 0 {
                return Ok(Held { lock: self });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    #[cfg(not(unix))]
    fn take(&self, _exclusive: bool) -> io::Result<Held<'_>> {
        Ok(Held { lock: self })
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock on a descriptor the lock owns.
            unsafe { libc::flock(self.lock.file.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn set_aside_names_sort_by_time_and_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let f = Files::new(&dir.path().join("journal.ndjson"));
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_120);
        let a = f.set_aside_name(t);
        assert!(a.ends_with("journal.ndjson.20261118T110640120Z"), "{a:?}");
        std::fs::write(&a, "").unwrap();
        let b = f.set_aside_name(t);
        assert!(
            b.ends_with("journal.ndjson.20261118T110640120Z-001"),
            "{b:?}"
        );
        std::fs::write(&b, "").unwrap();
        let c = f.set_aside_name(t + Duration::from_secs(1));
        std::fs::write(&c, "").unwrap();
        for other in [f.index(), f.lock(), f.scratch("rewrite"), f.path().into()] {
            std::fs::write(other, "").unwrap();
        }
        std::fs::write(dir.path().join("journal.ndjson.bak"), "").unwrap();
        assert_eq!(f.set_aside().unwrap(), vec![a, b, c.clone()]);
        assert_eq!(f.all().unwrap().last(), Some(&f.path().to_path_buf()));
        assert_eq!(
            time_of("20261118T110640120Z-1a2b"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_120))
        );
        assert_eq!(time_of("nope"), None);
    }

    #[test]
    fn headers_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let mut f = create_new(&p).unwrap();
        f.write_all(&header_line("abc", SystemTime::now())).unwrap();
        f.write_all(b"{\"type\":\"run_start\"}\n").unwrap();
        assert_eq!(
            read_header(&File::open(&p).unwrap()).unwrap().as_deref(),
            Some("abc")
        );
        std::fs::write(&p, "{\"type\":\"run_start\",\"run_id\":\"x\"}\n").unwrap();
        assert_eq!(read_header(&File::open(&p).unwrap()).unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn created_private_and_others_readable_found() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a").join("dlq");
        create_dir(&sub).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sub), 0o700);
        let j = sub.join("journal.ndjson");
        drop(open_append(&j).unwrap());
        assert_eq!(mode(&j), 0o600);
        assert!(readable_by_others(std::slice::from_ref(&j)).is_empty());
        std::fs::set_permissions(&j, std::fs::Permissions::from_mode(0o644)).unwrap();
        let found = readable_by_others(std::slice::from_ref(&j));
        let w = privacy_warning(&found).unwrap();
        assert!(
            w.contains("mode 0644") && w.ends_with(&format!("chmod 600 {}", j.display())),
            "{w}"
        );
    }
}
