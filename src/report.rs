//! What a bulk run (retry, retry-all, purge, publish, edit) reports: how many
//! messages were done, skipped and failed, which failed and why, why the run
//! stopped early, and the exit code all of that stands for.
//!
//! It is plain data below both the ledger that fills it (`bulk`) and the
//! journal that records it, so neither has to know the other. The exit code
//! follows SPEC.md: a message that failed for a reason of its own (no origin,
//! a transform that does not fit, refused by the broker for that message)
//! makes a run partly done (3), also when every message failed so; only a
//! run the broker itself stopped (unreachable, a connection lost midway, a
//! target gone) is a broker error (4).

use serde::Serialize;
use serde_json::Value;

use crate::exit::Exit;

/// What happened to one message, and what a run's finished messages count as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Moved,
    Purged,
    Published,
    Skipped,
    Failed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Moved => "moved",
            Action::Purged => "purged",
            Action::Published => "published",
            Action::Skipped => "skipped",
            Action::Failed => "failed",
        }
    }
}

/// One message that could not be handled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub id: String,
    pub error: String,
}

/// Who stopped a run before it went through every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// The broker: unreachable, the connection lost, a target gone (exit 4).
    Broker,
    /// Something on this side: a malformed input line, a backup file that
    /// cannot be written (exit 2 when nothing changed, else 3).
    Local,
    /// The broker refused a part of the run it does not do (DeleteRecords
    /// after the cursor moved): partly done (exit 3).
    Refused,
}

/// Why a run stopped early; the counts say what happened before.
#[derive(Debug, Clone, PartialEq)]
pub struct Stopped {
    pub kind: StopKind,
    /// One line, as the summary prints it.
    pub message: String,
    /// The causes behind it, for `-v`.
    pub causes: Vec<String>,
}

impl Stopped {
    /// A stop by the broker, from the error that stopped the run.
    pub fn broker(err: &anyhow::Error) -> Self {
        Stopped::of(StopKind::Broker, err)
    }

    /// A stop on this side, from the error that stopped the run.
    pub fn local(err: &anyhow::Error) -> Self {
        Stopped::of(StopKind::Local, err)
    }

    /// A part of the run the broker refused to do.
    pub fn refused(err: &anyhow::Error) -> Self {
        Stopped::of(StopKind::Refused, err)
    }

    fn of(kind: StopKind, err: &anyhow::Error) -> Self {
        Stopped {
            kind,
            message: crate::exit::one_line(err),
            causes: crate::exit::causes(err),
        }
    }
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
    /// Why the run stopped early, when it did.
    pub stopped: Option<Stopped>,
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
            stopped_by: self.stopped.as_ref().map(|s| s.message.as_str()),
            notes: &self.notes,
        }
    }

    /// The summary as a JSON value, for a dry run that adds its plan.
    pub fn to_json(&self, verb: Action) -> Value {
        serde_json::to_value(self.summary(verb)).expect("a summary is plain JSON")
    }

    /// The exit code this outcome stands for (see the module docs).
    pub fn exit(&self) -> Exit {
        if self.interrupted {
            return Exit::Interrupted;
        }
        match self.stopped.as_ref().map(|s| s.kind) {
            Some(StopKind::Broker) => Exit::Broker,
            Some(StopKind::Local) if self.done == 0 && self.failed == 0 => Exit::Usage,
            Some(StopKind::Local) | Some(StopKind::Refused) => Exit::Partial,
            None if self.failed > 0 => Exit::Partial,
            None => Exit::Ok,
        }
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

    fn stopped(kind: StopKind) -> Option<Stopped> {
        Some(Stopped {
            kind,
            message: "why".into(),
            causes: Vec::new(),
        })
    }

    #[test]
    fn exit_codes() {
        let r = |done, failed, stop: Option<StopKind>, interrupted| BulkReport {
            done,
            failed,
            stopped: stop.and_then(stopped),
            interrupted,
            ..Default::default()
        };
        assert_eq!(r(5, 0, None, false).exit(), Exit::Ok);
        assert_eq!(r(0, 0, None, false).exit(), Exit::Ok);
        assert_eq!(r(4, 1, None, false).exit(), Exit::Partial);
        // Every message failed for a reason of its own: still not a broker error.
        assert_eq!(r(0, 2, None, false).exit(), Exit::Partial);
        assert_eq!(r(3, 0, Some(StopKind::Broker), false).exit(), Exit::Broker);
        assert_eq!(r(0, 1, Some(StopKind::Broker), false).exit(), Exit::Broker);
        assert_eq!(r(0, 0, Some(StopKind::Local), false).exit(), Exit::Usage);
        assert_eq!(r(2, 0, Some(StopKind::Local), false).exit(), Exit::Partial);
        assert_eq!(
            r(3, 0, Some(StopKind::Broker), true).exit(),
            Exit::Interrupted
        );
    }
}
