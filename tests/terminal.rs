//! Output at a terminal, in a real pseudo-terminal (`script` from
//! util-linux) of a set width against RabbitMQ: tables keep one line a row
//! and every name whole at 80 and 120 columns, `-o wide` keeps every
//! column, long bodies are cut with the flag that shows them all, and long
//! output goes through the pager only when stdout is a terminal.
mod common;
mod rabbitmq_support;

use std::process::Command;

use rabbitmq_support::lapin;
use rabbitmq_support::{dlq, ls, table, Rmq};

/// Runs dlq with `args` in a pseudo-terminal `cols` wide; its output as
/// the terminal got it (carriage returns removed).
fn at_terminal(cols: u16, env: &[(&str, &str)], args: &[String]) -> String {
    let cmd = dlq();
    let mut line = format!("stty cols {cols} rows 50; exec");
    for (k, v) in env {
        line.push_str(&format!(" env {k}={}", shell_quote(v)));
    }
    line.push(' ');
    line.push_str(&shell_quote(&cmd.get_program().to_string_lossy()));
    let plain = ["--color".to_string(), "never".to_string()];
    let all = cmd.get_args().map(|a| a.to_string_lossy().into_owned());
    for a in all.chain(plain).chain(args.iter().cloned()) {
        line.push(' ');
        line.push_str(&shell_quote(&a));
    }
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    // The pager is chosen per test; none unless asked for.
    script.env("DLQ_PAGER", "cat").env_remove("PAGER");
    let out = script.output().expect("script (util-linux) runs");
    assert!(
        out.status.success(),
        "dlq at a terminal failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A DLQ with a long name holding messages with long bodies and reasons.
fn long_dlq(r: &Rmq, bodies: &[Vec<u8>]) -> String {
    let (work, dlq) = r.dead_letter_pair("terminal-orders");
    for b in bodies {
        let props = lapin::BasicProperties::default()
            .with_headers(table(&[("tenant", ls("acme"))]))
            .with_message_id(format!("id-{}-of-a-long-message-id", b.len()).into());
        r.publish(&work, b, props);
    }
    r.reject(&work, bodies.len());
    dlq
}

fn width(line: &str) -> usize {
    line.chars().count()
}

#[test]
fn tables_fit_80_and_120_columns_and_keep_names_whole() {
    let r = Rmq::new();
    let body = format!("{{\"order\": 42, \"note\": \"{}\"}}", "x".repeat(300)).into_bytes();
    let queue = long_dlq(&r, &[body]);
    for cols in [80u16, 120] {
        let out = at_terminal(cols, &[], &["list".into(), queue.clone()]);
        let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
        assert!(
            lines.len() >= 4,
            "a header, a row and borders at {cols}: {out}"
        );
        for l in &lines {
            assert!(
                width(l) <= cols as usize,
                "a line wider than {cols} columns: {l:?}\n{out}"
            );
        }
        assert!(out.contains("id-"), "{out}");
        assert!(
            out.contains("-of-a-long-message-id"),
            "the ID is whole at {cols}: {out}"
        );
        // At 80 the body preview may be left out beside long names; at 120
        // it shows, cut.
        if cols == 120 {
            assert!(
                out.contains('…'),
                "the body preview is cut at {cols}: {out}"
            );
        }
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("-of-a-long-message-id"))
                .count(),
            1,
            "one line a row at {cols}: {out}"
        );
        let queues = at_terminal(cols, &[], &["queues".into()]);
        assert!(
            queues.lines().any(|l| l.contains(&queue)),
            "the DLQ's name whole on one line at {cols}: {queues}"
        );
        assert!(!queues.contains("DEAD-LE\n"), "{queues}");
    }
    let wide = at_terminal(
        80,
        &[],
        &["-o".into(), "wide".into(), "list".into(), queue.clone()],
    );
    for column in ["AGE", "ATTEMPTS", "SIZE", "BODY"] {
        assert!(wide.contains(column), "-o wide shows every column: {wide}");
    }
}

#[test]
fn a_long_body_is_cut_at_a_terminal_and_whole_with_full_or_in_a_pipe() {
    let r = Rmq::new();
    let big: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8 | 0x80).collect();
    let queue = long_dlq(&r, std::slice::from_ref(&big));
    let cut = at_terminal(120, &[], &["peek".into(), queue.clone()]);
    assert!(
        cut.contains("--full shows it all"),
        "{}",
        &cut[cut.len().saturating_sub(500)..]
    );
    assert!(
        cut.lines().count() < 10_000,
        "{} lines",
        cut.lines().count()
    );
    let full = at_terminal(120, &[], &["peek".into(), queue.clone(), "--full".into()]);
    assert!(!full.contains("--full shows it all"));
    assert!(
        full.lines().count() > 60_000,
        "the whole hex dump: {} lines",
        full.lines().count()
    );
    let piped = dlq().args(["peek", &queue]).output().unwrap();
    let piped = String::from_utf8_lossy(&piped.stdout);
    assert!(
        !piped.contains("--full shows it all"),
        "never cut when stdout is not a terminal"
    );
}

#[test]
fn long_output_is_paged_only_at_a_terminal() {
    let r = Rmq::new();
    let queue = long_dlq(&r, &[b"paged body".to_vec()]);
    let pager = [("DLQ_PAGER", "sed s/^/PAGED:/")];
    let paged = at_terminal(120, &pager, &["peek".into(), queue.clone()]);
    assert!(paged.lines().any(|l| l.starts_with("PAGED:")), "{paged}");
    let unpaged = at_terminal(
        120,
        &pager,
        &["--no-pager".into(), "peek".into(), queue.clone()],
    );
    assert!(!unpaged.contains("PAGED:"), "{unpaged}");
    let piped = dlq()
        .env("DLQ_PAGER", "sed s/^/PAGED:/")
        .args(["peek", &queue])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&piped.stdout).contains("PAGED:"));
}
