//! What a backend can do, as data: operations, and the broker-specific flags
//! and profile settings it honours.
//!
//! Each backend declares one constant [`Capabilities`]; [`for_scheme`] finds
//! it from the URL alone, so a command refuses a flag the broker cannot honour
//! before it connects (exit 2, naming the flag and the broker) instead of
//! ignoring it. Adding a flag is an entry in [`Flag`] and in the lists of the
//! brokers that honour it; no command names a broker.

use std::fmt;

use anyhow::Result;

use crate::config::Profile;
use crate::exit::usage;

/// A command-line flag that only some brokers honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Key,
    Partition,
    GroupId,
    DedupId,
    Delay,
    Exchange,
    RoutingKey,
    EndpointUrl,
    Native,
    Detach,
    DeleteRecords,
    Group,
    All,
    Force,
    Topic,
}

impl Flag {
    /// Every flag, for tables and tests.
    pub const ALL: [Flag; 15] = [
        Flag::Key,
        Flag::Partition,
        Flag::GroupId,
        Flag::DedupId,
        Flag::Delay,
        Flag::Exchange,
        Flag::RoutingKey,
        Flag::EndpointUrl,
        Flag::Native,
        Flag::Detach,
        Flag::DeleteRecords,
        Flag::Group,
        Flag::All,
        Flag::Force,
        Flag::Topic,
    ];

    /// The flag as the user types it.
    pub fn name(self) -> &'static str {
        match self {
            Flag::Key => "--key",
            Flag::Partition => "--partition",
            Flag::GroupId => "--group-id",
            Flag::DedupId => "--dedup-id",
            Flag::Delay => "--delay",
            Flag::Exchange => "--exchange",
            Flag::RoutingKey => "--routing-key",
            Flag::EndpointUrl => "--endpoint-url",
            Flag::Native => "--native",
            Flag::Detach => "--detach",
            Flag::DeleteRecords => "--delete-records",
            Flag::Group => "--group",
            Flag::All => "--all",
            Flag::Force => "--force",
            Flag::Topic => "--topic",
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A profile setting that only some brokers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    PasswordEnv,
    ManagementUrl,
    Region,
    EndpointUrl,
    AwsProfile,
    Kafka,
    DlqPatterns,
    CredsFile,
    NkeyFile,
    TokenEnv,
    TlsCaFile,
    TlsCertFile,
    TlsKeyFile,
}

impl Setting {
    /// The settings a profile sets, by their config-file names.
    pub fn present_in(p: &Profile) -> Vec<Setting> {
        [
            (Setting::PasswordEnv, p.password_env.is_some()),
            (Setting::ManagementUrl, p.management_url.is_some()),
            (Setting::Region, p.region.is_some()),
            (Setting::EndpointUrl, p.endpoint_url.is_some()),
            (Setting::AwsProfile, p.aws_profile.is_some()),
            (Setting::Kafka, !p.kafka.is_empty()),
            (Setting::DlqPatterns, !p.dlq_patterns.is_empty()),
            (Setting::CredsFile, p.creds_file.is_some()),
            (Setting::NkeyFile, p.nkey_file.is_some()),
            (Setting::TokenEnv, p.token_env.is_some()),
            (Setting::TlsCaFile, p.tls_ca_file.is_some()),
            (Setting::TlsCertFile, p.tls_cert_file.is_some()),
            (Setting::TlsKeyFile, p.tls_key_file.is_some()),
        ]
        .into_iter()
        .filter_map(|(s, set)| set.then_some(s))
        .collect()
    }

    /// The key as the config file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Setting::PasswordEnv => "password_env",
            Setting::ManagementUrl => "management_url",
            Setting::Region => "region",
            Setting::EndpointUrl => "endpoint_url",
            Setting::AwsProfile => "aws_profile",
            Setting::Kafka => "kafka",
            Setting::DlqPatterns => "dlq_patterns",
            Setting::CredsFile => "creds_file",
            Setting::NkeyFile => "nkey_file",
            Setting::TokenEnv => "token_env",
            Setting::TlsCaFile => "tls_ca_file",
            Setting::TlsCertFile => "tls_cert_file",
            Setting::TlsKeyFile => "tls_key_file",
        }
    }
}

/// What a backend supports; commands check it before they start.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// The broker's name as messages and errors show it ("rabbitmq").
    pub name: &'static str,
    /// A queue is a log read from a cursor (Kafka): purge moves the cursor.
    pub cursor: bool,
    /// `purge --delete-records` can truncate the log.
    pub delete_records: bool,
    /// `retry-all --native` can let the broker move messages server-side.
    pub native_move: bool,
    /// A whole-queue purge has a broker operation of its own.
    pub purge_all: bool,
    /// Reading raises a delivery counter (SQS ApproximateReceiveCount).
    pub read_counts_as_receive: bool,
    /// An origin may be a queue or an exchange (RabbitMQ), so it is shown
    /// with its kind ("queue 'orders'"), not by its name alone.
    pub origin_kinds_shown: bool,
    /// The broker-specific flags it honours.
    pub flags: &'static [Flag],
    /// The profile settings it uses.
    pub settings: &'static [Setting],
}

impl Capabilities {
    pub fn honours(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }
}

/// Every backend's capabilities, in the order the help lists brokers.
pub fn every() -> [&'static Capabilities; 5] {
    [
        &super::rabbitmq::CAPABILITIES,
        &super::sqs::CAPABILITIES,
        &super::kafka::CAPABILITIES,
        &super::nats::CAPABILITIES,
        &super::pubsub::CAPABILITIES,
    ]
}

