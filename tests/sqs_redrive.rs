//! `retry` and `retry-all` where SQS has its own: typed message attributes,
//! FIFO groups, its limit of 10 attributes, a target deleted midway, and
//! StartMessageMoveTask. What every broker shares is in tests/conformance/.

mod common;
mod sqs_support;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use common::{run, wait_for};
use sqs_support::{attrs_of, group_of, Moto};

#[test]
fn retry_one_and_retry_all_keep_bodies_and_attributes() {
    let m = Moto::new();
    let (src_name, src, dlq_name, dlq) = m.pair("sqs-retry", false);
    let mut sent = HashMap::new();
    for i in 0..4 {
        let body = format!("{{\"order\":{i},\"note\":\"ünï 🎉\"}}");
        let n = i.to_string();
        let id = m.send(
            &src,
            &body,
            &[
                ("tenant", "String", b"acme"),
                ("amount", "Number", n.as_bytes()),
                ("sig", "Binary", &[0, 255, 1, 128]),
            ],
            None,
        );
        sent.insert(id, body);
    }
    m.dead_letter(&src, &dlq, 4);

    // A dry run names the source queue, found through its RedrivePolicy.
    let r = run(m
        .dlq()
        .args(["retry-all", &dlq_name, "--dry-run", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["plan"][0]["to"], src_name.as_str());
    wait_for("DLQ visible again", Duration::from_secs(10), || {
        (m.counts(&dlq) == (4, 0)).then_some(())
    });

    let listed = run(m.dlq().args(["list", &dlq_name, "-o", "json"])).json();
    let first = listed[0]["id"].as_str().unwrap().to_owned();
    let r = run(m.dlq().args(["retry", &dlq_name, &first, "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], 1);
    let r = run(m
        .dlq()
        .args(["retry-all", &dlq_name, "--yes", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], 3);
    assert_eq!(m.counts(&dlq), (0, 0));

    // The source queue now has VisibilityTimeout 0 and a RedrivePolicy: read
    // it with the test client only.
    let back = m.take_all(&src);
    assert_eq!(back.len(), 4);
    let bodies: HashSet<String> = back.iter().map(|b| b.body().unwrap().to_owned()).collect();
    assert_eq!(bodies, sent.values().cloned().collect::<HashSet<_>>());
    for b in &back {
        let a = attrs_of(b);
        assert_eq!(a["tenant"], ("String".into(), b"acme".to_vec()));
        assert_eq!(a["sig"], ("Binary".into(), vec![0, 255, 1, 128]));
        assert_eq!(a["amount"].0, "Number");
        assert_eq!(a["dlq-redrive-count"], ("String".into(), b"1".to_vec()));
        assert_eq!(a.len(), 4);
    }
    m.delete_queue(&src);
    m.delete_queue(&dlq);
}

#[test]
fn fifo_groups_and_order_survive_retry_all() {
    let m = Moto::new();
    let (_, src, dlq_name, dlq) = m.pair("sqs-fifo", true);
    // Straight into the DLQ: moto dead-letters FIFO messages out of order
    // (docs/sqs.md), and this test is about dlq keeping the DLQ's order.
    for i in 0..6 {
        for g in ["ga", "gb"] {
            m.send(&dlq, &format!("{g}-{i}"), &[], Some(g));
        }
    }
    let r = run(m
        .dlq()
        .args(["retry-all", &dlq_name, "--yes", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["moved"], 12);
    let mut per_group: HashMap<String, Vec<String>> = HashMap::new();
    // FIFO hands out one batch per group at a time: delete as we go.
    wait_for("all 12 back in the source", Duration::from_secs(60), || {
        for msg in m.take_all(&src) {
            per_group
                .entry(group_of(&msg).unwrap())
                .or_default()
                .push(msg.body().unwrap().to_owned());
            m.rt.block_on(async {
                m.c.delete_message()
                    .queue_url(&src)
                    .receipt_handle(msg.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            });
        }
        (per_group.values().map(Vec::len).sum::<usize>() >= 12).then_some(())
    });
    for g in ["ga", "gb"] {
        let want: Vec<String> = (0..6).map(|i| format!("{g}-{i}")).collect();
        assert_eq!(per_group[g], want, "order within group {g}");
    }
    m.delete_queue(&src);
    m.delete_queue(&dlq);
}

#[test]
fn per_message_failures_leave_the_message_and_exit_3() {
    let m = Moto::new();
    let dlq_name = common::unique("sqs-partial");
    let dlq = m.create(&dlq_name, &[]);
    let target_name = common::unique("sqs-partial-to");
    let target = m.create(&target_name, &[]);
    m.send(&dlq, "fine", &[], None);
    // Ten attributes already: the re-drive counter would make eleven.
    let names: Vec<String> = (0..10).map(|i| format!("h{i}")).collect();
    let full: Vec<(&str, &str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), "String", &b"v"[..]))
        .collect();
    let stuck = m.send(&dlq, "ten attributes", &full, None);
    let r = run(m.dlq().args([
        "retry-all",
        &dlq_name,
        "--to",
        &target_name,
        "--yes",
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 3, "{r:?}");
    let v = r.json();
    assert_eq!(v["moved"], 1);
    assert_eq!(v["failures"][0]["id"], stuck.as_str());
    assert!(v["failures"][0]["error"]
        .as_str()
        .unwrap()
        .contains("at most 10"));
    // The failed one is visible again on the DLQ at once.
    assert_eq!(m.counts(&dlq), (1, 0));
    assert_eq!(m.counts(&target), (1, 0));
    m.delete_queue(&dlq);
    m.delete_queue(&target);
}

#[test]
fn target_deleted_midway_loses_nothing_still_on_the_dlq() {
    let m = Moto::new();
    let dlq_name = common::unique("sqs-midway");
    let dlq = m.create(&dlq_name, &[]);
    let target_name = common::unique("sqs-midway-to");
    let target = m.create(&target_name, &[]);
    // At 10 a second, 200 leave the run 15 s after the fifth moved for
    // the queue's deletion to land in, even on a loaded host.
    for i in 0..200 {
        m.send(&dlq, &format!("m{i}"), &[], None);
    }
    let child = m
        .dlq()
        .args([
            "retry-all",
            &dlq_name,
            "--to",
            &target_name,
            "--yes",
            "--rate",
            "10",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("some moved", Duration::from_secs(30), || {
        (m.counts(&target).0 >= 5).then_some(())
    });
    m.delete_queue(&target);
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The target gone midway is the broker failing: 4, with what moved before.
    assert_eq!(
        code,
        4,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let moved = v["moved"].as_u64().unwrap();
    assert!(v["failed"].as_u64().unwrap() >= 1);
    assert!(!v["failures"].as_array().unwrap().is_empty());
    // Everything not moved is still on the DLQ (visible again at once).
    wait_for(
        "the rest visible on the DLQ",
        Duration::from_secs(20),
        || (m.counts(&dlq).0 + moved == 200).then_some(()),
    );
    m.delete_queue(&dlq);
}

#[test]
fn native_move_is_refused_clearly_where_the_endpoint_lacks_it() {
    let m = Moto::new();
    let (_, src, dlq_name, dlq) = m.pair("sqs-native", false);
    m.send(&dlq, "n", &[], None);
    let r = run(m
        .dlq()
        .args(["retry-all", &dlq_name, "--native", "--grep", "n", "--yes"]));
    assert_eq!(r.code, 2, "{r:?}");
    let r = run(m.dlq().args(["retry-all", &dlq_name, "--native", "--yes"]));
    // moto has no StartMessageMoveTask; real SQS does.
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr.contains("does not support StartMessageMoveTask"),
        "{r:?}"
    );
    assert_eq!(m.counts(&dlq), (1, 0));
    m.delete_queue(&src);
    m.delete_queue(&dlq);
}
