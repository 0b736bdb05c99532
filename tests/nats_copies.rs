//! What NATS JetStream has of its own: the stream-of-copies and republish
//! patterns, multi-value headers and `Nats-Msg-Id`, subjects no stream
//! captures, credentials and JetStream errors of a server of the test's own,
//! retry-all removing a taken front with one purge (or one by one where the
//! purge is refused) and reading a whole stream through a consumer that it
//! deletes after. What every broker
//! shares is in tests/conformance/.

mod common;
#[path = "nats/support.rs"]
mod support;

use async_nats::jetstream::stream;
use common::{dlq, nats_url, run, run_with_stdin};
use support::*;

/// A work stream and a DLQ stream of copies carrying `dlq-original-subject`.
async fn setup(js: &async_nats::jetstream::Context) -> (String, String, String) {
    let (work, subject) = names("WORK");
    let dlq_name = format!("{work}-DLQ");
    stream(js, &work, vec![format!("{subject}.>")], true).await;
    stream(js, &dlq_name, vec![format!("dlq.{subject}")], true).await;
    (work, dlq_name, subject)
}

/// Checks that retry-all exited 0 having moved all `n` messages ("order 0"
/// to "order n-1"): the DLQ stream is empty and the work stream holds them in
/// order, which it returns.
async fn moved_in_order(
    js: &async_nats::jetstream::Context,
    r: &common::Run,
    dlq_name: &str,
    work: &str,
    n: usize,
) -> Vec<(u64, String, async_nats::HeaderMap, Vec<u8>)> {
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], n, "{r:?}");
    assert_eq!(count(js, dlq_name).await, 0);
    let back = messages(js, work).await;
    assert_eq!(back.len(), n);
    for (i, (_, _, _, body)) in back.iter().enumerate() {
        assert_eq!(body, format!("order {i}").as_bytes());
    }
    back
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_list_and_retry() {
    let js = js().await;
    let (work, dlq_name, subject) = setup(&js).await;
    let url = nats_url();
    let to_dlq = format!("dlq.{subject}");
    for i in 0..5 {
        let mut h = headers(&[
            ("dlq-original-subject", &format!("{subject}.orders")),
            ("tenant", if i % 2 == 0 { "acme" } else { "other" }),
            ("Nats-Msg-Id", &format!("order-{i}")),
        ]);
        h.append("tag", "a");
        h.append("tag", "b");
        publish(&js, &to_dlq, h, format!("order {i}").as_bytes()).await;
    }
    publish(&js, &to_dlq, headers(&[]), b"no origin").await;

    let r = run(dlq(&url).args(["list", &dlq_name, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let rows = r.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["id"], "1");
    assert_eq!(rows[0]["body"], "order 0");
    assert_eq!(rows[0]["headers"]["tag"], serde_json::json!(["a", "b"]));
    assert_eq!(rows[0]["dead_letter"]["source"], work.as_str());
    assert_eq!(rows[0]["broker"]["subject"], to_dlq.as_str());
    assert_eq!(rows[0]["broker"]["sequence"], 1);
    assert!(rows[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(rows[5]["dead_letter"]["source"].is_null());
    // The plan sends each copy to the subject it names; the one without an
    // origin would stay and be a failure: exit 3, as the run.
    let r = run(dlq(&url).args(["retry-all", &dlq_name, "--dry-run", "-o", "json"]));
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.json()["plan"][0]["to"], format!("{subject}.orders"));
    assert_eq!(r.json()["plan"][5]["action"], "fail", "{r:?}");
    assert_eq!(r.json()["failures"][0]["id"], "6", "{r:?}");

    // retry one: same subject, body and headers; the ID is gone from the DLQ.
    let r = run(dlq(&url).args(["retry", &dlq_name, "1", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], 1);
    let back = messages(&js, &work).await;
    assert_eq!(back.len(), 1);
    let (_, subj, h, body) = &back[0];
    assert_eq!(subj, &format!("{subject}.orders"));
    assert_eq!(body, b"order 0");
    assert_eq!(h.get("tenant").unwrap().as_str(), "acme");
    let tags: Vec<&str> = h.get_all("tag").map(|v| v.as_str()).collect();
    assert_eq!(tags, ["a", "b"]);
    assert_eq!(h.get("dlq-redrive-count").unwrap().as_str(), "1");
    assert_eq!(h.get("dlq-original-msg-id").unwrap().as_str(), "order-0");
    assert_eq!(count(&js, &dlq_name).await, 5);

    // --to a subject no stream captures: refused before anything moves.
    let r = run(dlq(&url).args([
        "retry",
        &dlq_name,
        "6",
        "--to",
        "nowhere.at.all",
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr
            .contains("no stream captures subject nowhere.at.all"),
        "{r:?}"
    );
    // --to a captured subject works.
    let r = run(dlq(&url).args([
        "retry",
        &dlq_name,
        "6",
        "--to",
        &format!("{subject}.manual"),
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(count(&js, &work).await, 2);
    assert_eq!(count(&js, &dlq_name).await, 4);
    delete(&js, &[&work, &dlq_name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republish_copies_go_back_to_their_subject() {
    let js = js().await;
    let (work, subject) = names("REPUB");
    let copies = format!("{work}-DEAD");
    js.create_stream(stream::Config {
        name: work.clone(),
        subjects: vec![format!("{subject}.in.>")],
        republish: Some(stream::Republish {
            source: format!("{subject}.in.>"),
            destination: format!("{subject}.dead.>"),
            headers_only: false,
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    stream(&js, &copies, vec![format!("{subject}.dead.>")], false).await;
    publish(
        &js,
        &format!("{subject}.in.a"),
        headers(&[("k", "v")]),
        b"republished",
    )
    .await;
    wait_until(
        "the republished copy",
        std::time::Duration::from_secs(10),
        || async { (count(&js, &copies).await == 1).then_some(()) },
    )
    .await;
    let url = nats_url();
    let r = run(dlq(&url).args(["list", &copies, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let row = &r.json()[0];
    assert_eq!(row["headers"]["Nats-Subject"], format!("{subject}.in.a"));
    assert_eq!(row["dead_letter"]["source"], work.as_str());
    let r = run(dlq(&url).args(["queues", "-o", "json"]));
    let q = r.json();
    let q = q
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == copies.as_str())
        .unwrap()
        .clone();
    assert_eq!(q["is_dlq"], true);
    assert_eq!(q["sources"], serde_json::json!([work]));
    let r = run(dlq(&url).args(["retry-all", &copies, "--yes", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let back = messages(&js, &work).await;
    assert_eq!(back.len(), 2);
    assert_eq!(back[1].1, format!("{subject}.in.a"));
    assert_eq!(back[1].3, b"republished");
    assert_eq!(back[1].2.get("k").unwrap().as_str(), "v");
    delete(&js, &[&work, &copies]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_multi_value_headers_and_core_subjects() {
    let js = js().await;
    let (name, subject) = names("PUB");
    stream(&js, &name, vec![format!("{subject}.>")], false).await;
    let url = nats_url();
    let target = format!("{subject}.in");

    let env = serde_json::json!({"body": null, "body_base64": "AP8=", "headers": {"h": "x", "m": ["1", "2"]}});
    let r = run_with_stdin(
        dlq(&url).args(["publish", &target, "--format", "ndjson"]),
        format!("{env}\nnot json\n").as_bytes(),
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("line 2"), "{r:?}");
    let all = messages(&js, &name).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].3, [0, 255]);
    assert_eq!(all[0].2.get("h").unwrap().as_str(), "x");
    let m: Vec<&str> = all[0].2.get_all("m").map(|v| v.as_str()).collect();
    assert_eq!(m, ["1", "2"]);

    // No stream captures the subject: core publish with a note.
    let r = run(dlq(&url).args(["publish", "nobody.listens.here", "--body", "x"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("nothing stored"), "{r:?}");

    delete(&js, &[&name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_stream_and_hide_the_token() {
    let url = nats_url();
    // A token in the URL never shows, not even with -v.
    let with_token = url.replacen("nats://", "nats://tok3n-s3cret@", 1);
    let r = run(dlq(&with_token).args(["-v", "queues"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains("tok3n-s3cret"), "{r:?}");
    let r = run(dlq(&url).args(["list", "NO-SUCH-STREAM-XYZ"]));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr.contains("stream 'NO-SUCH-STREAM-XYZ' not found"),
        "{r:?}"
    );
    // A blackholed address: the timeout bounds the wait.
    let start = std::time::Instant::now();
    let r = run(dlq("nats://10.255.255.1:4222").args(["--timeout", "2s", "queues"]));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{r:?}"
    );
}

/// A private nats-server without JetStream and with a password.
struct Private(std::process::Child, u16);

impl Private {
    fn start(config: &std::path::Path) -> Option<Private> {
        let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = std::process::Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-c"])
            .arg(config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        common::wait_for(
            "the private nats-server",
            std::time::Duration::from_secs(10),
            || std::net::TcpStream::connect(("127.0.0.1", port)).ok(),
        );
        Some(Private(child, port))
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn credentials_and_jetstream_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nats.conf");
    std::fs::write(
        &config,
        r#"authorization { users = [
            { user: ops, password: s3cretpw }
            { user: ro, password: ropass, permissions: { publish: { deny: ["$JS.API.>"] } } }
        ] }"#,
    )
    .unwrap();
    let server = Private::start(&config)
        .expect("nats-server on the PATH or in /usr/sbin (scripts/brokers/nats.sh installs it)");
    let port = server.1;
    let r = run(dlq(&format!("nats://ops:wrongpw@127.0.0.1:{port}")).args([
        "--timeout",
        "5s",
        "queues",
    ]));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(!r.stderr.contains("wrongpw"), "{r:?}");
    assert!(r.stderr.contains("authorization"), "{r:?}");
    let r = run(dlq(&format!("nats://ops:s3cretpw@127.0.0.1:{port}")).args([
        "--timeout",
        "5s",
        "queues",
    ]));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("JetStream is not enabled"), "{r:?}");
    assert!(!r.stderr.contains("s3cretpw"), "{r:?}");
    let r =
        run(dlq(&format!("nats://ro:ropass@127.0.0.1:{port}")).args(["--timeout", "5s", "queues"]));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("permission violation"), "{r:?}");
}

/// A server that refuses the purge (the user may not purge the DLQ stream):
/// retry-all deletes each moved message on its own instead, those acked
/// while the refused purge was in flight too, and nothing is lost or left
/// behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_all_deletes_one_by_one_when_the_purge_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nats.conf");
    let store = dir.path().join("js");
    std::fs::write(
        &config,
        format!(
            r#"jetstream {{ store_dir: "{}" }}
            authorization {{ users = [
                {{ user: ops, password: opspw, permissions: {{ publish: {{ deny: ["$JS.API.STREAM.PURGE.>"] }} }} }}
            ] }}"#,
            store.display()
        ),
    )
    .unwrap();
    let server = Private::start(&config)
        .expect("nats-server on the PATH or in /usr/sbin (scripts/brokers/nats.sh installs it)");
    let url = format!("nats://ops:opspw@127.0.0.1:{}", server.1);
    let client = async_nats::ConnectOptions::with_user_and_password("ops".into(), "opspw".into())
        .connect(format!("127.0.0.1:{}", server.1))
        .await
        .unwrap();
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(std::time::Duration::from_secs(2))
        .build(client);
    let (work, dlq_name, subject) = setup(&js).await;
    // Over 4,096, so that acks also come in while the first purge is refused.
    const N: usize = 5000;
    for i in 0..N {
        let h = headers(&[("dlq-original-subject", &format!("{subject}.orders"))]);
        publish(
            &js,
            &format!("dlq.{subject}"),
            h,
            format!("order {i}").as_bytes(),
        )
        .await;
    }
    // The server does refuse this user's purge, so only deletes can empty the DLQ.
    let dlq_stream = js.get_stream(&dlq_name).await.unwrap();
    assert!(dlq_stream.purge().await.is_err());
    assert_eq!(count(&js, &dlq_name).await, N as u64);
    let r = run(dlq(&url).args([
        "--timeout",
        "2s",
        "retry-all",
        &dlq_name,
        "--yes",
        "-o",
        "json",
    ]));
    moved_in_order(&js, &r, &dlq_name, &work, N).await;
}

/// retry-all removes a taken front with one purge: what a filter leaves, a
/// message that fails, and everything after them must stay exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_all_keeps_left_and_failed_messages() {
    let js = js().await;
    let (work, dlq_name, subject) = setup(&js).await;
    let url = nats_url();
    let to_dlq = format!("dlq.{subject}");
    let origin = format!("{subject}.orders");
    for i in 0..10 {
        let h = if i == 6 {
            headers(&[])
        } else {
            headers(&[("dlq-original-subject", &origin)])
        };
        let kind = if i == 3 || i == 8 { "keep" } else { "go" };
        publish(&js, &to_dlq, h, format!("{kind} {i}").as_bytes()).await;
    }
    // 3 and 8 are left by the filter, 6 has no origin and fails.
    let r = run(dlq(&url).args([
        "retry-all",
        &dlq_name,
        "--grep",
        "go ",
        "--yes",
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.json()["moved"], 7);
    assert_eq!(r.json()["failed"], 1);
    let left: Vec<String> = messages(&js, &dlq_name)
        .await
        .into_iter()
        .map(|m| String::from_utf8(m.3).unwrap())
        .collect();
    assert_eq!(left, vec!["keep 3", "go 6", "keep 8"]);
    let back: Vec<String> = messages(&js, &work)
        .await
        .into_iter()
        .map(|m| String::from_utf8(m.3).unwrap())
        .collect();
    assert_eq!(
        back,
        vec!["go 0", "go 1", "go 2", "go 4", "go 5", "go 7", "go 9"]
    );

    // --limit 1 moves one: the rest stays.
    let r = run(dlq(&url).args([
        "retry-all",
        &dlq_name,
        "--limit",
        "1",
        "--to",
        &origin,
        "--yes",
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], 1);
    assert_eq!(count(&js, &dlq_name).await, 2);
    delete(&js, &[&work, &dlq_name]).await;
}

/// Streams made and deleted while `lag --watch` reads them (other teams'
/// DLQs, other tests) are left out of a refresh, never the end of the watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_watch_outlives_streams_deleted_under_it() {
    use std::io::Read;
    use std::process::Stdio;
    let js = js().await;
    let (work, subject) = names("LAGWORK");
    stream(&js, &work, vec![subject.clone()], true).await;
    publish(&js, &subject, headers(&[]), b"waiting").await;
    js.get_stream(&work)
        .await
        .unwrap()
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("worker".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (js, stop) = (js.clone(), stop.clone());
        tokio::spawn(async move {
            let mut cycles = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let (churn, churn_subject) = names("CHURN-DLQ");
                stream(&js, &churn, vec![churn_subject.clone()], false).await;
                publish(&js, &churn_subject, headers(&[]), b"x").await;
                let _ = js.delete_stream(&churn).await;
                cycles += 1;
            }
            cycles
        })
    };
    let mut child = dlq(&nats_url())
        .args(["lag", &work, "--watch", "50ms", "-o", "ndjson"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    // The pipe is handed back and kept open: dropped, it would end the
    // watch by itself (a closed pipe ends dlq quietly).
    let (reports, _out) = tokio::task::spawn_blocking(move || {
        // One row a refresh; 40 refreshes are many chances to meet a deletion.
        let (mut seen, mut buf) = (0, [0u8; 4096]);
        while seen < 40 {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen += buf[..n].iter().filter(|b| **b == b'\n').count(),
            }
        }
        (seen, out)
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let cycles = churn.await.unwrap();
    let ended = child.try_wait().unwrap();
    let _ = child.kill();
    let err = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned();
    delete(&js, &[&work]).await;
    assert!(
        ended.is_none() && reports >= 40,
        "lag --watch ended after {reports} reports ({cycles} streams deleted): {err}"
    );
}

/// A whole limits-retention stream is re-driven through a consumer (more
/// than one of its pulls of 1,024 here): every copy arrives in order
/// with its multi-value headers, the DLQ ends empty, and the consumer is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_all_through_a_consumer_keeps_order_and_leaves_no_consumer() {
    let js = js().await;
    let (work, dlq_name, subject) = setup(&js).await;
    let to_dlq = format!("dlq.{subject}");
    const N: usize = 1200;
    for i in 0..N {
        let mut h = headers(&[("dlq-original-subject", &format!("{subject}.orders"))]);
        h.append("tag", "a");
        h.append("tag", "b");
        publish(&js, &to_dlq, h, format!("order {i}").as_bytes()).await;
    }
    let r = run(dlq(&nats_url()).args(["retry-all", &dlq_name, "--yes", "-o", "json"]));
    let back = moved_in_order(&js, &r, &dlq_name, &work, N).await;
    for (i, (_, _, h, _)) in back.iter().enumerate() {
        let tags: Vec<&str> = h.get_all("tag").map(|v| v.as_str()).collect();
        assert_eq!(tags, ["a", "b"], "message {i}");
    }
    let mut s = js.get_stream(&dlq_name).await.unwrap();
    assert_eq!(s.info().await.unwrap().state.consumer_count, 0);
    delete(&js, &[&work, &dlq_name]).await;
}

/// The consumers created and deleted on `stream`, as the server announces
/// them: (created, deleted). A consumer of the test's own, made last, marks
/// the end: the server sends its advisories in order, so once the marker's
/// creation is seen, every earlier one has been.
async fn consumer_events(
    js: &async_nats::jetstream::Context,
    events: &mut async_nats::Subscriber,
    stream: &str,
) -> (usize, usize) {
    use futures::StreamExt;
    let s = js.get_stream(stream).await.unwrap();
    s.create_consumer(async_nats::jetstream::consumer::pull::Config {
        name: Some("marker".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let (mut created, mut deleted) = (0, 0);
    loop {
        let m = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await
            .expect("the marker consumer's advisory")
            .unwrap();
        let created_now = m.subject.contains(".CONSUMER.CREATED.");
        if m.subject.ends_with(".marker") {
            if created_now {
                s.delete_consumer("marker").await.unwrap();
                return (created, deleted);
            }
            continue;
        }
        if created_now {
            created += 1;
        } else if m.subject.contains(".CONSUMER.DELETED.") {
            deleted += 1;
        }
    }
}

/// The first messages of a re-drive are read by gets while its consumer is
/// created after them: a stream longer than any head (1,024 messages at
/// most) is read through exactly one consumer, deleted at the end, with
/// gaps on both sides of where gets hand over kept in order; a stream
/// shorter than the smallest head (64) is read without a consumer at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_all_reads_its_head_by_gets_beside_the_consumer_it_creates() {
    let js = js().await;
    let (work, dlq_name, subject) = setup(&js).await;
    let to_dlq = format!("dlq.{subject}");
    let events_client = async_nats::connect(nats_url().trim_start_matches("nats://"))
        .await
        .unwrap();
    let mut events = events_client
        .subscribe(format!("$JS.EVENT.ADVISORY.CONSUMER.*.{dlq_name}.*"))
        .await
        .unwrap();
    events_client.flush().await.unwrap();

    const N: usize = 1500;
    for i in 0..N {
        let h = headers(&[("dlq-original-subject", &format!("{subject}.orders"))]);
        publish(&js, &to_dlq, h, format!("body {i}").as_bytes()).await;
    }
    // Gaps: one in the smallest head, one across its end, one in the consumer's part.
    let gone: Vec<u64> = (5..=6).chain(40..=90).chain(700..=701).collect();
    let s = js.get_stream(&dlq_name).await.unwrap();
    for seq in &gone {
        s.delete_message(*seq).await.unwrap();
    }
    let kept: Vec<String> = (1..=N as u64)
        .filter(|seq| !gone.contains(seq))
        .map(|seq| format!("body {}", seq - 1))
        .collect();
    let r = run(dlq(&nats_url()).args(["retry-all", &dlq_name, "--yes", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], kept.len(), "{r:?}");
    assert_eq!(count(&js, &dlq_name).await, 0);
    let back: Vec<String> = messages(&js, &work)
        .await
        .into_iter()
        .map(|(_, _, _, body)| String::from_utf8(body).unwrap())
        .collect();
    assert_eq!(back, kept);
    assert_eq!(consumer_events(&js, &mut events, &dlq_name).await, (1, 1));

    for i in 0..20 {
        let h = headers(&[("dlq-original-subject", &format!("{subject}.orders"))]);
        publish(&js, &to_dlq, h, format!("small {i}").as_bytes()).await;
    }
    let r = run(dlq(&nats_url()).args(["retry-all", &dlq_name, "--yes", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], 20, "{r:?}");
    assert_eq!(count(&js, &dlq_name).await, 0);
    assert_eq!(count(&js, &work).await, (kept.len() + 20) as u64);
    assert_eq!(consumer_events(&js, &mut events, &dlq_name).await, (0, 0));
    delete(&js, &[&work, &dlq_name]).await;
}

/// A consumer made to deliver only new messages: `lag` ages its oldest
/// pending message, the one it will deliver next, not the older messages
/// before its start it never delivers (that age would breach `--max-age`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_ages_the_next_message_a_new_only_consumer_delivers() {
    use async_nats::jetstream::consumer::{pull, DeliverPolicy};
    let js = js().await;
    let (work, subject) = names("LAGNEW");
    stream(&js, &work, vec![subject.clone()], true).await;
    publish(&js, &subject, headers(&[]), b"before the consumer").await;
    js.get_stream(&work)
        .await
        .unwrap()
        .create_consumer(pull::Config {
            durable_name: Some("fromnew".into()),
            deliver_policy: DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .unwrap();
    // The message before the consumer must be older than --max-age below.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    publish(&js, &subject, headers(&[]), b"for the consumer").await;
    let r = run(dlq(&nats_url()).args([
        "lag",
        &format!("{work}/fromnew"),
        "--max-age",
        "2s",
        "-o",
        "json",
    ]));
    delete(&js, &[&work]).await;
    assert_eq!(r.code, 0, "{r:?}");
    let row = &r.json()["rows"][0];
    assert_eq!(row["lag"], 1, "{r:?}");
    assert!(row["oldest_age_seconds"].as_u64().unwrap() < 2, "{r:?}");
}

/// Sequences start at 1: `0` is an ID that names no message, said as such
/// beside the other IDs not found, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_0_names_no_message() {
    let js = js().await;
    let (work, dlq_name, subject) = setup(&js).await;
    let h = headers(&[("dlq-original-subject", &format!("{subject}.orders"))]);
    publish(&js, &format!("dlq.{subject}"), h, b"order 0").await;
    let url = nats_url();
    let peek = run(dlq(&url).args(["peek", &dlq_name, "0", "abc"]));
    let retry = run(dlq(&url).args(["retry", &dlq_name, "0", "1"]));
    let left = count(&js, &dlq_name).await;
    let moved = count(&js, &work).await;
    delete(&js, &[&work, &dlq_name]).await;
    assert_eq!(peek.code, 4, "{peek:?}");
    assert!(
        peek.stderr.contains("no message with ID 0, abc"),
        "{peek:?}"
    );
    assert_eq!(retry.code, 4, "{retry:?}");
    assert!(retry.stderr.contains("no message with ID 0 "), "{retry:?}");
    assert_eq!((left, moved), (1, 0));
}
