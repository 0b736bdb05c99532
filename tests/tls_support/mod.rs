//! What the TLS tests share: the test PKI (made once per test binary), free
//! loopback ports, servers of the tests' own that end when the test process
//! does, dlq run through a profile in a config file, and the check that no
//! secret reaches anything dlq prints.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::common::{self, Run};

pub mod creds;
pub mod nats;
pub mod pki;
pub mod rabbitmq;
pub mod relay;

/// The PKI of this test binary.
// The remover waits for this process to end, so it is never waited for.
#[allow(clippy::zombie_processes)]
pub fn pki() -> &'static pki::Pki {
    static PKI: OnceLock<pki::Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let pki = pki::Pki::new();
        // Removed once this process and the servers under it have ended.
        Command::new("sh")
            .arg("-c")
            .arg("while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; sleep 15; rm -rf -- \"$2\"")
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(pki.dir.path())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        pki
    })
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `cmd` in a process group of its own, which a watcher ends
/// (TERM, then KILL) once this test process has exited: statics are never
/// dropped, so the servers a OnceLock holds are ended from outside.
// The server and its watcher outlive every test by design; the watcher reaps neither.
#[allow(clippy::zombie_processes)]
pub fn spawn_owned(cmd: &mut Command, log: &Path) -> u32 {
    let out = std::fs::File::create(log).unwrap();
    let child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let script = "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
                  kill -TERM -\"$2\" 2>/dev/null; \
                  for i in $(seq 1 20); do kill -0 -\"$2\" 2>/dev/null || exit 0; sleep 0.5; done; \
                  kill -KILL -\"$2\" 2>/dev/null";
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(std::process::id().to_string())
        .arg(child.id().to_string())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.id()
}

/// A config file with one profile, `[profiles.t]`, from TOML lines.
pub fn config(lines: &[String]) -> tempfile::TempPath {
    let mut text = String::from("[profiles.t]\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    let f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f.into_temp_path()
}

/// A TOML line `key = "path"`.
pub fn path_line(key: &str, path: &Path) -> String {
    format!("{key} = {:?}", path.display().to_string())
}

/// `dlq --profile t` with `config` as the config file.
pub fn dlq(config: &Path) -> Command {
    dlq_timeout(config, "10s")
}

/// [`dlq`] with another `--timeout`.
pub fn dlq_timeout(config: &Path, timeout: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlq"));
    c.env_remove("DLQ_BROKER")
        .env_remove("DLQ_PROFILE")
        .env_remove("AWS_CA_BUNDLE")
        .env("DLQ_CONFIG", config)
        .env("DLQ_JOURNAL", crate::common::test_journal())
        .env("NO_COLOR", "1")
        .arg("--profile")
        .arg("t")
        .arg("--timeout")
        .arg(timeout)
        .stdin(Stdio::null());
    c
}

/// Runs `cmd` with the given arguments.
pub fn run(mut cmd: Command, args: &[&str]) -> Run {
    common::run(cmd.args(args))
}

/// Asserts that `args` fail with exit `code` and exactly one line on
/// stderr holding every one of `words`, and that neither that run nor the
/// same with -v prints any of `secrets`.
pub fn assert_fails(
    mk: impl Fn() -> Command,
    args: &[&str],
    code: i32,
    words: &[&str],
    secrets: &[String],
) {
    let r = run(mk(), args);
    assert_eq!(r.code, code, "{r:?}");
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {r:?}");
    assert!(lines[0].starts_with("dlq: error: "), "{r:?}");
    for w in words {
        assert!(lines[0].contains(w), "{w:?} missing: {r:?}");
    }
    assert_no_secret(&r, secrets);
    let verbose: Vec<&str> = ["-v"].iter().chain(args).copied().collect();
    let r = run(mk(), &verbose);
    assert_eq!(r.code, code, "{r:?}");
    assert_no_secret(&r, secrets);
}

/// Asserts that none of `secrets` appears in the run's output.
pub fn assert_no_secret(r: &Run, secrets: &[String]) {
    for s in secrets {
        assert!(
            !r.stdout.contains(s.as_str()) && !r.stderr.contains(s.as_str()),
            "secret {s:?} printed: {r:?}"
        );
    }
}

/// The secrets of the test PKI: the client key's lines.
pub fn key_secrets() -> Vec<String> {
    pki().client_key_lines()
}

/// The directory for a server's files, under the PKI's tempdir.
pub fn server_dir(name: &str) -> PathBuf {
    let d = pki().dir.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}
