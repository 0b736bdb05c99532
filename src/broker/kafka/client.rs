//! The consumer dlq reads, looks up and commits with, closed without
//! waiting.
//!
//! rdkafka's own drop of a consumer closes its queue and then polls it 100 ms
//! at a time until librdkafka reports it closed; the close seldom wakes that
//! poll, so each consumer dropped cost 100 ms, and a re-drive drops several
//! one after another (the connection check, the depth, the reader, the
//! committer). [`Reader`] closes the queue itself and polls it a millisecond
//! at a time first, so rdkafka's drop then finds it closed.
//!
//! A new client also costs its first connection: the bootstrap server, the
//! API versions, the metadata, then the broker's own address, four round
//! trips before its first request. A command therefore keeps the consumer
//! it looked up, read offsets and committed with, one per group ([`Kept`]),
//! and uses it again (the connection check's for metadata, the depth's for
//! the re-drive's cursor). A consumer that reads is assigned partitions, so
//! it is never shared: it takes the kept one out, or makes its own.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;

use super::Quiet;

/// How long a drop waits for the close at most before leaving it to rdkafka.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A consumer (see the module docs); it derefs to rdkafka's.
pub struct Reader(BaseConsumer<Quiet>);

impl Reader {
    pub fn new(consumer: BaseConsumer<Quiet>) -> Self {
        Reader(consumer)
    }
}

impl Deref for Reader {
    type Target = BaseConsumer<Quiet>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if self.0.close_queue().is_err() {
            return;
        }
        let deadline = Instant::now() + CLOSE_WAIT;
        while !self.0.closed() && Instant::now() < deadline {
            // What it returns (a record, an error) no longer matters.
            let _ = self.0.poll(Duration::from_millis(1));
        }
    }
}

/// Consumers kept for lookups, offsets and commits, one per group (see the
/// module docs).
#[derive(Default)]
pub struct Kept(Mutex<HashMap<String, Arc<Reader>>>);

impl Kept {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Reader>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept consumer of `group`, made by `make` when there is none
    /// (making one does not wait on the network).
    pub fn get_or_make(
        &self,
        group: &str,
        make: impl FnOnce() -> anyhow::Result<Reader>,
    ) -> anyhow::Result<Arc<Reader>> {
        let mut map = self.map();
        if let Some(c) = map.get(group) {
            return Ok(c.clone());
        }
        let c = Arc::new(make()?);
        map.insert(group.to_owned(), c.clone());
        Ok(c)
    }

    /// The kept consumer of `group` for a reader of its own: only when
    /// nothing else holds it (else it stays kept).
    pub fn take(&self, group: &str) -> Option<Reader> {
        let mut map = self.map();
        let c = map.remove(group)?;
        match Arc::try_unwrap(c) {
            Ok(c) => Some(c),
            Err(shared) => {
                map.insert(group.to_owned(), shared);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::ClientConfig;

    /// A consumer that never connects: nothing listens on port 9.
    fn offline() -> anyhow::Result<Reader> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "127.0.0.1:9")
            .set("group.id", "g");
        Ok(Reader::new(c.create_with_context(Quiet::default())?))
    }

    #[test]
    fn a_reader_takes_the_kept_consumer_only_when_nothing_else_holds_it() {
        let kept = Kept::default();
        assert!(kept.take("g").is_none(), "nothing kept yet");
        let first = kept.get_or_make("g", offline).unwrap();
        // Asked for twice: the first one stays.
        let again = kept.get_or_make("g", offline).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        drop(again);
        // A committer still holds it: a reader must not assign its partitions.
        assert!(kept.take("g").is_none());
        let still = kept.get_or_make("g", offline).unwrap();
        assert!(Arc::ptr_eq(&still, &first));
        drop((first, still));
        assert!(kept.take("g").is_some());
        let mut made = false;
        kept.get_or_make("g", || {
            made = true;
            offline()
        })
        .unwrap();
        assert!(made, "taken out: the next lookup makes its own");
    }
}
