//! What a bulk command (retry, retry-all, purge, publish) needs while it runs,
//! and what it reports at the end.
//!
//! A backend receives one [`BulkContext`]: it calls [`BulkContext::tick`] for
//! each finished message (progress bar and `--rate` pacing), checks
//! [`Interrupt::is_set`] before taking the next message so that Ctrl-C stops
//! cleanly, and writes to the `--backup` file through [`Backup::save`] before
//! it removes anything. It reports each message it moved, purged, published
//! or skipped to the journal through [`BulkContext::record`] (or
//! [`BulkContext::done`]); `tick` writes those records out, one batch at a
//! time. It returns a [`BulkReport`], which the command prints as the
//! closing summary and turns into the exit code.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::Serialize;
use serde_json::Value;

use crate::exit::{code_for_report, Exit};
use crate::journal::{Action, Journal};
use crate::message::Message;

/// One message that could not be handled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub id: String,
    pub error: String,
}

/// The outcome of a bulk command.
#[derive(Debug, Clone, Default)]
pub struct BulkReport {
    /// Moved, purged or published, depending on the command.
    pub done: u64,
    pub skipped: u64,
    pub failed: u64,
    pub failures: Vec<Failure>,
    pub dry_run: bool,
    /// Ctrl-C stopped the run before it finished.
    pub interrupted: bool,
    /// Why the run stopped early, when it did (a malformed input line, a lost
    /// connection); the counts above say what happened before.
    pub stopped_by: Option<String>,
    /// Extra lines for the human summary ("the broker does not support DeleteRecords").
    pub notes: Vec<String>,
}

impl BulkReport {
    /// Records a failed message.
    pub fn fail(&mut self, id: impl Into<String>, error: impl Into<String>) {
        self.failed += 1;
        self.failures.push(Failure {
            id: id.into(),
            error: error.into(),
        });
    }

    /// The summary object of SPEC.md; `verb` (moved, purged, published)
    /// names the count of what was done.
    pub fn summary(&self, verb: Action) -> Summary<'_> {
        let done = |a: Action| (a == verb).then_some(self.done);
        Summary {
            moved: done(Action::Moved),
            purged: done(Action::Purged),
            published: done(Action::Published),
            skipped: self.skipped,
            failed: self.failed,
            dry_run: self.dry_run,
            failures: &self.failures,
            interrupted: self.interrupted,
            stopped_by: self.stopped_by.as_deref(),
            notes: &self.notes,
        }
    }

    /// The summary as a JSON value, for a dry run that adds its plan.
    pub fn to_json(&self, verb: Action) -> Value {
        serde_json::to_value(self.summary(verb)).expect("a summary is plain JSON")
    }

    /// The exit code this outcome stands for.
    pub fn exit(&self) -> Exit {
        let failed = self.failed + u64::from(self.stopped_by.is_some());
        code_for_report(self.done, failed, self.interrupted)
    }
}

/// The closing summary of a bulk run as SPEC.md shows it: one of `moved`,
/// `purged` or `published` first, then the rest in this order;
/// `interrupted`, `stopped_by` and `notes` only when they say something.
#[derive(Debug, Serialize)]
pub struct Summary<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purged: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<u64>,
    pub skipped: u64,
    pub failed: u64,
    pub dry_run: bool,
    pub failures: &'r [Failure],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<&'r str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub notes: &'r [String],
}

/// Set by Ctrl-C; bulk loops stop taking new messages when they see it.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst)
    }

    /// Waits until Ctrl-C was pressed; for `select!` against a blocking wait.
    pub async fn wait(&self) {
        while !self.is_set() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sets the flag on the first Ctrl-C; a second one ends the process at
    /// once (exit 130), which at worst leaves a duplicate, never a loss.
    pub fn install(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                me.set();
                eprintln!(
                    "dlq: interrupted: finishing what is in flight (Ctrl-C again to stop at once)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }
}

/// Paces work to `--rate N` messages a second, from the first message on:
/// a slow start (a long first receive) must not be made up in a burst.
#[derive(Debug)]
pub struct Rate {
    per_second: f64,
    /// When the first message went, and how many went since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl Rate {
    pub fn new(per_second: f64) -> Self {
        Rate {
            per_second,
            state: Mutex::new((None, 0)),
        }
    }

    /// Waits until one more message may go out.
    pub async fn acquire(&self) {
        let due = {
            let mut st = self.state.lock().unwrap();
            let start = *st.0.get_or_insert_with(Instant::now);
            let due = start + Duration::from_secs_f64(st.1 as f64 / self.per_second);
            st.1 += 1;
            due
        };
        tokio::time::sleep_until(due.into()).await;
    }
}

/// The `--backup FILE` of purge: one NDJSON envelope a line, on disk before
/// the message is removed.
#[derive(Debug)]
pub struct Backup {
    file: Mutex<BufWriter<File>>,
}

impl Backup {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| {
            crate::exit::usage(format!("cannot create backup file {}: {e}", path.display()))
        })?;
        Ok(Backup {
            file: Mutex::new(BufWriter::new(file)),
        })
    }

    /// Writes the envelopes and syncs them to disk; call before removing them.
    pub fn save<'a>(&self, messages: impl IntoIterator<Item = &'a Message>) -> Result<()> {
        let mut w = self.file.lock().unwrap();
        for m in messages {
            serde_json::to_writer(&mut *w, &m.envelope()).context("writing the backup file")?;
            w.write_all(b"\n").context("writing the backup file")?;
        }
        w.flush().context("writing the backup file")?;
        w.get_ref()
            .sync_data()
            .context("syncing the backup file to disk")?;
        Ok(())
    }
}

