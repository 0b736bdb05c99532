//! The front `dlq browse` gives the commands it runs: the question was
//! asked in the view's dialog before the run started, progress is counted
//! for the status bar, and the summary line is kept to show there.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::bulk::Progress;
use crate::commands::front::Front;
use crate::output::Printer;
use crate::report::{Action, BulkReport};
use crate::sanitize::escape;

/// See the module docs.
#[derive(Default)]
pub struct ViewFront {
    done: Arc<AtomicU64>,
    total: AtomicU64,
    verb: Mutex<&'static str>,
    summary: Mutex<Option<String>>,
}

impl ViewFront {
    /// The verb, done and total of the run under way.
    pub fn progress_now(&self) -> (&'static str, u64, u64) {
        let verb = *self.verb.lock().unwrap_or_else(|e| e.into_inner());
        (
            if verb.is_empty() { "working" } else { verb },
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    /// The summary line of the last run, once.
    pub fn take_summary(&self) -> Option<String> {
        self.summary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// The summary as the status bar shows it: `moved 3, skipped 0, failed 0`,
/// then why the run stopped, or the first failure.
pub fn summary_line(report: &BulkReport, verb: Action) -> String {
    let mut line = format!(
        "{} {}, skipped {}, failed {}",
        verb.as_str(),
        report.done,
        report.skipped,
        report.failed
    );
    if report.interrupted {
        line.push_str(" (interrupted)");
    }
    if let Some(stop) = &report.stopped {
        line.push_str(&format!("; stopped: {}", escape(&stop.message, false)));
    } else if let Some(f) = report.failures.first() {
        line.push_str(&format!(
            "; {}: {}",
            escape(&f.id, false),
            escape(&f.error, false)
        ));
    }
    crate::secrets::scrub(&line)
}

impl Front for ViewFront {
    fn can_ask(&self) -> bool {
        true
    }

    /// The view asked in its dialog before it started the command.
    fn ask(&self, _: &Printer, _: &str) -> Result<bool> {
        Ok(true)
    }

    fn progress(&self, _: &Printer, total: Option<u64>, verb: &str) -> Progress {
        *self.verb.lock().unwrap_or_else(|e| e.into_inner()) = match verb {
            "moving" => "moving",
            "purging" => "purging",
            _ => "working",
        };
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total.unwrap_or(0), Ordering::Relaxed);
        Progress::counting(self.done.clone())
    }

    fn summary(&self, _: &Printer, report: &BulkReport, verb: Action) -> Result<()> {
        *self.summary.lock().unwrap_or_else(|e| e.into_inner()) = Some(summary_line(report, verb));
        Ok(())
    }
}
