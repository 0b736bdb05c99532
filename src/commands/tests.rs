//! The command layer in-process, against the in-memory broker: what is
//! selected, what a dry run touches, what moves where, and the exit codes.
//! The real brokers are proven by the integration tests; these pin the rules
//! the commands themselves own.

use clap::Parser;
use serde_json::json;

use super::Ctx;
use crate::broker::memory::Memory;
use crate::broker::{DeadLetter, Flag, Message, Origin, OriginKind, REDRIVE_HEADER};
use crate::bulk::Interrupt;
use crate::cli::Cli;
use crate::exit::{code_for, Exit};
use crate::output::Printer;

fn msg(body: &str, reason: &str, origin: &str) -> Message {
    Message {
        body: body.as_bytes().to_vec(),
        dead_letter: DeadLetter {
            reason: Some(reason.into()),
            source: Some(origin.into()),
            origin: Some(Origin {
                kind: OriginKind::Queue,
                name: origin.into(),
                routing_key: None,
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A DLQ `d` of five messages from `orders` (two "expired"), and `orders`.
fn broker() -> Memory {
    let m = Memory::with(
        "d",
        vec![
            msg("a", "rejected", "orders"),
            msg("b", "expired", "orders"),
            msg("c", "rejected", "orders"),
            msg("d", "expired", "orders"),
            msg("e", "rejected", "orders"),
        ],
    );
    m.add("orders");
    m
}

/// Runs one command line against `m`; the exit code, or the error's code.
fn run(m: &Memory, args: &[&str]) -> Exit {
    let url = m.url();
    let argv = ["dlq", "--no-journal", "-b", &url]
        .into_iter()
        .chain(args.iter().copied());
    let cli = Cli::try_parse_from(argv).expect("valid command line");
    let ctx = Ctx {
        printer: Printer::new(&cli.global),
        global: cli.global.clone(),
        interrupt: Interrupt::default(),
        front: std::sync::Arc::new(crate::commands::front::Terminal),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(crate::run(cli, &ctx)) {
        Ok(code) => code,
        Err(e) => code_for(&e),
    }
}

fn bodies(m: &Memory, q: &str) -> Vec<String> {
    m.held(q)
        .iter()
        .map(|x| String::from_utf8(x.body.clone()).unwrap())
        .collect()
}

#[test]
fn dry_runs_touch_nothing() {
    let m = broker();
    assert_eq!(run(&m, &["-q", "retry-all", "d", "--dry-run"]), Exit::Ok);
    assert_eq!(run(&m, &["-q", "purge", "d", "--dry-run"]), Exit::Ok);
    assert_eq!(bodies(&m, "d"), ["a", "b", "c", "d", "e"]);
    assert!(bodies(&m, "orders").is_empty());
}

#[test]
fn bulk_changes_refuse_without_a_terminal_or_yes() {
    let m = broker();
    assert_eq!(run(&m, &["-q", "retry-all", "d"]), Exit::Usage);
    assert_eq!(run(&m, &["-q", "purge", "d"]), Exit::Usage);
    assert_eq!(bodies(&m, "d").len(), 5);
}

#[test]
fn retry_all_with_a_filter_moves_only_the_matches_in_order() {
    let m = broker();
    let code = run(
        &m,
        &["-q", "retry-all", "d", "--reason", "rejected", "--yes"],
    );
    assert_eq!(code, Exit::Ok);
    assert_eq!(bodies(&m, "d"), ["b", "d"]);
    assert_eq!(bodies(&m, "orders"), ["a", "c", "e"]);
    for copy in m.held("orders") {
        assert_eq!(copy.headers[REDRIVE_HEADER], json!("1"));
    }
}

#[test]
fn max_redrives_skips_and_the_rest_moves() {
    let mut seen = msg("x", "rejected", "orders");
    seen.headers.insert(REDRIVE_HEADER.into(), json!("2"));
    let m = Memory::with("d", vec![seen, msg("y", "rejected", "orders")]);
    m.add("orders");
    let code = run(
        &m,
        &["-q", "retry-all", "d", "--max-redrives", "2", "--yes"],
    );
    assert_eq!(code, Exit::Ok);
    assert_eq!(bodies(&m, "d"), ["x"]);
    assert_eq!(bodies(&m, "orders"), ["y"]);
}

/// Every copy refused for reasons of its own: partly done (3), not a
/// broker error, though nothing moved.
#[test]
fn a_refusing_origin_keeps_every_message_and_exits_3() {
    let mut m = broker();
    m.refuse = vec!["orders".into()];
    assert_eq!(run(&m, &["-q", "retry-all", "d", "--yes"]), Exit::Partial);
    assert_eq!(bodies(&m, "d"), ["a", "b", "c", "d", "e"]);
}

#[test]
fn some_failed_is_partial() {
    let m = Memory::with(
        "d",
        vec![
            msg("ok", "rejected", "orders"),
            msg("lost", "rejected", "gone"),
        ],
    );
    m.add("orders");
    assert_eq!(run(&m, &["-q", "retry-all", "d", "--yes"]), Exit::Partial);
    assert_eq!(bodies(&m, "d"), ["lost"]);
    assert_eq!(bodies(&m, "orders"), ["ok"]);
}

#[test]
fn a_dry_run_counts_a_message_without_origin_as_failed_like_the_run() {
    let mut orphan = msg("orphan", "rejected", "orders");
    orphan.dead_letter.origin = None;
    let m = Memory::with("d", vec![msg("ok", "rejected", "orders"), orphan.clone()]);
    m.add("orders");
    let dry = ["-q", "retry-all", "d", "--dry-run"];
    assert_eq!(run(&m, &dry), Exit::Partial);
    let with_rewrite = ["-q", "retry-all", "d", "--dry-run", "--set-header", "a=b"];
    assert_eq!(run(&m, &with_rewrite), Exit::Partial);
    assert_eq!(bodies(&m, "d"), ["ok", "orphan"]);
    assert_eq!(
        run(&m, &["-q", "retry-all", "d", "--dry-run", "--to", "orders"]),
        Exit::Ok
    );
    let only = Memory::with("d", vec![orphan]);
    assert_eq!(run(&only, &dry), Exit::Partial);
    assert_eq!(run(&m, &["-q", "retry-all", "d", "--yes"]), Exit::Partial);
}

#[test]
fn retry_of_an_unknown_id_changes_nothing() {
    let m = broker();
    assert_eq!(run(&m, &["-q", "retry", "d", "1", "99"]), Exit::Broker);
    assert_eq!(bodies(&m, "d").len(), 5);
    assert_eq!(
        run(&m, &["-q", "retry", "d", "2", "--to", "orders"]),
        Exit::Ok
    );
    assert_eq!(bodies(&m, "d"), ["a", "c", "d", "e"]);
    assert_eq!(bodies(&m, "orders"), ["b"]);
}

#[test]
fn filtered_purge_keeps_the_rest_and_a_full_purge_empties() {
    let m = broker();
    assert_eq!(
        run(&m, &["-q", "purge", "d", "--reason", "expired", "--yes"]),
        Exit::Ok
    );
    assert_eq!(bodies(&m, "d"), ["a", "c", "e"]);
    assert_eq!(run(&m, &["-q", "purge", "d", "--yes"]), Exit::Ok);
    assert!(bodies(&m, "d").is_empty());
}

/// Each command checks the flags of its options against the broker's
/// capabilities: the flags the memory broker does not honour are refused
/// before anything changes, the ones it honours pass.
#[test]
fn flags_the_broker_cannot_honour_are_usage_errors() {
    let caps = &crate::broker::memory::CAPABILITIES;
    for flag in Flag::ALL {
        let args = uses(flag);
        let mut full = vec!["-q"];
        full.extend_from_slice(args);
        let m = broker();
        let code = run(&m, &full);
        if caps.honours(flag) {
            assert_ne!(code, Exit::Usage, "{flag} honoured: {args:?}");
        } else {
            assert_eq!(code, Exit::Usage, "{flag} refused: {args:?}");
            assert_eq!(bodies(&m, "d").len(), 5);
            assert!(bodies(&m, "orders").is_empty());
        }
    }
}

/// A command line that uses `flag` against the queues of [`broker`].
fn uses(flag: Flag) -> &'static [&'static str] {
    match flag {
        Flag::Key => &["publish", "orders", "--body", "x", "--key", "k"],
        Flag::Partition => &["publish", "orders", "--body", "x", "--partition", "1"],
        Flag::GroupId => &["publish", "orders", "--body", "x", "--group-id", "g"],
        Flag::DedupId => &["publish", "orders", "--body", "x", "--dedup-id", "d"],
        Flag::Delay => &["publish", "orders", "--body", "x", "--delay", "5s"],
        Flag::Exchange => &["publish", "orders", "--body", "x", "--exchange", ""],
        Flag::RoutingKey => &[
            "publish",
            "orders",
            "--body",
            "x",
            "--routing-key",
            "orders",
        ],
        Flag::EndpointUrl => &["--endpoint-url", "http://127.0.0.1:1", "queues"],
        Flag::Native => &["retry-all", "d", "--native", "--yes"],
        Flag::Detach => &["retry-all", "d", "--native", "--detach", "--yes"],
        Flag::DeleteRecords => &["purge", "d", "--delete-records", "--yes"],
        Flag::Group => &["list", "d", "--group", "g"],
        Flag::All => &["list", "d", "--all"],
        Flag::Force => &["list", "d", "--force"],
        Flag::Topic => &["lag", "--topic", "t"],
        Flag::Follow => &["list", "d", "--follow"],
    }
}

#[test]
fn lag_threshold_sets_exit_1() {
    let m = broker();
    assert_eq!(
        run(&m, &["-q", "-o", "json", "lag", "d", "--max-lag", "4"]),
        Exit::Threshold
    );
    assert_eq!(
        run(&m, &["-q", "-o", "json", "lag", "d", "--max-lag", "5"]),
        Exit::Ok
    );
}