/// A progress counter; draws a bar on stderr when the printer allows it.
#[derive(Clone)]
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn hidden() -> Self {
        Progress(None)
    }

    /// A bar for `total` messages (None when unknown) with a verb like "moving".
    pub fn bar(total: Option<u64>, verb: &str) -> Self {
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let template = if total.is_some() {
            format!("{verb} {{bar:30}} {{pos}}/{{len}} {{per_sec}} eta {{eta}}")
        } else {
            format!("{verb} {{spinner}} {{pos}} {{per_sec}}")
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress(Some(bar))
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Everything a backend needs to run a bulk command well.
pub struct BulkContext {
    pub progress: Progress,
    pub interrupt: Interrupt,
    pub rate: Option<Rate>,
    pub backup: Option<Backup>,
    /// Where each message acted on is recorded; `Journal::off()` for none.
    pub journal: Journal,
}

impl BulkContext {
    /// A context with no progress, no rate, no backup and no journal.
    pub fn plain(interrupt: Interrupt) -> Self {
        BulkContext {
            progress: Progress::hidden(),
            interrupt,
            rate: None,
            backup: None,
            journal: Journal::off(),
        }
    }

    /// Records one message acted on in the journal: `to` is where it went,
    /// `error` why it failed or was skipped.
    pub fn record(&self, id: &str, action: Action, to: Option<&str>, error: Option<&str>) {
        self.journal.record(id, action, to, error);
    }

    /// Records one finished message as what this run does (moved, purged,
    /// published), sent to `to` when it went somewhere.
    pub fn done(&self, id: &str, to: Option<&str>) {
        if let Some(action) = self.journal.action() {
            self.journal.record(id, action, to, None);
        }
    }

    /// Records one skipped message and why.
    pub fn skip(&self, id: &str, why: &dyn std::fmt::Display) {
        self.journal
            .record(id, Action::Skipped, None, Some(&why.to_string()));
    }

    /// Waits for the rate limiter, if any; call before sending each message.
    pub async fn pace(&self) {
        if let Some(rate) = &self.rate {
            rate.acquire().await;
        }
    }

    /// Counts finished messages on the progress bar and writes the
    /// journal records of the batch out.
    pub fn tick(&self, n: u64) {
        self.progress.inc(n);
        self.journal.flush();
    }

    /// True when Ctrl-C was pressed; stop taking new messages.
    pub fn interrupted(&self) -> bool {
        self.interrupt.is_set()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_json_shape() {
        let mut r = BulkReport {
            done: 3,
            skipped: 1,
            ..Default::default()
        };
        r.fail("7", "queue not found");
        let v = r.to_json(Action::Moved);
        assert_eq!(v["moved"], 3);
        assert_eq!(v["skipped"], 1);
        assert_eq!(v["failed"], 1);
        assert_eq!(v["dry_run"], false);
        assert_eq!(v["failures"][0]["id"], "7");
        assert_eq!(v["failures"][0]["error"], "queue not found");
        assert_eq!(r.exit(), Exit::Partial);
    }

    #[test]
    fn stopped_early_is_not_ok() {
        let r = BulkReport {
            done: 2,
            stopped_by: Some("line 3: bad".into()),
            ..Default::default()
        };
        assert_eq!(r.exit(), Exit::Partial);
    }

    #[test]
    fn backup_writes_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.ndjson");
        let b = Backup::create(&path).unwrap();
        let m = Message {
            id: "1".into(),
            body: b"x".to_vec(),
            ..Default::default()
        };
        b.save([&m, &m]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
    }
}
