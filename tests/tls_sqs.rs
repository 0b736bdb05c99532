//! SQS over HTTPS with a private CA: moto behind a TLS-terminating relay of
//! the test's own. The profile's `tls_ca_file`, or `AWS_CA_BUNDLE`, makes
//! dlq trust it for queues, list and publish (checked through a plain
//! client on moto itself); without the CA, or with the wrong one, dlq says
//! in one line that the certificate was not trusted, with exit 4.
mod common;
#[path = "sqs_support/mod.rs"]
mod sqs_support;
mod tls_support;

use std::path::Path;
use std::sync::OnceLock;

use sqs_support::{Moto, ENV};
use tls_support::{assert_fails, config, dlq, path_line, pki, run};

/// The relay's HTTPS endpoint, by the name its certificate carries.
fn endpoint() -> String {
    static PORT: OnceLock<u16> = OnceLock::new();
    let target = common::sqs_endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let port = PORT.get_or_init(|| tls_support::relay::start(&target));
    format!("https://localhost:{port}")
}

fn profile(ca: Option<&Path>) -> tempfile::TempPath {
    let mut lines = vec![
        "url = \"sqs://us-east-1\"".to_string(),
        format!("endpoint_url = {:?}", endpoint()),
    ];
    if let Some(ca) = ca {
        lines.push(path_line("tls_ca_file", ca));
    }
    config(&lines)
}

fn dlq_with(cfg: &Path) -> std::process::Command {
    let mut c = dlq(cfg);
    for (k, v) in ENV {
        c.env(k, v);
    }
    c.env_remove("AWS_ENDPOINT_URL").env_remove("AWS_PROFILE");
    c
}

/// publish, queues and list through the relay; moto itself counts the copies.
fn works(mk: impl Fn() -> std::process::Command) {
    let moto = Moto::new();
    let name = common::unique("tls-sqs");
    let url = moto.create(&name, &[]);
    for body in ["a", "b"] {
        let r = run(mk(), &["publish", &name, "--body", body]);
        assert_eq!(r.code, 0, "{r:?}");
    }
    assert_eq!(moto.counts(&url), (2, 0));
    let r = run(mk(), &["queues", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(&name), "{r:?}");
    let r = run(mk(), &["list", &name, "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json().as_array().map(Vec::len), Some(2), "{r:?}");
    moto.delete_queue(&url);
}

#[test]
fn the_profiles_ca_file_makes_an_https_endpoint_trusted() {
    let cfg = profile(Some(&pki().ca));
    works(|| dlq_with(&cfg));
}

#[test]
fn aws_ca_bundle_makes_an_https_endpoint_trusted() {
    let cfg = profile(None);
    works(|| {
        let mut c = dlq_with(&cfg);
        c.env("AWS_CA_BUNDLE", &pki().ca);
        c
    });
}

#[test]
fn an_untrusted_endpoint_certificate_is_one_line_and_exit_4() {
    for ca in [None, Some(pki().other_ca.as_path())] {
        let cfg = profile(ca);
        assert_fails(
            || dlq_with(&cfg),
            &["queues"],
            4,
            &["sqs", "not trusted", "tls_ca_file", "AWS_CA_BUNDLE"],
            &[],
        );
    }
}
