//! The state of `dlq browse` and what each key does to it.
//!
//! [`View`] is plain data: the messages loaded so far (with their `list`
//! rows), which of them are shown (the text filter and the group entered),
//! the marks (by ID, so they survive a reload of the same messages), the
//! mode (list, card, groups, a dialog, a prompt, help) and the status bar.
//! [`View::key`] is the whole of the interaction: it changes the state and
//! returns an [`Effect`] for the loop to carry out (quit, reload, run an
//! action), so every key is tested without a terminal or a broker.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::SystemTime;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::broker::{Capabilities, Message};
use crate::commands::{list, redrive};
use crate::sanitize::escape;

/// One message loaded, with its row as `list` prints it.
pub struct Item {
    pub message: Message,
    pub row: Vec<String>,
}

/// How the group view groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// Dead-letter reason and error type, as `stats --by reason,error_type`.
    Reason,
    /// `dead_letter.fingerprint`, as `stats --by fingerprint`.
    Fingerprint,
}

/// One group of the group view: its key (escaped), its size and an example
/// error type for a fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: (String, String),
    pub count: usize,
}

/// What the user is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    List,
    /// The `peek` card of the current message, scrolled down by `scroll` lines.
    Card {
        scroll: u16,
    },
    Groups {
        by: GroupBy,
        cursor: usize,
    },
    /// A question before an action: `y` runs it, `n` or Esc cancels.
    Dialog(Pending),
    /// A line being typed: the text filter, or the path of an export.
    Prompt {
        purpose: Purpose,
        text: String,
    },
    Help,
}

/// What a prompt's line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Filter,
    ExportPath,
}

/// An action and what it acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    Retry,
    Purge,
    Export(PathBuf),
    /// Edit the one message, then send the copy: the loop suspends the view.
    Edit,
}

/// An action waiting for `y`, or handed to the loop to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub act: Act,
    pub ids: Vec<String>,
    /// Where it goes, as the dialog says it.
    pub destination: String,
}

impl Pending {
    /// The dialog's question.
    pub fn question(&self) -> String {
        let n = self.ids.len();
        let what = format!("{n} message{}", if n == 1 { "" } else { "s" });
        match &self.act {
            Act::Retry => format!("Retry {what} to {}?", self.destination),
            Act::Purge => format!("Purge {what} from {}?", self.destination),
            Act::Export(_) => format!("Export {what} to {}?", self.destination),
            Act::Edit => format!(
                "Edit {what} in the editor, then send the copy to {}?",
                self.destination
            ),
        }
    }
}

/// What the loop does after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    None,
    Quit,
    Reload,
    Run(Pending),
    /// Suspend the view and edit this message.
    Edit(String),
    /// Ctrl-C while an action runs: stop it taking messages.
    Interrupt,
}

/// An action under way, as the status bar shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub verb: &'static str,
    pub done: u64,
    pub total: u64,
}

/// The whole state of the view. See the module docs.
pub struct View {
    pub queue: String,
    items: Vec<Item>,
    shown: Vec<usize>,
    cursor: usize,
    /// The first row drawn; kept by the renderer so the cursor stays in sight.
    pub top: usize,
    /// Rows on one page, as last drawn.
    pub page: usize,
    marks: HashSet<String>,
    filter: String,
    group: Option<(GroupBy, (String, String))>,
    pub mode: Mode,
    pub status: String,
    /// The queue's depth at the last load, when the broker says.
    pub depth: Option<u64>,
    pub limit: u64,
    pub loading: bool,
    /// Refuses r, p and e (a read-only profile).
    pub read_only: bool,
    pub caps: &'static Capabilities,
    pub running: Option<Running>,
}

pub const HINT: &str = "↑↓ move  Enter open  Space mark  / filter  s group  r retry  p purge  x export  e edit  R reload  ? help  q quit";

