//! NATS subject matching and the advisory subjects dlq understands.
//!
//! Which stream dead-letters into which is not stored anywhere in JetStream:
//! it follows from the subjects a DLQ stream captures. These helpers answer
//! "does this subject pattern catch the MAX_DELIVERIES advisories of stream
//! S" without asking the server.

/// Prefix of the advisory a consumer sends when it gives up on a message.
pub const MAX_DELIVERIES: &str = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES";
/// Prefix of the advisory a consumer sends when a message is terminated.
pub const MSG_TERMINATED: &str = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED";

/// True when `pattern` (with `*` and `>`) matches `subject`. A subject token
/// `*` stands for "any token" (used to ask about every consumer).
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) | (None, None) => return true,
            (Some(pt), Some(st)) if pt != "*" && st != "*" && pt != st => return false,
            (Some(_), Some(_)) => {}
            _ => return false,
        }
    }
}

/// True when a stream capturing `subjects` receives the dead-letter
/// advisories of `stream` (consumer `consumer`); `*` stands for any.
pub fn captures_advisories_of(subjects: &[String], stream: &str, consumer: &str) -> bool {
    subjects.iter().any(|p| {
        matches(p, &format!("{MAX_DELIVERIES}.{stream}.{consumer}"))
            || matches(p, &format!("{MSG_TERMINATED}.{stream}.{consumer}"))
    })
}

/// The stream of `streams` (name, subjects) whose subjects capture `subject`.
pub fn stream_for<'a>(streams: &'a [(String, Vec<String>)], subject: &str) -> Option<&'a str> {
    streams
        .iter()
        .find(|(_, subs)| subs.iter().any(|p| matches(p, subject)))
        .map(|(n, _)| n.as_str())
}

/// A subject dlq may publish to: not empty, no spaces, no wildcards.
pub fn is_publishable(subject: &str) -> bool {
    !subject.is_empty()
        && !subject.contains([' ', '\t', '\r', '\n', '*', '>'])
        && subject.split('.').all(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match() {
        assert!(matches("orders.>", "orders.new.eu"));
        assert!(matches("orders.*", "orders.new"));
        assert!(!matches("orders.*", "orders.new.eu"));
        assert!(!matches("orders", "orders.new"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.>", "a"));
    }

    #[test]
    fn advisory_capture() {
        let dlq = vec![format!("{MAX_DELIVERIES}.ORDERS.>")];
        assert!(captures_advisories_of(&dlq, "*", "*"));
        assert!(captures_advisories_of(&dlq, "ORDERS", "*"));
        assert!(captures_advisories_of(&dlq, "ORDERS", "worker"));
        assert!(!captures_advisories_of(&dlq, "BILLING", "*"));
        let all = vec!["$JS.EVENT.ADVISORY.>".to_string()];
        assert!(captures_advisories_of(&all, "BILLING", "x"));
        let one = vec![format!("{MSG_TERMINATED}.ORDERS.worker")];
        assert!(captures_advisories_of(&one, "ORDERS", "*"));
        assert!(!captures_advisories_of(&one, "ORDERS", "other"));
        assert!(!captures_advisories_of(&["orders.>".to_string()], "*", "*"));
    }

    #[test]
    fn publishable_subjects() {
        assert!(is_publishable("orders.new"));
        assert!(!is_publishable("orders.*"));
        assert!(!is_publishable("orders..new"));
        assert!(!is_publishable(""));
    }
}
