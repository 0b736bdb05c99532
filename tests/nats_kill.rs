//! SIGKILL in the middle of a `retry-all` of a few thousand messages loses
//! nothing: every body is on the DLQ stream or back in the work stream.

mod common;
#[path = "nats/support.rs"]
mod support;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use common::{dlq, nats_url};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_retry_all_loses_nothing() {
    let js = js().await;
    let (work, subject) = names("KILL");
    let dlq_name = format!("{work}-DLQ");
    stream(&js, &work, vec![format!("{subject}.>")], false).await;
    stream(&js, &dlq_name, vec![format!("dlq.{subject}")], true).await;
    let n = 4000;
    let mut acks = Vec::new();
    for i in 0..n {
        let h = headers(&[("dlq-original-subject", &format!("{subject}.orders"))]);
        acks.push(
            js.publish_with_headers(
                format!("dlq.{subject}"),
                h,
                format!("msg-{i}").into_bytes().into(),
            )
            .await
            .unwrap(),
        );
    }
    for a in acks {
        a.await.unwrap();
    }

    let mut child = dlq(&nats_url())
        .args(["retry-all", &dlq_name, "--yes", "--rate", "2000", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moved = wait_until("some messages to move", Duration::from_secs(60), || async {
        let c = count(&js, &work).await;
        (c >= 200).then_some(c)
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(moved < n, "the kill came too late to test anything");

    let mut seen = HashSet::new();
    for (_, _, _, body) in messages(&js, &work)
        .await
        .into_iter()
        .chain(messages(&js, &dlq_name).await)
    {
        seen.insert(String::from_utf8(body).unwrap());
    }
    for i in 0..n {
        assert!(seen.contains(&format!("msg-{i}")), "msg-{i} was lost");
    }
    let total = count(&js, &work).await + count(&js, &dlq_name).await;
    assert!(total >= n);
    delete(&js, &[&work, &dlq_name]).await;
}

/// Ctrl-C in the middle of a retry-all: what is in flight is finished, the
/// summary is printed, exit 130, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_cleanly() {
    let js = js().await;
    let (work, subject) = names("INT");
    let dlq_name = format!("{work}-DLQ");
    stream(&js, &work, vec![format!("{subject}.>")], false).await;
    stream(&js, &dlq_name, vec![format!("dlq.{subject}")], false).await;
    let n = 2000u64;
    for i in 0..n {
        let h = headers(&[("dlq-original-subject", &format!("{subject}.orders"))]);
        js.publish_with_headers(
            format!("dlq.{subject}"),
            h,
            format!("msg-{i}").into_bytes().into(),
        )
        .await
        .unwrap();
    }
    wait_until("the DLQ to fill", Duration::from_secs(30), || async {
        (count(&js, &dlq_name).await == n).then_some(())
    })
    .await;
    let child = dlq(&nats_url())
        .args([
            "retry-all",
            &dlq_name,
            "--yes",
            "--rate",
            "500",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("some messages to move", Duration::from_secs(60), || async {
        (count(&js, &work).await >= 100).then_some(())
    })
    .await;
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let moved = summary["moved"].as_u64().unwrap();
    assert!(moved > 0 && moved < n, "{summary}");
    // Everything confirmed was removed: the counts add up exactly.
    assert_eq!(count(&js, &work).await, moved);
    assert_eq!(count(&js, &dlq_name).await, n - moved);
    delete(&js, &[&work, &dlq_name]).await;
}

/// A private JetStream server that can be stopped and started again on the
/// same store.
struct Server {
    child: Option<std::process::Child>,
    port: u16,
    store: tempfile::TempDir,
}

impl Server {
    fn bin() -> Option<&'static str> {
        ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
    }

    fn start() -> Option<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut s = Server {
            child: None,
            port,
            store: tempfile::tempdir().ok()?,
        };
        s.up();
        Some(s)
    }

    fn up(&mut self) {
        let child = std::process::Command::new(Self::bin().unwrap())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        common::wait_for("the private nats-server", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.down();
    }
}

/// The server goes away in the middle of a retry-all: dlq stops within its
/// timeout, reports, and after a restart every message is still somewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_server_midway_loses_nothing() {
    let Some(mut server) = Server::start() else {
        eprintln!("no nats-server binary: skipped");
        return;
    };
    let client = async_nats::connect(format!("127.0.0.1:{}", server.port))
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    stream(&js, "WORK", vec!["work.>".into()], false).await;
    stream(&js, "WORK-DLQ", vec!["dlq.work".into()], false).await;
    let n = 3000u64;
    for i in 0..n {
        let h = headers(&[("dlq-original-subject", "work.orders")]);
        js.publish_with_headers("dlq.work", h, format!("msg-{i}").into_bytes().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let child = dlq(&server.url())
        .args([
            "--timeout",
            "2s",
            "retry-all",
            "WORK-DLQ",
            "--yes",
            "--rate",
            "1000",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("some messages to move", Duration::from_secs(60), || async {
        (count(&js, "WORK").await >= 300).then_some(())
    })
    .await;
    server.down();
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "dlq hung after the server went away"
    );
    let code = out.status.code();
    assert!(
        code == Some(3) || code == Some(4),
        "{code:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    server.up();
    let client = async_nats::connect(format!("127.0.0.1:{}", server.port))
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut seen = HashSet::new();
    for (_, _, _, body) in messages(&js, "WORK")
        .await
        .into_iter()
        .chain(messages(&js, "WORK-DLQ").await)
    {
        seen.insert(String::from_utf8(body).unwrap());
    }
    for i in 0..n {
        assert!(seen.contains(&format!("msg-{i}")), "msg-{i} was lost");
    }
}
