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

    pub fn get(&self, group: &str) -> Option<Arc<Reader>> {
        self.map().get(group).cloned()
    }

    /// Keeps `c` for `group`, unless one was kept meanwhile: the kept one.
    pub fn keep(&self, group: &str, c: Arc<Reader>) -> Arc<Reader> {
        self.map().entry(group.to_owned()).or_insert(c).clone()
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
    fn offline() -> Arc<Reader> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "127.0.0.1:9")
            .set("group.id", "g");
        Arc::new(Reader::new(
            c.create_with_context(Quiet::default()).unwrap(),
        ))
    }

    #[test]
    fn a_reader_takes_the_kept_consumer_only_when_nothing_else_holds_it() {
        let kept = Kept::default();
        assert!(kept.take("g").is_none(), "nothing kept yet");
        let first = kept.keep("g", offline());
        // Kept twice: the first one stays.
        let again = kept.keep("g", offline());
        assert!(Arc::ptr_eq(&first, &again));
        drop(again);
        // A committer still holds it: a reader must not assign its partitions.
        assert!(kept.take("g").is_none());
        assert!(kept.get("g").is_some_and(|c| Arc::ptr_eq(&c, &first)));
        drop(first);
        assert!(kept.take("g").is_some());
        assert!(
            kept.get("g").is_none(),
            "taken out: the next lookup makes its own"
        );
    }
}
