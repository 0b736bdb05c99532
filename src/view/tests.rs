//! Every key of the view, and what the screen shows, on ratatui's TestBackend.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use super::render::draw;
use super::state::{Act, Effect, GroupBy, Mode, Running, View};
use crate::broker::memory::CAPABILITIES;
use crate::broker::{Message, OriginKind};
use crate::message::{DeadLetter, Origin};

fn msg(id: &str, reason: &str, error: Option<&str>, fp: Option<&str>, body: &str) -> Message {
    Message {
        id: id.into(),
        queue: "orders.dlq".into(),
        timestamp: Some(SystemTime::now() - Duration::from_secs(90)),
        body: body.as_bytes().to_vec(),
        dead_letter: DeadLetter {
            reason: Some(reason.into()),
            source: Some("orders".into()),
            attempts: Some(1),
            error_type: error.map(Into::into),
            fingerprint: fp.map(Into::into),
            origin: Some(Origin {
                kind: OriginKind::Queue,
                name: "orders".into(),
                routing_key: None,
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn view() -> View {
    let mut v = View::new("orders.dlq", 10_000, &CAPABILITIES);
    let now = SystemTime::now();
    v.push(
        msg(
            "m1",
            "rejected",
            Some("Timeout"),
            Some("aaaa11112222"),
            "{\"order\":1}",
        ),
        now,
    );
    v.push(msg("m2", "expired", None, None, "plain two"), now);
    v.push(
        msg(
            "m3",
            "rejected",
            Some("Timeout"),
            Some("aaaa11112222"),
            "boom three",
        ),
        now,
    );
    v.push(
        msg(
            "m4",
            "rejected",
            Some("NullPointer"),
            Some("bbbb33334444"),
            "four",
        ),
        now,
    );
    v.loading = false;
    v.depth = Some(4);
    v
}

fn key(v: &mut View, code: KeyCode) -> Effect {
    v.key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(v: &mut View, c: char) -> Effect {
    key(v, KeyCode::Char(c))
}

fn typed(v: &mut View, text: &str) {
    for c in text.chars() {
        ch(v, c);
    }
}

/// The screen as text, one string per line.
fn screen(v: &mut View, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, v)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect()
}

fn shows(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.contains(text))
}

#[test]
fn list_title_rows_and_hint() {
    let mut v = view();
    let s = screen(&mut v, 120, 12);
    assert!(s[0].contains("dlq browse orders.dlq: 4 messages"), "{s:#?}");
    assert!(s[1].contains("ID") && s[1].contains("REASON") && s[1].contains("BODY"));
    for id in ["m1", "m2", "m3", "m4"] {
        assert!(shows(&s, id), "{id} in {s:#?}");
    }
    assert!(shows(&s, "rejected") && shows(&s, "{\"order\":1}"));
    assert!(
        s[11].contains("Enter open") && s[11].contains("q quit"),
        "{s:#?}"
    );
}

#[test]
fn title_while_loading_and_when_capped() {
    let mut v = View::new("q", 3, &CAPABILITIES);
    v.depth = Some(50);
    let now = SystemTime::now();
    for i in 0..3 {
        v.push(msg(&format!("m{i}"), "r", None, None, "b"), now);
    }
    assert_eq!(v.title(), "q: loading 3 of 3");
    v.loading = false;
    assert_eq!(v.title(), "q: first 3 of 50");
    let s = screen(&mut v, 80, 8);
    assert!(s[0].contains("first 3 of 50"), "{s:#?}");
}

#[test]
fn moving_keys() {
    let mut v = view();
    v.page = 2;
    assert_eq!(v.cursor(), 0);
    key(&mut v, KeyCode::Down);
    ch(&mut v, 'j');
    assert_eq!(v.cursor(), 2);
    key(&mut v, KeyCode::Up);
    assert_eq!(v.cursor(), 1);
    ch(&mut v, 'k');
    ch(&mut v, 'k');
    assert_eq!(v.cursor(), 0);
    key(&mut v, KeyCode::PageDown);
    assert_eq!(v.cursor(), 2);
    key(&mut v, KeyCode::PageUp);
    assert_eq!(v.cursor(), 0);
    key(&mut v, KeyCode::End);
    assert_eq!(v.cursor(), 3);
    key(&mut v, KeyCode::Down);
    assert_eq!(v.cursor(), 3);
    key(&mut v, KeyCode::Home);
    assert_eq!(v.cursor(), 0);
}

#[test]
fn the_cursor_stays_on_screen() {
    let mut v = View::new("q", 10_000, &CAPABILITIES);
    let now = SystemTime::now();
    for i in 0..100 {
        v.push(msg(&format!("id{i:03}"), "r", None, None, "b"), now);
    }
    v.loading = false;
    key(&mut v, KeyCode::End);
    let s = screen(&mut v, 80, 12);
    assert!(shows(&s, "id099"), "{s:#?}");
    assert!(!shows(&s, "id000"));
}

#[test]
fn enter_opens_the_card_and_esc_goes_back() {
    let mut v = view();
    key(&mut v, KeyCode::Enter);
    assert_eq!(v.mode, Mode::Card { scroll: 0 });
    let s = screen(&mut v, 100, 24);
    assert!(shows(&s, "── message m1"), "{s:#?}");
    assert!(
        shows(&s, "body (json)") && shows(&s, "\"order\": 1"),
        "{s:#?}"
    );
    assert!(shows(&s, "retry goes"), "{s:#?}");
    key(&mut v, KeyCode::Down);
    assert_eq!(v.mode, Mode::Card { scroll: 1 });
    key(&mut v, KeyCode::Home);
    assert_eq!(v.mode, Mode::Card { scroll: 0 });
    key(&mut v, KeyCode::Esc);
    assert_eq!(v.mode, Mode::List);
}

#[test]
fn space_marks_a_marks_all_u_unmarks() {
    let mut v = view();
    ch(&mut v, ' ');
    assert!(v.is_marked("m1"));
    assert_eq!(v.cursor(), 1, "space moves on");
    ch(&mut v, ' ');
    assert_eq!(v.marked(), 2);
    let s = screen(&mut v, 100, 10);
    assert!(s[0].contains("2 marked"), "{s:#?}");
    assert!(s[2].starts_with('*') && s[3].starts_with('*') && !s[4].starts_with('*'));
    key(&mut v, KeyCode::Up);
    ch(&mut v, ' ');
    assert!(!v.is_marked("m2"));
    ch(&mut v, 'u');
    assert_eq!(v.marked(), 0);
    ch(&mut v, 'a');
    assert_eq!(v.marked(), 4);
}

#[test]
fn slash_filters_body_and_headers_and_empty_clears() {
    let mut v = view();
    ch(&mut v, '/');
    typed(&mut v, "BOOM");
    let s = screen(&mut v, 100, 10);
    assert!(s[8].starts_with("/BOOM"), "{s:#?}");
    key(&mut v, KeyCode::Enter);
    assert_eq!(v.shown_len(), 1);
    assert_eq!(v.current().unwrap().message.id, "m3");
    let s = screen(&mut v, 100, 10);
    assert!(
        s[0].contains("1 shown") && s[0].contains("filter \"BOOM\""),
        "{s:#?}"
    );
    // Marking all marks what is shown only.
    ch(&mut v, 'a');
    assert_eq!(v.marked(), 1);
    ch(&mut v, '/');
    for _ in 0..4 {
        key(&mut v, KeyCode::Backspace);
    }
    key(&mut v, KeyCode::Enter);
    assert_eq!(v.shown_len(), 4);
    assert_eq!(v.status, "filter cleared");
    // A header's value matches too.
    let mut m = msg("m5", "r", None, None, "x");
    m.headers.insert("tenant".into(), "acme-corp".into());
    v.push(m, SystemTime::now());
    ch(&mut v, '/');
    typed(&mut v, "acme");
    key(&mut v, KeyCode::Enter);
    assert_eq!(v.shown_len(), 1);
    // Esc in the prompt keeps the filter as it was.
    ch(&mut v, '/');
    typed(&mut v, "zzz");
    key(&mut v, KeyCode::Esc);
    assert_eq!(v.filter(), "acme");
}

#[test]
fn s_groups_by_reason_and_error_type_and_enter_shows_a_group() {
    let mut v = view();
    ch(&mut v, 's');
    assert!(matches!(
        v.mode,
        Mode::Groups {
            by: GroupBy::Reason,
            ..
        }
    ));
    let s = screen(&mut v, 100, 10);
    assert!(s[1].contains("COUNT") && s[1].contains("REASON") && s[1].contains("ERROR TYPE"));
    assert!(
        s[2].contains('2') && s[2].contains("rejected") && s[2].contains("Timeout"),
        "{s:#?}"
    );
    assert!(shows(&s, "expired"));
    key(&mut v, KeyCode::Enter);
    assert_eq!(v.mode, Mode::List);
    assert_eq!(v.shown_len(), 2);
    let s = screen(&mut v, 120, 10);
    assert!(
        s[0].contains("reason rejected, error type Timeout"),
        "{s:#?}"
    );
    key(&mut v, KeyCode::Esc);
    assert!(matches!(v.mode, Mode::Groups { .. }));
    assert_eq!(v.shown_len(), 4);
    key(&mut v, KeyCode::Esc);
    assert_eq!(v.mode, Mode::List);
}

#[test]
fn f_groups_by_fingerprint() {
    let mut v = view();
    ch(&mut v, 'f');
    let s = screen(&mut v, 100, 10);
    assert!(s[1].contains("FINGERPRINT"), "{s:#?}");
    assert!(
        s[2].contains("aaaa11112222") && s[2].contains('2'),
        "{s:#?}"
    );
    key(&mut v, KeyCode::Down);
    key(&mut v, KeyCode::Down);
    ch(&mut v, 's');
    assert!(matches!(
        v.mode,
        Mode::Groups {
            by: GroupBy::Reason,
            cursor: 0
        }
    ));
    ch(&mut v, 'f');
    key(&mut v, KeyCode::Enter);
    assert_eq!(v.shown_len(), 2);
}

#[test]
fn r_asks_with_count_and_destination_y_runs_n_keeps_marks() {
    let mut v = view();
    ch(&mut v, ' ');
    ch(&mut v, ' ');
    assert_eq!(ch(&mut v, 'r'), Effect::None);
    let s = screen(&mut v, 100, 16);
    assert!(shows(&s, "Retry 2 messages to orders?"), "{s:#?}");
    assert!(shows(&s, "y  yes"));
    assert_eq!(ch(&mut v, 'n'), Effect::None);
    assert_eq!(v.marked(), 2, "marks survive a cancelled dialog");
    assert_eq!(v.status, "cancelled: nothing changed");
    ch(&mut v, 'r');
    assert_eq!(key(&mut v, KeyCode::Esc), Effect::None);
    ch(&mut v, 'r');
    match ch(&mut v, 'y') {
        Effect::Run(p) => {
            assert_eq!(p.act, Act::Retry);
            assert_eq!(p.ids, ["m1", "m2"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn with_no_marks_an_action_takes_the_current_message() {
    let mut v = view();
    key(&mut v, KeyCode::Down);
    ch(&mut v, 'p');
    let s = screen(&mut v, 100, 16);
    assert!(shows(&s, "Purge 1 message from orders.dlq?"), "{s:#?}");
    match ch(&mut v, 'y') {
        Effect::Run(p) => {
            assert_eq!(p.act, Act::Purge);
            assert_eq!(p.ids, ["m2"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn x_asks_for_a_path_then_confirms() {
    let mut v = view();
    ch(&mut v, 'a');
    ch(&mut v, 'x');
    typed(&mut v, "out.ndjson");
    let s = screen(&mut v, 100, 16);
    assert!(shows(&s, "export to file: out.ndjson"), "{s:#?}");
    key(&mut v, KeyCode::Enter);
    let s = screen(&mut v, 100, 16);
    assert!(shows(&s, "Export 4 messages to out.ndjson?"), "{s:#?}");
    match ch(&mut v, 'y') {
        Effect::Run(p) => assert_eq!(p.act, Act::Export(PathBuf::from("out.ndjson"))),
        other => panic!("{other:?}"),
    }
    // An empty path cancels.
    ch(&mut v, 'x');
    key(&mut v, KeyCode::Enter);
    assert_eq!(v.mode, Mode::List);
}

#[test]
fn e_edits_the_current_one_and_capital_r_reloads() {
    let mut v = view();
    key(&mut v, KeyCode::End);
    // Like every action, an edit asks first, naming where the copy goes.
    assert_eq!(ch(&mut v, 'e'), Effect::None);
    match &v.mode {
        Mode::Dialog(p) => assert!(
            p.question().starts_with("Edit 1 message in the editor"),
            "{p:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(ch(&mut v, 'n'), Effect::None);
    assert_eq!(v.mode, Mode::List);
    ch(&mut v, 'e');
    assert_eq!(ch(&mut v, 'y'), Effect::Edit("m4".into()));
    assert_eq!(ch(&mut v, 'R'), Effect::Reload);
}

#[test]
fn read_only_refuses_r_p_e_in_the_status_bar() {
    let mut v = view();
    v.read_only = true;
    for c in ['r', 'p', 'e'] {
        v.status.clear();
        assert_eq!(ch(&mut v, c), Effect::None);
        assert_eq!(v.mode, Mode::List);
        assert!(v.status.starts_with("read-only"), "{c}: {}", v.status);
    }
    let s = screen(&mut v, 100, 10);
    assert!(s[8].starts_with("read-only"), "{s:#?}");
    // Export reads only.
    ch(&mut v, 'x');
    assert!(matches!(v.mode, Mode::Prompt { .. }));
}

#[test]
fn actions_wait_for_the_read_to_end() {
    let mut v = view();
    v.loading = true;
    assert_eq!(ch(&mut v, 'r'), Effect::None);
    assert_eq!(v.mode, Mode::List);
    assert!(v.status.starts_with("still reading"), "{}", v.status);
    assert_eq!(ch(&mut v, 'R'), Effect::Reload);
}

#[test]
fn help_and_quit() {
    let mut v = view();
    ch(&mut v, '?');
    let s = screen(&mut v, 100, 24);
    assert!(shows(&s, "keys") && shows(&s, "filter by text"), "{s:#?}");
    ch(&mut v, 'z');
    assert_eq!(v.mode, Mode::List);
    assert_eq!(ch(&mut v, 'q'), Effect::Quit);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(v.key(ctrl_c), Effect::Quit);
}

#[test]
fn while_an_action_runs() {
    let mut v = view();
    v.running = Some(Running {
        verb: "moving",
        done: 1,
        total: 2,
    });
    let s = screen(&mut v, 100, 10);
    assert!(s[8].starts_with("moving 1/2"), "{s:#?}");
    assert_eq!(ch(&mut v, 'q'), Effect::None);
    assert_eq!(ch(&mut v, 'r'), Effect::None);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(v.key(ctrl_c), Effect::Interrupt);
}

#[test]
fn escape_sequences_in_a_body_stay_text() {
    let mut v = View::new("q", 10, &CAPABILITIES);
    let evil = "a\x1b[2J\x1b]0;owned\x07\tb\r\u{202e}c";
    v.push(
        msg("evil", "r\x1b[31m", None, None, evil),
        SystemTime::now(),
    );
    v.loading = false;
    for mode in [Mode::List, Mode::Card { scroll: 0 }] {
        v.mode = mode;
        let s = screen(&mut v, 100, 20);
        let all = s.join("\n");
        assert!(!all.chars().any(|c| c.is_control() && c != '\n'), "{all}");
        assert!(all.contains("\\x1b[2J"), "{all}");
        assert!(!all.contains('\u{202e}'));
    }
}

#[test]
fn a_resize_redraws_at_the_new_size() {
    let mut v = view();
    let mut t = Terminal::new(TestBackend::new(100, 20)).unwrap();
    t.draw(|f| draw(f, &mut v)).unwrap();
    t.backend_mut().resize(30, 6);
    t.draw(|f| draw(f, &mut v)).unwrap();
    assert_eq!(t.backend().buffer().area.width, 30);
    // And tiny screens do not panic, whatever the mode.
    for m in [Mode::Help, Mode::Card { scroll: 5 }] {
        v.mode = m;
        screen(&mut v, 5, 3);
    }
    ch(&mut v, 'z');
    ch(&mut v, 'r');
    screen(&mut v, 5, 3);
}
