//! Messages a bulk run has taken, so that a second delivery of one is not
//! taken twice.
//!
//! A standard queue delivers at least once: two receives can hand out the
//! same message (and moto does so under concurrent receives). Taking it
//! twice would copy it twice, and count it twice towards the depth taken at
//! the start, so that the run stops before it has read the rest. Deleting
//! the first delivery's receipt may also leave the message on the queue,
//! since SQS asks for the latest receipt. So each taken message's ID is kept
//! (as a 64-bit hash: 16 bytes a message), a later delivery of it is set
//! aside, and when the run ends each one set aside is deleted with its own
//! receipt if the first was moved, else given back.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Deliveries {
    /// Taken message IDs, and whether the message is moved (deleted after
    /// its copy or backup).
    taken: Mutex<HashMap<u64, bool>>,
    /// Later deliveries of taken messages: ID and receipt.
    again: Mutex<Vec<(String, String)>>,
}

/// What to do with the later deliveries when the run ends.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Settled {
    /// Receipts of messages already moved: delete them.
    pub delete: Vec<String>,
    /// Messages not moved: give them back (ID, receipt).
    pub give_back: Vec<(String, String)>,
}

fn key(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

impl Deliveries {
    /// Whether this delivery is the first of the message in this run; a
    /// later one is set aside with its receipt.
    pub fn first(&self, id: &str, receipt: &str) -> bool {
        let mut taken = lock(&self.taken);
        if taken.contains_key(&key(id)) {
            lock(&self.again).push((id.to_owned(), receipt.to_owned()));
            return false;
        }
        taken.insert(key(id), false);
        true
    }

    fn is_moved(&self, id: &str) -> bool {
        lock(&self.taken).get(&key(id)).copied().unwrap_or(false)
    }

    /// The message is moved: a later delivery of it can be deleted.
    pub fn moved(&self, id: &str) {
        lock(&self.taken).insert(key(id), true);
    }

    /// Sorts the later deliveries once no more will come.
    pub fn settle(&self) -> Settled {
        let mut out = Settled::default();
        for (id, receipt) in std::mem::take(&mut *lock(&self.again)) {
            if self.is_moved(&id) {
                out.delete.push(receipt);
            } else {
                out.give_back.push((id, receipt));
            }
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_delivery_is_set_aside_and_settled_by_the_first_ones_fate() {
        let d = Deliveries::default();
        assert!(d.first("a", "a1"));
        assert!(d.first("b", "b1"));
        assert!(!d.first("a", "a2"));
        d.moved("a");
        assert!(!d.first("b", "b2"));
        assert!(!d.first("a", "a3"));
        assert!(d.first("c", "c1"));
        assert_eq!(
            d.settle(),
            Settled {
                delete: vec!["a2".into(), "a3".into()],
                give_back: vec![("b".into(), "b2".into())],
            }
        );
        assert_eq!(d.settle(), Settled::default());
    }
}
