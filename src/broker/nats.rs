//! The nats backend (not built yet).

use anyhow::Result;

use super::Broker;
use crate::config::BrokerSettings;

/// Connects to nats.
pub async fn connect(settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
    Err(crate::exit::usage(format!(
        "{}: nats support is not built into this dlq yet",
        settings.display_url
    )))
}
