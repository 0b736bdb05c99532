//! Which messages a command acts on: IDs, filters, `--limit`, `--max-redrives`.
//!
//! The command line gives [`Criteria`] (plain data: what matches); each pass
//! over a queue starts a [`Selection`] from them, the criteria with a
//! [`Tally`] of what this pass has seen and taken, and the backend asks
//! [`Selection::decide`] about each message it reads. Keeping the rules here
//! means `list`, `purge` and `retry-all` agree on what a filter matches on
//! every broker, and requested IDs are tracked in one place (each must name
//! exactly one message). The tally is shared by the pipeline tasks of a
//! backend, so its counters are atomics.
//!
//! `--where` is a jq predicate ([`Predicate`]) compiled once, before
//! anything is read, and run on the envelope exactly as `list -o json`
//! prints it; it runs last, after the cheap filters have had their say. A
//! message on which it fails does not match and is counted, so the command
//! can say how many once, at the end. `--since` also tells a backend that
//! can seek by time where to start (`ReadOptions::since`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use jaq_json::Val;

use crate::jq::{self, Query};
use crate::message::Message;

/// The filters shared by list, peek, retry-all, purge and export.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub older_than: Option<Duration>,
    pub newer_than: Option<Duration>,
    /// Case-insensitive substring of the dead-letter reason.
    pub reason: Option<String>,
    /// Every pair must equal a header's value (as text).
    pub headers: Vec<(String, String)>,
    /// Bytes the body, or the decoded value's compact JSON, must contain.
    pub grep: Option<String>,
    /// The dead-letter source queue, topic or subject, exactly.
    pub source: Option<String>,
    /// The error type or the root cause's, or its last `.` segment.
    pub error_type: Option<String>,
    /// `dead_letter.fingerprint`, exactly.
    pub fingerprint: Option<String>,
    /// The timestamp is at or after this.
    pub since: Option<SystemTime>,
    /// The timestamp is before this.
    pub until: Option<SystemTime>,
    /// `--where`: a jq predicate on the envelope.
    pub predicate: Option<Predicate>,
}

/// `--where FILTER`: a jq predicate on the envelope; a message matches when
/// the first output is `true`. Clones share the count of failed runs.
#[derive(Debug, Clone)]
pub struct Predicate {
    query: Query,
    failed: Arc<AtomicU64>,
}

impl Predicate {
    /// Compiles the filter (exit 2 when it does not compile).
    pub fn compile(code: &str) -> Result<Self> {
        Ok(Predicate {
            query: Query::compile("--where", code)?,
            failed: Arc::default(),
        })
    }

