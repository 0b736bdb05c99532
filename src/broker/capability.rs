//! What a backend can do, as data: operations, and the broker-specific flags
//! and profile settings it honours.
//!
//! Each backend declares one constant [`Capabilities`]; the registry
//! (`registry.rs`) finds it from the URL alone, so a command refuses a flag
//! the broker cannot honour before it connects (exit 2, naming the flag and
//! the broker) instead of ignoring it. The flags a command was given come
//! from its option structs (`ReadOptions::flags` and the like), so the list
//! checked cannot drift from the options used. Adding a flag is an entry in
//! [`Flag`], a line in the option struct's `flags`, and an entry in the lists
//! of the brokers that honour it; no command names a broker. This file is
//! vocabulary: it knows no backend.

use std::fmt;

use crate::config::Profile;
use crate::message::OriginKind;

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
    Follow,
}

impl Flag {
    /// Every flag, for tables and tests.
    pub const ALL: [Flag; 16] = [
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
        Flag::Follow,
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
            Flag::Follow => "--follow",
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
    /// A whole-queue purge has a broker operation of its own.
    pub purge_all: bool,
    /// The kinds of place a message can be sent back to; `--to` names the
    /// first.
    pub origins: &'static [OriginKind],
    /// The broker-specific flags it honours.
    pub flags: &'static [Flag],
    /// The profile settings it uses.
    pub settings: &'static [Setting],
    /// A message carries a key (Kafka's key, Pub/Sub's ordering key);
    /// elsewhere an envelope's key is not sent, and `publish` says so.
    pub keys: bool,
}

impl Capabilities {
    pub fn honours(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }

    /// An origin may be of several kinds (a queue or an exchange), so it is
    /// shown with its kind ("queue 'orders'"), not by its name alone.
    pub fn origin_kinds_shown(&self) -> bool {
        self.origins.len() > 1
    }
}
