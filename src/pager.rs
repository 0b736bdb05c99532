//! Long output at a terminal goes through a pager, as git and journalctl
//! do: `$DLQ_PAGER`, else `$PAGER`, else `less -FRX` (which exits at once
//! when the output fits one screen, keeps colors and leaves the screen as
//! it was). Never when stdout is not a terminal, nor with `--no-pager`; an
//! empty pager or `cat` means none.
//!
//! The pager is started through `sh -c` like git does, and dlq's stdout is
//! pointed at its input (`dup2`), so every printer writes through it
//! unchanged. At the end dlq closes stdout and waits for the pager, so the
//! prompt comes back only when the reader is done.

use std::io::{IsTerminal, Write};
use std::os::fd::IntoRawFd;
use std::process::{Child, Command, Stdio};

/// A running pager, or none.
pub struct Pager(Option<Child>);

/// The pager command the environment asks for, or none.
fn command() -> Option<String> {
    let chosen = ["DLQ_PAGER", "PAGER"]
        .iter()
        .find_map(|k| std::env::var(k).ok())
        .unwrap_or_else(|| "less -FRX".into());
    let chosen = chosen.trim();
    (!chosen.is_empty() && chosen != "cat").then(|| chosen.to_string())
}

impl Pager {
    /// Starts the pager when stdout is a terminal and paging is wanted;
    /// when it cannot start, output goes to the terminal as it would have.
    pub fn start(wanted: bool) -> Pager {
        if !wanted || !std::io::stdout().is_terminal() {
            return Pager(None);
        }
        let Some(cmd) = command() else {
            return Pager(None);
        };
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(&cmd).stdin(Stdio::piped());
        if std::env::var_os("LESS").is_none() {
            sh.env("LESS", "FRX");
        }
        let Ok(mut child) = sh.spawn() else {
            return Pager(None);
        };
        let Some(input) = child.stdin.take() else {
            return Pager(None);
        };
        let fd = input.into_raw_fd();
        // SAFETY: both descriptors are open; 1 is replaced atomically.
        let pointed = unsafe { libc::dup2(fd, libc::STDOUT_FILENO) } >= 0;
        // SAFETY: fd is ours and now duplicated (or unused).
        unsafe { libc::close(fd) };
        if !pointed {
            let _ = child.kill();
            return Pager(None);
        }
        Pager(Some(child))
    }

    /// Ends the output and waits for the reader to quit the pager.
    pub fn finish(mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = std::io::stdout().flush();
            // SAFETY: closing our stdout is how the pager sees the end.
            unsafe { libc::close(libc::STDOUT_FILENO) };
            let _ = child.wait();
        }
    }
}

impl Drop for Pager {
    fn drop(&mut self) {
        if self.0.is_some() {
            Pager(self.0.take()).finish();
        }
    }
}
