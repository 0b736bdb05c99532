//! Keeping secrets out of everything dlq prints.
//!
//! Passwords come from URLs, profiles and environment variables. Each one is
//! registered here as soon as it is known, and every line that leaves the
//! process through an error or a log passes [`scrub`], so a secret that a
//! client library echoes back in an error message is masked too. URLs are
//! shown through [`redact_url`], which masks the password part.

use std::sync::Mutex;

use crate::url_parts::{percent_decode, UrlParts};

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret so that [`scrub`] masks it.
pub fn register(secret: &str) {
    // Very short strings would mask ordinary text; they are masked in URLs only.
    if secret.len() >= 3 {
        let mut all = SECRETS.lock().unwrap();
        if !all.iter().any(|s| s == secret) {
            all.push(secret.to_owned());
        }
        let enc = percent_decode(secret);
        if enc != secret && enc.len() >= 3 && !all.contains(&enc) {
            all.push(enc);
        }
    }
}

/// Replaces every registered secret in `text` with `***`.
pub fn scrub(text: &str) -> String {
    let all = SECRETS.lock().unwrap();
    let mut out = text.to_owned();
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// `amqp://guest:secret@host/vhost` becomes `amqp://guest:***@host/vhost`.
/// Works on any `scheme://user:password@rest` string, also ones a URL parser
/// would reject, such as Kafka's comma-separated host lists.
pub fn redact_url(url: &str) -> String {
    let Some(p) = UrlParts::split(url) else {
        return scrub(url);
    };
    let scheme = p.scheme.to_ascii_lowercase();
    let userinfo = match p.userinfo {
        Some(u) => match u.find(':') {
            Some(colon) => format!("{}:***@", &u[..colon]),
            // A bare userinfo is an auth token on NATS (`nats://TOKEN@host`).
            None if scheme == "nats" || scheme == "tls" => "***@".to_owned(),
            None => format!("{u}@"),
        },
        None => String::new(),
    };
    scrub(&format!("{}://{userinfo}{}{}", p.scheme, p.hosts, p.tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_only() {
        assert_eq!(
            redact_url("amqp://guest:guest@localhost:5672/%2f"),
            "amqp://guest:***@localhost:5672/%2f"
        );
        assert_eq!(redact_url("amqp://localhost"), "amqp://localhost");
        assert_eq!(redact_url("nats://tok@host:4222"), "nats://***@host:4222");
        assert_eq!(redact_url("amqp://user@host"), "amqp://user@host");
        assert_eq!(
            redact_url("kafka://u:p@a:9092,b:9092"),
            "kafka://u:***@a:9092,b:9092"
        );
        assert_eq!(redact_url("amqp://u:p@ss@h/v?x=1"), "amqp://u:***@h/v?x=1");
    }

    #[test]
    fn scrubs_registered_secrets() {
        register("hunter2-secret");
        assert_eq!(
            scrub("login failed for hunter2-secret"),
            "login failed for ***"
        );
        register("p%40ss-word");
        assert_eq!(scrub("bad p@ss-word"), "bad ***");
    }

    #[test]
    fn decodes_percent() {
        assert_eq!(percent_decode("a%2Fb%zz"), "a/b%zz");
        assert_eq!(percent_decode("%"), "%");
    }
}
