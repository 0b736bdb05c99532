//! The sqs backend (not built yet).

use anyhow::Result;

use super::Broker;
use crate::config::BrokerSettings;

/// Connects to sqs.
pub async fn connect(settings: &BrokerSettings) -> Result<Box<dyn Broker>> {
    Err(crate::exit::usage(format!(
        "{}: sqs support is not built into this dlq yet",
        settings.display_url
    )))
}
