//! Drawing the view: a title line, the list (or the card, or the groups),
//! the status bar and a one-line key hint; dialogs, prompts and help on top.
//!
//! Only the rows on screen are built, so a frame costs the same with 10
//! or 10,000 messages loaded. Every text shown from a message was escaped
//! by `list`'s row or `peek`'s card (`sanitize`), and tabs are expanded
//! here, so nothing a payload holds reaches the terminal as a control.

use std::time::SystemTime;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Text};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::state::{GroupBy, Mode, Purpose, View, HINT};
use crate::cli::{BinaryFormat, OutputFormat};
use crate::commands::peek;
use crate::output::Printer;

/// How much of a body the card shows, as `peek` at a terminal shows it.
const CARD_BODY_CAP: usize = 64 * 1024;

const HELP: &str = "\
↑ ↓  k j      move            PgUp PgDn Home End  move by page, to the ends
Enter         open the message (the peek card); Esc back
Space         mark or unmark  a  mark all shown  u  unmark all
/             filter by text (body, decoded body, headers); Enter applies, empty clears
s             group by reason and error type; f  by fingerprint; Enter shows a group
r             retry the marked messages (or the current one)
p             purge them      x  export them to a file
e             edit the current message in $VISUAL / $EDITOR
R             reload          ?  this help
q  Ctrl-C     quit

Each action asks first (y runs it, n or Esc cancels) and runs as the
command of that name does: same checks, same journal.";

/// Draws the whole view.
pub fn draw(frame: &mut Frame, view: &mut View) {
    let [title, main, status, hint] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    let mut heading = format!(" dlq browse {}", view.title());
    if let Some(g) = view.group() {
        heading.push_str(&format!(" · {g}"));
    }
    if !view.filter().is_empty() {
        heading.push_str(&format!(" · filter \"{}\"", view.filter()));
    }
    frame.render_widget(
        Paragraph::new(heading).style(Style::new().add_modifier(Modifier::REVERSED)),
        title,
    );

    match view.mode.clone() {
        Mode::Card { scroll } => card(frame, view, main, scroll),
        Mode::Groups { by, cursor } => groups(frame, view, main, by, cursor),
        _ => list(frame, view, main),
    }

    let status_text = match (&view.mode, &view.running) {
        (Mode::Prompt { purpose, text }, _) => match purpose {
            Purpose::Filter => format!("/{text}▏"),
            Purpose::ExportPath => format!("export to file: {text}▏"),
        },
        (_, Some(r)) => format!("{} {}/{}…", r.verb, r.done, r.total),
        _ => view.status.clone(),
    };
    frame.render_widget(Paragraph::new(status_text), status);
    frame.render_widget(
        Paragraph::new(HINT).style(Style::new().add_modifier(Modifier::DIM)),
        hint,
    );

    match &view.mode {
        Mode::Dialog(p) => {
            let text = format!("{}\n\ny  yes      n  no", p.question());
            popup(frame, main, " confirm ", &text, 76, 5);
        }
        Mode::Help => popup(frame, main, " keys (any key closes) ", HELP, 92, 15),
        _ => {}
    }
}

fn list(frame: &mut Frame, view: &mut View, area: Rect) {
    let rows_room = area.height.saturating_sub(1) as usize;
    view.scroll_to_cursor(rows_room);
    let cursor = view.cursor();
    let rows: Vec<Row> = view
        .shown()
        .enumerate()
        .skip(view.top)
        .take(rows_room)
        .map(|(i, item)| {
            let mark = if view.is_marked(&item.message.id) {
                "*"
            } else {
                " "
            };
            let cells = std::iter::once(Cell::from(mark))
                .chain(item.row.iter().map(|c| Cell::from(c.as_str())));
            let row = Row::new(cells);
            if i == cursor {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        })
        .collect();
    let header = Row::new([
        "", "ID", "AGE", "REASON", "SOURCE", "ATTEMPTS", "SIZE", "BODY",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(1),
        Constraint::Length(14),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Length(14),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Fill(1),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), area);
    if view.shown_len() == 0 && !view.loading && area.height > 1 {
        let note = if view.loaded() == 0 {
            "no messages"
        } else {
            "no message matches"
        };
        frame.render_widget(
            Paragraph::new(note),
            Rect {
                y: area.y + 1,
                height: 1,
                ..area
            },
        );
    }
}

fn card(frame: &mut Frame, view: &mut View, area: Rect, scroll: u16) {
    view.page = area.height as usize;
    let Some(item) = view.current() else {
        return;
    };
    // The card as `peek` prints it without color: the view styles its own text.
    let plain = Printer {
        format: OutputFormat::Table,
        color: false,
        quiet: false,
        verbose: 0,
        stdout_tty: false,
        stderr_tty: false,
        wide: false,
    };
    let text = peek::card(
        &plain,
        &item.message,
        SystemTime::now(),
        BinaryFormat::Hex,
        view.caps,
        Some(CARD_BODY_CAP),
    )
    .replace('\t', "    ");
    let lines = text.lines().count() as u16;
    let scroll = scroll.min(lines.saturating_sub(area.height));
    let text = Text::from(text.lines().map(Line::from).collect::<Vec<_>>());
    frame.render_widget(Paragraph::new(text).scroll((scroll, 0)), area);
}

fn groups(frame: &mut Frame, view: &mut View, area: Rect, by: GroupBy, cursor: usize) {
    view.page = area.height.saturating_sub(1) as usize;
    let groups = view.groups(by);
    let top = cursor.saturating_sub(view.page.saturating_sub(1));
    let rows: Vec<Row> = groups
        .iter()
        .enumerate()
        .skip(top)
        .take(view.page)
        .map(|(i, g)| {
            let row = Row::new([g.count.to_string(), g.key.0.clone(), g.key.1.clone()]);
            if i == cursor {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        })
        .collect();
    let first = match by {
        GroupBy::Reason => "REASON",
        GroupBy::Fingerprint => "FINGERPRINT",
    };
    let header =
        Row::new(["COUNT", first, "ERROR TYPE"]).style(Style::new().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(7),
        Constraint::Length(24),
        Constraint::Fill(1),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), area);
}

/// A box in the middle of `area`, at most `width` by `height` inside.
fn popup(frame: &mut Frame, area: Rect, title: &str, text: &str, width: u16, height: u16) {
    let w = (width + 2).min(area.width);
    let h = (height + 2).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(text.to_owned())
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title.to_owned()),
            ),
        r,
    );
}
