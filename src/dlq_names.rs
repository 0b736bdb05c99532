//! What dead-letter queues are usually called.
//!
//! Where a broker does not record which queue dead-letters into which (a
//! Kafka topic, a NATS stream of copies, a RabbitMQ queue without a policy
//! that names it), `queues` marks a DLQ by its name: its first or last word
//! (words split at `.`, `-` and `_`, any case) is `dlq`, `dlt`, `dead`,
//! `deadletter` or `dead letter`, as in `orders.dlq`, `orders-DLT`,
//! `dlq.orders`, `ORDERS_DEAD`, `orders.dead-letter`, but not `dlqueue` or
//! `orders.dlq.retry` (a retry queue of the DLQ). The profile's
//! `dlq_patterns` (globs, `*` for any run of characters) add names. The name
//! without that word is the queue it serves (`orders.dlq` → `orders`).

/// Words that make a name a dead-letter queue's.
const WORDS: [&str; 5] = ["dlq", "dlt", "dead", "deadletter", "deadletters"];

fn is_word(w: &str) -> bool {
    WORDS.iter().any(|x| x.eq_ignore_ascii_case(w))
}

/// Where the DLQ word is: the name without it, when there is one.
pub fn source_of(name: &str) -> Option<&str> {
    let seps: &[char] = &['.', '-', '_'];
    // "dead letter" as two words ends a name too.
    let trimmed = name
        .strip_suffix("letter")
        .or_else(|| name.strip_suffix("LETTER"))
        .and_then(|n| n.strip_suffix(seps))
        .filter(|n| {
            n.rsplit(seps)
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("dead"))
        })
        .unwrap_or(name);
    if let Some((rest, last)) = trimmed.rsplit_once(seps) {
        if is_word(last) && !rest.is_empty() {
            return Some(rest);
        }
    }
    if let Some((first, rest)) = name.split_once(seps) {
        if is_word(first) && !rest.is_empty() {
            return Some(rest);
        }
    }
    None
}

/// True when `name` is a DLQ's by the usual names or one of `patterns`.
pub fn is_dlq(name: &str, patterns: &[String]) -> bool {
    is_word(name) || source_of(name).is_some() || patterns.iter().any(|p| glob(p, name))
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_names() {
        for n in [
            "orders.dlq",
            "orders.DLQ",
            "orders-dlq",
            "orders_dlq",
            "orders.DLT",
            "orders-dlt",
            "dlq.orders",
            "orders.dead",
            "ORDERS_DEAD",
            "orders.deadletter",
            "orders.dead-letter",
        ] {
            assert!(is_dlq(n, &[]), "{n}");
            assert!(
                source_of(n).is_some_and(|s| s.eq_ignore_ascii_case("orders")),
                "{n}"
            );
        }
        for n in ["orders", "dlqueue", "orders.dlq.retry", "deadline.orders"] {
            assert!(!is_dlq(n, &[]), "{n}");
        }
        assert_eq!(source_of("orders.dlq"), Some("orders"));
        assert_eq!(source_of("dlq.orders"), Some("orders"));
        assert_eq!(source_of("orders.dead-letter"), Some("orders"));
        assert_eq!(source_of("ORDERS_DEAD"), Some("ORDERS"));
        assert!(is_dlq("orders_errors", &["*_errors".into()]));
    }

    #[test]
    fn globs() {
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXc"));
        assert!(glob("*", ""));
        assert!(glob("x", "x"));
        assert!(!glob("ab*ba", "aba"));
    }
}
