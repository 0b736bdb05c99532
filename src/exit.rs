//! Exit codes and error kinds, decided in one place.
//!
//! Every error that reaches `main` is an `anyhow::Error`. Code that knows what
//! kind of failure it has (a bad flag, an unreachable broker) wraps it with
//! [`usage`] or [`broker`], which attach a [`Kind`] to the chain; [`code_for`]
//! walks the chain to find it. Bulk commands decide their code from their
//! summary with [`code_for_report`]. The numbers are the contract of SPEC.md.

use std::fmt;
use std::process::ExitCode;

/// What the process reports to its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// A `lag` threshold was exceeded; the tool itself worked.
    Threshold = 1,
    /// Usage or configuration error: bad flag, bad URL, unknown profile.
    Usage = 2,
    /// Partly done: some messages failed, the rest went through.
    Partial = 3,
    /// Broker error: cannot connect, authenticate or find the queue.
    Broker = 4,
    /// Interrupted by Ctrl-C.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// The kind of a failure, carried in an error's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Usage,
    Broker,
    Interrupted,
}

/// The error a failure came from, kept for `-v`.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error with a known kind and a one-line message. The message already
/// says what went wrong; `source` is the library error behind it, which
/// `-v` prints as the cause chain.
#[derive(Debug)]
pub struct Tagged {
    pub kind: Kind,
    pub message: String,
    pub source: Option<Cause>,
}

impl fmt::Display for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Tagged {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A usage or configuration error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Tagged {
        kind: Kind::Usage,
        message: message.into(),
        source: None,
    })
}

/// The line `main` prints: the chain's messages up to the first tagged one
/// (which already says what its cause was), joined by ": ".
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in err.chain() {
        parts.push(cause.to_string());
        if cause.downcast_ref::<Tagged>().is_some() {
            break;
        }
    }
    parts.join(": ")
}

/// What `-v` adds: the causes past the one-line message.
pub fn causes(err: &anyhow::Error) -> Vec<String> {
    let tagged = err
        .chain()
        .position(|c| c.downcast_ref::<Tagged>().is_some());
    let skip = tagged.map_or(1, |i| i + 1);
    err.chain().skip(skip).map(|c| c.to_string()).collect()
}

/// A broker error (exit 4): `broker("rabbitmq", "opening queue orders", cause)`
/// reads "rabbitmq: opening queue orders: <cause>".
pub fn broker(name: &str, operation: impl fmt::Display, cause: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Tagged {
        kind: Kind::Broker,
        message: format!("{name}: {operation}: {cause}"),
        source: None,
    })
}

/// A broker error (exit 4) that says `what` went wrong in words and keeps
/// the library error `source` for `-v`.
pub fn broker_with(
    name: &str,
    operation: impl fmt::Display,
    what: impl fmt::Display,
    source: impl Into<Cause>,
) -> anyhow::Error {
    anyhow::Error::new(Tagged {
        kind: Kind::Broker,
        message: format!("{name}: {operation}: {what}"),
        source: Some(source.into()),
    })
}

/// A broker error with no underlying cause, such as "queue not found".
pub fn broker_msg(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Tagged {
        kind: Kind::Broker,
        message: message.into(),
        source: None,
    })
}

/// Interrupted before anything could be summarised (exit 130).
pub fn interrupted() -> anyhow::Error {
    anyhow::Error::new(Tagged {
        kind: Kind::Interrupted,
        message: "interrupted".into(),
        source: None,
    })
}

/// Extension for results: tag an error with a kind while keeping its cause.
pub trait Context<T> {
    /// Tag as a usage error (exit 2).
    fn usage_err(self, message: impl fmt::Display) -> anyhow::Result<T>;
    /// Tag as a broker error (exit 4), reading "NAME: OPERATION: cause".
    fn broker_err(self, name: &str, operation: impl fmt::Display) -> anyhow::Result<T>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn usage_err(self, message: impl fmt::Display) -> anyhow::Result<T> {
        self.map_err(|e| usage(format!("{message}: {e}")))
    }
    fn broker_err(self, name: &str, operation: impl fmt::Display) -> anyhow::Result<T> {
        self.map_err(|e| broker(name, operation, e))
    }
}

