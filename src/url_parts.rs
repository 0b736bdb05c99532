//! The parts of a broker URL, `scheme://[userinfo@]hosts[/path][?query]`.
//!
//! Broker URLs are not all URLs a parser accepts (Kafka lists hosts with
//! commas), yet config, redaction and the backends all need the same cut:
//! the userinfo is everything before the last `@` of the authority, and the
//! authority ends at the first `/`, `?` or `#`. Doing that cut once keeps
//! the password that redaction masks and the one a backend sends the same.

/// A broker URL cut into its parts, borrowed from the original string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// The scheme as written.
    pub scheme: &'a str,
    /// What stands before the last `@` of the authority, when there is one.
    pub userinfo: Option<&'a str>,
    /// The rest of the authority: one host or a comma-separated list.
    pub hosts: &'a str,
    /// Path, query and fragment, with their leading `/`, `?` or `#`.
    pub tail: &'a str,
}

impl<'a> UrlParts<'a> {
    /// Cuts `url`; None when it has no `://`.
    pub fn split(url: &'a str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        Some(UrlParts {
            scheme,
            userinfo,
            hosts,
            tail,
        })
    }

    /// The user name, percent-decoded (empty when the userinfo starts with `:`).
    pub fn user(&self) -> Option<String> {
        self.userinfo
            .map(|u| percent_decode(u.split(':').next().unwrap_or("")))
    }

    /// The password after the first `:` of the userinfo, percent-decoded.
    pub fn password(&self) -> Option<String> {
        let (_, pw) = self.userinfo?.split_once(':')?;
        Some(percent_decode(pw))
    }
}

/// Decodes `%XX` escapes; invalid ones stay as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_the_last_at_and_the_first_path_character() {
        let p = UrlParts::split("amqp://u:p%40ss@w@h:5672/%2f?x=1").unwrap();
        assert_eq!(p.scheme, "amqp");
        assert_eq!(p.userinfo, Some("u:p%40ss@w"));
        assert_eq!(p.hosts, "h:5672");
        assert_eq!(p.tail, "/%2f?x=1");
        assert_eq!(p.user().as_deref(), Some("u"));
        assert_eq!(p.password().as_deref(), Some("p@ss@w"));
    }

    #[test]
    fn host_lists_and_bare_userinfo() {
        let p = UrlParts::split("kafka://a:1,b:2").unwrap();
        assert_eq!((p.userinfo, p.hosts, p.tail), (None, "a:1,b:2", ""));
        assert_eq!(p.user(), None);
        let p = UrlParts::split("nats://token@h").unwrap();
        assert_eq!(p.user().as_deref(), Some("token"));
        assert_eq!(p.password(), None);
        assert!(UrlParts::split("localhost:5672").is_none());
    }
}