/// The capabilities of the backend a URL scheme names.
pub fn for_scheme(scheme: &str) -> Result<&'static Capabilities> {
    Ok(match scheme {
        "amqp" | "amqps" => &super::rabbitmq::CAPABILITIES,
        "sqs" => &super::sqs::CAPABILITIES,
        "kafka" => &super::kafka::CAPABILITIES,
        "nats" | "tls" => &super::nats::CAPABILITIES,
        "pubsub" => &super::pubsub::CAPABILITIES,
        other => {
            return Err(usage(format!(
            "unsupported broker URL scheme {other:?}: use amqp://, amqps://, sqs://, kafka://, nats://, tls:// or pubsub://"
        )))
        }
    })
}

/// The brokers that honour `flag`, as "kafka" or "rabbitmq and sqs".
fn honoured_by(flag: Flag) -> String {
    let names: Vec<&str> = every()
        .iter()
        .filter(|c| c.honours(flag))
        .map(|c| c.name)
        .collect();
    join(&names)
}

fn join(names: &[&str]) -> String {
    match names {
        [] => "no broker".into(),
        [one] => format!("{one} only"),
        [init @ .., last] => format!("{} and {last} only", init.join(", ")),
    }
}

/// Refuses the first given flag that `caps` does not honour: exit 2, one line
/// such as `--partition applies to kafka only, not rabbitmq`.
pub fn check_flags(caps: &Capabilities, given: &[(Flag, bool)]) -> Result<()> {
    for &(flag, set) in given {
        if set && !caps.honours(flag) {
            return Err(usage(format!(
                "{flag} applies to {}, not {}",
                honoured_by(flag),
                caps.name
            )));
        }
    }
    Ok(())
}

/// Refuses a profile setting the broker does not use.
pub fn check_settings(caps: &Capabilities, profile: &Profile, name: Option<&str>) -> Result<()> {
    for s in Setting::present_in(profile) {
        if !caps.settings.contains(&s) {
            let users: Vec<&str> = every()
                .iter()
                .filter(|c| c.settings.contains(&s))
                .map(|c| c.name)
                .collect();
            let which = name.map(|n| format!("profile {n:?}: ")).unwrap_or_default();
            return Err(usage(format!(
                "{which}setting `{}` applies to {}, not {}",
                s.name(),
                join(&users),
                caps.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which brokers honour each flag: the contract of README's flag table.
    #[test]
    fn every_flag_broker_pair() {
        let expect: &[(Flag, &[&str])] = &[
            (Flag::Key, &["kafka", "pubsub"]),
            (Flag::Partition, &["kafka"]),
            (Flag::GroupId, &["sqs"]),
            (Flag::DedupId, &["sqs"]),
            (Flag::Delay, &["sqs"]),
            (Flag::Exchange, &["rabbitmq"]),
            (Flag::RoutingKey, &["rabbitmq"]),
            (Flag::EndpointUrl, &["sqs", "pubsub"]),
            (Flag::Native, &["rabbitmq", "sqs"]),
            (Flag::Detach, &["rabbitmq"]),
            (Flag::DeleteRecords, &["kafka"]),
            (Flag::Group, &["kafka"]),
            (Flag::All, &["kafka"]),
            (Flag::Force, &["sqs", "pubsub"]),
            (Flag::Topic, &["kafka"]),
        ];
        assert_eq!(expect.len(), Flag::ALL.len());
        for (flag, brokers) in expect {
            for caps in every() {
                let res = check_flags(caps, &[(*flag, true)]);
                if brokers.contains(&caps.name) {
                    assert!(res.is_ok(), "{flag} on {}", caps.name);
                } else {
                    let err = res.unwrap_err();
                    let msg = err.to_string();
                    assert!(
                        msg.starts_with(&format!("{flag} applies to ")),
                        "{flag} on {}: {msg}",
                        caps.name
                    );
                    assert!(msg.ends_with(&format!("not {}", caps.name)), "{msg}");
                    assert_eq!(crate::exit::code_for(&err), crate::exit::Exit::Usage);
                }
                assert!(check_flags(caps, &[(*flag, false)]).is_ok());
            }
        }
        let msg = check_flags(
            &super::super::rabbitmq::CAPABILITIES,
            &[(Flag::Partition, true)],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(msg, "--partition applies to kafka only, not rabbitmq");
    }

    #[test]
    fn settings_of_another_broker_are_refused() {
        let p = Profile {
            region: Some("eu-west-1".into()),
            ..Default::default()
        };
        let msg = check_settings(&super::super::nats::CAPABILITIES, &p, Some("prod"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "profile \"prod\": setting `region` applies to sqs only, not nats"
        );
        assert!(check_settings(&super::super::sqs::CAPABILITIES, &p, None).is_ok());
        let tls = Profile {
            tls_ca_file: Some("ca.pem".into()),
            ..Default::default()
        };
        // Pub/Sub's client trusts the public roots only: a CA file is refused there.
        for caps in every() {
            let res = check_settings(caps, &tls, None);
            assert_eq!(res.is_ok(), caps.name != "pubsub", "{}", caps.name);
        }
        let cert = Profile {
            tls_cert_file: Some("client.pem".into()),
            ..Default::default()
        };
        let msg = check_settings(&super::super::sqs::CAPABILITIES, &cert, None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "setting `tls_cert_file` applies to rabbitmq, kafka and nats only, not sqs"
        );
    }
}
