//! `queues`, `depth` and `lag`: read-only views from metadata, watermarks
//! and committed offsets.
//!
//! Topics named like a DLQ (`*.dlq`, `*-dlq`, `*.DLT`, `*-dlt`, `dlq.*`,
//! `*.deadletter`, plus the profile's `dlq_patterns`) are marked; a DLQ's
//! sources come from the origin header of its first record (read within a
//! short bound) and from its name when the stripped name is a topic. `lag`
//! reports per group the committed offset, end offset and lag of every
//! partition it committed, a total row that carries the thresholds, the
//! group's state and members, and the age of the first unconsumed record
//! (fetched by offset, nothing committed), and the depth after dlq's cursor
//! of the DLQ topics named after its topics (`orders` → `orders.dlq`, ...),
//! which `--max-dlq` checks. dlq's own cursor groups
//! (`dlq.*`) are left out unless named: they are not applications.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use rdkafka::consumer::Consumer;
use rdkafka::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Map, Value};

use super::browse::Plan;
use super::{cursor_group, envelope, Kafka, Reader, NAME};
use crate::broker::{LagQuery, LagRow, QueueInfo, QueueKind, ReadOptions};
use crate::exit::broker_msg;

/// Built-in DLQ name patterns.
const DLQ_PATTERNS: [&str; 6] = ["*.dlq", "*-dlq", "*.DLT", "*-dlt", "dlq.*", "*.deadletter"];

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The name a DLQ topic was derived from (`orders.dlq` → `orders`).
fn stripped(name: &str) -> Option<&str> {
    for suffix in [".dlq", "-dlq", ".DLT", "-dlt", ".deadletter"] {
        if let Some(s) = name.strip_suffix(suffix) {
            return Some(s);
        }
    }
    name.strip_prefix("dlq.")
}

fn is_dlq(name: &str, extra: &[String]) -> bool {
    DLQ_PATTERNS.iter().any(|p| glob(p, name)) || extra.iter().any(|p| glob(p, name))
}

fn topics(kafka: &Kafka, c: &Reader) -> Result<Vec<(String, Vec<i32>)>> {
    let md = c
        .fetch_metadata(None, kafka.timeout)
        .map_err(|e| kafka.fail("listing topics", &e))?;
    let mut out: Vec<(String, Vec<i32>)> = md
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__") && t.error().is_none())
        .map(|t| {
            let mut ps: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            ps.sort_unstable();
            (t.name().to_owned(), ps)
        })
        .collect();
    out.sort();
    Ok(out)
}

pub fn queues(kafka: &Kafka) -> Result<Vec<QueueInfo>> {
    let c = kafka.consumer("dlq")?;
    let mut out = Vec::new();
    let mut firsts = Vec::new();
    for (name, partitions) in topics(kafka, &c)? {
        let parts = kafka.parts(&c, &name, &partitions)?;
        let depth: i64 = parts.iter().map(|p| (p.high - p.low).max(0)).sum();
        let dlq = is_dlq(&name, &kafka.dlq_patterns);
        if dlq {
            if let Some(p) = parts.iter().find(|p| p.high > p.low) {
                firsts.push((name.clone(), p.partition, p.low));
            }
        }
        let mut extra = Map::new();
        extra.insert("partitions".into(), json!(partitions.len()));
        out.push(QueueInfo {
            name,
            kind: QueueKind::Topic,
            depth: Some(depth as u64),
            is_dlq: dlq,
            extra,
            ..Default::default()
        });
    }
    let origins = first_records(kafka, &firsts, Duration::from_secs(2).min(kafka.timeout));
    let names: Vec<String> = out.iter().map(|q| q.name.clone()).collect();
    let mut links: Vec<(String, String)> = Vec::new();
    for q in out.iter_mut().filter(|q| q.is_dlq) {
        if let Some(src) = origins
            .get(&q.name)
            .and_then(|(_, m)| m.dead_letter.source.clone())
        {
            q.sources.push(src);
        }
        if let Some(src) = stripped(&q.name) {
            if names.iter().any(|n| n == src) && !q.sources.iter().any(|s| s == src) {
                q.sources.push(src.to_owned());
            }
        }
        for s in &q.sources {
            links.push((s.clone(), q.name.clone()));
        }
    }
    for (src, dlq) in links {
        if let Some(q) = out
            .iter_mut()
            .find(|q| q.name == src && q.dead_letter_queue.is_none())
        {
            q.dead_letter_queue = Some(dlq);
        }
    }
    Ok(out)
}