impl View {
    pub fn new(queue: &str, limit: u64, caps: &'static Capabilities) -> Self {
        View {
            queue: queue.to_owned(),
            items: Vec::new(),
            shown: Vec::new(),
            cursor: 0,
            top: 0,
            page: 10,
            marks: HashSet::new(),
            filter: String::new(),
            group: None,
            mode: Mode::List,
            status: String::new(),
            depth: None,
            limit,
            loading: true,
            read_only: false,
            caps,
            running: None,
        }
    }

    /// Adds a message read in the background; the cursor stays where it is.
    pub fn push(&mut self, message: Message, now: SystemTime) {
        let row = list::row(&message, now);
        let item = Item { message, row };
        if self.visible(&item) {
            self.shown.push(self.items.len());
        }
        self.items.push(item);
    }

    /// Forgets the messages for a reload; marks, filter and group stay.
    pub fn clear(&mut self) {
        self.items.clear();
        self.shown.clear();
        self.loading = true;
    }

    /// Drops marks of messages no longer loaded (after a reload finished).
    pub fn keep_marks_loaded(&mut self) {
        let loaded: HashSet<&str> = self.items.iter().map(|i| i.message.id.as_str()).collect();
        self.marks.retain(|id| loaded.contains(id.as_str()));
    }

    pub fn loaded(&self) -> usize {
        self.items.len()
    }

    /// The messages shown, in order.
    pub fn shown(&self) -> impl Iterator<Item = &Item> {
        self.shown.iter().map(|&i| &self.items[i])
    }

    pub fn shown_len(&self) -> usize {
        self.shown.len()
    }

    pub fn cursor(&self) -> usize {
        self.cursor.min(self.shown.len().saturating_sub(1))
    }

    pub fn current(&self) -> Option<&Item> {
        self.shown.get(self.cursor()).map(|&i| &self.items[i])
    }

    pub fn is_marked(&self, id: &str) -> bool {
        self.marks.contains(id)
    }

