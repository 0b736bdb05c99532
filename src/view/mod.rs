//! `dlq browse`: a full-screen view over the same commands.
//!
//! Built the Elm way, as ratatui's recipes and gitui do it: the state and
//! what each key does to it are plain data and one function (`state`),
//! drawing is another (`render`), both tested on ratatui's `TestBackend`.
//! Messages are read in the background (`load`) through the same selection
//! and decoding as `list`; the view never waits on the broker to scroll.
//! Actions run the commands' own code (`retry`, `purge`, `export`, `edit`)
//! with a [`front::ViewFront`] that supplies confirmation, progress and
//! the summary instead of the stdin prompt and the stderr bar. `screen`
//! takes the terminal over and always gives it back.

pub mod front;
pub mod load;
pub mod render;
pub mod screen;
pub mod state;

#[cfg(test)]
mod tests;
