//! Reading journal lines without parsing most of them.
//!
//! dlq writes every record with `type` first and `run_id` second, so a
//! line's kind and run are read from its first bytes; a message record's
//! action is found by its key. Only the records asked for are parsed as JSON.
//! A record cut short by a failed write and followed on the same line by
//! another writer's record is found by the last `{"type":"` on the line (that
//! text cannot occur inside a JSON string, where `"` is escaped); the part
//! before it is passed over. A last line with no newline is taken only when
//! it is whole JSON. A record with `type` first but its other keys in
//! another order is parsed the slow way.

use std::fs::File;
use std::io;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use memchr::memmem;
use serde_json::Value;

use super::files::read_at;

const MARK: &[u8] = br#"{"type":""#;

// Searchers built once: building one costs more than a search in a line.
static MARK_FINDER: LazyLock<memmem::FinderRev<'static>> =
    LazyLock::new(|| memmem::FinderRev::new(MARK));
static ACTION_FINDER: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(br#""action":""#));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The first line of a journal file dlq created.
    Header,
    RunStart,
    RunEnd,
    Message,
    Other,
}

/// One journal record as the scanner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    pub kind: Kind,
    /// Empty for the header.
    pub run_id: &'a str,
    /// A message record's action; empty for the others.
    pub action: &'a str,
    /// The record's bytes (what a torn write left before it removed).
    pub record: &'a [u8],
    /// Where the record starts within the raw line.
    pub skip: usize,
}

impl Line<'_> {
    pub fn json(&self) -> Option<serde_json::Map<String, Value>> {
        match serde_json::from_slice(self.record) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        }
    }
}

/// Reads one raw line (its newline removed; `whole` when it had one).
pub fn classify(raw: &[u8], whole: bool) -> Option<Line<'_>> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let skip = MARK_FINDER.rfind(raw)?;
    let record = &raw[skip..];
    if record.last() != Some(&b'}') {
        return None;
    }
    if !whole && serde_json::from_slice::<serde::de::IgnoredAny>(record).is_err() {
        return None;
    }
    let rest = &record[MARK.len()..];
    let end = memchr::memchr(b'"', rest)?;
    let kind = match &rest[..end] {
        b"message" => Kind::Message,
        b"run_start" => Kind::RunStart,
        b"run_end" => Kind::RunEnd,
        b"journal" => Kind::Header,
        _ => Kind::Other,
    };
    if kind == Kind::Header {
        return Some(Line {
            kind,
            run_id: "",
            action: "",
            record,
            skip,
        });
    }
    let rest = &rest[end..];
    let fast = rest
        .strip_prefix(br#"","run_id":""#)
        .and_then(|r| Some(&r[..memchr::memchr(b'"', r)?]))
        .and_then(|id| std::str::from_utf8(id).ok());
    let Some(run_id) = fast else {
        return slow(record, kind, skip);
    };
    let action = if kind == Kind::Message {
        let Some(at) = ACTION_FINDER.find(rest) else {
            return slow(record, kind, skip);
        };
        let r = &rest[at + 10..];
        std::str::from_utf8(&r[..memchr::memchr(b'"', r)?]).ok()?
    } else {
        ""
    };
    Some(Line {
        kind,
        run_id,
        action,
        record,
        skip,
    })
}

/// A record whose keys are in another order: parse it.
fn slow(record: &[u8], kind: Kind, skip: usize) -> Option<Line<'_>> {
    // Borrowed strings: run IDs and actions need no unescaping.
    #[derive(serde::Deserialize)]
    struct Keys<'a> {
        #[serde(borrow, default)]
        run_id: Option<&'a str>,
        #[serde(borrow, default)]
        action: Option<&'a str>,
    }
    let keys: Keys = serde_json::from_slice(record).ok()?;
    Some(Line {
        kind,
        run_id: keys.run_id?,
        action: if kind == Kind::Message {
            keys.action.unwrap_or("?")
        } else {
            ""
        },
        record,
        skip,
    })
}