    pub fn marked(&self) -> usize {
        self.marks.len()
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The group entered from the group view, as its title shows it.
    pub fn group(&self) -> Option<String> {
        self.group.as_ref().map(|(by, k)| group_label(*by, k))
    }

    /// The title: queue, how many are loaded (and of how many), shown, marked.
    pub fn title(&self) -> String {
        let n = self.items.len();
        let q = escape(&self.queue, false);
        let mut t = match self.depth {
            Some(d) if !self.loading && d > n as u64 && n as u64 >= self.limit => {
                format!("{q}: first {n} of {d}")
            }
            Some(d) if self.loading => format!("{q}: loading {n} of {}", d.min(self.limit)),
            None if self.loading => format!("{q}: loading {n}"),
            _ => format!("{q}: {n} message{}", if n == 1 { "" } else { "s" }),
        };
        if self.shown.len() != n {
            t.push_str(&format!(", {} shown", self.shown.len()));
        }
        if !self.marks.is_empty() {
            t.push_str(&format!(", {} marked", self.marks.len()));
        }
        t
    }

    fn visible(&self, item: &Item) -> bool {
        if let Some((by, key)) = &self.group {
            if group_key(*by, &item.message) != *key {
                return false;
            }
        }
        self.filter.is_empty() || matches_text(&item.message, &self.filter.to_lowercase())
    }

    fn reshow(&mut self) {
        let needle = self.filter.to_lowercase();
        let group = self.group.clone();
        self.shown = (0..self.items.len())
            .filter(|&i| {
                let m = &self.items[i].message;
                group.as_ref().is_none_or(|(by, k)| group_key(*by, m) == *k)
                    && (needle.is_empty() || matches_text(m, &needle))
            })
            .collect();
        self.cursor = 0;
        self.top = 0;
    }

    /// The groups of what the text filter shows, biggest first.
    pub fn groups(&self, by: GroupBy) -> Vec<Group> {
        let needle = self.filter.to_lowercase();
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for item in &self.items {
            if needle.is_empty() || matches_text(&item.message, &needle) {
                *counts.entry(group_key(by, &item.message)).or_default() += 1;
            }
        }
        let mut groups: Vec<Group> = counts
            .into_iter()
            .map(|(key, count)| Group { key, count })
            .collect();
        groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        groups
    }

    /// The IDs an action acts on: the marked ones, or the current one.
    fn targets(&self) -> Vec<String> {
        if self.marks.is_empty() {
            return self
                .current()
                .map(|i| i.message.id.clone())
                .into_iter()
                .collect();
        }
        // In the order they are loaded, each once.
        let mut seen = HashSet::new();
        self.items
            .iter()
            .map(|i| &i.message.id)
            .filter(|id| self.marks.contains(*id) && seen.insert((*id).clone()))
            .cloned()
            .collect()
    }

    /// Where a retry of `ids` sends them, as the dialog says it.
    fn destinations(&self, ids: &[String]) -> String {
        let wanted: HashSet<&String> = ids.iter().collect();
        let mut to: Vec<String> = Vec::new();
        for item in &self.items {
            if wanted.contains(&item.message.id) {
                let t = redrive::target_of(&item.message, None, self.caps.origin_kinds_shown());
                if !to.contains(&t) {
                    to.push(t);
                }
            }
        }
        let shown: Vec<String> = to.iter().take(3).map(|t| escape(t, false)).collect();
        match to.len() {
            0 => "(unknown)".into(),
            1..=3 => shown.join(", "),
            n => format!("{} and {} more", shown.join(", "), n - 3),
        }
    }

    /// What one key does. See the module docs.
    pub fn key(&mut self, key: KeyEvent) -> Effect {
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c {
            return if self.running.is_some() {
                self.status = "stopping: finishing what is in flight".into();
                Effect::Interrupt
            } else {
                Effect::Quit
            };
        }
        match self.mode.clone() {
            Mode::Help => {
                self.mode = Mode::List;
                Effect::None
            }
            Mode::Dialog(pending) => self.dialog_key(key, pending),
            Mode::Prompt { purpose, text } => self.prompt_key(key, purpose, text),
            Mode::Groups { by, cursor } => self.groups_key(key, by, cursor),
            Mode::Card { scroll } => self.card_key(key, scroll),
            Mode::List => self.list_key(key),
        }
    }

    fn list_key(&mut self, key: KeyEvent) -> Effect {
        let last = self.shown.len().saturating_sub(1);
        let page = self.page.max(1);
        let cur = self.cursor();
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.cursor = cur.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.cursor = (cur + 1).min(last),
            KeyCode::PageUp => self.cursor = cur.saturating_sub(page),
            KeyCode::PageDown => self.cursor = (cur + page).min(last),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = last,
            KeyCode::Enter if self.current().is_some() => self.mode = Mode::Card { scroll: 0 },
            KeyCode::Esc if self.group.is_some() => {
                let by = self.group.take().map_or(GroupBy::Reason, |g| g.0);
                self.reshow();
                self.mode = Mode::Groups { by, cursor: 0 };
            }
            KeyCode::Char(' ') => {
                if let Some(id) = self.current().map(|i| i.message.id.clone()) {
                    if !self.marks.remove(&id) {
                        self.marks.insert(id);
                    }
                    self.cursor = (cur + 1).min(last);
                }
            }
            KeyCode::Char('a') => {
                let ids: Vec<String> = self.shown().map(|i| i.message.id.clone()).collect();
                self.marks.extend(ids);
            }
            KeyCode::Char('u') => self.marks.clear(),
            KeyCode::Char('/') => {
                self.mode = Mode::Prompt {
                    purpose: Purpose::Filter,
                    text: self.filter.clone(),
                }
            }
            KeyCode::Char('s') => {
                self.mode = Mode::Groups {
                    by: GroupBy::Reason,
                    cursor: 0,
                }
            }
            KeyCode::Char('f') => {
                self.mode = Mode::Groups {
                    by: GroupBy::Fingerprint,
                    cursor: 0,
                }
            }
            KeyCode::Char(c @ ('r' | 'p' | 'x' | 'e' | 'R')) => return self.action_key(c),
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char('q') => return self.quit(),
            _ => {}
        }
        Effect::None
    }

