//! Taking the terminal over and giving it back as it was.
//!
//! [`Screen::enter`] switches to raw mode and the alternate screen, and
//! points the process's stderr (fd 2) at a pipe while the view is up: a
//! warning printed by a command or a client library would otherwise be
//! drawn over the view, so its lines are read from the pipe and shown in
//! the status bar instead. Leaving restores all three, in reverse order;
//! it runs from `Drop` (an error, `q`, Ctrl-C), from the panic hook, and
//! from a handler of the signals that end the process (an abort inside a
//! client library, `kill`, a closed window), so the shell is never left in
//! raw mode. `suspend` and `resume` give the
//! terminal to the editor for `e`; stderr stays in the pipe meanwhile, so
//! what the edit reports shows in the status bar too.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;

use anyhow::{Context as _, Result};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::Terminal;

pub type Term = Terminal<CrosstermBackend<std::io::Stdout>>;

/// The real stderr while the view holds it (-1 when it does not).
static SAVED_STDERR: AtomicI32 = AtomicI32::new(-1);
/// True while raw mode and the alternate screen are on.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The terminal, taken over. See the module docs.
pub struct Screen {
    pub terminal: Term,
    /// Lines written to stderr while the view is up.
    pub stderr_lines: mpsc::Receiver<String>,
}

impl Screen {
    pub fn enter() -> Result<Screen> {
        install_panic_hook();
        let stderr_lines = capture_stderr()?;
        take_terminal().context("setting up the terminal")?;
        let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))
            .context("setting up the terminal")?;
        Ok(Screen {
            terminal,
            stderr_lines,
        })
    }

    /// Gives the terminal back for a while (the editor). Stderr stays in the
    /// pipe, so what the edit reports reaches the status bar.
    pub fn suspend(&mut self) {
        give_terminal_back();
    }

    /// Takes the terminal again after `suspend` and redraws everything.
    pub fn resume(&mut self) -> Result<()> {
        take_terminal().context("setting up the terminal again")?;
        self.terminal.clear().context("redrawing")?;
        Ok(())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        leave();
    }
}

/// Restores everything; safe to call more than once.
pub fn leave() {
    give_terminal_back();
    restore_stderr();
}

/// The terminal's mode before the view, for the signal handler.
static COOKED: std::sync::OnceLock<libc::termios> = std::sync::OnceLock::new();

/// A signal that ends the process (a library's abort, `kill`, a closed
/// window) gives the terminal back first: only calls a signal handler may
/// make (`write`, `tcsetattr`), then the signal again with its default action.
extern "C" fn restore_then_die(sig: libc::c_int) {
    const BACK: &[u8] = b"\x1b[?1049l\x1b[?25h";
    // SAFETY: async-signal-safe calls only; COOKED is set before the handler is.
    unsafe {
        if ACTIVE.load(Ordering::SeqCst) {
            libc::write(1, BACK.as_ptr().cast(), BACK.len());
            if let Some(t) = COOKED.get() {
                libc::tcsetattr(0, libc::TCSANOW, t);
            }
        }
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn install_signal_restore() {
    // SAFETY: tcgetattr fills a plain struct; the handler is installed once.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) == 0 {
            let _ = COOKED.set(t);
        }
        for sig in [libc::SIGABRT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(sig, restore_then_die as *const () as libc::sighandler_t);
        }
    }
}

fn take_terminal() -> std::io::Result<()> {
    if COOKED.get().is_none() {
        install_signal_restore();
    }
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    execute!(
        std::io::stdout(),
        terminal::EnterAlternateScreen,
        cursor::Hide
    )
}

fn give_terminal_back() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(
            std::io::stdout(),
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
        let _ = std::io::stdout().flush();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        leave();
        previous(info);
    }));
}

/// The write end of the pipe, closed when the view ends.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

impl Screen {
    /// The lines written to stderr until now: a marker written after them
    /// comes back through the pipe last (waited for up to a second), so
    /// what an action said just before it ended is not missed.
    pub fn said(&self) -> Vec<String> {
        const MARK: &str = "\u{1}dlq-view-said";
        eprintln!("{MARK}");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let mut out = Vec::new();
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) if line == MARK => break,
                Ok(line) => out.push(line),
                Err(_) => break,
            }
        }
        out
    }
}

fn capture_stderr() -> Result<mpsc::Receiver<String>> {
    let mut fds: [RawFd; 2] = [0; 2];
    // SAFETY: plain POSIX calls on descriptors this function owns.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error()).context("redirecting stderr");
        }
        let saved = libc::dup(2);
        if saved < 0 {
            return Err(std::io::Error::last_os_error()).context("redirecting stderr");
        }
        libc::fcntl(saved, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(fds[0], libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(fds[1], libc::F_SETFD, libc::FD_CLOEXEC);
        SAVED_STDERR.store(saved, Ordering::SeqCst);
        PIPE_WRITE.store(fds[1], Ordering::SeqCst);
        libc::dup2(fds[1], 2);
    }
    let (tx, rx) = mpsc::channel();
    // SAFETY: the read end is owned by this thread from here on.
    let read = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    std::thread::spawn(move || {
        for line in BufReader::new(read).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

fn restore_stderr() {
    let saved = SAVED_STDERR.swap(-1, Ordering::SeqCst);
    if saved >= 0 {
        // SAFETY: `saved` is the duplicate of the real stderr made above; the
        // pipe's write end is closed so that its reader ends.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
            let pipe = PIPE_WRITE.swap(-1, Ordering::SeqCst);
            if pipe >= 0 {
                libc::close(pipe);
            }
        }
    }
}
