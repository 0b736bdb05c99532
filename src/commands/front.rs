//! Who a command talks to while it changes messages: the person asked to
//! confirm, the progress shown as it runs, the closing summary.
//!
//! On a plain terminal ([`Terminal`]) that is a prompt on stdin, a progress
//! bar and a summary line on stderr. `dlq browse` owns the whole screen, so
//! it supplies its own front: it has asked in a dialog before the run,
//! counts progress for its status bar, and keeps the summary to show there.
//! The commands stay one code path and only ever call [`Front`].

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;

use crate::bulk::Progress;
use crate::output::Printer;
use crate::report::{Action, BulkReport};

/// What a command needs from whoever watches it. See the module docs.
pub trait Front: Send + Sync {
    /// True when there is a person to ask.
    fn can_ask(&self) -> bool;
    /// Asks a yes/no question; anything but yes is no.
    fn ask(&self, printer: &Printer, question: &str) -> Result<bool>;
    /// Progress of a run over `total` messages (None when unknown).
    fn progress(&self, printer: &Printer, total: Option<u64>, verb: &str) -> Progress;
    /// The closing summary of a run.
    fn summary(&self, printer: &Printer, report: &BulkReport, verb: Action) -> Result<()>;
}

/// The prompt on stdin and the progress bar and summary on stderr.
#[derive(Debug, Default, Clone, Copy)]
pub struct Terminal;

impl Front for Terminal {
    fn can_ask(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    fn ask(&self, _: &Printer, question: &str) -> Result<bool> {
        let mut err = std::io::stderr().lock();
        write!(err, "{question} [y/N] ")?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
    }

    fn progress(&self, printer: &Printer, total: Option<u64>, verb: &str) -> Progress {
        printer.progress(total, verb)
    }

    fn summary(&self, printer: &Printer, report: &BulkReport, verb: Action) -> Result<()> {
        printer.summary(report, verb)
    }
}
