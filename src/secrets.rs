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
        return scrub(&mask_nested(url));
    };
    if let Some((user, hosts)) = unencoded_userinfo(url) {
        return scrub(&format!("{}://{user}:***@{hosts}", p.scheme));
    }
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
    let tail = mask_nested(p.tail);
    scrub(&format!("{}://{userinfo}{}{tail}", p.scheme, p.hosts))
}

/// Where a URL's authority ends inside other text (a query value, a line).
const AUTHORITY_END: [char; 8] = ['/', '?', '#', '&', ' ', '"', '\'', ','];

/// The authority after each `://` inside `text` (an endpoint in a query),
/// with where it starts.
fn nested_authorities(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find("://") {
        let start = at + i + 3;
        let len = text[start..]
            .find(AUTHORITY_END)
            .unwrap_or(text.len() - start);
        out.push((start, &text[start..start + len]));
        at = start + len;
    }
    out
}

/// Masks the password of every `scheme://user:password@` inside `text`,
/// such as an endpoint in a query (`sqs://us-east-1?endpoint=http://u:p@h`).
fn mask_nested(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, authority) in nested_authorities(text) {
        out.push_str(&text[copied..start]);
        match authority.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split(':').next().unwrap_or("");
                out.push_str(&format!("{user}:***@{host}"));
            }
            _ => out.push_str(authority),
        }
        copied = start + authority.len();
    }
    out.push_str(&text[copied..]);
    out
}

/// The passwords of the URLs inside `url`'s query (an endpoint's), to register.
pub fn nested_passwords(url: &str) -> Vec<String> {
    let Some(p) = UrlParts::split(url) else {
        return Vec::new();
    };
    nested_authorities(p.tail)
        .into_iter()
        .filter_map(|(_, authority)| {
            let (userinfo, _) = authority.rsplit_once('@')?;
            Some(percent_decode(userinfo.split_once(':')?.1))
        })
        .collect()
}

/// A password written with a `/`, `?` or `#` it should have percent-encoded
/// (`amqp://u:pa/ss@host`): no parser finds the userinfo, so it would show
/// whole. Returns the user and what follows the last `@`; None for a URL
/// whose `@` is not in such a userinfo (a port is digits, not a password).
pub fn unencoded_userinfo(url: &str) -> Option<(&str, &str)> {
    let (_, rest) = url.split_once("://")?;
    let token = rest.split(char::is_whitespace).next().unwrap_or("");
    let authority_end = token.find(['/', '?', '#']).unwrap_or(token.len());
    if token[..authority_end].contains('@') {
        return None;
    }
    let (userinfo, hosts) = token.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    if user.contains(['/', '?', '#']) {
        return None;
    }
    let before_delimiter = &password[..password.find(['/', '?', '#'])?];
    let port = !before_delimiter.is_empty() && before_delimiter.bytes().all(|b| b.is_ascii_digit());
    (!port).then_some((user, hosts))
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
    fn redacts_urls_inside_urls_and_unencoded_passwords() {
        let sqs = "sqs://us-east-1?endpoint=http://admin:S3cret@127.0.0.1:4566&x=1";
        assert_eq!(
            redact_url(sqs),
            "sqs://us-east-1?endpoint=http://admin:***@127.0.0.1:4566&x=1"
        );
        assert_eq!(nested_passwords(sqs), ["S3cret"]);
        assert_eq!(
            redact_url("pubsub://p?endpoint=http://127.0.0.1:8085"),
            "pubsub://p?endpoint=http://127.0.0.1:8085"
        );
        assert_eq!(
            redact_url("amqp://guest:my/S3cretPw@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact_url("kafka://ops:pa?S3cret#x@127.0.0.1:9094"),
            "kafka://ops:***@127.0.0.1:9094"
        );
        // An @ after a port, or in a path or query, is no password.
        assert_eq!(unencoded_userinfo("amqp://h:5672/v?x=a@b"), None);
        assert_eq!(unencoded_userinfo("amqp://h/v?x=a:b@c"), None);
        assert_eq!(unencoded_userinfo("amqp://u:p@h/v"), None);
        assert_eq!(redact_url("amqp://h:5672/v?x=a@b"), "amqp://h:5672/v?x=a@b");
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
