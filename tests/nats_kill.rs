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
            js.publish_with_headers(format!("dlq.{subject}"), h, format!("msg-{i}").into_bytes().into())
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
    let moved = common::wait_for("some messages to move", Duration::from_secs(60), || {
        let c = futures::executor::block_on(count(&js, &work));
        (c >= 200).then_some(c)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(moved < n, "the kill came too late to test anything");

    let mut seen = HashSet::new();
    for (_, _, _, body) in messages(&js, &work).await.into_iter().chain(messages(&js, &dlq_name).await) {
        seen.insert(String::from_utf8(body).unwrap());
    }
    for i in 0..n {
        assert!(seen.contains(&format!("msg-{i}")), "msg-{i} was lost");
    }
    let total = count(&js, &work).await + count(&js, &dlq_name).await;
    assert!(total >= n as u64);
    delete(&js, &[&work, &dlq_name]).await;
}