/// Calls `each(offset, raw line, whole)` for every line of `file` from
/// `from` up to `to` (a line starting before `to` is read whole), reading
/// a megabyte at a time. `from` may fall inside a line: that part is passed
/// as a line too, and classifies as nothing.
pub fn lines(
    file: &File,
    from: u64,
    to: Option<u64>,
    mut each: impl FnMut(u64, &[u8], bool) -> ControlFlow<()>,
) -> io::Result<()> {
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    let mut carry: Vec<u8> = Vec::new();
    let mut carry_at = from;
    let mut pos = from;
    loop {
        if to.is_some_and(|t| carry.is_empty() && pos > t) {
            return Ok(());
        }
        let n = read_at(file, &mut buf, pos)?;
        if n == 0 {
            if !carry.is_empty() {
                let _ = each(carry_at, &carry, false);
            }
            return Ok(());
        }
        let chunk = &buf[..n];
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            let flow = if carry.is_empty() {
                each(pos + start as u64, &chunk[start..nl], true)
            } else {
                carry.extend_from_slice(&chunk[start..nl]);
                let f = each(carry_at, &carry, true);
                carry.clear();
                f
            };
            start = nl + 1;
            if flow.is_break() || to.is_some_and(|t| pos + start as u64 > t) {
                return Ok(());
            }
        }
        if carry.is_empty() {
            carry_at = pos + start as u64;
        }
        carry.extend_from_slice(&chunk[start..]);
        pos += n as u64;
    }
}

/// The raw line that starts at `offset`, when a dlq record starts there.
pub fn line_at(file: &File, offset: u64) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 4096];
    let mut have = 0;
    loop {
        let n = read_at(file, &mut buf[have..], offset + have as u64)?;
        let end = memchr::memchr(b'\n', &buf[have..have + n]).map(|i| have + i);
        have += n;
        let (line, whole) = match end {
            Some(e) => (&buf[..e], true),
            None if n == 0 || have < buf.len() => (&buf[..have], false),
            None => {
                buf.resize(buf.len() * 2, 0);
                continue;
            }
        };
        let ok = classify(line, whole).is_some_and(|l| l.skip == 0);
        return Ok(ok.then(|| line.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_runs_and_actions_are_read_from_the_front() {
        let m = br#"{"type":"message","run_id":"R1","id":"a\"action\":\"x","action":"moved","to":"q","error":null,"at":"t"}"#;
        let l = classify(m, true).unwrap();
        assert_eq!((l.kind, l.run_id, l.action), (Kind::Message, "R1", "moved"));
        let s = br#"{"type":"run_start","run_id":"R2","started_at":"t"}"#;
        assert_eq!(classify(s, true).unwrap().kind, Kind::RunStart);
        let h = br#"{"type":"journal","file_id":"F","format":1}"#;
        assert_eq!(classify(h, true).unwrap().kind, Kind::Header);
        // Another key order is still understood.
        let o = br#"{"type":"message","id":"x","run_id":"R3","action":"purged"}"#;
        let l = classify(o, true).unwrap();
        assert_eq!((l.run_id, l.action), ("R3", "purged"));
        let o = br#"{"run_id":"R4","type":"run_end"}"#;
        assert_eq!(classify(o, true), None, "no type first: not a dlq record");
        assert_eq!(classify(b"", true), None);
        assert_eq!(classify(b"garbage", true), None);
    }

    #[test]
    fn torn_records_are_passed_over() {
        // A write cut short, then another writer's whole record on the same line.
        let line = br#"{"type":"message","run_id":"R1","id":"7","act{"type":"message","run_id":"R2","id":"8","action":"moved"}"#;
        let l = classify(line, true).unwrap();
        assert_eq!((l.run_id, l.action), ("R2", "moved"));
        assert!(l.skip > 0);
        // A last line cut short: taken only when it is whole JSON.
        let cut = br#"{"type":"message","run_id":"R1","id":"7","action":"moved","error":"x}"#;
        assert_eq!(classify(cut, false), None);
        assert!(classify(cut, true).is_some(), "a whole line is trusted");
        let whole = br#"{"type":"run_end","run_id":"R1"}"#;
        assert!(classify(whole, false).is_some());
        assert_eq!(
            classify(br#"{"type":"message","run_id":"torn"#, false),
            None
        );
    }

    #[test]
    fn lines_are_read_across_chunks_with_their_offsets() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let mut f = std::fs::File::create(&p).unwrap();
        let long = "x".repeat(3 << 20);
        writeln!(f, "a").unwrap();
        writeln!(f, "{long}").unwrap();
        writeln!(f, "bb").unwrap();
        write!(f, "tail").unwrap();
        drop(f);
        let f = File::open(&p).unwrap();
        let mut seen = Vec::new();
        lines(&f, 0, None, |off, raw, whole| {
            seen.push((off, raw.len(), whole));
            ControlFlow::Continue(())
        })
        .unwrap();
        let big = (3 << 20) as u64;
        assert_eq!(
            seen,
            vec![
                (0, 1, true),
                (2, 3 << 20, true),
                (3 + big, 2, true),
                (6 + big, 4, false)
            ]
        );
        // Up to an offset: the line starting before it is read whole.
        let mut seen = Vec::new();
        lines(&f, 2, Some(3), |off, _, _| {
            seen.push(off);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(seen, vec![2]);
    }
}
