//! The ledger of one bulk run: the rules every backend follows, kept once.
//!
//! A backend's bulk path (re-drive, purge, publish) keeps only its broker
//! mechanics: how it reads, sends, confirms, acknowledges and deletes, and
//! how it pipelines that. Everything else it asks of or tells the ledger:
//! which messages to act on ([`Ledger::decide`], which also counts and
//! journals a skip), what became of each ([`Ledger::done`], [`Ledger::failed`]),
//! why the run stops early ([`Ledger::stop`]), whether to stop taking
//! messages ([`Ledger::should_stop`]: Ctrl-C, a stop, the selection
//! exhausted), the `--rate` pacing, and the `--backup` file, written and
//! synced before anything is removed. The ledger keeps the report, writes
//! the journal as the run goes and moves the progress bar, so every broker
//! counts, labels and records the same way. It is shared by the pipeline
//! tasks of a backend, so it takes `&self` and locks only for a moment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::{Backup, Interrupt, Progress, Rate};
use crate::journal::Journal;
use crate::message::Message;
use crate::report::{Action, BulkReport, Stopped};
use crate::select::{Decision, Selection};

/// What a run starts with.
pub struct Setup {
    /// What a finished message counts as: moved, purged or published.
    pub action: Action,
    pub selection: Selection,
    pub progress: Progress,
    pub interrupt: Interrupt,
    pub rate: Option<Rate>,
    pub backup: Option<Backup>,
    /// Where each message acted on is recorded; `Journal::off()` for none.
    pub journal: Journal,
}

impl Setup {
    /// A run of `action` over `selection`, with no progress bar, rate,
    /// backup or journal.
    pub fn plain(action: Action, selection: Selection) -> Self {
        Setup {
            action,
            selection,
            progress: Progress::hidden(),
            interrupt: Interrupt::default(),
            rate: None,
            backup: None,
            journal: Journal::off(),
        }
    }
}

/// One bulk run's rules and record. See the module docs.
pub struct Ledger {
    setup: Setup,
    report: Mutex<BulkReport>,
    stop: AtomicBool,
}

impl Ledger {
    pub fn new(setup: Setup) -> Self {
        Ledger {
            setup,
            report: Mutex::new(BulkReport::default()),
            stop: AtomicBool::new(false),
        }
    }

    fn report(&self) -> MutexGuard<'_, BulkReport> {
        self.report.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the run acts on.
    pub fn selection(&self) -> &Selection {
        &self.setup.selection
    }

    /// Decides about one message read; a skip is counted and journaled here,
    /// so the backend only keeps the message where it is.
    pub fn decide(&self, m: &Message) -> Decision {
        let d = self.setup.selection.decide(m);
        if let Decision::Skip(why) = &d {
            self.report().skipped += 1;
            self.setup
                .journal
                .record(&m.id, Action::Skipped, None, Some(&why.to_string()));
        }
        d
    }

    /// Gives back a taken slot of `--limit`, for a message taken but not acted on.
    pub fn untake(&self) {
        self.setup.selection.untake();
    }

    /// One message done (moved to `to`, purged, published).
    pub fn done(&self, id: &str, to: Option<&str>) {
        self.report().done += 1;
        self.setup.journal.record(id, self.setup.action, to, None);
        self.setup.progress.inc(1);
    }

    /// `n` messages done by one broker operation that names none of them
    /// (queue.purge, a moved cursor, a server-side move).
    pub fn done_unnamed(&self, n: u64) {
        self.report().done += n;
        self.setup.progress.inc(n);
    }

    /// One message failed for a reason of its own; it stays where it was.
    pub fn failed(&self, id: impl Into<String>, error: impl Into<String>) {
        self.report().fail(id, error);
        self.setup.progress.inc(1);
    }

    /// Stops the run: no more messages are taken; what is in flight is
    /// settled. The first reason given is the one reported.
    pub fn stop(&self, why: Stopped) {
        self.stop.store(true, Ordering::SeqCst);
        self.report().stopped.get_or_insert(why);
    }

    /// Stops the run because the broker failed.
    pub fn stop_broker(&self, err: &anyhow::Error) {
        self.stop(Stopped::broker(err));
    }

    /// True once the run was stopped (not by Ctrl-C).
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// After the run: each ID given that named no message read is a
    /// failure, unless Ctrl-C or a stop cut the run short (then the rest
    /// was not reached, and is still there).
    pub fn fail_unseen_ids(&self) {
        if self.interrupted() || self.stopped() {
            return;
        }
        for id in self.setup.selection.missing_ids() {
            self.failed(id, "no such message (it was removed or moved meanwhile)");
        }
    }

    /// True once Ctrl-C was pressed.
    pub fn interrupted(&self) -> bool {
        self.setup.interrupt.is_set()
    }

