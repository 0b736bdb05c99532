//! The advisory pattern on a real NATS server: a DLQ stream captures the
//! MAX_DELIVERIES and MSG_TERMINATED advisories a consumer raised, and dlq
//! shows, re-drives and purges the original messages they point at.

mod common;
#[path = "nats/support.rs"]
mod support;

use common::{dlq, nats_url, run};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisories_list_peek_retry_purge() {
    let js = js().await;
    let h1 = headers(&[("tenant", "acme"), ("trace", "t-1")]);
    let (src, dlq_name, subject) = advisories(
        &js,
        &[
            (b"first failure", h1.clone()),
            (b"second failure", headers(&[])),
        ],
        &[(b"poison", headers(&[("kind", "bad")]))],
    )
    .await;
    let url = nats_url();

    // list: the originals, with reason, source and attempts.
    let r = run(dlq(&url).args(["list", &dlq_name, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let rows = r.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let by_body = |b: &str| {
        rows.iter()
            .find(|m| m["body"] == b)
            .unwrap_or_else(|| panic!("{b} in {rows:?}"))
            .clone()
    };
    let first = by_body("first failure");
    assert_eq!(first["dead_letter"]["reason"], "max_deliveries");
    assert_eq!(first["dead_letter"]["source"], src.as_str());
    assert_eq!(first["dead_letter"]["attempts"], 2);
    assert_eq!(first["headers"]["tenant"], "acme");
    assert_eq!(first["broker"]["subject"], format!("{subject}.fail"));
    assert_eq!(first["broker"]["pattern"], "advisory");
    assert_eq!(first["broker"]["original_missing"], false);
    assert_eq!(first["broker"]["advisory"]["consumer"], "worker");
    let poison = by_body("poison");
    assert!(
        poison["dead_letter"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("terminated"),
        "{poison}"
    );

    // peek by ID shows the same message.
    let id = first["id"].as_str().unwrap().to_string();
    let r = run(dlq(&url).args(["peek", &dlq_name, &id, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()[0]["body"], "first failure");
    let r = run(dlq(&url).args(["peek", &dlq_name, "not-a-number"]));
    assert_eq!(r.code, 4, "{r:?}");

    // retry one: it is published again to the original subject with its
    // headers, and its advisory leaves the DLQ; the original stays.
    let before = count(&js, &src).await;
    let r = run(dlq(&url).args(["retry", &dlq_name, &id, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], 1);
    assert_eq!(count(&js, &dlq_name).await, 2);
    assert_eq!(count(&js, &src).await, before + 1);
    let all = messages(&js, &src).await;
    let (_, subj, hdrs, body) = all.last().unwrap();
    assert_eq!(body, b"first failure");
    assert_eq!(subj, &format!("{subject}.fail"));
    assert_eq!(hdrs.get("tenant").unwrap().as_str(), "acme");
    assert_eq!(hdrs.get("trace").unwrap().as_str(), "t-1");
    assert_eq!(hdrs.get("dlq-redrive-count").unwrap().as_str(), "1");

    // purge with a filter: only the terminated one goes.
    let r = run(dlq(&url).args([
        "purge",
        &dlq_name,
        "--reason",
        "terminated",
        "--yes",
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["purged"], 1);
    assert_eq!(count(&js, &dlq_name).await, 1);

    // retry-all moves the rest.
    let r = run(dlq(&url).args(["retry-all", &dlq_name, "--yes", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], 1);
    assert_eq!(count(&js, &dlq_name).await, 0);
    let last = messages(&js, &src).await.pop().unwrap();
    assert_eq!(last.3, b"second failure");

    delete(&js, &[&src, &dlq_name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_original_is_reported_not_fatal() {
    let js = js().await;
    let (src, dlq_name, _) = advisories(
        &js,
        &[(b"will vanish", headers(&[])), (b"also gone", headers(&[]))],
        &[],
    )
    .await;
    js.get_stream(&src).await.unwrap().purge().await.unwrap();
    let url = nats_url();

    let r = run(dlq(&url).args(["list", &dlq_name, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let rows = r.json();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["broker"]["original_missing"], true);
    assert_eq!(rows[0]["dead_letter"]["reason"], "max_deliveries");
    assert_eq!(rows[0]["size"], 0);
    let r = run(dlq(&url).args(["list", &dlq_name]));
    assert_eq!(r.code, 0, "{r:?}");

    // retry fails for each and leaves them; a full purge clears them.
    let r = run(dlq(&url).args(["retry-all", &dlq_name, "--yes", "-o", "json"]));
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.json()["failed"], 2);
    assert!(
        r.json()["failures"][0]["error"]
            .as_str()
            .unwrap()
            .contains("gone"),
        "{r:?}"
    );
    assert_eq!(count(&js, &dlq_name).await, 2);
    let r = run(dlq(&url).args(["purge", &dlq_name, "--yes", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["purged"], 2);
    assert_eq!(count(&js, &dlq_name).await, 0);

    delete(&js, &[&src, &dlq_name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_and_lag_link_the_dlq() {
    let js = js().await;
    let (src, dlq_name, subject) = advisories(&js, &[(b"x", headers(&[]))], &[]).await;
    let url = nats_url();
    let r = run(dlq(&url).args(["queues", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let all = r.json();
    let find = |n: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == n)
            .unwrap()
            .clone()
    };
    let d = find(&dlq_name);
    assert_eq!(d["is_dlq"], true);
    assert_eq!(d["sources"], serde_json::json!([src]));
    assert_eq!(d["pattern"], "advisories");
    assert_eq!(find(&src)["dead_letter_queue"], dlq_name.as_str());

    // A consumer with pending messages: lag, oldest age, DLQ depth, thresholds.
    let s = js.get_stream(&src).await.unwrap();
    s.create_consumer(async_nats::jetstream::consumer::pull::Config {
        durable_name: Some("slow".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    for i in 0..3 {
        publish(
            &js,
            &format!("{subject}.new"),
            headers(&[]),
            format!("m{i}").as_bytes(),
        )
        .await;
    }
    let name = format!("{src}/slow");
    let r = run(dlq(&url).args(["lag", &name, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let row = &r.json()["rows"][0];
    assert_eq!(row["name"], name.as_str());
    assert_eq!(row["lag"], 4);
    assert!(row["oldest_age_seconds"].is_u64(), "{row}");
    assert_eq!(row["dlq_depth"], 0);
    let r = run(dlq(&url).args(["lag", &src, "--max-lag", "2", "-o", "json"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("over --max-lag 2"), "{r:?}");
    let r = run(dlq(&url).args(["lag", &src, "--max-lag", "100"]));
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(dlq(&url).args(["lag", &format!("{src}/nope")]));
    assert_eq!(r.code, 4, "{r:?}");
    let r = run(dlq(&url).args(["lag", "NO-SUCH-STREAM-XYZ"]));
    assert_eq!(r.code, 4, "{r:?}");

    delete(&js, &[&src, &dlq_name]).await;
}
