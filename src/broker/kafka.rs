//! The kafka backend (not built yet).

use anyhow::Result;

use super::Broker;
use crate::config::BrokerSettings;

/// Connects to kafka.
pub async fn connect(settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
    Err(crate::exit::usage(format!(
        "{}: kafka support is not built into this dlq yet",
        settings.display_url
    )))
}