    /// Whether the filter's first output on `m`'s envelope is `true`.
    pub fn matches(&self, m: &Message) -> bool {
        let input = serde_json::to_vec(&m.envelope())
            .map_err(|e| e.to_string())
            .and_then(|json| jq::parse(&json));
        match input.and_then(|v| self.query.first(v)) {
            Ok(Some(Val::Bool(true))) => true,
            Ok(_) => false,
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// How many messages it failed on since the last call.
    pub fn take_failures(&self) -> u64 {
        self.failed.swap(0, Ordering::Relaxed)
    }

    pub fn source(&self) -> &str {
        self.query.source()
    }
}

impl Filter {
    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.older_than.is_none()
            && self.newer_than.is_none()
            && self.reason.is_none()
            && self.headers.is_empty()
            && self.grep.is_none()
            && self.source.is_none()
            && self.error_type.is_none()
            && self.fingerprint.is_none()
            && self.since.is_none()
            && self.until.is_none()
            && self.predicate.is_none()
    }

    /// Whether a message passes every filter. A message without a timestamp
    /// never matches an age filter: its age is unknown.
    pub fn matches(&self, m: &Message, now: SystemTime) -> bool {
        if let Some(min) = self.older_than {
            match m.age(now) {
                Some(age) if age >= min => {}
                _ => return false,
            }
        }
        if let Some(max) = self.newer_than {
            match m.age(now) {
                Some(age) if age < max => {}
                _ => return false,
            }
        }
        if let Some(want) = &self.reason {
            let have = m.dead_letter.reason.as_deref().unwrap_or("");
            if !have.to_lowercase().contains(&want.to_lowercase()) {
                return false;
            }
        }
        for (k, v) in &self.headers {
            if m.header_text(k).as_deref() != Some(v.as_str()) {
                return false;
            }
        }
        if let Some(needle) = &self.grep {
            let in_decoded = || {
                m.decoded
                    .as_ref()
                    .and_then(|d| d.value_text())
                    .is_some_and(|t| contains(t.as_bytes(), needle.as_bytes()))
            };
            if !contains(&m.body, needle.as_bytes()) && !in_decoded() {
                return false;
            }
        }
        if let Some(src) = &self.source {
            if m.dead_letter.source.as_deref() != Some(src.as_str()) {
                return false;
            }
        }
        if let Some(name) = &self.error_type {
            if !m.dead_letter.error_type_matches(name) {
                return false;
            }
        }
        if let Some(fp) = &self.fingerprint {
            if m.dead_letter.fingerprint.as_deref() != Some(fp.trim()) {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = m.timestamp else {
                return false;
            };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                return false;
            }
        }
        if let Some(p) = &self.predicate {
            if !p.matches(m) {
                return false;
            }
        }
        true
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Why a matching message is not acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// dlq already sent it back `count` times, at or over `--max-redrives`.
    MaxRedrives { count: u32, max: u32 },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::MaxRedrives { count, max } => {
                write!(
                    f,
                    "already re-driven {count} time{} (--max-redrives {max})",
                    if *count == 1 { "" } else { "s" }
                )
            }
        }
    }
}

/// What to do with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Act on it.
    Take,
    /// It matches but must not be acted on; counted as skipped, with why.
    Skip(SkipReason),
    /// Not selected: leave it where it is, uncounted.
    Leave,
}

/// The IDs a command was given, each once, in the order given.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    order: Vec<String>,
    set: HashSet<String>,
}

impl Ids {
    pub fn new(ids: &[String]) -> Self {
        let mut out = Ids::default();
        for id in ids {
            if out.set.insert(id.clone()) {
                out.order.push(id.clone());
            }
        }
        out
    }

    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.order.iter()
    }
}

/// What a run acts on: IDs, filters and limits. Plain data, so a probe pass
/// (counting before the question, a dry run) can use a copy.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    /// Only these IDs, when given.
    pub ids: Option<Ids>,
    pub filter: Filter,
    pub limit: Option<u64>,
    pub max_redrives: Option<u32>,
    pub now: Option<SystemTime>,
}

impl Criteria {
    pub fn new(
        ids: Option<&[String]>,
        filter: Filter,
        limit: Option<u64>,
        max_redrives: Option<u32>,
    ) -> Self {
        Criteria {
            ids: ids.map(Ids::new),
            filter,
            limit,
            max_redrives,
            now: Some(SystemTime::now()),
        }
    }

    /// True when every message is selected and none skipped, so the command
    /// may use the broker's own bulk operation (queue.purge, PurgeQueue, ...).
    pub fn is_everything(&self) -> bool {
        self.ids.is_none()
            && self.filter.is_empty()
            && self.limit.is_none()
            && self.max_redrives.is_none()
    }

    /// A fresh run over these criteria.
    pub fn start(&self) -> Selection {
        Selection {
            criteria: self.clone(),
            tally: Tally::default(),
        }
    }
}

/// What one run has seen and taken so far. Shared by the pipeline tasks of
/// a backend, so its counters are atomics.
#[derive(Debug, Default)]
pub struct Tally {
    taken: AtomicU64,
    /// How many messages carried each requested ID (more than one: ambiguous).
    seen_ids: Mutex<HashMap<String, u64>>,
}