    fn quit(&mut self) -> Effect {
        if self.running.is_some() {
            self.status = "an action is running: wait for it, or Ctrl-C to stop it".into();
            return Effect::None;
        }
        Effect::Quit
    }

    fn action_key(&mut self, c: char) -> Effect {
        if self.running.is_some() {
            self.status = "an action is running: wait for it to finish".into();
            return Effect::None;
        }
        if self.read_only && matches!(c, 'r' | 'p' | 'e') {
            self.status = "read-only: retry, purge and edit are off (a read-only profile, --read-only or DLQ_READ_ONLY)".into();
            return Effect::None;
        }
        if c == 'R' {
            return Effect::Reload;
        }
        // A read under way may hold messages (RabbitMQ keeps them unacked until it ends).
        if self.loading {
            self.status = "still reading the queue: wait until it is loaded".into();
            return Effect::None;
        }
        let ids = self.targets();
        if ids.is_empty() {
            self.status = "no message to act on".into();
            return Effect::None;
        }
        match c {
            'r' => {
                let destination = self.destinations(&ids);
                self.mode = Mode::Dialog(Pending {
                    act: Act::Retry,
                    ids,
                    destination,
                });
            }
            'p' => {
                self.mode = Mode::Dialog(Pending {
                    act: Act::Purge,
                    ids,
                    destination: escape(&self.queue, false),
                });
            }
            'x' => {
                self.mode = Mode::Prompt {
                    purpose: Purpose::ExportPath,
                    text: String::new(),
                }
            }
            _ => {
                let Some(id) = self.current().map(|i| i.message.id.clone()) else {
                    return Effect::None;
                };
                let destination = self.destinations(std::slice::from_ref(&id));
                self.mode = Mode::Dialog(Pending {
                    act: Act::Edit,
                    ids: vec![id],
                    destination,
                });
            }
        }
        Effect::None
    }

    fn card_key(&mut self, key: KeyEvent, scroll: u16) -> Effect {
        let page = self.page.max(1) as u16;
        let scroll = match key.code {
            KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
            KeyCode::PageUp => scroll.saturating_sub(page),
            KeyCode::PageDown => scroll.saturating_add(page),
            KeyCode::Home => 0,
            KeyCode::End => u16::MAX,
            KeyCode::Esc => {
                self.mode = Mode::List;
                return Effect::None;
            }
            KeyCode::Enter => scroll,
            _ => {
                // Marks and actions work on the open message as in the list.
                let effect = self.list_key(key);
                if self.mode == Mode::List {
                    self.mode = Mode::Card { scroll: 0 };
                }
                return effect;
            }
        };
        self.mode = Mode::Card { scroll };
        Effect::None
    }

    fn groups_key(&mut self, key: KeyEvent, by: GroupBy, cursor: usize) -> Effect {
        let groups = self.groups(by);
        let last = groups.len().saturating_sub(1);
        let page = self.page.max(1);
        let cursor = match key.code {
            KeyCode::Up | KeyCode::Char('k') => cursor.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => (cursor + 1).min(last),
            KeyCode::PageUp => cursor.saturating_sub(page),
            KeyCode::PageDown => (cursor + page).min(last),
            KeyCode::Home => 0,
            KeyCode::End => last,
            KeyCode::Char('s') => {
                self.mode = Mode::Groups {
                    by: GroupBy::Reason,
                    cursor: 0,
                };
                return Effect::None;
            }
            KeyCode::Char('f') => {
                self.mode = Mode::Groups {
                    by: GroupBy::Fingerprint,
                    cursor: 0,
                };
                return Effect::None;
            }
            KeyCode::Enter => {
                if let Some(g) = groups.get(cursor) {
                    self.group = Some((by, g.key.clone()));
                    self.reshow();
                }
                self.mode = Mode::List;
                return Effect::None;
            }
            KeyCode::Esc => {
                self.mode = Mode::List;
                return Effect::None;
            }
            KeyCode::Char('?') => {
                self.mode = Mode::Help;
                return Effect::None;
            }
            KeyCode::Char('R') => return self.action_key('R'),
            KeyCode::Char('q') => return self.quit(),
            _ => cursor,
        };
        self.mode = Mode::Groups { by, cursor };
        Effect::None
    }

