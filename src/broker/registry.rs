//! The brokers dlq knows, in one place: which URL schemes name each, what
//! each can do, and how to connect to it.
//!
//! [`BrokerKind`] is parsed once from the URL; everything that depends on
//! which broker it is (the capabilities a command checks before it
//! connects, the connection itself, the list of schemes in an error) asks
//! it. This is the only file that names every backend: adding a broker is a
//! variant here and its module.

use anyhow::Result;

use super::capability::{Capabilities, Flag, Setting};
use super::Broker;
use crate::config::{BrokerSettings, Profile};
use crate::exit::usage;

/// A broker dlq can talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    RabbitMq,
    Sqs,
    Kafka,
    Nats,
    PubSub,
    /// The in-memory broker of the command layer's own tests.
    #[cfg(test)]
    Memory,
}

impl BrokerKind {
    /// Every broker, in the order the help lists them.
    pub const ALL: &'static [BrokerKind] = &[
        BrokerKind::RabbitMq,
        BrokerKind::Sqs,
        BrokerKind::Kafka,
        BrokerKind::Nats,
        BrokerKind::PubSub,
    ];

    /// The URL schemes that name it.
    pub fn schemes(self) -> &'static [&'static str] {
        match self {
            BrokerKind::RabbitMq => &["amqp", "amqps"],
            BrokerKind::Sqs => &["sqs"],
            BrokerKind::Kafka => &["kafka"],
            BrokerKind::Nats => &["nats", "tls"],
            BrokerKind::PubSub => &["pubsub"],
            #[cfg(test)]
            BrokerKind::Memory => &["memory"],
        }
    }

    /// The broker a (lowercased) URL scheme names.
    pub fn from_scheme(scheme: &str) -> Option<Self> {
        let all = BrokerKind::ALL.iter().copied();
        #[cfg(test)]
        let all = all.chain([BrokerKind::Memory]);
        all.into_iter().find(|k| k.schemes().contains(&scheme))
    }

    /// The broker the settings' URL names; a usage error listing the
    /// schemes dlq knows otherwise.
    pub fn of(settings: &BrokerSettings) -> Result<Self> {
        let scheme = settings.scheme();
        BrokerKind::from_scheme(&scheme).ok_or_else(|| {
            usage(format!(
                "unsupported broker URL scheme {scheme:?} in {}: use {}",
                settings.display_url,
                scheme_list()
            ))
        })
    }

    /// What it can do.
    pub fn capabilities(self) -> &'static Capabilities {
        match self {
            BrokerKind::RabbitMq => &super::rabbitmq::CAPABILITIES,
            BrokerKind::Sqs => &super::sqs::CAPABILITIES,
            BrokerKind::Kafka => &super::kafka::CAPABILITIES,
            BrokerKind::Nats => &super::nats::CAPABILITIES,
            BrokerKind::PubSub => &super::pubsub::CAPABILITIES,
            #[cfg(test)]
            BrokerKind::Memory => &super::memory::CAPABILITIES,
        }
    }

    /// Connects to it.
    pub async fn connect(self, settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
        match self {
            BrokerKind::RabbitMq => super::rabbitmq::connect(settings).await,
            BrokerKind::Sqs => super::sqs::connect(settings).await,
            BrokerKind::Kafka => super::kafka::connect(settings).await,
            BrokerKind::Nats => super::nats::connect(settings).await,
            BrokerKind::PubSub => super::pubsub::connect(settings).await,
            #[cfg(test)]
            BrokerKind::Memory => super::memory::connect(settings),
        }
    }
}

/// Every scheme as a user types it: "amqp://, amqps://, ... or tls://".
pub fn scheme_list() -> String {
    let all: Vec<String> = BrokerKind::ALL
        .iter()
        .flat_map(|k| k.schemes())
        .map(|s| format!("{s}://"))
        .collect();
    match all.split_last() {
        Some((last, init)) => format!("{} or {last}", init.join(", ")),
        None => String::new(),
    }
}

