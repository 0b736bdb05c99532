//! Exit codes and error kinds, decided in one place.
//!
//! Every error that reaches `main` is an `anyhow::Error`. Code that knows what
//! kind of failure it has (a bad flag, an unreachable broker) wraps it with
//! [`usage`] or [`broker`], which attach a [`Kind`] to the chain; [`code_for`]
//! walks the chain to find it. Bulk commands decide their code from their
//! report (`report::BulkReport::exit`). The numbers are the contract of SPEC.md.

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

/// The kind of a failure, carried in an error's chain. A backend sets it
/// from the client's typed answer (an AMQP reply code, a JetStream error
/// code, an SQS error code, a Kafka error code), never from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Usage,
    /// The broker answered, and what was named is not there: a queue,
    /// topic, stream, exchange or message.
    NotFound,
    /// Any other broker failure: unreachable, refused, failed mid-run.
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

fn tagged(kind: Kind, message: String, source: Option<Cause>) -> anyhow::Error {
    anyhow::Error::new(Tagged {
        kind,
        message,
        source,
    })
}

/// A usage or configuration error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    tagged(Kind::Usage, message.into(), None)
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

/// What `-v` adds: the causes past the one-line message, each once (a
/// cause whose words the line already holds is not repeated).
pub fn causes(err: &anyhow::Error) -> Vec<String> {
    let line = one_line(err);
    let tagged = err
        .chain()
        .position(|c| c.downcast_ref::<Tagged>().is_some());
    let skip = tagged.map_or(1, |i| i + 1);
    let mut out: Vec<String> = err.chain().skip(skip).map(|c| c.to_string()).collect();
    // The innermost cause is kept even when the line quotes it: it is the chain's end.
    while out.len() > 1 && line.contains(out[0].as_str()) {
        out.remove(0);
    }
    out
}

/// An error and its sources on one line, each cause once.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        // Client libraries' texts sometimes span lines.
        let text = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// A broker error (exit 4): `broker("rabbitmq", "opening queue orders", e)`
/// reads "rabbitmq: opening queue orders: <e>", and keeps `e` for `-v`.
pub fn broker(name: &str, operation: impl fmt::Display, cause: impl Into<Cause>) -> anyhow::Error {
    let cause = cause.into();
    tagged(
        Kind::Broker,
        format!("{name}: {operation}: {cause}"),
        Some(cause),
    )
}

/// A broker error (exit 4) that says `what` went wrong in words and keeps
/// the library error `source` for `-v`.
pub fn broker_with(
    name: &str,
    operation: impl fmt::Display,
    what: impl fmt::Display,
    source: impl Into<Cause>,
) -> anyhow::Error {
    tagged(
        Kind::Broker,
        format!("{name}: {operation}: {what}"),
        Some(source.into()),
    )
}

/// A broker error with no underlying cause.
pub fn broker_msg(message: impl Into<String>) -> anyhow::Error {
    tagged(Kind::Broker, message.into(), None)
}

/// What was named is not there (exit 4): `message` names it; `source` is
/// the broker's answer that said so, when there was one.
pub fn not_found(message: impl Into<String>, source: Option<Cause>) -> anyhow::Error {
    tagged(Kind::NotFound, message.into(), source)
}

/// The kind of the first tagged error in the chain.
pub fn kind_of(err: &anyhow::Error) -> Option<Kind> {
    err.chain()
        .find_map(|c| c.downcast_ref::<Tagged>().map(|t| t.kind))
}

/// True when the error says that what was named is not there.
pub fn is_not_found(err: &anyhow::Error) -> bool {
    kind_of(err) == Some(Kind::NotFound)
}

/// Interrupted before anything could be summarised (exit 130).
pub fn interrupted() -> anyhow::Error {
    tagged(Kind::Interrupted, "interrupted".into(), None)
}

/// Extension for results: tag an error with a kind while keeping its cause.
pub trait Context<T> {
    /// Tag as a usage error (exit 2), keeping the cause for `-v`.
    fn usage_err(self, message: impl fmt::Display) -> anyhow::Result<T>;
    /// Tag as a broker error (exit 4), reading "NAME: OPERATION: cause" and
    /// keeping the cause for `-v`.
    fn broker_err(self, name: &str, operation: impl fmt::Display) -> anyhow::Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn usage_err(self, message: impl fmt::Display) -> anyhow::Result<T> {
        self.map_err(|e| tagged(Kind::Usage, format!("{message}: {e}"), Some(Box::new(e))))
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
                Kind::NotFound | Kind::Broker => Exit::Broker,
                Kind::Interrupted => Exit::Interrupted,
            };
        }
        if cause.downcast_ref::<clap::Error>().is_some() {
            return Exit::Usage;
        }
    }
    Exit::Broker
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
