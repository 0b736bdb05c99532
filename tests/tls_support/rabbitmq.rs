//! RabbitMQ nodes of the tests' own, from the installed Debian
//! rabbitmq-server: their own node name, ports, data and log directories,
//! listening on loopback with TLS only (AMQP and the management API), with
//! the test PKI's server certificate. One node only verifies a client
//! certificate when one is offered; the other refuses clients without one
//! (`fail_if_no_peer_cert = true`). Both boot together on first use.
//! The tests reach a node's state through the management API with curl.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::{free_port, pki, server_dir, spawn_owned};

pub struct Node {
    pub amqp_port: u16,
    pub mgmt_port: u16,
    pub log: PathBuf,
}

/// The user and password the tests give dlq (not guest: its password is its name).
pub const USER: &str = "dlqtls";
pub const PASSWORD: &str = "rmq-tls-Pw-4481-secret";

pub struct Nodes {
    /// Client certificate optional.
    pub open: Node,
    /// Client certificate required.
    pub mutual: Node,
}

pub fn nodes() -> &'static Nodes {
    static NODES: OnceLock<Nodes> = OnceLock::new();
    NODES.get_or_init(|| {
        let open = start("open", false);
        let mutual = start("mutual", true);
        for n in [&open, &mutual] {
            n.wait_ready();
            n.add_user();
        }
        Nodes { open, mutual }
    })
}

fn start(tag: &str, require_cert: bool) -> Node {
    let p = pki();
    let dir = server_dir(&format!("rabbitmq-{tag}"));
    let (amqp_port, mgmt_port, dist_port) = (free_port(), free_port(), free_port());
    let f = |p: &std::path::Path| p.display().to_string();
    let conf = format!(
        "listeners.tcp = none\n\
         listeners.ssl.default = 127.0.0.1:{amqp_port}\n\
         ssl_options.cacertfile = {ca}\n\
         ssl_options.certfile = {cert}\n\
         ssl_options.keyfile = {key}\n\
         ssl_options.verify = verify_peer\n\
         ssl_options.fail_if_no_peer_cert = {require_cert}\n\
         management.ssl.ip = 127.0.0.1\n\
         management.ssl.port = {mgmt_port}\n\
         management.ssl.cacertfile = {ca}\n\
         management.ssl.certfile = {cert}\n\
         management.ssl.keyfile = {key}\n",
        ca = f(&p.ca),
        cert = f(&p.server_cert),
        key = f(&p.server_key),
    );
    std::fs::write(dir.join("rabbitmq.conf"), conf).unwrap();
    std::fs::write(dir.join("enabled_plugins"), "[rabbitmq_management].\n").unwrap();
    std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
    let log = dir.join("server.log");
    let mut cmd = Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server");
    // Crash dumps land in the working directory: keep them with the node.
    cmd.current_dir(&dir)
        .env("HOME", &dir)
        .env(
            "RABBITMQ_NODENAME",
            format!("dlqtls-{tag}-{}@localhost", std::process::id()),
        )
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", free_port().to_string())
        .env("RABBITMQ_DIST_PORT", dist_port.to_string())
        .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq"))
        .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
        .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", dir.join("log"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
        .env("RABBITMQ_PID_FILE", dir.join("pid"))
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .env(
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            "-kernel inet_dist_use_interface {127,0,0,1}",
        );
    spawn_owned(&mut cmd, &log);
    Node {
        amqp_port,
        mgmt_port,
        log,
    }
}

impl Node {
    pub fn amqps_url(&self) -> String {
        format!("amqps://{USER}@localhost:{}/%2f", self.amqp_port)
    }
    pub fn management_url(&self) -> String {
        format!("https://localhost:{}", self.mgmt_port)
    }

    /// curl against the management API as guest, trusting the test CA.
    fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut c = Command::new("curl");
        c.args(["-s", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}"])
            .arg("--cacert")
            .arg(&pki().ca)
            .args(["-u", "guest:guest", "-X", method])
            .arg(format!("{}/api/{path}", self.management_url()));
        if let Some(b) = body {
            c.args(["-H", "content-type: application/json", "-d", b]);
        }
        let out = c.output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    fn wait_ready(&self) {
        let log = self.log.clone();
        crate::common::wait_for(
            &format!("the TLS RabbitMQ node (log: {})", log.display()),
            Duration::from_secs(150),
            || (self.curl("GET", "overview", None).0 == 200).then_some(()),
        );
    }

    fn add_user(&self) {
        let (c, b) = self.curl(
            "PUT",
            &format!("users/{USER}"),
            Some(&format!(
                r#"{{"password":"{PASSWORD}","tags":"administrator"}}"#
            )),
        );
        assert!(c == 201 || c == 204, "{c} {b}");
        let (c, b) = self.curl(
            "PUT",
            &format!("permissions/%2f/{USER}"),
            Some(r#"{"configure":".*","write":".*","read":".*"}"#),
        );
        assert!(c == 201 || c == 204, "{c} {b}");
    }

    pub fn declare(&self, queue: &str) {
        let (c, b) = self.curl(
            "PUT",
            &format!("queues/%2f/{queue}"),
            Some(r#"{"durable":true}"#),
        );
        assert!(c == 201 || c == 204, "{c} {b}");
    }

    pub fn delete(&self, queue: &str) {
        self.curl("DELETE", &format!("queues/%2f/{queue}"), None);
    }

    /// Messages in `queue`, read by a get-and-requeue through the API
    /// (the queue counters lag behind).
    pub fn bodies(&self, queue: &str) -> Vec<String> {
        let (c, b) = self.curl(
            "POST",
            &format!("queues/%2f/{queue}/get"),
            Some(r#"{"count":1000,"ackmode":"reject_requeue_true","encoding":"auto"}"#),
        );
        assert_eq!(c, 200, "{b}");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m["payload"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}