/// The criteria of one run with its tally: what the backends ask about each
/// message they read.
#[derive(Debug, Default)]
pub struct Selection {
    pub criteria: Criteria,
    tally: Tally,
}

impl Selection {
    /// Every message.
    pub fn everything() -> Self {
        Selection::default()
    }

    pub fn new(
        ids: Option<&[String]>,
        filter: Filter,
        limit: Option<u64>,
        max_redrives: Option<u32>,
    ) -> Self {
        Criteria::new(ids, filter, limit, max_redrives).start()
    }

    pub fn is_everything(&self) -> bool {
        self.criteria.is_everything()
    }

    /// Decides about one message, counting it against `--limit` when taken.
    /// Call it once per message read.
    pub fn decide(&self, m: &Message) -> Decision {
        if self.exhausted() {
            return Decision::Leave;
        }
        self.decide_reading_on(m)
    }

    /// As [`decide`](Self::decide), but past the last requested ID too, so
    /// that a second message with the same ID is seen (and counted).
    pub fn decide_reading_on(&self, m: &Message) -> Decision {
        let c = &self.criteria;
        if let Some(ids) = &c.ids {
            if !ids.contains(&m.id) {
                return Decision::Leave;
            }
            *self
                .tally
                .seen_ids
                .lock()
                .unwrap()
                .entry(m.id.clone())
                .or_default() += 1;
        }
        let now = c.now.unwrap_or_else(SystemTime::now);
        if !c.filter.matches(m, now) {
            return Decision::Leave;
        }
        if let Some(max) = c.max_redrives {
            let n = m.redrives();
            if n >= max {
                return Decision::Skip(SkipReason::MaxRedrives { count: n, max });
            }
        }
        self.tally.taken.fetch_add(1, Ordering::SeqCst);
        Decision::Take
    }

    /// Gives back a taken slot, for a message a backend took but could not act on.
    pub fn untake(&self) {
        self.tally.taken.fetch_sub(1, Ordering::SeqCst);
    }

    /// True when nothing more can be taken: the limit is reached, or every
    /// requested ID has been seen.
    pub fn exhausted(&self) -> bool {
        if let Some(limit) = self.criteria.limit {
            if self.tally.taken.load(Ordering::SeqCst) >= limit {
                return true;
            }
        }
        if let Some(ids) = &self.criteria.ids {
            let seen = self.tally.seen_ids.lock().unwrap();
            return ids.iter().all(|id| seen.contains_key(id));
        }
        false
    }

    /// How many messages were taken so far.
    pub fn taken(&self) -> u64 {
        self.tally.taken.load(Ordering::SeqCst)
    }

    /// The requested IDs that no message carried.
    pub fn missing_ids(&self) -> Vec<String> {
        self.ids_seen(|n| n == 0)
    }

    /// The requested IDs that more than one message carried.
    pub fn ambiguous_ids(&self) -> Vec<String> {
        self.ids_seen(|n| n > 1)
    }

    fn ids_seen(&self, keep: impl Fn(u64) -> bool) -> Vec<String> {
        let seen = self.tally.seen_ids.lock().unwrap();
        self.criteria
            .ids
            .iter()
            .flat_map(Ids::iter)
            .filter(|id| keep(seen.get(*id).copied().unwrap_or(0)))
            .cloned()
            .collect()
    }
}

/// Parses `KEY=VALUE` for `--header`.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Parses `--since`/`--until`: RFC 3339 (`2026-12-01T08:00:00Z`, an offset,
/// or none for UTC) or a UTC date (`2026-12-01`, its midnight).
pub fn parse_time_arg(s: &str) -> Result<SystemTime, String> {
    let t = s.trim();
    let bad = || {
        format!(
            "{t:?} is not a time: use RFC 3339 (2026-12-01T08:00:00Z) or a UTC date (2026-12-01)"
        )
    };
    let is_date = t.len() == 10
        && t.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let full = if is_date {
        format!("{t}T00:00:00Z")
    } else if t.len() >= 19 && t.as_bytes()[10].eq_ignore_ascii_case(&b'T') {
        t.to_owned()
    } else {
        return Err(bad());
    };
    crate::message::parse_time(&full).ok_or_else(bad)
}

