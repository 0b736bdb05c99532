//! `queues`, `depth` and `lag`: read-only views from metadata, watermarks
//! and committed offsets.
//!
//! Topics named like a DLQ (`crate::dlq_names`, plus the profile's
//! `dlq_patterns`) are marked; a DLQ's sources come from the origin header
//! of its first record (read within a short bound) and from its name when
//! the name without its DLQ word is a topic. `lag`
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
use crate::dlq_names;
use crate::exit::{is_not_found, not_found};

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
    let c = kafka.kept("dlq")?;
    let mut out = Vec::new();
    let mut firsts = Vec::new();
    for (name, partitions) in topics(kafka, &c)? {
        let parts = match kafka.parts(&c, &name, &partitions) {
            // Deleted since the listing: not a queue any more.
            Err(e) if is_not_found(&e) => continue,
            r => r?,
        };
        let depth: i64 = parts.iter().map(|p| (p.high - p.low).max(0)).sum();
        let dlq = dlq_names::is_dlq(&name, &kafka.dlq_patterns);
        if let Some(p) = parts.iter().find(|p| p.high > p.low).filter(|_| dlq) {
            firsts.push(((name.clone(), p.partition), p.low));
        }
        out.push(QueueInfo {
            name,
            kind: QueueKind::Topic,
            depth: Some(depth as u64),
            is_dlq: dlq,
            extra: Map::from_iter([("partitions".into(), json!(partitions.len()))]),
            ..Default::default()
        });
    }
    let firsts = first_records(kafka, &firsts, Duration::from_secs(2).min(kafka.timeout))?;
    let names: Vec<String> = out.iter().map(|q| q.name.clone()).collect();
    for ((topic, _), m) in firsts {
        let q = out.iter_mut().find(|q| q.name == topic);
        if let (Some(src), Some(q)) = (m.dead_letter.source, q) {
            q.sources.push(src);
        }
    }
    for q in out.iter_mut().filter(|q| q.is_dlq) {
        let src = dlq_names::source_of(&q.name).filter(|src| names.iter().any(|n| n == src));
        if let Some(src) = src.filter(|src| !q.sources.iter().any(|s| s == src)) {
            q.sources.push(src.to_owned());
        }
    }
    QueueInfo::link_sources(&mut out);
    Ok(out)
}

/// A partition's place: topic and partition number.
type Place = (String, i32);

/// The records at the given places and offsets (or the first after each),
/// fetched within `bound`; what does not come in time is left out.
fn first_records(
    kafka: &Kafka,
    wants: &[(Place, i64)],
    bound: Duration,
) -> Result<HashMap<Place, crate::broker::Message>> {
    let mut out = HashMap::new();
    if wants.is_empty() {
        return Ok(out);
    }
    let c = kafka.reader("dlq")?;
    let mut tpl = TopicPartitionList::new();
    wants
        .iter()
        .try_for_each(|((t, p), o)| tpl.add_partition_offset(t, *p, Offset::Offset(*o)))
        .and_then(|()| c.assign(&tpl))
        .map_err(|e| kafka.fail("reading first records", &e))?;
    let deadline = Instant::now() + bound;
    while out.len() < wants.len() && Instant::now() < deadline {
        let Some(Ok(m)) = c.poll(Duration::from_millis(100)) else {
            continue;
        };
        let place = (m.topic().to_owned(), m.partition());
        let wanted = wants.iter().any(|(w, o)| *w == place && *o <= m.offset());
        if wanted && !out.contains_key(&place) {
            out.insert(place, envelope::to_message(&m));
            let mut done = TopicPartitionList::new();
            done.add_partition(m.topic(), m.partition());
            let _ = c.incremental_unassign(&done);
        }
    }
    Ok(out)
}

