//! `dlq browse QUEUE`: the interactive view (`crate::view`), and the loop
//! that carries out what its keys ask for.
//!
//! The loop waits on three things at once: a key (read on a thread of its
//! own, paused while the editor has the terminal), the background read, and
//! the action under way. An action is the command of its name called with
//! a context whose front is the view's ([`ViewFront`]): `r` is `retry QUEUE
//! ID...`, `p` is `purge` of exactly those IDs, `x` is `export --out FILE`
//! of them, `e` is `edit QUEUE ID`, so the checks, the journal and the
//! summary are theirs. After an action the queue is read again.

use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use std::future::Future;
use tokio::sync::mpsc;

use super::{criteria, edit, export, purge, read_options, retry, Ctx};
use crate::broker::{Broker, ReadOptions};
use crate::bulk::Interrupt;
use crate::cli::{BrowseArgs, EditArgs, ExportArgs, FilterArgs, RedriveArgs, RetryArgs};
use crate::exit::{one_line, usage, Exit};
use crate::sanitize::escape;
use crate::schema::Decoder;
use crate::select::{Criteria, Filter};
use crate::view::front::ViewFront;
use crate::view::load::{self, Loaded, Loader};
use crate::view::render;
use crate::view::screen::Screen;
use crate::view::state::{Act, Effect, Pending, Running, View};

/// `--limit` when none is given: what the view keeps in memory at most.
pub const DEFAULT_LIMIT: u64 = 10_000;

pub async fn run(ctx: &Ctx, a: &BrowseArgs) -> Result<Exit> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(usage(
            "dlq browse needs a terminal (stdin and stdout); use `dlq list` or `dlq export` in scripts",
        ));
    }
    let read = read_options(&a.read, a.all, &[]);
    let (_, caps) = ctx.check(&read.flags())?;
    let decoder = ctx.decoder(&a.schema)?.map(Arc::new);
    let broker: Arc<dyn Broker> = Arc::from(ctx.connect_with(&read.flags()).await?);
    // An unknown queue fails here, before the screen is taken.
    let depth = broker.depth(&a.queue, &read).await?;
    let mut filters: FilterArgs = a.filters.clone();
    let limit = *filters.limit.get_or_insert(DEFAULT_LIMIT);

    let mut view = View::new(&a.queue, limit, caps);
    view.depth = depth;
    // The one place a read-only profile turns r, p and e off.
    view.read_only = ctx.read_only()?.is_some();

    let source = Source {
        broker,
        queue: a.queue.clone(),
        read,
        criteria: criteria(&filters, None, None)?,
        decoder,
    };
    let mut screen = Screen::enter()?;
    let result = Session {
        ctx,
        args: a,
        source: &source,
    }
    .run(&mut screen, &mut view)
    .await;
    drop(screen);
    result
}

/// Where the view reads from.
struct Source {
    broker: Arc<dyn Broker>,
    queue: String,
    read: ReadOptions,
    criteria: Criteria,
    decoder: Option<Arc<Decoder>>,
}

impl Source {
    fn load(&self) -> Loader {
        load::start(
            self.broker.clone(),
            self.queue.clone(),
            self.read.clone(),
            self.criteria.clone(),
            self.decoder.clone(),
        )
    }
}

type ActionFuture<'a> = Pin<Box<dyn Future<Output = Result<Exit>> + 'a>>;

struct Session<'a> {
    ctx: &'a Ctx,
    args: &'a BrowseArgs,
    source: &'a Source,
}