    /// True when no more messages should be taken: Ctrl-C, a stop, or
    /// nothing more the selection can take.
    pub fn should_stop(&self) -> bool {
        self.interrupted() || self.stopped() || self.setup.selection.exhausted()
    }

    /// Waits for the `--rate` limiter, if any; call before sending each message.
    pub async fn pace(&self) {
        if let Some(rate) = &self.setup.rate {
            rate.acquire().await;
        }
    }

    /// True when the run paces its messages (`--rate`).
    pub fn paced(&self) -> bool {
        self.rate().is_some()
    }

    /// Messages a second under `--rate`, if any.
    pub fn rate(&self) -> Option<f64> {
        self.setup.rate.as_ref().map(Rate::per_second)
    }

    /// Saves messages to the `--backup` file, synced, before they are
    /// removed. False when that failed: the run is stopped and they must
    /// stay.
    pub fn backup<'a>(&self, messages: impl IntoIterator<Item = &'a Message>) -> bool {
        let Some(b) = &self.setup.backup else {
            return true;
        };
        match b.save(messages) {
            Ok(()) => true,
            Err(e) => {
                self.stop(Stopped::local(&e));
                false
            }
        }
    }

    /// True when messages are saved before they are removed.
    pub fn has_backup(&self) -> bool {
        self.setup.backup.is_some()
    }

    /// A line for the human summary.
    pub fn note(&self, line: impl Into<String>) {
        self.report().notes.push(line.into());
    }

    /// Writes the journal records of a finished batch out.
    pub fn flush(&self) {
        self.setup.journal.flush();
    }

    /// Messages done and failed so far.
    pub fn counts(&self) -> (u64, u64) {
        let r = self.report();
        (r.done, r.failed)
    }

    /// The report of the run, the progress bar cleared.
    pub fn finish(self) -> BulkReport {
        self.setup.progress.finish();
        self.setup.journal.flush();
        let mut report = self.report.into_inner().unwrap_or_else(|e| e.into_inner());
        report.interrupted |= self.setup.interrupt.is_set();
        report
    }

    /// The journal of the run.
    pub fn journal(&self) -> &Journal {
        &self.setup.journal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use crate::message::REDRIVE_HEADER;
    use crate::select::{Criteria, Filter};
    use serde_json::json;

    fn msg(id: &str, redrives: u32) -> Message {
        let mut m = Message {
            id: id.into(),
            ..Default::default()
        };
        m.headers
            .insert(REDRIVE_HEADER.into(), json!(redrives.to_string()));
        m
    }

    #[test]
    fn ids_not_reached_before_a_stop_are_no_failures() {
        let ids = ["a".to_string(), "b".into()];
        let criteria = Criteria::new(Some(&ids), Filter::default(), None, None);
        let run = Ledger::new(Setup::plain(Action::Moved, criteria.start()));
        run.fail_unseen_ids();
        assert_eq!(run.counts(), (0, 2));
        let setup = Setup::plain(Action::Moved, criteria.start());
        setup.interrupt.set();
        let run = Ledger::new(setup);
        run.fail_unseen_ids();
        assert_eq!(run.counts(), (0, 0));
        let run = Ledger::new(Setup::plain(Action::Moved, criteria.start()));
        run.stop_broker(&anyhow::anyhow!("connection lost"));
        run.fail_unseen_ids();
        assert_eq!(run.counts(), (0, 0));
    }

    #[test]
    fn counts_skips_failures_and_stops() {
        let sel = Criteria::new(None, Filter::default(), None, Some(1)).start();
        let run = Ledger::new(Setup::plain(Action::Moved, sel));
        assert_eq!(run.decide(&msg("a", 0)), Decision::Take);
        assert!(matches!(run.decide(&msg("b", 1)), Decision::Skip(_)));
        run.done("a", Some("orders"));
        run.failed("c", "no origin");
        assert!(!run.should_stop());
        run.stop_broker(&anyhow::anyhow!("connection lost"));
        run.stop_broker(&anyhow::anyhow!("second reason"));
        assert!(run.should_stop());
        let r = run.finish();
        assert_eq!((r.done, r.skipped, r.failed), (1, 1, 1));
        assert_eq!(r.stopped.unwrap().message, "connection lost");
    }

    #[test]
    fn a_failed_backup_stops_and_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.ndjson");
        let mut setup = Setup::plain(Action::Purged, Selection::everything());
        setup.backup = Some(Backup::create(&path).unwrap());
        let run = Ledger::new(setup);
        assert!(run.backup([&msg("a", 0)]));
        assert!(!run.stopped());
        let r = run.finish();
        assert_eq!(r.exit(), Exit::Ok);
    }
}
