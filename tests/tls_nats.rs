//! NATS over TLS (`tls://`) on servers of the tests' own: a user/password,
//! an NKey seed file, a token and a client certificate, each from the
//! profile, work for reading and publishing; a wrong one, an untrusted
//! server certificate or a missing client certificate is one line and
//! exit 4; the password, token, seed and client key never reach the output,
//! also with -v.
mod common;
mod tls_support;

use std::path::Path;
use std::time::Duration;

use tls_support::nats::{js, servers, Auth, PASSWORD, TOKEN, USER};
use tls_support::{assert_fails, assert_no_secret, config, dlq, path_line, pki, run};

const PW_ENV: &str = "DLQ_TLS_NATS_PW";
const TOKEN_ENV: &str = "DLQ_TLS_NATS_TOKEN";

fn secrets() -> Vec<String> {
    let mut s = tls_support::key_secrets();
    s.extend([PASSWORD.into(), TOKEN.into(), servers().seed.clone()]);
    s
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A stream of one message made by the test's own client; its name and subject.
fn stream(rt: &tokio::runtime::Runtime, auth: Auth) -> (String, String) {
    let name = common::unique("TLS").replace('-', "_").to_uppercase();
    let subject = format!("{}.in", name.to_lowercase());
    rt.block_on(async {
        let js = js(auth).await;
        js.create_stream(async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("{}.>", name.to_lowercase())],
            ..Default::default()
        })
        .await
        .unwrap();
        js.publish(subject.clone(), "first".into())
            .await
            .unwrap()
            .await
            .unwrap();
    });
    (name, subject)
}

/// Messages in `name`, asked of the server by the test's own client.
fn count(rt: &tokio::runtime::Runtime, auth: Auth, name: &str) -> u64 {
    rt.block_on(async {
        let js = js(auth).await;
        let mut s = js.get_stream(name).await.unwrap();
        s.info().await.unwrap().state.messages
    })
}

fn drop_stream(rt: &tokio::runtime::Runtime, auth: Auth, name: &str) {
    rt.block_on(async {
        let _ = js(auth).await.delete_stream(name).await;
    });
}

/// dlq through `cfg` with the password and token in the environment.
fn dlq_with(cfg: &Path) -> std::process::Command {
    let mut c = dlq(cfg);
    c.env(PW_ENV, PASSWORD).env(TOKEN_ENV, TOKEN);
    c
}