impl<'a> Session<'a> {
    async fn run(&self, screen: &mut Screen, view: &mut View) -> Result<Exit> {
        let (keys, mut keys_rx) = Keys::start();
        let mut loader = Some(self.source.load());
        let mut action: Option<(ActionFuture<'_>, Arc<ViewFront>, Interrupt)> = None;
        // A SIGINT from outside (`kill -INT`; the key is read in raw mode) is
        // the Ctrl-C key's: it stops the action, else it quits, the terminal restored.
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .context("setting up the Ctrl-C handler")?;
        loop {
            self.drain(screen, view, &mut loader);
            if let Some((_, front, _)) = &action {
                let (verb, done, total) = front.progress_now();
                view.running = Some(Running { verb, done, total });
            }
            screen
                .terminal
                .draw(|f| render::draw(f, view))
                .context("drawing the view")?;

            let tick = tokio::time::sleep(Duration::from_millis(100));
            tokio::select! {
                ev = keys_rx.recv() => {
                    let Some(ev) = ev else { return Ok(Exit::Ok) };
                    let Event::Key(k) = ev else { continue };
                    if k.kind == KeyEventKind::Release {
                        continue;
                    }
                    match view.key(k) {
                        Effect::None => {}
                        Effect::Quit => return Ok(Exit::Ok),
                        Effect::Reload => {
                            view.status = "reloading".into();
                            loader = Some(self.reload(view).await);
                        }
                        Effect::Interrupt => {
                            if let Some((_, _, stop)) = &action {
                                stop.set();
                            }
                        }
                        Effect::Run(pending) => {
                            view.status = String::new();
                            let front = Arc::new(ViewFront::default());
                            let interrupt = Interrupt::default();
                            let ctx = self.action_ctx(front.clone(), interrupt.clone());
                            action = Some((self.start(ctx, pending), front, interrupt));
                        }
                        Effect::Edit(id) => {
                            self.edit(screen, &keys, view, &id).await?;
                            loader = Some(self.reload(view).await);
                        }
                    }
                }
                res = async { action.as_mut().map(|a| a.0.as_mut()).expect("an action").await },
                    if action.is_some() => {
                    let (_, front, _) = action.take().expect("an action");
                    view.running = None;
                    self.conclude(screen, view, &mut loader, res, &front);
                    loader = Some(self.reload(view).await);
                }
                _ = sigint.recv() => match &action {
                    Some((_, _, stop)) => stop.set(),
                    None => return Ok(Exit::Interrupted),
                },
                _ = tick => {}
            }
        }
    }

    /// Reads the queue again, with its depth as it is now (the title's
    /// "first N of M" follows what was added or moved since).
    async fn reload(&self, view: &mut View) -> Loader {
        view.clear();
        let s = self.source;
        if let Ok(depth) = s.broker.depth(&s.queue, &s.read).await {
            view.depth = depth;
        }
        s.load()
    }

    /// Takes what arrived: messages read, lines written to stderr.
    fn drain(&self, screen: &mut Screen, view: &mut View, loader: &mut Option<Loader>) {
        let now = SystemTime::now();
        if let Some(l) = loader {
            // A bounded number a turn, so keys stay answered on a fast broker.
            for _ in 0..5_000 {
                match l.rx.try_recv() {
                    Ok(Loaded::Message(m)) => view.push(*m, now),
                    Ok(Loaded::Done) => {
                        view.loading = false;
                        if view.status == "reloading" {
                            view.status.clear();
                        }
                        view.keep_marks_loaded();
                        *loader = None;
                        break;
                    }
                    Ok(Loaded::Failed(e)) => {
                        view.loading = false;
                        let error = format!("error: {}", escape(&e, false));
                        // An action's summary stays in view beside the read that failed after it.
                        view.status = match view.status.as_str() {
                            "" | "reloading" => error,
                            summary => format!("{summary}; then {error}"),
                        };
                        *loader = None;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        while let Ok(line) = screen.stderr_lines.try_recv() {
            let line = line.trim();
            if !line.is_empty() {
                view.status = crate::secrets::scrub(&escape(line, false));
            }
        }
    }

    /// A context like the command's, with the view's front and its own Ctrl-C flag.
    fn action_ctx(&self, front: Arc<ViewFront>, interrupt: Interrupt) -> Ctx {
        Ctx {
            global: self.ctx.global.clone(),
            printer: self.ctx.printer.clone(),
            interrupt,
            front,
        }
    }

    /// The command an action is.
    fn start(&self, ctx: Ctx, p: Pending) -> ActionFuture<'a> {
        let (queue, read) = (self.args.queue.clone(), self.args.read.clone());
        let args = self.args.clone();
        Box::pin(async move {
            match p.act {
                Act::Retry => {
                    let a = RetryArgs {
                        queue,
                        ids: p.ids,
                        ids_from: None,
                        redrive: RedriveArgs::default(),
                        read,
                    };
                    retry::run(&ctx, &a).await
                }
                Act::Purge => purge::exactly(&ctx, &queue, &p.ids, &read).await,
                // Its dialog hands the loop an `Effect::Edit` instead: the view must step aside.
                Act::Edit => Ok(Exit::Ok),
                Act::Export(path) => {
                    let a = ExportArgs {
                        queue,
                        filters: FilterArgs::default(),
                        schema: args.schema.clone(),
                        read,
                        all: args.all,
                        out: Some(path),
                    };
                    let wanted = Criteria::new(Some(&p.ids), Filter::default(), None, None);
                    export::export(&ctx, &a, &wanted).await
                }
            }
        })
    }

    /// `e`: the view steps aside for the editor, as `dlq edit` runs it.
    async fn edit(
        &self,
        screen: &mut Screen,
        keys: &Keys,
        view: &mut View,
        id: &str,
    ) -> Result<()> {
        // What the edit says is its own: nothing from before stays beside it.
        view.status.clear();
        let front = Arc::new(ViewFront::default());
        let ctx = self.action_ctx(front.clone(), Interrupt::default());
        let a = EditArgs {
            queue: self.args.queue.clone(),
            id: id.to_owned(),
            to: None,
            read: self.args.read.clone(),
            yes: false,
            dry_run: false,
            schema: self.args.schema.clone(),
        };
        keys.pause().await;
        screen.suspend();
        let res = edit::run(&ctx, &a).await;
        let back = screen.resume();
        keys.resume();
        back?;
        self.conclude(screen, view, &mut None, res, &front);
        Ok(())
    }

    /// After an action: the status bar shows its summary, its error, or the
    /// last line it wrote to stderr (read back to the end, not raced).
    fn conclude(
        &self,
        screen: &mut Screen,
        view: &mut View,
        loader: &mut Option<Loader>,
        res: Result<Exit>,
        front: &ViewFront,
    ) {
        let said = last_said(screen).or_else(|| Some(view.status.clone()));
        self.drain(screen, view, loader);
        view.status = outcome(res, front, said);
    }
}

/// The status line after an action: its summary, or the error that stopped
/// it before anything changed, or the last thing it said.
fn outcome(res: Result<Exit>, front: &ViewFront, said: Option<String>) -> String {
    match (res, front.take_summary()) {
        (Err(e), _) => format!("error: {}", escape(&one_line(&e), false)),
        (Ok(_), Some(line)) => line,
        (Ok(_), None) => said.unwrap_or_default(),
    }
}

/// The last line an action wrote to stderr (`exported 2 messages to ...`,
/// `unchanged: nothing sent`), escaped and with secrets masked.
fn last_said(screen: &Screen) -> Option<String> {
    let line = screen
        .said()
        .into_iter()
        .rev()
        .find(|l| !l.trim().is_empty())?;
    Some(crate::secrets::scrub(&escape(line.trim(), false)))
}

/// The keys, read on a thread of their own so the loop can wait on them
/// with the rest; paused while the editor reads the terminal.
struct Keys {
    paused: Arc<AtomicBool>,
    idle: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Keys {
    fn start() -> (Keys, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let paused = Arc::new(AtomicBool::new(false));
        let idle = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, i, s) = (paused.clone(), idle.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                if p.load(Ordering::SeqCst) {
                    i.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                match event::poll(Duration::from_millis(50)) {
                    Ok(true) => match event::read() {
                        Ok(ev) => {
                            if tx.send(ev).is_err() {
                                break;
                            }
                        }
                        Err(_) => break,
                    },
                    Ok(false) => {}
                    Err(_) => break,
                }
            }
        });
        let keys = Keys { paused, idle, stop };
        (keys, rx)
    }

    /// Returns once the reader is out of the terminal.
    async fn pause(&self) {
        self.idle.store(false, Ordering::SeqCst);
        self.paused.store(true, Ordering::SeqCst);
        while !self.idle.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