/// The records at the given (topic, partition, offset)s, fetched within
/// `bound`; what does not come in time is left out.
fn first_records(
    kafka: &Kafka,
    wants: &[(String, i32, i64)],
    bound: Duration,
) -> HashMap<String, (i32, crate::broker::Message)> {
    let mut out = HashMap::new();
    if wants.is_empty() {
        return out;
    }
    let Ok(c) = kafka.consumer("dlq") else {
        return out;
    };
    let mut tpl = TopicPartitionList::new();
    for (t, p, o) in wants {
        let _ = tpl.add_partition_offset(t, *p, Offset::Offset(*o));
    }
    if c.assign(&tpl).is_err() {
        return out;
    }
    let deadline = Instant::now() + bound;
    let mut missing = wants.len();
    while missing > 0 && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            let key = format!("{}\u{0}{}", m.topic(), m.partition());
            if !out.contains_key(&key)
                && wants
                    .iter()
                    .any(|(t, p, o)| t == m.topic() && *p == m.partition() && *o <= m.offset())
            {
                out.insert(key, (m.partition(), envelope::to_message(&m)));
                missing -= 1;
                let mut done = TopicPartitionList::new();
                done.add_partition(m.topic(), m.partition());
                let _ = c.incremental_unassign(&done);
            }
        }
    }
    // Keyed by topic for queues, by topic and partition for lag.
    let mut by_topic = HashMap::new();
    for (k, v) in out {
        by_topic.insert(
            k.split('\u{0}').next().unwrap_or_default().to_owned(),
            v.clone(),
        );
        by_topic.insert(k, v);
    }
    by_topic
}

pub fn depth(kafka: &Kafka, topic: &str, opts: &ReadOptions) -> Result<u64> {
    let c = kafka.consumer(&cursor_group(topic, opts))?;
    let partitions = kafka.partitions(&c, topic)?;
    let parts = kafka.parts(&c, topic, &partitions)?;
    let cursors = if opts.all {
        HashMap::new()
    } else {
        kafka.cursors(&c, topic, &partitions)?
    };
    let mut plain = opts.clone();
    plain.ids.clear();
    Ok(Plan::new(topic, &parts, &cursors, &plain, kafka.timeout).count())
}