/// The brokers that honour `flag` (or use `setting`), as "kafka only" or
/// "rabbitmq and sqs only".
fn users(honours: impl Fn(&Capabilities) -> bool) -> String {
    let names: Vec<&str> = BrokerKind::ALL
        .iter()
        .map(|k| k.capabilities())
        .filter(|c| honours(c))
        .map(|c| c.name)
        .collect();
    match names.as_slice() {
        [] => "no broker".into(),
        [one] => format!("{one} only"),
        [init @ .., last] => format!("{} and {last} only", init.join(", ")),
    }
}

/// Refuses the first flag given that `caps` does not honour: exit 2, one
/// line such as `--partition applies to kafka only, not rabbitmq`.
pub fn check_flags(caps: &Capabilities, given: &[Flag]) -> Result<()> {
    match given.iter().find(|f| !caps.honours(**f)) {
        Some(flag) => Err(usage(format!(
            "{flag} applies to {}, not {}",
            users(|c| c.honours(*flag)),
            caps.name
        ))),
        None => Ok(()),
    }
}

/// Refuses a profile setting the broker does not use.
pub fn check_settings(caps: &Capabilities, profile: &Profile, name: Option<&str>) -> Result<()> {
    match Setting::present_in(profile)
        .into_iter()
        .find(|s| !caps.settings.contains(s))
    {
        Some(s) => {
            let which = name.map(|n| format!("profile {n:?}: ")).unwrap_or_default();
            Err(usage(format!(
                "{which}setting `{}` applies to {}, not {}",
                s.name(),
                users(|c| c.settings.contains(&s)),
                caps.name
            )))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(name: &str) -> &'static Capabilities {
        BrokerKind::ALL
            .iter()
            .map(|k| k.capabilities())
            .find(|c| c.name == name)
            .unwrap()
    }

    #[test]
    fn every_scheme_names_one_broker() {
        for kind in BrokerKind::ALL {
            for s in kind.schemes() {
                assert_eq!(BrokerKind::from_scheme(s), Some(*kind));
            }
        }
        assert_eq!(BrokerKind::from_scheme("http"), None);
        assert_eq!(
            scheme_list(),
            "amqp://, amqps://, sqs://, kafka://, nats://, tls:// or pubsub://"
        );
    }

    /// Every flag × broker pair as the capabilities say, with the message.
    #[test]
    fn a_flag_is_refused_where_it_is_not_honoured() {
        for flag in Flag::ALL {
            for kind in BrokerKind::ALL {
                let c = kind.capabilities();
                let res = check_flags(c, &[flag]);
                if c.honours(flag) {
                    assert!(res.is_ok(), "{flag} on {}", c.name);
                } else {
                    let err = res.unwrap_err();
                    let msg = err.to_string();
                    assert!(msg.starts_with(&format!("{flag} applies to ")), "{msg}");
                    assert!(msg.ends_with(&format!("not {}", c.name)), "{msg}");
                    assert_eq!(crate::exit::code_for(&err), crate::exit::Exit::Usage);
                }
            }
        }
        let msg = check_flags(caps("rabbitmq"), &[Flag::Partition])
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "--partition applies to kafka only, not rabbitmq");
        assert!(check_flags(caps("rabbitmq"), &[]).is_ok());
    }

    #[test]
    fn settings_of_another_broker_are_refused() {
        let p = Profile {
            region: Some("eu-west-1".into()),
            ..Default::default()
        };
        let msg = check_settings(caps("nats"), &p, Some("prod"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "profile \"prod\": setting `region` applies to sqs only, not nats"
        );
        assert!(check_settings(caps("sqs"), &p, None).is_ok());
        let tls = Profile {
            tls_ca_file: Some("ca.pem".into()),
            ..Default::default()
        };
        // Pub/Sub's client trusts the public roots only: a CA file is refused there.
        for kind in BrokerKind::ALL {
            let c = kind.capabilities();
            assert_eq!(check_settings(c, &tls, None).is_ok(), c.name != "pubsub");
        }
        let cert = Profile {
            tls_cert_file: Some("client.pem".into()),
            ..Default::default()
        };
        let msg = check_settings(caps("sqs"), &cert, None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "setting `tls_cert_file` applies to rabbitmq, kafka and nats only, not sqs"
        );
    }
}
