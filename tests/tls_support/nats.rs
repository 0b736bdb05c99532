//! nats-server instances of the tests' own (the installed Debian one), each
//! with TLS from the test PKI, JetStream and one way of authenticating:
//! users (a user/password and an NKey user), a token, or a client
//! certificate that the server verifies. They start on first use, on their
//! own ports and store directories, and end with the test process.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::{free_port, pki, server_dir, spawn_owned};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "nats-Pw-5902-secret";
pub const TOKEN: &str = "nats-Tok-8817-secret";

pub struct Server {
    pub port: u16,
    pub log: PathBuf,
}

pub struct Servers {
    /// user/password and NKey users.
    pub users: Server,
    pub token: Server,
    /// Client certificate required; no other authentication.
    pub mutual: Server,
    /// Operator mode: users come from `.creds` files of the account.
    pub operator: Server,
    pub op: super::creds::Operator,
    /// The NKey user's seed (secret) and the path of the file holding it.
    pub seed: String,
    pub seed_file: PathBuf,
}

pub fn servers() -> &'static Servers {
    static S: OnceLock<Servers> = OnceLock::new();
    S.get_or_init(|| {
        let key = nkeys::KeyPair::new_user();
        let seed = key.seed().unwrap();
        let seed_file = server_dir("nats-keys").join("user.nk");
        std::fs::write(&seed_file, format!("{seed}\n")).unwrap();
        let users = start(
            "users",
            &format!(
                "authorization {{ users: [ {{user: {USER}, password: \"{PASSWORD}\"}}, {{nkey: {}}} ] }}",
                key.public_key()
            ),
            false,
        );
        let token = start(
            "token",
            &format!("authorization {{ token: \"{TOKEN}\" }}"),
            false,
        );
        let mutual = start("mutual", "", true);
        let op = super::creds::Operator::new();
        let operator = start(
            "operator",
            &format!(
                "operator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\n\
                 resolver_preload: {{ {}: \"{}\", {}: \"{}\" }}",
                op.operator_jwt,
                op.system_public,
                op.account_public,
                op.account_jwt,
                op.system_public,
                op.system_jwt
            ),
            false,
        );
        for s in [&users, &token, &mutual, &operator] {
            s.wait_ready();
        }
        Servers {
            users,
            token,
            mutual,
            operator,
            op,
            seed,
            seed_file,
        }
    })
}

fn start(tag: &str, auth: &str, verify: bool) -> Server {
    let p = pki();
    let dir = server_dir(&format!("nats-{tag}"));
    let port = free_port();
    let f = |p: &std::path::Path| format!("{:?}", p.display().to_string());
    let conf = format!(
        "listen: \"127.0.0.1:{port}\"\n\
         tls {{ cert_file: {cert}, key_file: {key}, ca_file: {ca}, verify: {verify}, timeout: 5 }}\n\
         jetstream {{ store_dir: {store}, max_memory_store: 64MB, max_file_store: 256MB }}\n\
         {auth}\n",
        cert = f(&p.server_cert),
        key = f(&p.server_key),
        ca = f(&p.ca),
        store = f(&dir.join("js")),
    );
    let conf_path = dir.join("nats.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let log = dir.join("server.log");
    spawn_owned(Command::new("nats-server").arg("-c").arg(&conf_path), &log);
    Server { port, log }
}

impl Server {
    pub fn url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self) {
        crate::common::wait_for(
            &format!("nats-server (log: {})", self.log.display()),
            Duration::from_secs(30),
            || std::net::TcpStream::connect(("127.0.0.1", self.port)).ok(),
        );
    }
}

/// How the test's own client authenticates.
pub enum Auth {
    User,
    Token,
    Cert,
    /// The creds file at this path.
    Creds(PathBuf),
}

/// A JetStream client of the test's own (not dlq's code) on the server of `auth`.
pub async fn js(auth: Auth) -> async_nats::jetstream::Context {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = servers();
    let p = pki();
    let o = async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(p.ca.clone());
    let (o, server) = match auth {
        Auth::User => (o.user_and_password(USER.into(), PASSWORD.into()), &s.users),
        Auth::Token => (o.token(TOKEN.into()), &s.token),
        Auth::Cert => (
            o.add_client_certificate(p.client_cert.clone(), p.client_key.clone()),
            &s.mutual,
        ),
        Auth::Creds(path) => (o.credentials_file(path).await.unwrap(), &s.operator),
    };
    let client = o
        .connect(server.url())
        .await
        .expect("the test's own NATS client");
    async_nats::jetstream::new(client)
}
