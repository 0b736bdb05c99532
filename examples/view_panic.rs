//! Takes the terminal over exactly as `dlq browse` does, draws one frame,
//! then panics: tests/browse.rs runs it in a real terminal (tmux) and checks
//! that the panic hook gave the terminal back (cooked mode, main screen) and
//! that the panic's message reached the real stderr, not the view's pipe.

use dlq::view::screen::Screen;
use ratatui::widgets::Paragraph;

fn main() {
    let mut screen = Screen::enter().expect("a terminal");
    screen
        .terminal
        .draw(|f| f.render_widget(Paragraph::new("view up"), f.area()))
        .expect("drawing");
    std::thread::sleep(std::time::Duration::from_millis(300));
    panic!("a bug in the view");
}
