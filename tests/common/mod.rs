//! Shared helpers for the integration tests: run the built `dlq` binary,
//! name things uniquely, wait with a deadline.
//!
//! Each test file is its own crate and uses only part of this module.
#![allow(dead_code)]

pub mod kafka_address;
pub mod relay;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The broker URLs of the test brokers (overridable by environment).
pub fn amqp_url() -> String {
    std::env::var("DLQ_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}
pub fn sqs_endpoint() -> String {
    std::env::var("DLQ_TEST_SQS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}
/// noida-db (scripts/brokers/noida.sh); tansu on 9092 is the second target.
pub fn kafka_bootstrap() -> String {
    std::env::var("DLQ_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9094".into())
}
pub fn nats_url() -> String {
    std::env::var("DLQ_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}
/// The management API of the RabbitMQ that `amqp_url` names.
pub fn amqp_management_url() -> String {
    std::env::var("DLQ_TEST_AMQP_MANAGEMENT").unwrap_or_else(|_| "http://127.0.0.1:15672".into())
}

/// Which server `kafka_bootstrap` names, for its known gaps: a Kafka
/// server does not say what it is, so `DLQ_TEST_KAFKA_SERVER` tells
/// (`noida`, the default, or `tansu`).
pub fn kafka_server() -> String {
    std::env::var("DLQ_TEST_KAFKA_SERVER").unwrap_or_else(|_| "noida".into())
}
/// Which server `sqs_endpoint` names: `DLQ_TEST_SQS_SERVER`, `moto` (the
/// default) or `fauxqs`.
pub fn sqs_server() -> String {
    std::env::var("DLQ_TEST_SQS_SERVER").unwrap_or_else(|_| "moto".into())
}

/// `HOST:PORT` of a broker URL such as `amqp://u:p@127.0.0.1:5673/%2f`.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// A name no other test (or earlier run) uses: `prefix-<pid>-<time>-<n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 100_000_000;
    format!(
        "{prefix}-{}-{t}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The journal tests write to unless they name their own: one per test
/// process, in the temp directory, never the user's own.
pub fn test_journal() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("dlq-test-journal-{}.ndjson", std::process::id()))
}

/// The binary under test: `DLQ_TEST_BIN` when set (a copy of this build's
/// binary, where a target directory shared by several checkouts may hold
/// another's), else the one cargo built for these tests.
pub fn dlq_bin() -> std::ffi::OsString {
    std::env::var_os("DLQ_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_dlq").into())
}

/// A `dlq` command with the environment cleared of dlq's own variables and
/// the given broker URL.
pub fn dlq(broker: &str) -> Command {
    let mut c = Command::new(dlq_bin());
    c.env_remove("DLQ_BROKER")
        .env_remove("DLQ_PROFILE")
        .env("DLQ_CONFIG", "/nonexistent/dlq-test-config.toml")
        .env("DLQ_JOURNAL", test_journal())
        .env("NO_COLOR", "1")
        .arg("-b")
        .arg(broker)
        .stdin(Stdio::null());
    c
}

/// The finished run of a command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    pub fn ndjson(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw_stdout: out.stdout,
    }
}

/// Runs `cmd` to the end.
pub fn run(cmd: &mut Command) -> Run {
    finish(cmd.output().expect("running dlq"))
}

/// Runs `cmd` with `input` on standard input.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dlq");
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait dlq");
    writer.join().unwrap();
    finish(out)
}

/// Polls `check` until it returns Some or the deadline passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The message sets that exercise the edges: empty, one byte, binary with
/// NUL and invalid UTF-8, control and bidi characters, emoji.
pub fn edge_bodies() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        b"x".to_vec(),
        vec![0x00, 0xff, 0xfe, 0x80, 0x00, b'a'],
        "esc \x1b[31mred\x1b[0m bell \x07 bidi \u{202e}txet"
            .as_bytes()
            .to_vec(),
        "emoji 🎉 ünïcödé 日本語".as_bytes().to_vec(),
        br#"{"order_id":1234,"items":[1,2,3]}"#.to_vec(),
    ]
}
