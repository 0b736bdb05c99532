//! `dlq browse` end to end: the built binary in a real terminal (tmux),
//! driven by keys, against RabbitMQ and NATS JetStream. Each step waits
//! until the screen shows what it should (capture-pane, polled); the
//! broker's state is checked through its own client; the terminal must be
//! back in cooked mode on the main screen after `q`, also after the
//! connection was cut in the middle of an action.
mod common;
mod rabbitmq_support;
#[path = "nats/support.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use common::{dlq, dlq_bin, run, test_journal, unique, wait_for};
use rabbitmq_support::{lapin, Rmq};

/// A tmux server of the test's own (its own socket), running one window.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `dlq ARGS` in a 160x40 terminal; when it ends, the shell prints
    /// its exit code and the terminal mode, and waits.
    fn start(broker: &str, args: &[&str]) -> Tmux {
        let mut all = vec!["-b", broker];
        all.extend_from_slice(args);
        Tmux::program(&dlq_bin().to_string_lossy(), &all)
    }

    /// As [`Tmux::start`], for any program.
    fn program(program: &str, args: &[&str]) -> Tmux {
        let socket = unique("dlq-browse");
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let script = format!(
            "env -u DLQ_BROKER -u DLQ_PROFILE DLQ_CONFIG=/nonexistent/dlq-test-config.toml \
             DLQ_JOURNAL='{}' NO_COLOR=1 EDITOR=true '{program}' {}; \
             echo \"dlq exited $?\"; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; \
             echo 'mode shown'; sleep 600",
            test_journal().display(),
            quoted.join(" ")
        );
        let ok = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "160", "-y", "40", "sh", "-c", &script])
            .status()
            .expect("tmux (scripts/tools.sh installs it)");
        assert!(ok.success(), "tmux did not start");
        Tmux { socket }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Waits until the screen shows `text`; returns the screen.
    fn wait(&self, text: &str) -> String {
        let mut last = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(
                &format!("{text:?} on the screen"),
                Duration::from_secs(30),
                || {
                    last = self.screen();
                    last.contains(text).then(|| last.clone())
                },
            )
        }));
        found.unwrap_or_else(|_| panic!("{text:?} never showed; the screen:\n{last}"))
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
        }
    }

    fn text(&self, text: &str) {
        self.tmux(&["send-keys", "-l", text]);
    }

    /// After `q`: exit 0, the main screen back, cooked mode.
    fn quit_restored(&self) {
        self.keys(&["q"]);
        // The exit code and the mode are printed before this line.
        self.restored(0);
    }

    /// The program exited with `code`, the main screen back, cooked mode; the screen.
    fn restored(&self, code: i32) -> String {
        let s = self.wait("mode shown");
        assert!(s.contains(&format!("dlq exited {code}\n")), "{s}");
        assert!(s.contains("\nicanon"), "raw mode left on: {s}");
        assert_eq!(self.tmux(&["display", "-p", "#{alternate_on}"]).trim(), "0");
        s
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

/// The runs the journal recorded for `queue`, by command.
fn journaled(queue: &str) -> Vec<String> {
    let text = std::fs::read_to_string(test_journal()).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "run_start" && v["queue"] == queue)
        .filter_map(|v| v["command"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn without_a_terminal_it_is_refused() {
    let r = run(dlq("amqp://guest:guest@127.0.0.1:5672/%2f").args(["browse", "any.dlq"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("needs a terminal"), "{r:?}");
}

/// A panic while the view is up gives the terminal back and its message
/// reaches the real stderr (`examples/view_panic.rs` takes the terminal as
/// browse does, then panics).
#[test]
fn a_panic_gives_the_terminal_back() {
    let example = std::path::Path::new(&dlq_bin())
        .parent()
        .unwrap()
        .join("examples/view_panic");
    assert!(
        example.exists(),
        "{} is missing: cargo test --all-targets builds it (or cargo build --examples)",
        example.display()
    );
    let t = Tmux::program(&example.to_string_lossy(), &[]);
    let s = t.restored(101);
    assert!(s.contains("a bug in the view"), "{s}");
}

/// A signal from outside (`kill`, a closed window, an abort inside a client
/// library) gives the terminal back too.
#[test]
fn a_signal_gives_the_terminal_back() {
    let r = Rmq::new();
    let (_, dlq_q) = r.dead_letter_pair("browse-signal");
    for (sig, code) in [("-TERM", 143), ("-INT", 130), ("-HUP", 129)] {
        let t = Tmux::start(&common::amqp_url(), &["browse", &dlq_q]);
        t.wait(&format!("{dlq_q}: 0 messages"));
        let shell = t.tmux(&["display", "-p", "#{pane_pid}"]);
        let pid = child_named(shell.trim(), "dlq")
            .unwrap_or_else(|| panic!("no dlq under the shell {shell}"));
        let _ = Command::new("kill").args([sig, &pid]).status();
        t.restored(code);
    }
}

/// The PID of the child of `parent` whose command is `name` (from /proc).
fn child_named(parent: &str, name: &str) -> Option<String> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // pid (comm) state ppid ...
        let (head, rest) = stat.rsplit_once(") ")?;
        let comm = head.split_once(" (")?.1;
        let ppid = rest.split_whitespace().nth(1)?;
        (comm == name && ppid == parent).then(|| e.file_name().to_string_lossy().into_owned())
    })
}

#[test]
fn rabbitmq_filter_group_mark_retry_purge_quit() {
    let r = Rmq::new();
    let (work, dlq_q) = r.dead_letter_pair("browse");
    for body in ["order 1 ok", "order 2 boom", "order 3 boom", "order 4 boom"] {
        r.publish(&work, body.as_bytes(), lapin::BasicProperties::default());
    }
    r.reject(&work, 4);
    wait_for("4 dead letters", Duration::from_secs(10), || {
        (r.count(&dlq_q) == 4).then_some(())
    });

    let t = Tmux::start(&common::amqp_url(), &["browse", &dlq_q]);
    t.wait(&format!("{dlq_q}: 4 messages"));
    // Filter: the three that say "boom".
    t.keys(&["/"]);
    t.text("boom");
    t.keys(&["Enter"]);
    t.wait("3 shown");
    // Group: one group, rejected without an error type.
    t.keys(&["s"]);
    let s = t.wait("COUNT");
    assert!(s.contains("rejected"), "{s}");
    t.keys(&["Enter"]);
    t.wait("reason rejected");
    // Mark two and retry them.
    t.keys(&["Space", "Space"]);
    t.wait("2 marked");
    t.keys(&["r"]);
    let s = t.wait("Retry 2 messages to");
    assert!(s.contains(&format!("queue '{work}'?")), "{s}");
    t.keys(&["y"]);
    t.wait("moved 2, skipped 0, failed 0");
    // Exactly those two are back on the work queue, the rest stay.
    let back: Vec<Vec<u8>> = r.peek_all(&work).into_iter().map(|g| g.body).collect();
    assert_eq!(back, [b"order 2 boom".to_vec(), b"order 3 boom".to_vec()]);
    // The view reads the DLQ again after a run, holding what it reads until it has read it all.
    t.wait(&format!("{dlq_q}: 2 messages, 1 shown"));
    assert_eq!(ready_once_given_back(&r, &dlq_q, 2).len(), 2);
    // Purge the one the filter still shows.
    t.keys(&["p"]);
    t.wait(&format!("Purge 1 message from {dlq_q}?"));
    t.keys(&["y"]);
    t.wait("purged 1, skipped 0, failed 0");
    t.wait(&format!("{dlq_q}: 1 message, 0 shown"));
    let left = ready_once_given_back(&r, &dlq_q, 1);
    assert_eq!(left, [b"order 1 ok".to_vec()]);
    t.quit_restored();
    // Export and an edit that sends nothing say so in the status bar.
    let t = Tmux::start(&common::amqp_url(), &["browse", &dlq_q]);
    t.wait(&format!("{dlq_q}: 1 message"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.ndjson");
    t.keys(&["x"]);
    t.wait("export to file");
    t.text(&file.display().to_string());
    t.keys(&["Enter"]);
    t.wait("Export 1 message to");
    t.keys(&["y"]);
    t.wait("exported 1 message");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("order 1 ok"), "{saved}");
    // An action waits for the reload after the export to end: asked again until it asks.
    wait_for("the edit dialog", Duration::from_secs(30), || {
        t.keys(&["e"]);
        t.screen().contains("Edit 1 message").then_some(())
    });
    t.keys(&["y"]);
    t.wait("unchanged: nothing sent");
    t.quit_restored();
    let runs = journaled(&dlq_q);
    assert!(
        runs.contains(&"retry".to_owned()) && runs.contains(&"purge".to_owned()),
        "{runs:?}"
    );
}

/// The bodies on `queue` once at least `n` are ready again: the view's read
/// gives back what it read at its end, and that give-back may still be on its
/// way when the view shows the count. More than `n` shows in the assertion after.
fn ready_once_given_back(r: &Rmq, queue: &str, n: usize) -> Vec<Vec<u8>> {
    wait_for(
        &format!("{n} ready on {queue}"),
        Duration::from_secs(10),
        || {
            let bodies: Vec<Vec<u8>> = r.peek_all(queue).into_iter().map(|g| g.body).collect();
            (bodies.len() >= n).then_some(bodies)
        },
    )
}

/// The broker goes away in the middle of a retry of every message: the
/// status line says what stopped it, `q` still restores the terminal, and
/// every message is on the DLQ or back on its queue.
#[test]
fn rabbitmq_connection_lost_mid_retry_loses_nothing() {
    const N: usize = 10_000;
    let r = Rmq::new();
    let (work, dlq_q) = r.dead_letter_pair("browse-cut");
    let headers = rabbitmq_support::table(&[
        // As RabbitMQ writes them on a rejected message of `work`.
        ("x-first-death-exchange", rabbitmq_support::ls("")),
        ("x-first-death-queue", rabbitmq_support::ls(&work)),
        ("x-first-death-reason", rabbitmq_support::ls("rejected")),
    ]);
    let props = lapin::BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers);
    let bodies: Vec<Vec<u8>> = (0..N).map(|i| format!("order {i}").into_bytes()).collect();
    r.publish_many_with(&dlq_q, bodies.clone(), props);

    let relay = common::relay::Relay::start(&common::host_port(&common::amqp_url()));
    let via = format!("amqp://guest:guest@127.0.0.1:{}/%2f", relay.port);
    let t = Tmux::start(&via, &["browse", &dlq_q]);
    t.wait(&format!("{dlq_q}: {N} messages"));
    t.keys(&["a"]);
    t.wait(&format!("{N} marked"));
    t.keys(&["r"]);
    t.wait(&format!("Retry {N} messages to"));
    t.keys(&["y"]);
    // Cut once some have gone and before all have.
    wait_for("the retry under way", Duration::from_secs(60), || {
        let s = t.screen();
        let done = s
            .split_once(&format!("/{N}…"))
            .and_then(|(before, _)| before.rsplit(' ').next()?.parse::<usize>().ok());
        done.filter(|d| *d >= N / 4).map(|_| ())
    });
    relay.cut(true);
    // The action's summary says it stopped, and how far it got.
    let s = t.wait("stopped: rabbitmq:");
    let moved: usize = s
        .split_once("moved ")
        .and_then(|(_, rest)| rest.split(',').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no summary: {s}"));
    assert!(moved > 0 && moved < N, "{s}");
    t.quit_restored();
    // The broker gives back what the cut connection held; then count.
    let all = wait_for("every message back", Duration::from_secs(30), || {
        let mut got = rabbitmq_support::bodies(&r.peek_all(&dlq_q));
        got.extend(rabbitmq_support::bodies(&r.peek_all(&work)));
        got.sort();
        got.dedup();
        (got.len() == N).then_some(got)
    });
    let mut want = bodies;
    want.sort();
    assert_eq!(all, want);
    // Every move the summary counted is on the queue (duplicates at most beside them).
    assert!(r.count(&work) as usize >= moved, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_filter_group_mark_retry_purge_quit() {
    use support::*;
    let js = js().await;
    let (work, subject) = names("BROWSE");
    let dlq_name = format!("{work}-DLQ");
    stream(&js, &work, vec![format!("{subject}.>")], true).await;
    stream(&js, &dlq_name, vec![format!("dlq.{subject}")], true).await;
    let to_dlq = format!("dlq.{subject}");
    let origin = format!("{subject}.orders");
    for body in ["order 1 ok", "order 2 boom", "order 3 boom", "order 4 boom"] {
        let h = headers(&[("dlq-original-subject", &origin)]);
        publish(&js, &to_dlq, h, body.as_bytes()).await;
    }

    let url = common::nats_url();
    let dlq_name2 = dlq_name.clone();
    let t = tokio::task::spawn_blocking(move || {
        let t = Tmux::start(&url, &["browse", &dlq_name2]);
        t.wait(&format!("{dlq_name2}: 4 messages"));
        t.keys(&["/"]);
        t.text("boom");
        t.keys(&["Enter"]);
        t.wait("3 shown");
        t.keys(&["s"]);
        t.wait("COUNT");
        t.keys(&["Enter"]);
        t.keys(&["Space", "Space"]);
        t.wait("2 marked");
        t.keys(&["r"]);
        t.wait("Retry 2 messages to");
        t.keys(&["y"]);
        t.wait("moved 2, skipped 0, failed 0");
        t
    })
    .await
    .unwrap();
    let back: Vec<Vec<u8>> = messages(&js, &work)
        .await
        .into_iter()
        .map(|(_, _, _, body)| body)
        .collect();
    assert_eq!(back, [b"order 2 boom".to_vec(), b"order 3 boom".to_vec()]);
    assert_eq!(count(&js, &dlq_name).await, 2);

    let t = tokio::task::spawn_blocking(move || {
        t.wait("2 messages, 1 shown");
        t.keys(&["p"]);
        t.wait("Purge 1 message from");
        t.keys(&["y"]);
        t.wait("purged 1, skipped 0, failed 0");
        t
    })
    .await
    .unwrap();
    let left: Vec<Vec<u8>> = messages(&js, &dlq_name)
        .await
        .into_iter()
        .map(|(_, _, _, body)| body)
        .collect();
    assert_eq!(left, [b"order 1 ok".to_vec()]);
    tokio::task::spawn_blocking(move || t.quit_restored())
        .await
        .unwrap();
    delete(&js, &[&work, &dlq_name]).await;
}
