//! What a bulk command (retry, retry-all, purge, publish, edit) needs while
//! it runs.
//!
//! A backend is handed one [`Ledger`] (`ledger.rs`): the rules of the run,
//! kept once. It asks the ledger what to take, tells it what became of each
//! message, and keeps only its broker mechanics. Publishing from an input is
//! one loop for every broker ([`publish::publish`]): a backend supplies a
//! [`publish::Publisher`] that sends and confirms. The parts here are what
//! the ledger is made of: Ctrl-C ([`Interrupt`]), `--rate` ([`Rate`]),
//! `--backup` ([`Backup`]) and the progress bar ([`Progress`]). What a run
//! reports is `crate::report`.

pub mod ledger;
pub mod publish;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::message::Message;

pub use ledger::{Ledger, Setup};

/// Set by Ctrl-C; bulk loops stop taking new messages when they see it.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst)
    }

    /// Waits until Ctrl-C was pressed; for `select!` against a blocking wait.
    pub async fn wait(&self) {
        while !self.is_set() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sets the flag on the first Ctrl-C; a second one ends the process at
    /// once (exit 130), which at worst leaves a duplicate, never a loss.
    pub fn install(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                me.set();
                eprintln!(
                    "dlq: interrupted: finishing what is in flight (Ctrl-C again to stop at once)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    // exit() runs no Drop: the view gives the terminal back here.
                    crate::view::screen::leave();
                    std::process::exit(130);
                }
            }
        });
    }
}

/// Paces work to `--rate N` messages a second, from the first message on:
/// a slow start (a long first receive) must not be made up in a burst.
#[derive(Debug)]
pub struct Rate {
    per_second: f64,
    /// When the first message went, and how many went since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl Rate {
    pub fn new(per_second: f64) -> Self {
        Rate {
            per_second,
            state: Mutex::new((None, 0)),
        }
    }

    /// Messages a second.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Waits until one more message may go out.
    pub async fn acquire(&self) {
        let due = {
            let mut st = self.state.lock().unwrap();
            let start = *st.0.get_or_insert_with(Instant::now);
            let due = start + Duration::from_secs_f64(st.1 as f64 / self.per_second);
            st.1 += 1;
            due
        };
        tokio::time::sleep_until(due.into()).await;
    }
}

/// The `--backup FILE` of purge: one NDJSON envelope a line, on disk before
/// the message is removed.
#[derive(Debug)]
pub struct Backup {
    file: Mutex<BufWriter<File>>,
}

impl Backup {
    /// Opens the file to append to, creating it: an earlier backup in it
    /// may be the only copy of what an earlier purge removed.
    pub fn create(path: &Path) -> Result<Self> {
        let cannot = |e: std::io::Error| {
            crate::exit::usage(format!("cannot open backup file {}: {e}", path.display()))
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(cannot)?;
        // A last line cut short stays a line of its own.
        let len = file.metadata().map_err(cannot)?.len();
        if len > 0 {
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8];
            file.seek(SeekFrom::Start(len - 1)).map_err(cannot)?;
            file.read_exact(&mut last).map_err(cannot)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(cannot)?;
            }
        }
        Ok(Backup {
            file: Mutex::new(BufWriter::new(file)),
        })
    }

    /// Writes the envelopes and syncs them to disk; call before removing them.
    pub fn save<'a>(&self, messages: impl IntoIterator<Item = &'a Message>) -> Result<()> {
        let mut w = self.file.lock().unwrap();
        for m in messages {
            serde_json::to_writer(&mut *w, &m.envelope()).context("writing the backup file")?;
            w.write_all(b"\n").context("writing the backup file")?;
        }
        w.flush().context("writing the backup file")?;
        w.get_ref()
            .sync_data()
            .context("syncing the backup file to disk")?;
        Ok(())
    }
}

/// A progress counter; draws a bar on stderr when the printer allows it,
/// or counts into a number a full-screen view reads (`dlq browse`).
#[derive(Clone, Default)]
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    count: Option<Arc<AtomicU64>>,
}

impl Progress {
    pub fn hidden() -> Self {
        Progress::default()
    }

    /// Counts into `count`, drawing nothing.
    pub fn counting(count: Arc<AtomicU64>) -> Self {
        Progress {
            bar: None,
            count: Some(count),
        }
    }

    /// A bar for `total` messages (None when unknown) with a verb like "moving".
    pub fn bar(total: Option<u64>, verb: &str) -> Self {
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let template = if total.is_some() {
            format!("{verb} {{bar:30}} {{pos}}/{{len}} {{per_sec}} eta {{eta}}")
        } else {
            format!("{verb} {{spinner}} {{pos}} {{per_sec}}")
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar: Some(bar),
            count: None,
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
        if let Some(c) = &self.count {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_writes_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.ndjson");
        let b = Backup::create(&path).unwrap();
        let m = Message {
            id: "1".into(),
            body: b"x".to_vec(),
            ..Default::default()
        };
        b.save([&m, &m]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        drop(b);
        // A later backup to the same file adds to it, after a line cut short too.
        std::fs::write(&path, format!("{text}{{\"id\":\"cut")).unwrap();
        Backup::create(&path).unwrap().save([&m]).unwrap();
        let again = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = again.lines().collect();
        assert_eq!(lines.len(), 4, "{again}");
        assert_eq!(lines[..2], text.lines().collect::<Vec<_>>()[..]);
        assert_eq!(lines[2], "{\"id\":\"cut");
        assert!(lines[3].starts_with("{\"id\":\"1\""), "{again}");
    }
}
