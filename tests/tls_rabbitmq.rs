//! RabbitMQ over TLS, on nodes of the tests' own: `amqps://` with the
//! profile's `tls_ca_file` works for the commands (the management API over
//! HTTPS too); a missing or wrong CA is one line and exit 4; a client
//! certificate from the profile opens a node that requires one, and none or
//! a stranger's is one line and exit 4; the password and the client key
//! never reach the output, also with -v.
mod common;
mod tls_support;

use common::unique;
use tls_support::rabbitmq::{nodes, Node, PASSWORD};
use tls_support::{assert_fails, assert_no_secret, config, dlq, path_line, pki, run};

const PW_ENV: &str = "DLQ_TLS_RMQ_PW";

/// A profile for `node`, with the CA file `ca` and the client certificate
/// (signed by our CA, or by the other one) when asked.
fn profile(node: &Node, ca: Option<&std::path::Path>, cert: Cert) -> tempfile::TempPath {
    let p = pki();
    let mut lines = vec![
        format!("url = {:?}", node.amqps_url()),
        format!("password_env = {PW_ENV:?}"),
        format!("management_url = {:?}", node.management_url()),
    ];
    if let Some(ca) = ca {
        lines.push(path_line("tls_ca_file", ca));
    }
    match cert {
        Cert::None => {}
        Cert::Ours => {
            lines.push(path_line("tls_cert_file", &p.client_cert));
            lines.push(path_line("tls_key_file", &p.client_key));
        }
        Cert::Stranger => {
            lines.push(path_line("tls_cert_file", &p.stranger_cert));
            lines.push(path_line("tls_key_file", &p.stranger_key));
        }
    }
    config(&lines)
}

#[derive(Clone, Copy)]
enum Cert {
    None,
    Ours,
    Stranger,
}

fn dlq_with(cfg: &std::path::Path) -> std::process::Command {
    let mut c = dlq(cfg);
    c.env(PW_ENV, PASSWORD);
    c
}

fn secrets() -> Vec<String> {
    let mut s = tls_support::key_secrets();
    s.push(PASSWORD.to_owned());
    s
}

#[test]
fn amqps_with_the_profile_ca_serves_queues_list_publish_and_retry_all() {
    let node = &nodes().open;
    let cfg = profile(node, Some(&pki().ca), Cert::None);
    let (q, target) = (unique("tls-dlq"), unique("tls-work"));
    node.declare(&q);
    node.declare(&target);

    for i in 0..3 {
        let r = run(dlq_with(&cfg), &["publish", &q, "--body", &format!("m{i}")]);
        assert_eq!(r.code, 0, "{r:?}");
    }
    assert_eq!(node.bodies(&q), vec!["m0", "m1", "m2"]);

    let r = run(dlq_with(&cfg), &["queues", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(&q), "{r:?}");

    let r = run(dlq_with(&cfg), &["list", &q, "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json().as_array().map(Vec::len), Some(3), "{r:?}");

    let r = run(
        dlq_with(&cfg),
        &[
            "-v",
            "retry-all",
            &q,
            "--to",
            &target,
            "--yes",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_no_secret(&r, &secrets());
    assert!(node.bodies(&q).is_empty());
    assert_eq!(node.bodies(&target), vec!["m0", "m1", "m2"]);
    node.delete(&q);
    node.delete(&target);
}

#[test]
fn a_server_certificate_from_an_unknown_ca_is_one_line_and_exit_4() {
    let node = &nodes().open;
    for ca in [None, Some(pki().other_ca.as_path())] {
        let cfg = profile(node, ca, Cert::None);
        assert_fails(
            || dlq_with(&cfg),
            &["queues"],
            4,
            &["rabbitmq", "not trusted", "tls_ca_file"],
            &secrets(),
        );
    }
}

#[test]
fn a_node_that_requires_a_client_certificate_takes_the_profiles() {
    let node = &nodes().mutual;
    let q = unique("tls-mtls");
    node.declare(&q);
    let cfg = profile(node, Some(&pki().ca), Cert::Ours);
    let r = run(dlq_with(&cfg), &["-v", "publish", &q, "--body", "signed"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_no_secret(&r, &secrets());
    let r = run(dlq_with(&cfg), &["-v", "list", &q, "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_no_secret(&r, &secrets());
    assert_eq!(node.bodies(&q), vec!["signed"]);
    node.delete(&q);
}

#[test]
fn a_missing_or_foreign_client_certificate_is_one_line_and_exit_4() {
    // A command that needs AMQP: `queues` of a node without queues needs only
    // the management API, which asks for no client certificate.
    let node = &nodes().mutual;
    let cfg = profile(node, Some(&pki().ca), Cert::None);
    assert_fails(
        || dlq_with(&cfg),
        &["publish", "tls-mutual", "--body", "x"],
        4,
        &[
            "rabbitmq",
            "TLS client certificate",
            "tls_cert_file",
            "tls_key_file",
        ],
        &secrets(),
    );
    let cfg = profile(node, Some(&pki().ca), Cert::Stranger);
    assert_fails(
        || dlq_with(&cfg),
        &["publish", "tls-mutual", "--body", "x"],
        4,
        &[
            "rabbitmq",
            "refused the TLS client certificate",
            "tls_cert_file",
        ],
        &secrets(),
    );
}

#[test]
fn tls_files_on_a_plain_amqp_url_or_half_an_identity_are_usage_errors() {
    let p = pki();
    let cfg = config(&[
        "url = \"amqp://guest:guest@127.0.0.1:5672/%2f\"".into(),
        path_line("tls_ca_file", &p.ca),
    ]);
    assert_fails(|| dlq(&cfg), &["queues"], 2, &["amqps://"], &[]);
    let cfg = config(&[
        "url = \"amqps://guest:guest@127.0.0.1:5671/%2f\"".into(),
        path_line("tls_cert_file", &p.client_cert),
    ]);
    assert_fails(
        || dlq(&cfg),
        &["queues"],
        2,
        &["tls_cert_file", "tls_key_file"],
        &[],
    );
}
