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
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Mutex;

use super::lock;

#[derive(Default)]
pub(crate) struct Deliveries {
    /// Taken message IDs, and whether the message is moved (deleted after
    /// its copy or backup).
    taken: Mutex<HashMap<u64, bool>>,
    /// Later deliveries of taken messages: ID and receipt.
    again: Mutex<Vec<(String, String)>>,
}

fn key(id: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(id)
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

    /// The message is moved: a later delivery of it can be deleted.
    pub fn moved(&self, id: &str) {
        lock(&self.taken).insert(key(id), true);
    }

    /// Sorts the later deliveries once no more will come: the receipts of
    /// messages already moved, to delete, and the messages not moved (ID,
    /// receipt), to give back.
    pub fn settle(&self) -> (Vec<String>, Vec<(String, String)>) {
        let again = std::mem::take(&mut *lock(&self.again));
        let taken = lock(&self.taken);
        let (moved, give_back): (Vec<_>, Vec<_>) = again
            .into_iter()
            .partition(|(id, _)| taken.get(&key(id)) == Some(&true));
        (moved.into_iter().map(|(_, r)| r).collect(), give_back)
    }
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
        let (delete, give_back) = d.settle();
        assert_eq!(delete, ["a2", "a3"]);
        assert_eq!(give_back, [("b".into(), "b2".into())]);
        assert_eq!(d.settle(), (vec![], vec![]));
    }
}
