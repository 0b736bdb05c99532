//! Kafka's TLS and SASL settings from the profile, against the test broker,
//! which offers neither (tansu speaks plaintext only, so no handshake can
//! succeed here; the properties themselves are unit-tested in the kafka
//! backend): the failure is one line with exit 4, and neither the SASL
//! password nor the client key is printed, also with -v.
mod common;
mod tls_support;

use tls_support::{assert_fails, config, dlq_timeout, path_line, pki};

#[test]
fn a_tls_profile_against_a_plaintext_broker_fails_in_one_line_without_secrets() {
    let p = pki();
    let pw = "kafka-Sasl-Pw-6620-secret";
    let cfg = config(&[
        format!("url = \"kafka://svc@{}\"", common::kafka_bootstrap()),
        "password_env = \"DLQ_TLS_KAFKA_PW\"".into(),
        path_line("tls_ca_file", &p.ca),
        path_line("tls_cert_file", &p.client_cert),
        path_line("tls_key_file", &p.client_key),
    ]);
    let mut secrets = tls_support::key_secrets();
    secrets.push(pw.into());
    assert_fails(
        || {
            let mut c = dlq_timeout(&cfg, "3s");
            c.env("DLQ_TLS_KAFKA_PW", pw);
            c
        },
        &["queues"],
        4,
        &["kafka"],
        &secrets,
    );
}