/// Parses a duration such as `30s`, `15m`, `7d` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration: use a number with a unit, such as 30s, 15m, 7d".into());
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{t:?} has no unit: use s, m, h or d, as in {t}s or {t}m"
        ));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{t:?} is not a duration ({e}): use 30s, 15m, 7d or 1h30m"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{DeadLetter, REDRIVE_HEADER};
    use serde_json::json;

    fn msg(id: &str, age_secs: u64, body: &str) -> Message {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut m = Message {
            id: id.into(),
            timestamp: Some(now - Duration::from_secs(age_secs)),
            body: body.as_bytes().to_vec(),
            dead_letter: DeadLetter {
                reason: Some("Rejected".into()),
                source: Some("orders".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        m.headers.insert("tenant".into(), json!("acme"));
        m
    }

    fn sel(filter: Filter) -> Selection {
        let mut c = Criteria::new(None, filter, None, None);
        c.now = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        c.start()
    }

    #[test]
    fn age_filters() {
        let old = sel(Filter {
            older_than: Some(Duration::from_secs(3600)),
            ..Default::default()
        });
        assert_eq!(old.decide(&msg("a", 7200, "")), Decision::Take);
        assert_eq!(old.decide(&msg("b", 60, "")), Decision::Leave);
        let young = sel(Filter {
            newer_than: Some(Duration::from_secs(3600)),
            ..Default::default()
        });
        assert_eq!(young.decide(&msg("a", 7200, "")), Decision::Leave);
        assert_eq!(young.decide(&msg("b", 60, "")), Decision::Take);
        let mut no_ts = msg("c", 0, "");
        no_ts.timestamp = None;
        assert_eq!(old.decide(&no_ts), Decision::Leave);
    }

    #[test]
    fn reason_header_grep_source() {
        let s = sel(Filter {
            reason: Some("reject".into()),
            headers: vec![("tenant".into(), "acme".into())],
            grep: Some("needle".into()),
            source: Some("orders".into()),
            ..Default::default()
        });
        assert_eq!(s.decide(&msg("a", 1, "hay needle hay")), Decision::Take);
        assert_eq!(s.decide(&msg("b", 1, "hay")), Decision::Leave);
        let mut other = msg("c", 1, "needle");
        other.headers.insert("tenant".into(), json!("other"));
        assert_eq!(s.decide(&other), Decision::Leave);
    }

    #[test]
    fn limit_and_ids() {
        let s = Selection::new(None, Filter::default(), Some(2), None);
        assert_eq!(s.decide(&msg("a", 1, "")), Decision::Take);
        assert!(!s.exhausted());
        assert_eq!(s.decide(&msg("b", 1, "")), Decision::Take);
        assert!(s.exhausted());
        assert_eq!(s.decide(&msg("c", 1, "")), Decision::Leave);

        let ids = ["b".to_string(), "z".into(), "b".into()];
        let c = Criteria::new(Some(&ids), Filter::default(), None, None);
        let s = c.start();
        assert_eq!(s.decide(&msg("a", 1, "")), Decision::Leave);
        assert_eq!(s.decide(&msg("b", 1, "")), Decision::Take);
        assert!(!s.exhausted());
        assert_eq!(s.missing_ids(), vec!["z".to_string()]);
        assert!(s.ambiguous_ids().is_empty());
        assert_eq!(s.decide_reading_on(&msg("b", 1, "")), Decision::Take);
        assert_eq!(s.ambiguous_ids(), vec!["b".to_string()]);
        // A probe over the same criteria starts from nothing.
        let probe = c.start();
        assert_eq!(probe.missing_ids(), vec!["b".to_string(), "z".into()]);
    }

    #[test]
    fn max_redrives_skips() {
        let s = Selection::new(None, Filter::default(), None, Some(2));
        let mut m = msg("a", 1, "");
        assert_eq!(s.decide(&m), Decision::Take);
        m.headers.insert(REDRIVE_HEADER.into(), json!("2"));
        assert!(matches!(s.decide(&m), Decision::Skip(_)));
        assert!(!s.is_everything());
        assert!(Selection::everything().is_everything());
    }

    #[test]
    fn error_type_fingerprint_and_window() {
        let mut m = msg("a", 10, "");
        m.dead_letter.error_type = Some("java.lang.NumberFormatException".into());
        m.dead_letter.fingerprint = Some("5c1e0a9b33d2".into());
        let take = |f: Filter, m: &Message| sel(f).decide(m) == Decision::Take;
        let ty = |n: &str| Filter {
            error_type: Some(n.into()),
            ..Default::default()
        };
        assert!(take(ty("NumberFormatException"), &m));
        assert!(take(ty("java.lang.NumberFormatException"), &m));
        assert!(!take(ty("lang.NumberFormat"), &m));
        let fp = |f: &str| Filter {
            fingerprint: Some(f.into()),
            ..Default::default()
        };
        assert!(take(fp("5c1e0a9b33d2"), &m));
        assert!(!take(fp("5c1e0a9b33d3"), &m));
        let t = m.timestamp.unwrap();
        let window = |since: Option<SystemTime>, until: Option<SystemTime>| Filter {
            since,
            until,
            ..Default::default()
        };
        assert!(take(window(Some(t), None), &m));
        assert!(!take(window(Some(t + Duration::from_millis(1)), None), &m));
        assert!(!take(window(None, Some(t)), &m));
        assert!(take(window(None, Some(t + Duration::from_millis(1))), &m));
        let mut no_ts = m.clone();
        no_ts.timestamp = None;
        assert!(!take(window(Some(SystemTime::UNIX_EPOCH), None), &no_ts));
        assert!(!take(window(None, Some(t)), &no_ts));
    }

    #[test]
    fn where_runs_on_the_envelope_and_counts_failures() {
        let p =
            Predicate::compile(r#".headers.tenant == "acme" and .dead_letter.source == "orders""#)
                .unwrap();
        let f = Filter {
            predicate: Some(p.clone()),
            ..Default::default()
        };
        let s = sel(f);
        assert_eq!(s.decide(&msg("a", 1, "")), Decision::Take);
        let mut other = msg("b", 1, "");
        other.headers.insert("tenant".into(), json!("globex"));
        assert_eq!(s.decide(&other), Decision::Leave);
        assert_eq!(p.take_failures(), 0);
        // Not a boolean true: no match, and no failure either.
        let not_bool = Predicate::compile(".id").unwrap();
        assert!(!not_bool.matches(&msg("a", 1, "")));
        assert_eq!(not_bool.take_failures(), 0);
        let fails = Predicate::compile(".size + \"x\"").unwrap();
        assert!(!fails.matches(&msg("a", 1, "")));
        assert!(!fails.matches(&msg("b", 1, "")));
        assert_eq!(fails.take_failures(), 2);
        assert_eq!(fails.take_failures(), 0);
        assert!(Predicate::compile(".a ==").is_err());
    }

    #[test]
    fn times_parse() {
        let d = parse_time_arg("2026-12-01").unwrap();
        assert_eq!(crate::message::rfc3339(d), "2026-12-01T00:00:00.000Z");
        let t = parse_time_arg("2026-12-01T08:00:00Z").unwrap();
        assert_eq!(t, d + Duration::from_secs(8 * 3600));
        assert_eq!(parse_time_arg("2026-12-01T10:00:00+02:00").unwrap(), t);
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-12-01 08:00",
            "12/01/2026",
            "",
        ] {
            assert!(parse_time_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_headers_parse() {
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("7").unwrap_err().contains("no unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_header("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_header("=x").is_err());
        assert!(parse_header("nokey").is_err());
    }
}
