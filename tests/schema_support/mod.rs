//! The schema tests' harness: the registry double (`registry.py`, a test
//! double of a Confluent-compatible registry, since no real one can be
//! installed here) started on a free port and stopped by its PID, and the
//! messages Confluent's own serializers make against it (`fixtures.py`),
//! both run by the Python of `scripts/tools.sh` (installed on first use).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// A file of `tests/corpus/schema/`.
pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/schema")
        .join(name)
}

/// The Python with confluent-kafka, fastavro, protobuf and grpcio-tools.
pub fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("bash")
            .arg(root.join("scripts/tools.sh"))
            .arg("schema-python")
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/tools.sh");
        assert!(
            out.status.success(),
            "scripts/tools.sh schema-python failed"
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schema_support")
        .join(name)
}

/// A running registry double; stopped (by its PID) when dropped.
pub struct Registry {
    pub url: String,
    child: Child,
}

impl Registry {
    /// Starts one with `args` (`--user U --password P`, `--cert PEM --key PEM`, `--delay S`).
    pub fn start(args: &[&str]) -> Registry {
        let https = args.contains(&"--cert");
        let mut child = Command::new(python())
            .arg(script("registry.py"))
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the registry double");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("registry double said {line:?}"));
        let scheme = if https { "https" } else { "http" };
        Registry {
            url: format!("{scheme}://127.0.0.1:{port}"),
            child,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message made by the reference serializers, as fixtures.py prints it.
#[derive(Debug, Clone)]
pub struct Golden {
    pub name: String,
    pub format: String,
    pub framed: bool,
    pub schema_id: Option<u64>,
    pub subject: Option<String>,
    pub message_type: Option<String>,
    pub value: Value,
    pub bytes: Vec<u8>,
}

fn parse(text: &str) -> Vec<Golden> {
    use base64::Engine as _;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Golden {
                name: v["name"].as_str().unwrap().to_owned(),
                format: v["format"].as_str().unwrap().to_owned(),
                framed: v["framed"].as_bool().unwrap(),
                schema_id: v["schema_id"].as_u64(),
                subject: v["subject"].as_str().map(str::to_owned),
                message_type: v["message_type"].as_str().map(str::to_owned),
                value: v["value"].clone(),
                bytes: base64::engine::general_purpose::STANDARD
                    .decode(v["base64"].as_str().unwrap())
                    .unwrap(),
            }
        })
        .collect()
}

/// Registers the corpus schemas under subjects starting with `prefix` and
/// serializes the sample values with Confluent's serializers.
pub fn fixtures(registry: &Registry, prefix: &str, auth: Option<(&str, &str)>) -> Vec<Golden> {
    fixtures_trusting(registry, prefix, auth, None)
}

/// As [`fixtures`], for a registry over HTTPS whose certificate `ca` signed.
pub fn fixtures_trusting(
    registry: &Registry,
    prefix: &str,
    auth: Option<(&str, &str)>,
    ca: Option<&Path>,
) -> Vec<Golden> {
    let mut c = Command::new(python());
    c.arg(script("fixtures.py"))
        .arg(&registry.url)
        .args(["--prefix", prefix]);
    if let Some(ca) = ca {
        c.arg("--ca").arg(ca);
    }
    if let Some((u, p)) = auth {
        c.args(["--user", u, "--password", p]);
    }
    let out = c
        .stderr(Stdio::inherit())
        .output()
        .expect("running fixtures.py");
    assert!(out.status.success(), "fixtures.py failed");
    parse(&String::from_utf8(out.stdout).unwrap())
}

/// The committed golden messages (for the local-schema tests: no registry).
pub fn committed() -> Vec<Golden> {
    parse(&std::fs::read_to_string(corpus("messages.ndjson")).unwrap())
}

/// The flags that read the corpus's local schemas.
pub fn avro_flags() -> Vec<String> {
    vec![
        "--avro-schema".into(),
        corpus("item.avsc").display().to_string(),
        "--avro-schema".into(),
        corpus("order.avsc").display().to_string(),
    ]
}

pub fn proto_flags() -> Vec<String> {
    vec![
        "--proto".into(),
        corpus("proto/shop/v1/order.proto").display().to_string(),
        "--proto-path".into(),
        corpus("proto").display().to_string(),
        "--proto-message".into(),
        "shop.v1.Order".into(),
    ]
}

/// dlq's warnings in a stderr.
pub fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("dlq: warning:"))
        .collect()
}

/// Bodies read back by the reference libraries (`decode.py`): confluent-kafka's
/// deserializers against `registry` for framed bodies, else fastavro or the
/// corpus's protobuf classes; one JSON value per body.
pub fn reference_decode(
    format: &str,
    registry: Option<&Registry>,
    message: &str,
    bodies: &[Vec<u8>],
) -> Vec<Value> {
    use base64::Engine as _;
    use std::io::Write;
    let mut c = Command::new(python());
    c.arg(script("decode.py"))
        .arg(format)
        .args(["--message", message]);
    if let Some(r) = registry {
        c.args(["--registry", &r.url]);
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("running decode.py");
    {
        let mut stdin = child.stdin.take().unwrap();
        for b in bodies {
            writeln!(
                stdin,
                "{}",
                base64::engine::general_purpose::STANDARD.encode(b)
            )
            .unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "decode.py failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// An executable script in `dir` that runs `body` on the file given as `$1`.
pub fn editor(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}