/// The exit code for an error: the first tagged kind in its chain, else a
/// broker error (an untagged failure happened while talking to something).
pub fn code_for(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(t) = cause.downcast_ref::<Tagged>() {
            return match t.kind {
                Kind::Usage => Exit::Usage,
                Kind::Broker => Exit::Broker,
                Kind::Interrupted => Exit::Interrupted,
            };
        }
        if let Some(e) = cause.downcast_ref::<clap::Error>() {
            let _ = e;
            return Exit::Usage;
        }
    }
    Exit::Broker
}

/// The exit code of a bulk command from its counts.
///
/// Interrupted wins; any failure with some success is partial (3); failures
/// with nothing done mean nothing changed (4); otherwise done (0).
pub fn code_for_report(done: u64, failed: u64, interrupted: bool) -> Exit {
    if interrupted {
        Exit::Interrupted
    } else if failed == 0 {
        Exit::Ok
    } else if done > 0 {
        Exit::Partial
    } else {
        Exit::Broker
    }
}

/// A command-line parse error as the one line of the contract: clap's
/// message and tips without its usage block, `dlq: error: ` in front.
pub fn clap_line(rendered: &str) -> String {
    let mut message = Vec::new();
    let mut tips = Vec::new();
    for line in rendered.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("For more information") {
            continue;
        }
        if line.starts_with("Usage:") {
            break;
        }
        if line.starts_with("tip:") {
            tips.push(line);
        } else {
            message.push(line.strip_prefix("error:").unwrap_or(line).trim());
        }
    }
    let mut out = format!("dlq: error: {}", message.join(" "));
    for tip in tips {
        out.push_str("; ");
        out.push_str(tip);
    }
    out.push_str(" (see --help)");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_kinds_map_to_codes() {
        assert_eq!(code_for(&usage("bad")), Exit::Usage);
        assert_eq!(
            code_for(&broker("rabbitmq", "connecting", "refused")),
            Exit::Broker
        );
        assert_eq!(code_for(&interrupted()), Exit::Interrupted);
        assert_eq!(code_for(&anyhow::anyhow!("plain")), Exit::Broker);
    }

    #[test]
    fn tag_survives_context() {
        let e = usage("bad url").context("reading profile");
        assert_eq!(code_for(&e), Exit::Usage);
    }

    #[test]
    fn broker_message_names_broker_and_operation() {
        let e = broker("kafka", "listing offsets for group billing", "timed out");
        assert_eq!(
            e.to_string(),
            "kafka: listing offsets for group billing: timed out"
        );
    }

    #[test]
    fn cause_is_kept_for_verbose_and_out_of_the_line() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused by peer");
        let e = broker_with("nats", "connecting to nats://h:4222", "cannot connect", io)
            .context("reading stream 'x'");
        assert_eq!(
            one_line(&e),
            "reading stream 'x': nats: connecting to nats://h:4222: cannot connect"
        );
        assert_eq!(causes(&e), ["refused by peer"]);
        assert_eq!(code_for(&e), Exit::Broker);
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(one_line(&plain), "outer: inner");
        assert_eq!(causes(&plain), ["inner"]);
    }

    #[test]
    fn report_codes() {
        assert_eq!(code_for_report(5, 0, false), Exit::Ok);
        assert_eq!(code_for_report(0, 0, false), Exit::Ok);
        assert_eq!(code_for_report(4, 1, false), Exit::Partial);
        assert_eq!(code_for_report(0, 2, false), Exit::Broker);
        assert_eq!(code_for_report(3, 0, true), Exit::Interrupted);
    }

    #[test]
    fn clap_errors_become_one_line() {
        let missing = "error: the following required arguments were not provided:\n  <QUEUE>\n\nUsage: dlq list <QUEUE>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_line(missing),
            "dlq: error: the following required arguments were not provided: <QUEUE> (see --help)"
        );
        let value = "error: invalid value 'nosh' for '<SHELL>'\n  [possible values: bash, zsh]\n\n  tip: a similar value exists: 'zsh'\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_line(value),
            "dlq: error: invalid value 'nosh' for '<SHELL>' [possible values: bash, zsh]; tip: a similar value exists: 'zsh' (see --help)"
        );
    }
}
