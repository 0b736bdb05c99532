//! dlq's cursor on a DLQ topic: per partition, the committed offset of dlq's
//! consumer group (everything before it was handled) plus the offsets above
//! it that were handled out of order (`retry ID`, a filtered `retry-all`).
//!
//! The out-of-order offsets travel in the committed offset's metadata string
//! as compact ranges (`dlq1:5-7,9`), so the cursor lives entirely in Kafka's
//! own group offsets and needs no extra topic. Marking an offset handled
//! advances the committed offset over every contiguous handled offset, so the
//! set stays small when messages are handled in order. Kafka caps metadata at
//! `offset.metadata.max.bytes` (4096 by default): [`Cursor::fits`] tells a
//! bulk run when recording one more scattered offset could exceed that.

use std::collections::BTreeSet;

/// Version tag of the metadata format.
const TAG: &str = "dlq1:";

/// Metadata longer than this may be refused by a broker with default settings.
pub const METADATA_LIMIT: usize = 4000;

/// The cursor of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The next offset not yet handled in order; None when the group never
    /// committed (then the log's start is the cursor).
    pub committed: Option<i64>,
    /// Offsets at or above `committed` handled out of order.
    pub handled: BTreeSet<i64>,
}

impl Cursor {
    /// A cursor from a committed offset (negative = none) and its metadata.
    pub fn from_committed(offset: Option<i64>, metadata: &str) -> Self {
        let committed = offset.filter(|o| *o >= 0);
        let mut handled = parse_ranges(metadata);
        if let Some(c) = committed {
            handled = handled.split_off(&c);
        }
        Cursor { committed, handled }
    }

    /// Where reading starts, given the log's first offset.
    pub fn start(&self, low: i64) -> i64 {
        self.committed.map_or(low, |c| c.max(low))
    }

    /// Whether `offset` was handled (re-driven or purged).
    pub fn has_handled(&self, offset: i64) -> bool {
        self.committed.is_some_and(|c| offset < c) || self.handled.contains(&offset)
    }

    /// Records `offset` as handled and advances over contiguous offsets.
    pub fn mark(&mut self, offset: i64, low: i64) {
        self.mark_range(offset, offset, low);
    }

    /// Records `from..=to` as handled (a record and the offsets before it
    /// that hold no message) and advances over contiguous offsets; a range
    /// that reaches the cursor moves it at once, however long the range.
    pub fn mark_range(&mut self, from: i64, to: i64, low: i64) {
        let mut c = self.start(low);
        if to < c {
            return;
        }
        if from <= c {
            c = to + 1;
            self.handled = self.handled.split_off(&c);
        } else {
            self.handled.extend(from..=to);
        }
        while self.handled.remove(&c) {
            c += 1;
        }
        self.committed = Some(c);
    }

    /// Moves the cursor to `offset` (a full purge), dropping what is below.
    pub fn advance_to(&mut self, offset: i64) {
        if self.committed.is_none_or(|c| c < offset) {
            self.committed = Some(offset);
            self.handled = self.handled.split_off(&offset);
        }
    }

    /// The metadata string to commit with the offset: `dlq1:5-7,9` from {5,6,7,9}.
    pub fn metadata(&self) -> String {
        let mut runs: Vec<(i64, i64)> = Vec::new();
        for &o in &self.handled {
            match runs.last_mut() {
                Some((_, last)) if *last + 1 == o => *last = o,
                _ => runs.push((o, o)),
            }
        }
        if runs.is_empty() {
            return String::new();
        }
        let run = |&(a, b): &(i64, i64)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        };
        let runs: Vec<String> = runs.iter().map(run).collect();
        format!("{TAG}{}", runs.join(","))
    }
}

/// What recording a run's handled offsets will cost in metadata, planned
/// as messages are taken (before their deliveries are confirmed): offsets
/// taken in order from the cursor cost nothing, each run of offsets after a
/// gap costs one range.
#[derive(Debug, Clone)]
pub struct Budget {
    base: usize,
    next: i64,
    last: i64,
    ranges: usize,
}

impl Budget {
    pub fn new(cursor: &Cursor, low: i64) -> Self {
        Budget {
            base: cursor.metadata().len(),
            next: cursor.start(low),
            last: -2,
            ranges: 0,
        }
    }

    /// Plans to record `from..=offset` (a record and the offsets before it
    /// that are no messages); false when that could exceed the limit.
    pub fn take(&mut self, cursor: &Cursor, from: i64, offset: i64) -> bool {
        while cursor.handled.contains(&self.next) {
            self.next += 1;
        }
        if self.ranges == 0 && (from..=offset).contains(&self.next) {
            self.next = offset + 1;
        } else if from > self.last + 1 {
            self.ranges += 1;
        }
        self.last = offset;
        self.base + self.ranges * 21 < METADATA_LIMIT
    }
}

