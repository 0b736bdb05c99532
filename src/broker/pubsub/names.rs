//! Resource names: what an operator types, and the paths the API takes.
//!
//! Operators name subscriptions and topics of the URL's project by their
//! short IDs (`orders-dlq-sub`); the API takes `projects/P/subscriptions/S`.
//! A full path is accepted too, for a resource of another project, and
//! shown back in full. A name that Pub/Sub would refuse is refused here,
//! before a call, with the rule it breaks (exit 2).

use anyhow::Result;

use crate::exit::usage;

/// The project every short name belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub project: String,
}

/// A subscription or a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Subscription,
    Topic,
}

impl Kind {
    fn collection(self) -> &'static str {
        match self {
            Kind::Subscription => "subscriptions",
            Kind::Topic => "topics",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Kind::Subscription => "subscription",
            Kind::Topic => "topic",
        }
    }
}

/// A project ID: a letter, then letters, digits, `-`, `.` or `:` (domain-
/// scoped projects are `example.com:name`).
pub fn valid_project(p: &str) -> bool {
    p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && p.len() <= 100
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c))
}

/// Why `id` is not a Pub/Sub resource ID, or None when it is one.
fn id_fault(id: &str) -> Option<&'static str> {
    if !(3..=255).contains(&id.len()) {
        return Some("it must be 3 to 255 characters long");
    }
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some("it must start with a letter");
    }
    if id.to_ascii_lowercase().starts_with("goog") {
        return Some("it must not start with \"goog\"");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c))
    {
        return Some("it may hold only letters, digits and - _ . ~ + %");
    }
    None
}

impl Names {
    /// The API path of what `name` names: a short ID of this project, or a
    /// full `projects/P/KIND/ID`.
    pub fn path(&self, kind: Kind, name: &str) -> Result<String> {
        let (project, id) = match name.strip_prefix("projects/") {
            Some(rest) => match rest.split('/').collect::<Vec<_>>()[..] {
                [p, c, id] if c == kind.collection() && valid_project(p) => (p, id),
                _ => {
                    return Err(usage(format!(
                        "pubsub: bad {} name {name:?}: expected an ID such as orders-dlq or projects/PROJECT/{}/ID",
                        kind.word(),
                        kind.collection()
                    )))
                }
            },
            None => (self.project.as_str(), name),
        };
        if let Some(why) = id_fault(id) {
            return Err(usage(format!(
                "pubsub: bad {} name {id:?}: {why}",
                kind.word()
            )));
        }
        Ok(format!("projects/{project}/{}/{id}", kind.collection()))
    }

    /// How a path is shown: its ID in this project, else the whole path.
    pub fn short(&self, path: &str) -> String {
        let mut parts = path.splitn(4, '/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("projects"), Some(p), Some(_), Some(id)) if p == self.project => id.to_owned(),
            _ => path.to_owned(),
        }
    }

    /// The path of subscription `id` in `project` (this one when None), as
    /// a dead-letter attribute names it.
    pub fn subscription_in(&self, project: Option<&str>, id: &str) -> String {
        format!(
            "projects/{}/subscriptions/{id}",
            project.unwrap_or(&self.project)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            project: "shop-prod".into(),
        }
    }

    #[test]
    fn short_ids_and_full_paths() {
        let n = names();
        assert_eq!(
            n.path(Kind::Subscription, "orders-dlq").unwrap(),
            "projects/shop-prod/subscriptions/orders-dlq"
        );
        assert_eq!(
            n.path(Kind::Topic, "projects/other/topics/orders").unwrap(),
            "projects/other/topics/orders"
        );
        assert_eq!(n.short("projects/shop-prod/topics/orders"), "orders");
        assert_eq!(
            n.short("projects/other/topics/orders"),
            "projects/other/topics/orders"
        );
        assert_eq!(
            n.subscription_in(None, "s1"),
            "projects/shop-prod/subscriptions/s1"
        );
    }

    #[test]
    fn bad_names_say_the_rule() {
        let n = names();
        for (name, rule) in [
            ("bad name!", "only letters"),
            ("ab", "3 to 255"),
            ("1orders", "start with a letter"),
            ("google-x", "goog"),
            ("projects/p/topics/x", "expected an ID"),
            ("projects/p/subscriptions/a/b", "expected an ID"),
        ] {
            let e = n.path(Kind::Subscription, name).unwrap_err();
            assert!(e.to_string().contains(rule), "{name}: {e}");
            assert_eq!(crate::exit::code_for(&e), crate::exit::Exit::Usage);
        }
        assert!(valid_project("example.com:shop"));
        assert!(!valid_project("shop/prod"));
        assert!(!valid_project(""));
    }
}
