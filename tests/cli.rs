//! The command line without a broker: usage errors, configuration,
//! precedence, secrets, and refusals that must happen before anything is
//! touched.

mod common;

use std::process::{Command, Stdio};

use dlq::broker::{BrokerKind, Flag};

use common::{run, run_with_stdin, Run};

fn bare() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlq"));
    c.env_remove("DLQ_BROKER")
        .env_remove("DLQ_PROFILE")
        .env("DLQ_CONFIG", "/nonexistent/dlq-test-config.toml")
        .env("DLQ_JOURNAL", common::test_journal())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

fn dlq(args: &[&str]) -> Run {
    run(bare().args(args))
}

#[test]
fn no_broker_named_is_a_usage_error_that_says_how() {
    let home = tempfile::tempdir().unwrap();
    let r = run(bare()
        .env_remove("DLQ_CONFIG")
        .env("XDG_CONFIG_HOME", home.path())
        .args(["list", "q"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.starts_with("dlq: error: no broker named"), "{r:?}");
    assert!(r.stderr.contains("--broker"), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "one line: {r:?}");
}

#[test]
fn parse_errors_are_one_dlq_error_line() {
    for args in [
        vec!["list"],
        vec!["nosuchcommand"],
        vec!["list", "q", "--frob"],
        vec!["-o", "xml", "list", "q"],
        vec!["--timeout", "7x", "list", "q"],
        vec!["completions", "nosh"],
        // Values that would make a run do nothing, fail every call or spin.
        vec!["-b", "amqp://h", "list", "q", "--limit", "0"],
        vec![
            "-b", "amqp://h", "publish", "q", "--body", "x", "--count", "0",
        ],
        vec!["-b", "amqp://h", "history", "--limit", "0"],
        vec!["-b", "amqp://h", "lag", "--watch", "0s"],
        vec!["-b", "amqp://h", "--timeout", "0s", "queues"],
        // An empty name names nothing.
        vec!["-b", "amqp://h", "list", ""],
        vec!["-b", "amqp://h", "publish", " ", "--body", "x"],
        vec!["-b", "amqp://h", "retry-all", "q", "--to", "", "--yes"],
    ] {
        let r = dlq(&args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.starts_with("dlq: error: "), "{args:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "one line: {args:?}: {r:?}");
    }
}

#[test]
fn bad_urls_are_usage_errors() {
    for url in ["localhost:5672", "http://example", "://x", ""] {
        let r = dlq(&["-b", url, "queues"]);
        assert_eq!(r.code, 2, "{url}: {r:?}");
        assert!(r.stderr.starts_with("dlq: error:"), "{r:?}");
    }
}

#[test]
fn bad_flags_and_values_are_usage_errors() {
    assert_eq!(dlq(&["list"]).code, 2);
    assert_eq!(dlq(&["nosuchcommand"]).code, 2);
    assert_eq!(
        dlq(&["-b", "amqp://h", "list", "q", "--older-than", "7"]).code,
        2
    );
    assert_eq!(
        dlq(&["-b", "amqp://h", "list", "q", "--header", "novalue"]).code,
        2
    );
    assert_eq!(dlq(&["-b", "amqp://h", "-o", "xml", "list", "q"]).code, 2);
}

#[test]
fn unknown_profile_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[profiles.prod]\nurl = \"amqp://h\"\n[profiles.stage]\nurl = \"amqp://h\"\n",
    )
    .unwrap();
    let r = run(bare()
        .env("DLQ_CONFIG", &cfg)
        .args(["-p", "nope", "queues"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("unknown profile \"nope\"") && r.stderr.contains("prod, stage"),
        "{r:?}"
    );
}

#[test]
fn malformed_config_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[profiles.prod\nurl = 1\n").unwrap();
    let r = run(bare().args(["--config"]).arg(&cfg).args(["queues"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("config file") && r.stderr.contains("line"),
        "{r:?}"
    );
}

#[test]
fn bulk_changes_without_a_terminal_need_yes() {
    // Refused before connecting: the broker here does not even exist.
    for args in [
        vec!["-b", "amqp://guest:guest@127.0.0.1:1", "retry-all", "q"],
        vec!["-b", "amqp://guest:guest@127.0.0.1:1", "purge", "q"],
    ] {
        let r = dlq(&args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains("--yes"), "{r:?}");
    }
}

#[test]
fn password_never_shows_in_errors() {
    let r = dlq(&[
        "-b",
        "amqp://admin:Sup3rS3cret@127.0.0.1:1/%2f",
        "-v",
        "--timeout",
        "2s",
        "queues",
    ]);
    assert_ne!(r.code, 0);
    assert!(
        !r.stderr.contains("Sup3rS3cret") && !r.stdout.contains("Sup3rS3cret"),
        "{r:?}"
    );
}

#[test]
fn password_from_env_never_shows() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "default = \"x\"\n[profiles.x]\nurl = \"amqp://ops@127.0.0.1:1\"\npassword_env = \"DLQ_TEST_PW\"\n").unwrap();
    let r = run(bare()
        .env("DLQ_CONFIG", &cfg)
        .env("DLQ_TEST_PW", "EnvS3cretPw")
        .args(["-v", "--timeout", "2s", "queues"]));
    assert_ne!(r.code, 0);
    assert!(!r.stderr.contains("EnvS3cretPw"), "{r:?}");
    let r = run(bare().env("DLQ_CONFIG", &cfg).args(["queues"]));
    assert_eq!(r.code, 2, "unset password variable: {r:?}");
    assert!(r.stderr.contains("DLQ_TEST_PW"), "{r:?}");
}

#[test]
fn dlq_broker_beats_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[profiles.default]\nurl = \"bogus://from-profile\"\n").unwrap();
    // The profile's URL would be a usage error; DLQ_BROKER's is not even read from the file.
    let r = run(bare()
        .env("DLQ_CONFIG", &cfg)
        .env("DLQ_BROKER", "ftp://from-env")
        .args(["queues"]));
    assert!(r.stderr.contains("from-env"), "{r:?}");
    let r = run(bare()
        .env("DLQ_CONFIG", &cfg)
        .env("DLQ_BROKER", "ftp://from-env")
        .args(["-b", "ftp://from-flag", "queues"]));
    assert!(r.stderr.contains("from-flag"), "{r:?}");
    let r = run(bare().env("DLQ_CONFIG", &cfg).args(["queues"]));
    assert!(r.stderr.contains("from-profile"), "{r:?}");
}

#[test]
fn publish_rejects_a_bad_rate_before_connecting() {
    let r = run_with_stdin(
        bare().args(["-b", "amqp://127.0.0.1:1", "publish", "q", "--rate", "0"]),
        b"x",
    );
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn help_documents_exit_codes_and_examples() {
    let r = dlq(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("Exit codes") && r.stdout.contains("130"),
        "{}",
        r.stdout
    );
    for cmd in [
        "queues",
        "list",
        "peek",
        "retry",
        "retry-all",
        "purge",
        "export",
        "publish",
        "lag",
        "completions",
        "man",
    ] {
        let r = dlq(&[cmd, "--help"]);
        assert_eq!(r.code, 0, "{cmd}");
        assert!(
            r.stdout.contains("Examples:"),
            "{cmd} --help has no example"
        );
    }
}

#[test]
fn completions_and_man_print() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = dlq(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}");
        assert!(r.stdout.contains("dlq"), "{shell}");
    }
    let r = dlq(&["man"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains(".TH dlq"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
    let dir = tempfile::tempdir().unwrap();
    let r = run(bare().args(["man", "--dir"]).arg(dir.path()));
    assert_eq!(r.code, 0);
    assert!(dir.path().join("dlq-retry-all.1").exists());
}

/// Every broker-specific flag on every broker, as the brokers' capabilities
/// say: honoured flags get past the check (and then fail to connect to a
/// closed port, exit 4); the others are refused before connecting (exit 2)
/// in one line naming flag and broker.
#[test]
fn broker_specific_flags_are_honoured_or_refused_on_every_broker() {
    for kind in BrokerKind::ALL {
        let caps = kind.capabilities();
        // Closed ports: reaching the broker would be exit 4, not 2.
        let url = match caps.name {
            "rabbitmq" => "amqp://guest:guest@127.0.0.1:1/%2f",
            "sqs" => "sqs://us-east-1?endpoint=http://127.0.0.1:1",
            "kafka" => "kafka://127.0.0.1:1",
            "nats" => "nats://127.0.0.1:1",
            "pubsub" => "pubsub://p?endpoint=http://127.0.0.1:1",
            other => panic!("no test URL for {other}"),
        };
        for flag in Flag::ALL {
            let r = run(bare()
                .args(["-b", url, "--timeout", "2s"])
                .args(uses(flag))
                .env("AWS_ACCESS_KEY_ID", "x")
                .env("AWS_SECRET_ACCESS_KEY", "x"));
            let name = caps.name;
            if caps.honours(flag) {
                assert_ne!(r.code, 2, "{flag} on {name} must be accepted: {r:?}");
                continue;
            }
            assert_eq!(r.code, 2, "{flag} on {name} must be refused: {r:?}");
            let got = r.stderr.trim();
            // --detach rides on --native, which is refused first where absent.
            // --follow also says what to use instead.
            let refused = |f: Flag| {
                got.starts_with(&format!("dlq: error: {f} applies to "))
                    && (got.ends_with(&format!(" only, not {name}"))
                        || (f == Flag::Follow && got.contains(&format!(" only, not {name}: "))))
            };
            assert!(
                refused(flag) || (flag == Flag::Detach && refused(Flag::Native)),
                "{r:?}"
            );
        }
    }
}

/// A command line that uses `flag`.
fn uses(flag: Flag) -> &'static [&'static str] {
    match flag {
        Flag::Key => &["publish", "t", "--body", "x", "--key", "k"],
        Flag::Partition => &["publish", "t", "--body", "x", "--partition", "0"],
        Flag::GroupId => &["publish", "t", "--body", "x", "--group-id", "g"],
        Flag::DedupId => &["publish", "t", "--body", "x", "--dedup-id", "d"],
        Flag::Delay => &["publish", "t", "--body", "x", "--delay", "5s"],
        Flag::Exchange => &["publish", "t", "--body", "x", "--exchange", "e"],
        Flag::RoutingKey => &["publish", "t", "--body", "x", "--routing-key", "r"],
        Flag::EndpointUrl => &["--endpoint-url", "http://127.0.0.1:1", "queues"],
        Flag::Native => &["retry-all", "q", "--native", "--yes"],
        Flag::DeleteRecords => &["purge", "q", "--delete-records", "--yes"],
        Flag::Group => &["list", "q", "--group", "g"],
        Flag::All => &["export", "q", "--all"],
        Flag::Force => &["peek", "q", "--force"],
        Flag::Topic => &["lag", "--topic", "t"],
        Flag::Detach => &["retry-all", "q", "--native", "--detach", "--yes"],
        Flag::Follow => &["list", "q", "--follow"],
    }
}

/// `stats` reads like `list`: its read flags are refused the same way.
#[test]
fn stats_refuses_read_flags_its_broker_lacks_before_connecting() {
    for (url, args) in [
        ("amqp://127.0.0.1:1", vec!["--all"]),
        ("amqp://127.0.0.1:1", vec!["--group", "g"]),
        ("nats://127.0.0.1:1", vec!["--force"]),
        ("kafka://127.0.0.1:1", vec!["--force"]),
    ] {
        let r = run(bare().args(["-b", url, "stats", "q"]).args(&args));
        assert_eq!(r.code, 2, "{url} {args:?}: {r:?}");
        assert!(r.stderr.contains(args[0]), "{r:?}");
    }
}

/// A profile setting of another broker is a configuration error.
#[test]
fn profile_settings_of_another_broker_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[profiles.q]\nurl = \"nats://127.0.0.1:1\"\nregion = \"eu-west-1\"\n",
    )
    .unwrap();
    let r = run(bare().env("DLQ_CONFIG", &cfg).args(["-p", "q", "queues"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("setting `region` applies to sqs only, not nats"),
        "{r:?}"
    );
}

#[test]
fn rewrite_and_edit_refusals_come_before_connecting() {
    // Port 1 refuses connections: a broker error would be exit 4.
    let b = "amqp://guest:guest@127.0.0.1:1/%2f";
    for args in [
        vec!["retry", "q", "id", "--transform", ".a |"],
        vec!["retry-all", "q", "--yes", "--transform", "nosuchfn(1)"],
        vec![
            "retry-all",
            "q",
            "--yes",
            "--set-header",
            "dlq-redrive-count=0",
        ],
        vec!["retry", "q", "id", "--unset-header", "dlq-redrive-count"],
        vec!["retry-all", "q", "--yes", "--set-header", "novalue"],
        vec!["retry-all", "q", "--yes", "--native", "--rate", "5"],
        vec!["edit", "q", "id"],
    ] {
        let mut full = vec!["-b", b];
        full.extend(&args);
        let r = dlq(&full);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(
            r.stderr.starts_with("dlq: error:") || r.stderr.starts_with("error:"),
            "{r:?}"
        );
    }
    let r = dlq(&["-b", b, "retry-all", "q", "--yes", "--transform", ".a |"]);
    assert!(r.stderr.contains("expected"), "jaq's message: {r:?}");
}

#[test]
fn prometheus_output_is_for_lag_and_queues_only() {
    for cmd in [vec!["list", "q"], vec!["stats", "q"], vec!["history"]] {
        let mut args = vec!["-b", "amqp://127.0.0.1:1", "-o", "prometheus"];
        args.extend(&cmd);
        let r = dlq(&args);
        assert_eq!(r.code, 2, "{cmd:?}: {r:?}");
        assert!(
            r.stderr.contains(&format!("not to `dlq {}`", cmd[0])),
            "{r:?}"
        );
    }
}

#[test]
fn stats_refuses_unknown_keys_before_connecting() {
    // Port 1 refuses connections: a usage error must come first.
    let r = dlq(&[
        "-b",
        "amqp://127.0.0.1:1",
        "stats",
        "q",
        "--by",
        "reason,colour",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("\"colour\""), "{r:?}");
    let r = dlq(&["-b", "amqp://127.0.0.1:1", "stats", "q", "--by", "header:"]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn history_reads_the_journal_without_a_broker() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.ndjson");
    let history = |args: &[&str]| run(bare().env("DLQ_JOURNAL", &journal).args(args));
    let r = history(&["history", "-o", "json"]);
    assert_eq!((r.code, r.stdout.trim()), (0, "[]"), "{r:?}");
    std::fs::write(
        &journal,
        concat!(
            r#"{"type":"run_start","run_id":"20261201T000000000Z-aaaa","started_at":"2026-12-01T00:00:00.000Z","command":"purge","queue":"q","action":"purged"}"#,
            "\n",
            r#"{"type":"message","run_id":"20261201T000000000Z-aaaa","id":"7","action":"purged","to":null,"error":null,"at":"2026-12-01T00:00:00.100Z"}"#,
            "\n",
            r#"{"type":"run_start","run_id":"20261202T000000000Z-bbbb","started_at":"2026-12-02T00:00:00.000Z","command":"retry-all","queue":"q","action":"moved"}"#,
            "\n",
            r#"{"type":"run_end","run_id":"20261202T000000000Z-bbbb","counts":{"moved":0,"skipped":0,"failed":0},"exit_code":0}"#,
            "\n",
            "{\"type\":\"message\",\"run_id\":\"torn",
        ),
    )
    .unwrap();
    // Written as an older dlq did: private here, so no warning about it.
    #[cfg(unix)]
    std::fs::set_permissions(
        &journal,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let runs = history(&["history", "-o", "json"]).json();
    assert_eq!(
        runs[0]["run_id"], "20261202T000000000Z-bbbb",
        "newest first: {runs}"
    );
    assert_eq!(runs[0]["finished"], true);
    assert_eq!(runs[1]["finished"], false, "no run_end: killed: {runs}");
    assert_eq!(runs[1]["recorded"]["purged"], 1);
    let one = history(&["history", "--limit", "1", "-o", "json"]).json();
    assert_eq!(one.as_array().unwrap().len(), 1);
    let table = history(&["history"]);
    assert!(
        table.stdout.contains("killed?") && table.stdout.contains("1? purged"),
        "{table:?}"
    );
    let msgs = history(&["history", "20261201T000000000Z-aaaa", "-o", "json"]).json();
    assert_eq!(msgs[0]["id"], "7");
    let unknown = history(&["history", "nope"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.starts_with("dlq: error: no run nope in "),
        "{unknown:?}"
    );
}

#[test]
fn a_read_only_profile_refuses_changes_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    // Port 1 answers nobody: a refusal that tried to connect would be exit 4.
    std::fs::write(
        &cfg,
        "[profiles.prod]\nurl = \"amqp://127.0.0.1:1\"\nread_only = true\n\n[profiles.dev]\nurl = \"amqp://127.0.0.1:1\"\n",
    )
    .unwrap();
    let with = |profile: &str, args: &[&str]| {
        run(bare()
            .arg("--config")
            .arg(&cfg)
            .args(["-p", profile])
            .args(args))
    };
    for (args, what) in [
        (vec!["purge", "q", "--yes"], "purge"),
        (vec!["retry-all", "q", "--yes"], "retry-all"),
        (vec!["retry", "q", "id1"], "retry"),
        (vec!["edit", "q", "id1", "--yes"], "edit"),
        (vec!["publish", "q", "--body", "x"], "publish"),
    ] {
        let r = with("prod", &args);
        assert_eq!(r.code, 2, "{r:?}");
        assert_eq!(
            r.stderr.trim(),
            format!("dlq: error: profile 'prod' is read-only: {what} changes messages")
        );
    }
    // A dry run and a read go on to connect (and fail there: exit 4).
    assert_eq!(with("prod", &["purge", "q", "--dry-run"]).code, 4);
    assert_eq!(with("prod", &["list", "q"]).code, 4);
    // Another profile is not read-only, unless the flag or env says so.
    assert_eq!(with("dev", &["purge", "q", "--yes"]).code, 4);
    let r = with("dev", &["--read-only", "purge", "q", "--yes"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("read-only (--read-only): purge"), "{r:?}");
    let r = run(bare().env("DLQ_READ_ONLY", "1").args([
        "-b",
        "amqp://127.0.0.1:1",
        "publish",
        "q",
        "--body",
        "x",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    let r = run(bare().env("DLQ_READ_ONLY", "perhaps").args([
        "-b",
        "amqp://127.0.0.1:1",
        "purge",
        "q",
        "--yes",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("DLQ_READ_ONLY"), "{r:?}");
    // A read refuses it too, before connecting, rather than guess.
    let r =
        run(bare()
            .env("DLQ_READ_ONLY", "maybe")
            .args(["-b", "amqp://127.0.0.1:1", "list", "q"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("DLQ_READ_ONLY"), "{r:?}");
    // A --config that names no file is an error, also beside --broker.
    let r = run(bare().args([
        "--config",
        "/nonexistent/dlq-typo.toml",
        "-b",
        "amqp://127.0.0.1:1",
        "list",
        "q",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("dlq-typo.toml"), "{r:?}");
}

#[test]
fn bad_selection_input_is_one_line_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, "1:2\n\n{\"id\":\"1:3\"}\ntwo words\n").unwrap();
    let ids = ids.to_str().unwrap();
    for (args, says) in [
        (vec!["list", "q", "--since", "last tuesday"], "not a time"),
        (vec!["list", "q", "--until", "2026-02-30x"], "not a time"),
        (vec!["list", "q", "--where", ".a =="], "--where"),
        (vec!["export", "q", "--where", "undefined_fn"], "--where"),
        (vec!["peek", "q", "--where", ".["], "--where"),
        (vec!["purge", "q", "--ids-from", ids, "--yes"], "line 4"),
        (vec!["retry", "q", "--ids-from", ids], "line 4"),
        (vec!["peek", "q", "--ids-from", ids], "line 4"),
        (vec!["stats", "q", "--by", "field:"], "field"),
        (vec!["list", "q", "--follow"], "dlq lag"),
    ] {
        let mut full = vec!["-b", "amqp://127.0.0.1:1"];
        full.extend(&args);
        let r = dlq(&full);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {r:?}");
        assert!(r.stderr.contains(says), "{args:?}: {r:?}");
    }
    let r = dlq(&["-b", "sqs://", "list", "q", "--follow"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = dlq(&[
        "-b",
        "kafka://127.0.0.1:1",
        "list",
        "q",
        "--follow",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
}
