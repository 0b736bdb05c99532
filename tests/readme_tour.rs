//! The README's tour shows real output; this test keeps it real. For each
//! `$ dlq ...` of the tour whose output is a table, the same subcommand with
//! the same flags runs against a RabbitMQ queue of the test's own (MassTransit
//! dead letters, so fingerprints and error types exist) and must print the
//! columns the README shows, in its order. A renamed or added column fails
//! here, not in a reader's terminal. (tests/docs_commands.rs checks that every
//! documented command line parses; tests/browse.rs drives the view.)
mod common;
mod rabbitmq_support;

use common::{amqp_url, dlq, run, unique};
use rabbitmq_support::{lapin, ls, table, Rmq};

/// The tour: each command line and the column names of the table it shows.
fn tour_tables(readme: &str) -> Vec<(String, Vec<String>)> {
    let start = readme
        .find("## A short tour")
        .expect("a tour in the README");
    let end = readme[start + 3..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + 3 + e);
    let lines: Vec<&str> = readme[start..end].lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(cmd) = line.strip_prefix("$ dlq ") else {
            continue;
        };
        let cmd = cmd.split(" #").next().unwrap().trim().to_owned();
        let header = match lines.get(i + 1) {
            Some(l) if l.starts_with('┌') => lines.get(i + 2).map(|h| columns(h, '┆')),
            Some(l) if l.starts_with(' ') && l.trim_start().starts_with(char::is_uppercase) => {
                Some(words(l))
            }
            _ => None,
        };
        if let Some(h) = header.filter(|h| h.len() > 1 && h.iter().all(|c| is_header(c))) {
            out.push((cmd, h));
        }
    }
    out
}

fn is_header(c: &str) -> bool {
    !c.is_empty() && c == c.to_uppercase()
}

/// The cells of a box-drawn row.
fn columns(row: &str, sep: char) -> Vec<String> {
    row.trim_matches(|c| c == '│' || c == ' ')
        .split(sep)
        .map(|c| c.trim().to_owned())
        .collect()
}

/// The cells of a plain row: separated by two spaces or more.
fn words(row: &str) -> Vec<String> {
    row.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_tour_table_has_the_columns_dlq_prints() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let tables = tour_tables(&readme);
    assert!(
        tables.len() >= 5,
        "the tour's tables were not found: {tables:?}"
    );

    // A queue of MassTransit dead letters: two failure groups.
    let r = Rmq::new();
    let q = unique("tour_error");
    r.declare(&q, Default::default());
    for (i, (kind, text)) in [
        ("System.TimeoutException", "the gateway did not answer"),
        ("System.TimeoutException", "the gateway did not answer"),
        ("System.FormatException", "not in a correct format"),
    ]
    .iter()
    .enumerate()
    {
        let headers = table(&[
            ("MT-Fault-InputAddress", ls("rabbitmq://localhost/orders")),
            ("MT-Fault-ExceptionType", ls(kind)),
            ("MT-Fault-Message", ls(text)),
            (
                "MT-Fault-StackTrace",
                ls(&format!("at Orders.Handle() in Handler.cs:line {i}")),
            ),
        ]);
        r.publish(
            &q,
            format!("{{\"order_id\":{i}}}").as_bytes(),
            lapin::BasicProperties::default().with_headers(headers),
        );
    }
    let listed = run(dlq(&amqp_url()).args(["list", &q, "-o", "json"]));
    assert_eq!(listed.code, 0, "{listed:?}");
    let fingerprint = listed.json()[0]["dead_letter"]["fingerprint"]
        .as_str()
        .expect("a fingerprint")
        .to_owned();

    let mut wrong = Vec::new();
    for (cmd, want) in &tables {
        // The README's queue names and values, swapped for the test's.
        let mut args: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        if args.len() > 1 && !args[1].starts_with('-') {
            args[1] = q.clone();
        }
        for i in 1..args.len() {
            if args[i - 1] == "--fingerprint" {
                args[i] = fingerprint.clone();
            }
        }
        let out = run(dlq(&amqp_url()).args(&args));
        assert_eq!(out.code, 0, "dlq {}: {out:?}", args.join(" "));
        let have = out.stdout.lines().next().map(words).unwrap_or_default();
        if &have != want {
            wrong.push(format!(
                "$ dlq {cmd}\n    README: {}\n    dlq:    {}",
                want.join(" | "),
                have.join(" | ")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "README tour tables that no longer match dlq's output:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_tour_parser_reads_box_and_plain_tables() {
    let readme = "## A short tour\n```\n$ dlq queues\n┌──┐\n│ NAME ┆ KIND │\n```\n\
                  ```\n$ dlq list q --fingerprint x\n ID   AGE  BODY\n 1    ?    x\n\
                  $ dlq export q --out f\nexported 1\n```\n## Brokers\n$ dlq list z\n ID  AGE\n";
    let t = tour_tables(readme);
    assert_eq!(
        t,
        vec![
            (
                "queues".to_owned(),
                vec!["NAME".to_owned(), "KIND".to_owned()]
            ),
            (
                "list q --fingerprint x".to_owned(),
                vec!["ID".to_owned(), "AGE".to_owned(), "BODY".to_owned()]
            ),
        ]
    );
}