pub fn lag(kafka: &Kafka, q: &LagQuery) -> Result<Vec<LagRow>> {
    let c = kafka.consumer("dlq")?;
    let all_topics = topics(kafka, &c)?;
    let mut dlqs_of: HashMap<String, Vec<String>> = HashMap::new();
    for (name, _) in &all_topics {
        if is_dlq(name, &kafka.dlq_patterns) {
            if let Some(src) = stripped(name) {
                dlqs_of
                    .entry(src.to_owned())
                    .or_default()
                    .push(name.clone());
            }
        }
    }
    let mut dlq_depths: HashMap<String, u64> = HashMap::new();
    let topics: Vec<(String, Vec<i32>)> = match &q.topic {
        Some(t) => {
            let ps = kafka.partitions(&c, t)?;
            vec![(t.clone(), ps)]
        }
        None => all_topics,
    };
    let listed = c
        .fetch_group_list(None, kafka.timeout)
        .map_err(|e| kafka.fail("listing consumer groups", &e))?;
    let info: BTreeMap<String, (String, usize)> = listed
        .groups()
        .iter()
        .map(|g| {
            (
                g.name().to_owned(),
                (g.state().to_owned(), g.members().len()),
            )
        })
        .collect();
    let named = !q.names.is_empty();
    let groups: Vec<String> = if named {
        q.names.clone()
    } else {
        info.keys()
            .filter(|g| !g.starts_with("dlq."))
            .cloned()
            .collect()
    };
    let mut tpl = TopicPartitionList::new();
    for (t, ps) in &topics {
        for p in ps {
            tpl.add_partition(t, *p);
        }
    }
    let mut ends: HashMap<(String, i32), (i64, i64)> = HashMap::new();
    let mut rows = Vec::new();
    for group in groups {
        let gc = kafka.consumer(&group)?;
        let committed = if tpl.count() == 0 {
            TopicPartitionList::new()
        } else {
            gc.committed_offsets(tpl.clone(), kafka.timeout)
                .map_err(|e| kafka.fail(format!("reading offsets of group {group}"), &e))?
        };
        let mut parts = Vec::new();
        for el in committed.elements() {
            if let Offset::Offset(o) = el.offset() {
                let key = (el.topic().to_owned(), el.partition());
                let (low, high) = match ends.get(&key) {
                    Some(v) => *v,
                    None => {
                        let v = c
                            .fetch_watermarks(el.topic(), el.partition(), kafka.timeout)
                            .map_err(|e| {
                                kafka.fail(
                                    format!("reading offsets of {}/{}", el.topic(), el.partition()),
                                    &e,
                                )
                            })?;
                        ends.insert(key.clone(), v);
                        v
                    }
                };
                parts.push((key.0, key.1, o, low, high));
            }
        }
        let known = info.get(&group);
        if parts.is_empty() && known.is_none() {
            if named {
                return Err(broker_msg(format!(
                    "{NAME}: consumer group {group} not found"
                )));
            }
            continue;
        }
        let wants: Vec<(String, i32, i64)> = parts
            .iter()
            .filter(|(_, _, o, low, high)| *o.max(low) < *high)
            .map(|(t, p, o, low, _)| (t.clone(), *p, *o.max(low)))
            .collect();
        let now = SystemTime::now();
        let firsts = first_records(kafka, &wants, Duration::from_secs(3).min(kafka.timeout));
        let age_of = |t: &str, p: i32| {
            firsts
                .get(&format!("{t}\u{0}{p}"))
                .and_then(|(_, m)| m.age(now))
        };
        let total: u64 = parts
            .iter()
            .map(|(_, _, o, _, high)| (high - o).max(0) as u64)
            .sum();
        let oldest = parts.iter().filter_map(|(t, p, ..)| age_of(t, *p)).max();
        let (state, members) = known.cloned().unwrap_or_else(|| ("Unknown".into(), 0));
        let mut dlq_depth: Option<u64> = None;
        let mut consumed: Vec<&String> = parts.iter().map(|(t, ..)| t).collect();
        consumed.dedup();
        for t in consumed {
            for d in dlqs_of.get(t).into_iter().flatten() {
                let n = match dlq_depths.get(d) {
                    Some(n) => *n,
                    None => {
                        let n = depth(kafka, d, &ReadOptions::default())?;
                        dlq_depths.insert(d.clone(), n);
                        n
                    }
                };
                *dlq_depth.get_or_insert(0) += n;
            }
        }
        let mut extra = Map::new();
        extra.insert("topic".into(), Value::Null);
        extra.insert("partition".into(), Value::Null);
        extra.insert("current_offset".into(), Value::Null);
        extra.insert("log_end_offset".into(), Value::Null);
        extra.insert("state".into(), json!(state));
        extra.insert("members".into(), json!(members));
        rows.push(LagRow {
            name: group.clone(),
            lag: Some(total),
            oldest_age: oldest,
            dlq_depth,
            checked: true,
            extra,
        });
        for (t, p, o, _, high) in parts {
            let mut extra = Map::new();
            extra.insert("topic".into(), json!(t));
            extra.insert("partition".into(), json!(p));
            extra.insert("current_offset".into(), json!(o));
            extra.insert("log_end_offset".into(), json!(high));
            extra.insert("state".into(), Value::Null);
            extra.insert("members".into(), Value::Null);
            rows.push(LagRow {
                name: group.clone(),
                lag: Some((high - o).max(0) as u64),
                oldest_age: age_of(&t, p),
                dlq_depth: None,
                checked: false,
                extra,
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlq_names() {
        for n in [
            "orders.dlq",
            "orders-dlq",
            "orders.DLT",
            "orders-dlt",
            "dlq.orders",
            "orders.deadletter",
        ] {
            assert!(is_dlq(n, &[]), "{n}");
        }
        assert!(!is_dlq("orders", &[]));
        assert!(!is_dlq("dlqueue", &[]));
        assert!(is_dlq("orders_errors", &["*_errors".into()]));
        assert_eq!(stripped("orders.dlq"), Some("orders"));
        assert_eq!(stripped("dlq.orders"), Some("orders"));
    }

    #[test]
    fn globs() {
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXc"));
        assert!(glob("*", ""));
        assert!(glob("x", "x"));
        assert!(!glob("ab*ba", "aba"));
    }
}
