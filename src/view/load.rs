//! Reading the queue in the background, through the same selection and
//! decoding as `list`, so the first screen shows as soon as the first
//! messages arrive and scrolling never waits on the broker. The selection
//! stops at `--limit`, which bounds what is kept in memory.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::broker::{Broker, Flow, Message, ReadOptions};
use crate::commands::selected;
use crate::schema::Decoder;
use crate::select::{Criteria, Decision};

/// What the loader hands the view.
pub enum Loaded {
    Message(Box<Message>),
    Done,
    /// The read failed; one line.
    Failed(String),
}

/// A read under way; dropping it stops it.
pub struct Loader {
    pub rx: mpsc::UnboundedReceiver<Loaded>,
    task: JoinHandle<()>,
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts reading `queue` as `list` reads it.
pub fn start(
    broker: Arc<dyn Broker>,
    queue: String,
    read: ReadOptions,
    criteria: Criteria,
    decoder: Option<Arc<Decoder>>,
) -> Loader {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let sel = criteria.start();
        let result = selected::browse_decoded(
            &*broker,
            &queue,
            &read,
            &sel,
            decoder.as_deref(),
            &mut |m, d| {
                if d == Decision::Take && tx.send(Loaded::Message(Box::new(m))).is_err() {
                    return Ok(Flow::Stop);
                }
                Ok(Flow::Continue)
            },
        )
        .await;
        let _ = tx.send(match result {
            Ok(()) => Loaded::Done,
            Err(e) => Loaded::Failed(crate::exit::one_line(&e)),
        });
    });
    Loader { rx, task }
}