    fn dialog_key(&mut self, key: KeyEvent, pending: Pending) -> Effect {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                self.mode = Mode::List;
                match pending.act {
                    Act::Edit => Effect::Edit(pending.ids.into_iter().next().unwrap_or_default()),
                    _ => Effect::Run(pending),
                }
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.mode = Mode::List;
                self.status = "cancelled: nothing changed".into();
                Effect::None
            }
            _ => Effect::None,
        }
    }

    fn prompt_key(&mut self, key: KeyEvent, purpose: Purpose, mut text: String) -> Effect {
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::List;
                return Effect::None;
            }
            KeyCode::Enter => {
                self.mode = Mode::List;
                match purpose {
                    Purpose::Filter => {
                        self.filter = text.trim().to_owned();
                        self.reshow();
                        self.status = if self.filter.is_empty() {
                            "filter cleared".into()
                        } else {
                            format!("filter: {}", self.filter)
                        };
                    }
                    Purpose::ExportPath if text.trim().is_empty() => {
                        self.status = "export cancelled: no file named".into();
                    }
                    Purpose::ExportPath => {
                        let path = PathBuf::from(text.trim());
                        self.mode = Mode::Dialog(Pending {
                            act: Act::Export(path.clone()),
                            ids: self.targets(),
                            destination: escape(&path.display().to_string(), false),
                        });
                    }
                }
                return Effect::None;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            // Typed text only: a pasted control character is not kept.
            KeyCode::Char(c) if !crate::sanitize::is_unsafe(c) => text.push(c),
            _ => {}
        }
        self.mode = Mode::Prompt { purpose, text };
        Effect::None
    }

    /// Keeps the cursor on the page: the renderer calls it with the rows it has.
    pub fn scroll_to_cursor(&mut self, rows: usize) {
        self.page = rows.max(1);
        let cur = self.cursor();
        if cur < self.top {
            self.top = cur;
        } else if cur >= self.top + self.page {
            self.top = cur + 1 - self.page;
        }
        self.top = self.top.min(self.shown.len().saturating_sub(1));
    }
}

/// The text filter: body, decoded body and headers, case-insensitive.
fn matches_text(m: &Message, needle_lower: &str) -> bool {
    let has = |s: &str| s.to_lowercase().contains(needle_lower);
    String::from_utf8_lossy(&m.body)
        .to_lowercase()
        .contains(needle_lower)
        || m.decoded
            .as_ref()
            .and_then(|d| d.value_text())
            .is_some_and(has)
        || m.headers.iter().any(|(k, v)| {
            has(k)
                || match v {
                    serde_json::Value::String(s) => has(s),
                    other => has(&other.to_string()),
                }
        })
}

/// The key of a message in a grouping: escaped, `-` for a value it lacks.
fn group_key(by: GroupBy, m: &Message) -> (String, String) {
    let dl = &m.dead_letter;
    let text = |v: &Option<String>| v.as_deref().map_or("-".into(), |s| escape(s, false));
    match by {
        GroupBy::Reason => (text(&dl.reason), text(&dl.error_type)),
        GroupBy::Fingerprint => (text(&dl.fingerprint), text(&dl.error_type)),
    }
}

/// A group as a title shows it.
pub fn group_label(by: GroupBy, (a, b): &(String, String)) -> String {
    match by {
        GroupBy::Reason => format!("reason {a}, error type {b}"),
        GroupBy::Fingerprint => format!("fingerprint {a}"),
    }
}