/// The offsets of a metadata string; anything not ours reads as empty.
fn parse_ranges(metadata: &str) -> BTreeSet<i64> {
    let mut set = BTreeSet::new();
    let Some(body) = metadata.strip_prefix(TAG) else {
        return set;
    };
    for part in body.split(',').filter(|p| !p.is_empty()) {
        let parsed = match part.split_once('-') {
            Some((a, b)) => a.parse::<i64>().ok().zip(b.parse::<i64>().ok()),
            None => part.parse::<i64>().ok().map(|a| (a, a)),
        };
        match parsed {
            // A corrupt record is ignored whole: re-sending beats skipping.
            Some((a, b)) if a >= 0 && a <= b && b - a < 10_000_000 => set.extend(a..=b),
            _ => return BTreeSet::new(),
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_marks_advance_and_leave_no_metadata() {
        let mut c = Cursor::from_committed(None, "");
        c.mark(0, 0);
        c.mark(1, 0);
        assert_eq!(c.committed, Some(2));
        assert_eq!(c.metadata(), "");
    }

    #[test]
    fn a_range_moves_the_cursor_or_waits_above_it() {
        let mut c = Cursor::from_committed(Some(10), "");
        c.mark_range(20, 22, 0);
        assert_eq!(
            (c.committed, c.metadata().as_str()),
            (Some(10), "dlq1:20-22")
        );
        c.mark(24, 0);
        c.mark_range(8, 19, 0);
        assert_eq!((c.committed, c.metadata().as_str()), (Some(23), "dlq1:24"));
        c.mark_range(23, 1_000_000_000, 0);
        assert_eq!(c.committed, Some(1_000_000_001));
        assert!(c.handled.is_empty());
    }

    #[test]
    fn out_of_order_marks_are_recorded_then_absorbed() {
        let mut c = Cursor::from_committed(Some(10), "");
        c.mark(12, 0);
        c.mark(13, 0);
        c.mark(15, 0);
        assert_eq!(c.committed, Some(10));
        assert_eq!(c.metadata(), "dlq1:12-13,15");
        assert!(c.handled.contains(&12) && !c.handled.contains(&11));
        c.mark(11, 0);
        assert_eq!(c.committed, Some(10));
        c.mark(10, 0);
        assert_eq!(c.committed, Some(14));
        assert_eq!(c.metadata(), "dlq1:15");
    }

    #[test]
    fn metadata_round_trips() {
        let c = Cursor::from_committed(Some(3), "dlq1:5-7,9,20-21");
        assert_eq!(c.handled.len(), 6);
        assert_eq!(c.metadata(), "dlq1:5-7,9,20-21");
    }

    #[test]
    fn stale_or_foreign_metadata_is_ignored() {
        let c = Cursor::from_committed(Some(8), "dlq1:5-7,9");
        assert_eq!(c.metadata(), "dlq1:9");
        for foreign in ["app state", "dlq1:5-x", "dlq1:9-5"] {
            assert!(Cursor::from_committed(Some(1), foreign).handled.is_empty());
        }
    }

    #[test]
    fn handled_offsets_are_below_the_cursor_or_recorded() {
        let c = Cursor::from_committed(Some(5), "dlq1:7-8");
        let handled: Vec<i64> = (0..10).filter(|&o| c.has_handled(o)).collect();
        assert_eq!(handled, vec![0, 1, 2, 3, 4, 7, 8]);
        assert!(!Cursor::from_committed(None, "").has_handled(0));
    }

    #[test]
    fn start_respects_the_log_start() {
        let c = Cursor::from_committed(Some(2), "");
        assert_eq!(c.start(5), 5);
        let mut c = Cursor::from_committed(Some(-1001), "");
        assert_eq!(c.start(4), 4);
        c.mark(4, 4);
        assert_eq!(c.committed, Some(5));
    }

    #[test]
    fn advance_drops_what_is_below() {
        let mut c = Cursor::from_committed(Some(1), "dlq1:3,9");
        c.advance_to(5);
        assert_eq!(c.committed, Some(5));
        assert_eq!(c.metadata(), "dlq1:9");
        c.advance_to(2);
        assert_eq!(c.committed, Some(5));
    }

    #[test]
    fn budget_counts_ranges_after_a_gap() {
        let c = Cursor::from_committed(Some(10), "");
        let mut b = Budget::new(&c, 0);
        assert!((10..10_000).all(|o| b.take(&c, o, o)));
        let mut b = Budget::new(&c, 0);
        assert!(!(11..100_000).step_by(2).all(|o| b.take(&c, o, o)));
        let mut b = Budget::new(&c, 0);
        assert!(
            (12..5000).all(|o| b.take(&c, o, o)),
            "one range after one gap"
        );
        // A marker after each record: taken with the record after it, in order.
        let mut b = Budget::new(&c, 0);
        assert!((11..100_000).step_by(2).all(|o| b.take(&c, o - 1, o)));
        // Behind a record left out, the same is one range.
        let mut b = Budget::new(&c, 0);
        assert!((13..100_000).step_by(2).all(|o| b.take(&c, o - 1, o)));
    }
}