pub fn depth(kafka: &Kafka, topic: &str, opts: &ReadOptions) -> Result<u64> {
    let c = kafka.kept(&cursor_group(topic, opts))?;
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

/// Where a group stands on one partition.
struct Committed {
    place: Place,
    offset: i64,
    low: i64,
    high: i64,
}

impl Committed {
    fn lag(&self) -> u64 {
        (self.high - self.offset).max(0) as u64
    }

    /// The first offset the group has still to consume, when there is one.
    fn next(&self) -> Option<i64> {
        let next = self.offset.max(self.low);
        (next < self.high).then_some(next)
    }
}

/// Per group, a total row (which the thresholds check: lag, the oldest
/// unconsumed record's age, the depth of the DLQs of its topics) and a row
/// per partition it committed on.
pub fn lag(kafka: &Kafka, q: &LagQuery) -> Result<Vec<LagRow>> {
    let c = kafka.kept("dlq")?;
    let all_topics = topics(kafka, &c)?;
    let mut dlqs_of: HashMap<String, Vec<String>> = HashMap::new();
    for (name, _) in &all_topics {
        let dlq = dlq_names::is_dlq(name, &kafka.dlq_patterns);
        if let Some(src) = dlq_names::source_of(name).filter(|_| dlq) {
            let dlqs = dlqs_of.entry(src.to_owned()).or_default();
            dlqs.push(name.clone());
        }
    }
    let topics: Vec<(String, Vec<i32>)> = match &q.topic {
        Some(t) => vec![(t.clone(), kafka.partitions(&c, t)?)],
        None => all_topics,
    };
    let listed = c
        .fetch_group_list(None, kafka.timeout)
        .map_err(|e| kafka.fail("listing consumer groups", &e))?;
    let mut info: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for g in listed.groups() {
        let about = (g.state().to_owned(), g.members().len());
        info.insert(g.name().to_owned(), about);
    }
    let named = !q.names.is_empty();
    let groups: Vec<String> = if named {
        q.names.clone()
    } else {
        // dlq's own cursor groups are not applications.
        info.keys()
            .filter(|g| !g.starts_with("dlq."))
            .cloned()
            .collect()
    };
    let mut ends: HashMap<Place, (i64, i64)> = HashMap::new();
    let mut dlq_depths: HashMap<String, u64> = HashMap::new();
    let mut rows = Vec::new();
    for group in groups {
        let parts = committed(kafka, &c, &group, &topics, &mut ends)?;
        let known = info.get(&group);
        if parts.is_empty() && known.is_none() {
            if named {
                return Err(not_found(
                    format!("{NAME}: consumer group {group} not found"),
                    None,
                ));
            }
            continue;
        }
        let wants: Vec<(Place, i64)> = parts
            .iter()
            .filter_map(|p| Some((p.place.clone(), p.next()?)))
            .collect();
        let firsts = first_records(kafka, &wants, Duration::from_secs(3).min(kafka.timeout))?;
        if firsts.len() < wants.len() {
            kafka.warner.warn(&format!(
                "kafka: group {group}: the first unconsumed record of {} partition(s) did not arrive in time: their age is unknown",
                wants.len() - firsts.len()
            ));
        }
        let now = SystemTime::now();
        let age_of = |p: &Committed| firsts.get(&p.place).and_then(|m| m.age(now));
        let mut dlq_depth: Option<u64> = None;
        let mut consumed: Vec<&String> = parts.iter().map(|p| &p.place.0).collect();
        consumed.dedup();
        for d in consumed.into_iter().flat_map(|t| dlqs_of.get(t)).flatten() {
            if !dlq_depths.contains_key(d) {
                dlq_depths.insert(d.clone(), depth(kafka, d, &ReadOptions::default())?);
            }
            *dlq_depth.get_or_insert(0) += dlq_depths[d];
        }
        let (state, members) = known.cloned().unwrap_or_else(|| ("Unknown".into(), 0));
        rows.push(LagRow {
            name: group.clone(),
            lag: Some(parts.iter().map(Committed::lag).sum()),
            oldest_age: parts.iter().filter_map(age_of).max(),
            dlq_depth,
            checked: true,
            extra: columns(None, Some((&state, members))),
        });
        rows.extend(parts.iter().map(|p| LagRow {
            name: group.clone(),
            lag: Some(p.lag()),
            oldest_age: age_of(p),
            dlq_depth: None,
            checked: false,
            extra: columns(Some(p), None),
        }));
    }
    Ok(rows)
}

/// Where `group` committed on the partitions of `topics`, with their
/// watermarks (asked once per partition across groups).
fn committed(
    kafka: &Kafka,
    c: &Reader,
    group: &str,
    topics: &[(String, Vec<i32>)],
    ends: &mut HashMap<Place, (i64, i64)>,
) -> Result<Vec<Committed>> {
    let mut tpl = TopicPartitionList::new();
    for (t, ps) in topics {
        for p in ps {
            tpl.add_partition(t, *p);
        }
    }
    if tpl.count() == 0 {
        return Ok(Vec::new());
    }
    let got = kafka
        .consumer(group)?
        .committed_offsets(tpl, kafka.timeout)
        .map_err(|e| kafka.fail(format!("reading offsets of group {group}"), &e))?;
    let mut out = Vec::new();
    for el in got.elements() {
        let Offset::Offset(offset) = el.offset() else {
            continue;
        };
        let place = (el.topic().to_owned(), el.partition());
        if !ends.contains_key(&place) {
            let (t, p) = &place;
            let v = c
                .fetch_watermarks(t, *p, kafka.timeout)
                .map_err(|e| kafka.fail(format!("reading offsets of {t}/{p}"), &e))?;
            ends.insert(place.clone(), v);
        }
        let (low, high) = ends[&place];
        out.push(Committed {
            place,
            offset,
            low,
            high,
        });
    }
    Ok(out)
}

/// Kafka's own columns of a lag row: a partition's, or a group total's.
fn columns(p: Option<&Committed>, group: Option<(&str, usize)>) -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert("topic".into(), json!(p.map(|p| &p.place.0)));
    extra.insert("partition".into(), json!(p.map(|p| p.place.1)));
    extra.insert("current_offset".into(), json!(p.map(|p| p.offset)));
    extra.insert("log_end_offset".into(), json!(p.map(|p| p.high)));
    extra.insert("state".into(), json!(group.map(|g| g.0)));
    extra.insert("members".into(), json!(group.map(|g| g.1)));
    extra
}