/// list shows the stream's message, publish adds one the server counts.
fn reads_and_publishes(cfg: &Path, auth: impl Fn() -> Auth) {
    let rt = rt();
    let (name, subject) = stream(&rt, auth());
    let r = run(dlq_with(cfg), &["-v", "list", &name, "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json().as_array().map(Vec::len), Some(1), "{r:?}");
    assert_no_secret(&r, &secrets());
    let r = run(
        dlq_with(cfg),
        &["-v", "publish", &subject, "--body", "second"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_no_secret(&r, &secrets());
    common::wait_for("the published copy", Duration::from_secs(10), || {
        (count(&rt, auth(), &name) == 2).then_some(())
    });
    drop_stream(&rt, auth(), &name);
}

fn ca_line() -> String {
    path_line("tls_ca_file", &pki().ca)
}

#[test]
fn user_and_password_from_the_profile_work_over_tls() {
    let s = servers();
    let cfg = config(&[
        format!("url = \"tls://{USER}@127.0.0.1:{}\"", s.users.port),
        format!("password_env = {PW_ENV:?}"),
        ca_line(),
    ]);
    reads_and_publishes(&cfg, || Auth::User);
}

#[test]
fn an_nkey_seed_file_from_the_profile_works_over_tls() {
    let s = servers();
    let cfg = config(&[
        format!("url = {:?}", s.users.url()),
        path_line("nkey_file", &s.seed_file),
        ca_line(),
    ]);
    reads_and_publishes(&cfg, || Auth::User);
}

#[test]
fn a_token_from_the_profiles_environment_variable_works_over_tls() {
    let s = servers();
    let cfg = config(&[
        format!("url = {:?}", s.token.url()),
        format!("token_env = {TOKEN_ENV:?}"),
        ca_line(),
    ]);
    reads_and_publishes(&cfg, || Auth::Token);
}

#[test]
fn a_client_certificate_from_the_profile_opens_a_server_that_verifies_it() {
    let p = pki();
    let cfg = config(&[
        format!("url = {:?}", servers().mutual.url()),
        ca_line(),
        path_line("tls_cert_file", &p.client_cert),
        path_line("tls_key_file", &p.client_key),
    ]);
    reads_and_publishes(&cfg, || Auth::Cert);
}

#[test]
fn wrong_credentials_are_one_line_and_exit_4_without_the_secret() {
    let s = servers();
    let wrong_seed = tls_support::server_dir("nats-wrong").join("other.nk");
    let stranger = nkeys::KeyPair::new_user().seed().unwrap();
    std::fs::write(&wrong_seed, &stranger).unwrap();
    let mut secret_list = secrets();
    secret_list.push(stranger);
    let cases = [
        vec![
            format!("url = \"tls://{USER}@127.0.0.1:{}\"", s.users.port),
            "password_env = \"DLQ_TLS_WRONG\"".to_string(),
        ],
        vec![
            format!("url = {:?}", s.users.url()),
            path_line("nkey_file", &wrong_seed),
        ],
        vec![
            format!("url = {:?}", s.token.url()),
            "token_env = \"DLQ_TLS_WRONG\"".to_string(),
        ],
    ];
    for mut lines in cases {
        lines.push(ca_line());
        let cfg = config(&lines);
        assert_fails(
            || {
                let mut c = dlq_with(&cfg);
                c.env("DLQ_TLS_WRONG", "not-the-Secret-1234");
                c
            },
            &["queues"],
            4,
            &["nats", "authorization violation"],
            &secret_list,
        );
    }
}

#[test]
fn an_untrusted_server_certificate_is_one_line_and_exit_4() {
    let s = servers();
    for ca in [None, Some(pki().other_ca.clone())] {
        let mut lines = vec![
            format!("url = {:?}", s.token.url()),
            format!("token_env = {TOKEN_ENV:?}"),
        ];
        if let Some(ca) = &ca {
            lines.push(path_line("tls_ca_file", ca));
        }
        let cfg = config(&lines);
        assert_fails(
            || dlq_with(&cfg),
            &["queues"],
            4,
            &["nats", "not trusted", "tls_ca_file"],
            &secrets(),
        );
    }
}

#[test]
fn a_missing_or_foreign_client_certificate_is_one_line_and_exit_4() {
    let p = pki();
    let url = format!("url = {:?}", servers().mutual.url());
    let cfg = config(&[url.clone(), ca_line()]);
    assert_fails(
        || dlq_with(&cfg),
        &["queues"],
        4,
        &["nats", "TLS client certificate"],
        &secrets(),
    );
    let cfg = config(&[
        url,
        ca_line(),
        path_line("tls_cert_file", &p.stranger_cert),
        path_line("tls_key_file", &p.stranger_key),
    ]);
    assert_fails(
        || dlq_with(&cfg),
        &["queues"],
        4,
        &["nats", "TLS client certificate", "tls_cert_file"],
        &secrets(),
    );
}

#[test]
fn a_creds_file_of_operator_mode_from_the_profile_works_over_tls() {
    let s = servers();
    let dir = tls_support::server_dir("nats-creds");
    let (text, seed) = s.op.user_creds();
    let path = dir.join("user.creds");
    std::fs::write(&path, &text).unwrap();
    let cfg = config(&[
        format!("url = {:?}", s.operator.url()),
        path_line("creds_file", &path),
        ca_line(),
    ]);
    reads_and_publishes(&cfg, || Auth::Creds(path.clone()));
    let r = run(dlq_with(&cfg), &["-v", "queues"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_no_secret(&r, &[seed]);
}

#[test]
fn a_creds_file_of_an_unknown_account_is_one_line_and_exit_4() {
    let s = servers();
    let (text, seed) = tls_support::creds::stranger_creds();
    let path = tls_support::server_dir("nats-creds").join("stranger.creds");
    std::fs::write(&path, &text).unwrap();
    let cfg = config(&[
        format!("url = {:?}", s.operator.url()),
        path_line("creds_file", &path),
        ca_line(),
    ]);
    let jwt = text.lines().nth(1).unwrap().to_owned();
    assert_fails(
        || dlq_with(&cfg),
        &["queues"],
        4,
        &["nats", "authorization violation"],
        &[seed, jwt],
    );
}
