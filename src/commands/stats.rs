//! `dlq stats QUEUE [--by KEYS]`: a queue's messages grouped by why and from
//! where they died, read without changing the queue.
//!
//! It browses like `list` (same filters, same read flags) and folds each
//! message into one [`Group`] per distinct key tuple as it goes, then drops
//! the message: memory grows with the number of groups, never with the
//! number of messages. Each group keeps its count, oldest and newest
//! timestamps and the ID of its first message (a sample for `peek`).
//! A value a message does not carry is null in JSON and `-` in the table.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{read_options, selected, selection, warn_where_failures, Ctx};
use crate::broker::{Flow, Message};
use crate::cli::{OutputFormat, StatsArgs};
use crate::exit::{usage, Exit};
use crate::jq::{self, Query};
use crate::message::{rfc3339, time_or_null};
use crate::sanitize::escape;
use crate::select::Decision;
use jaq_json::Val;

/// The keys `--by` takes when it is not given.
pub const DEFAULT_KEYS: &str = "reason,source";

/// One thing messages are grouped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Reason,
    ErrorType,
    Source,
    Origin,
    Convention,
    Header(String),
    Age,
    Day,
    Fingerprint,
    /// `field:FILTER`: the first output of a jq filter on the JSON body or
    /// the decoded value.
    Field(Query),
}

impl Key {
    /// The name as `--by` spells it, also the field name in `key` objects.
    pub fn name(&self) -> String {
        match self {
            Key::Reason => "reason".into(),
            Key::ErrorType => "error_type".into(),
            Key::Source => "source".into(),
            Key::Origin => "origin".into(),
            Key::Convention => "convention".into(),
            Key::Header(h) => format!("header:{h}"),
            Key::Age => "age".into(),
            Key::Day => "day".into(),
            Key::Fingerprint => "fingerprint".into(),
            Key::Field(q) => format!("field:{}", q.source()),
        }
    }

    /// This key's value for one message; None when the message does not say.
    pub fn value(&self, m: &Message, now: SystemTime) -> Option<String> {
        let dl = &m.dead_letter;
        match self {
            Key::Reason => dl.reason.clone(),
            Key::ErrorType => dl.error_type.clone(),
            Key::Source => dl.source.clone(),
            Key::Origin => dl.origin.as_ref().map(|o| {
                let kind = serde_json::to_value(o.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                match &o.routing_key {
                    Some(rk) => format!("{kind}:{} [{rk}]", o.name),
                    None => format!("{kind}:{}", o.name),
                }
            }),
            Key::Convention => dl.convention.map(str::to_owned),
            Key::Header(h) => m.header_text(h),
            Key::Age => m.age(now).map(|a| age_bucket(a).to_owned()),
            Key::Day => m.timestamp.map(day),
            Key::Fingerprint => dl.fingerprint.clone(),
            Key::Field(q) => field(q, m),
        }
    }
}

/// Parses `--by`: comma-separated key names; an unknown one is a usage error naming it.
pub fn parse_keys(text: &str) -> Result<Vec<Key>> {
    let mut keys = Vec::new();
    for part in text.split(',').map(str::trim) {
        let key = match part {
            "reason" => Key::Reason,
            "error_type" => Key::ErrorType,
            "source" => Key::Source,
            "origin" => Key::Origin,
            "convention" => Key::Convention,
            "age" => Key::Age,
            "day" => Key::Day,
            "fingerprint" => Key::Fingerprint,
            f if f.starts_with("field:") && f.len() > "field:".len() => {
                Key::Field(Query::compile("--by field:", &f["field:".len()..])?)
            }
            "field:" => return Err(usage("--by field: needs a jq filter, such as field:.customer.tier")),
            h if h.starts_with("header:") && h.len() > "header:".len() => {
                Key::Header(h["header:".len()..].to_owned())
            }
            "header:" => return Err(usage("--by header: needs a header name, such as header:tenant")),
            other => {
                return Err(usage(format!(
                    "--by: unknown key {other:?}; use reason, error_type, source, origin, convention, header:NAME, age, day, fingerprint or field:FILTER"
                )))
            }
        };
        if keys.contains(&key) {
            return Err(usage(format!("--by: key {part:?} is given twice")));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// `field:FILTER` on one message: the first output of the filter on the
/// decoded value, else on the JSON body, as compact JSON (so `100` and
/// `"100"` are two groups, and JSON shows each as the filter gave it).
/// None when the body is not JSON, or the filter yields nothing (or null)
/// or fails.
fn field(q: &Query, m: &Message) -> Option<String> {
    let input = match m.decoded.as_ref().and_then(|d| d.value_text()) {
        Some(text) => jq::parse(text.as_bytes()),
        None => jq::parse(&m.body),
    }
    .ok()?;
    match q.first(input).ok()?? {
        Val::Null => None,
        v => Some(v.to_string()),
    }
}

/// A key value as JSON: a field's compact JSON as the value it is, any
/// other key's text as a string.
fn key_json(k: &Key, v: Option<&str>) -> Value {
    match (k, v) {
        (_, None) => Value::Null,
        (Key::Field(_), Some(text)) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        (_, Some(text)) => Value::String(text.to_owned()),
    }
}

/// A key value as the table shows it: a field's string without its quotes.
fn key_text(k: &Key, v: Option<&str>) -> String {
    match key_json(k, v) {
        Value::Null => "-".to_owned(),
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The age bucket of SPEC.md: `<1h`, `1h-1d`, `1d-7d`, `>7d`.
pub fn age_bucket(age: Duration) -> &'static str {
    const HOUR: u64 = 3600;
    match age.as_secs() {
        s if s < HOUR => "<1h",
        s if s < 24 * HOUR => "1h-1d",
        s if s < 7 * 24 * HOUR => "1d-7d",
        _ => ">7d",
    }
}

/// The UTC date of a time, `YYYY-MM-DD`.
pub fn day(t: SystemTime) -> String {
    rfc3339(t)[..10].to_owned()
}

/// What is known about one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: Vec<Option<String>>,
    pub count: u64,
    pub oldest: Option<SystemTime>,
    pub newest: Option<SystemTime>,
    pub sample_id: String,
    /// By fingerprint: the error type and first line of the error message
    /// of the group's first message.
    pub failure: Option<Failure>,
}

/// What a fingerprint group shows of its failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub error_type: Option<String>,
    pub error_message: Option<String>,
}

/// Groups messages one at a time; holds one entry per group.
#[derive(Debug)]
pub struct Grouper {
    keys: Vec<Key>,
    now: SystemTime,
    groups: HashMap<Vec<Option<String>>, Group>,
    pub total: u64,
}

impl Grouper {
    pub fn new(keys: Vec<Key>, now: SystemTime) -> Self {
        Grouper {
            keys,
            now,
            groups: HashMap::new(),
            total: 0,
        }
    }

    /// Counts one message into its group.
    pub fn add(&mut self, m: &Message) {
        let key: Vec<Option<String>> = self.keys.iter().map(|k| k.value(m, self.now)).collect();
        self.total += 1;
        let by_fingerprint = self.keys.contains(&Key::Fingerprint);
        let g = self.groups.entry(key).or_insert_with_key(|k| Group {
            key: k.clone(),
            count: 0,
            oldest: None,
            newest: None,
            sample_id: m.id.clone(),
            failure: by_fingerprint.then(|| Failure {
                error_type: m.dead_letter.error_type.clone(),
                error_message: m.dead_letter.error_message_line().map(str::to_owned),
            }),
        });
        g.count += 1;
        if let Some(t) = m.timestamp {
            g.oldest = Some(g.oldest.map_or(t, |o| o.min(t)));
            g.newest = Some(g.newest.map_or(t, |n| n.max(t)));
        }
    }

    /// The groups by count, largest first; equal counts in key order.
    pub fn sorted(self) -> Vec<Group> {
        let mut out: Vec<Group> = self.groups.into_values().collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        out
    }
}

/// The JSON object of one group.
pub fn group_json(keys: &[Key], g: &Group) -> Value {
    serde_json::to_value(GroupRow::of(keys, g)).expect("a group is plain JSON")
}

/// One group as `-o json` shows it: its key values by key name, in `--by` order.
#[derive(Debug, Serialize)]
pub struct GroupRow<'g> {
    pub key: Map<String, Value>,
    #[serde(flatten)]
    pub failure: Option<&'g Failure>,
    pub count: u64,
    #[serde(serialize_with = "time_or_null")]
    pub oldest: Option<SystemTime>,
    #[serde(serialize_with = "time_or_null")]
    pub newest: Option<SystemTime>,
    pub sample_id: &'g str,
}

impl<'g> GroupRow<'g> {
    pub fn of(keys: &[Key], g: &'g Group) -> Self {
        let key = keys
            .iter()
            .zip(&g.key)
            .map(|(k, v)| (k.name(), key_json(k, v.as_deref())))
            .collect();
        GroupRow {
            key,
            failure: g.failure.as_ref(),
            count: g.count,
            oldest: g.oldest,
            newest: g.newest,
            sample_id: &g.sample_id,
        }
    }
}

/// The `-o json` document of `stats`.
#[derive(Debug, Serialize)]
pub struct Document<'g> {
    pub total: u64,
    pub by: Vec<String>,
    pub groups: Vec<GroupRow<'g>>,
}

pub async fn run(ctx: &Ctx, a: &StatsArgs) -> Result<Exit> {
    let (queue, by, filters, read, all) =
        (a.queue.as_str(), a.by.as_str(), &a.filters, &a.read, a.all);
    let keys = parse_keys(by)?;
    let sel = selection(filters, None)?;
    let decoder = ctx.decoder(&a.schema)?;
    let opts = read_options(read, all, &[]);
    // Flags the broker cannot honour are refused before connecting.
    let broker = ctx.connect_with(&opts.flags()).await?;
    let p = &ctx.printer;
    let mut grouper = Grouper::new(keys.clone(), SystemTime::now());
    let progress = p.progress(None, "reading");
    let result = selected::browse_decoded(
        &*broker,
        queue,
        &opts,
        &sel,
        decoder.as_ref(),
        &mut |m, d| {
            if d == Decision::Take {
                grouper.add(&m);
            }
            progress.inc(1);
            Ok(Flow::Continue)
        },
    )
    .await;
    progress.finish();
    result?;
    warn_where_failures(p, &sel.criteria);
    let total = grouper.total;
    let groups = grouper.sorted();
    match p.format {
        OutputFormat::Json | OutputFormat::Prometheus => p.json(&Document {
            total,
            by: keys.iter().map(Key::name).collect(),
            groups: groups.iter().map(|g| GroupRow::of(&keys, g)).collect(),
        })?,
        OutputFormat::Ndjson => {
            for g in &groups {
                p.ndjson(&GroupRow::of(&keys, g))?;
            }
        }
        OutputFormat::Table | OutputFormat::Wide => {
            print_table(ctx, queue, &keys, &groups, total, &sel)?
        }
    }
    Ok(Exit::Ok)
}

fn print_table(
    ctx: &Ctx,
    queue: &str,
    keys: &[Key],
    groups: &[Group],
    total: u64,
    sel: &crate::select::Selection,
) -> Result<()> {
    let p = &ctx.printer;
    if groups.is_empty() {
        p.note(&format!(
            "{}: no messages{}",
            escape(queue, false),
            if sel.criteria.filter.is_empty() {
                ""
            } else {
                " match"
            }
        ));
        return Ok(());
    }
    let mut header: Vec<String> = keys.iter().map(|k| k.name().to_uppercase()).collect();
    let by_fingerprint = keys.contains(&Key::Fingerprint);
    if by_fingerprint {
        header.extend(["ERROR TYPE", "ERROR MESSAGE"].map(String::from));
    }
    header.extend(["COUNT", "OLDEST", "NEWEST", "SAMPLE"].map(String::from));
    let mut table = p.table(&header.iter().map(String::as_str).collect::<Vec<_>>());
    let shown = |t: Option<SystemTime>| {
        t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
            .unwrap_or_else(|| "-".into())
    };
    for g in groups {
        let mut row: Vec<String> = keys
            .iter()
            .zip(&g.key)
            .map(|(k, v)| escape(&key_text(k, v.as_deref()), false))
            .collect();
        if let Some(f) = g.failure.as_ref().filter(|_| by_fingerprint) {
            row.push(escape(f.error_type.as_deref().unwrap_or("-"), false));
            let line = f.error_message.as_deref().unwrap_or("-");
            row.push(crate::sanitize::preview(line.as_bytes(), 60));
        }
        row.push(g.count.to_string());
        row.push(shown(g.oldest));
        row.push(shown(g.newest));
        row.push(escape(&g.sample_id, false));
        table.add_row(row);
    }
    let extra = if by_fingerprint { 2 } else { 0 };
    let mut last: Vec<String> = vec![String::new(); keys.len() + extra];
    last[0] = format!(
        "total ({} group{})",
        groups.len(),
        if groups.len() == 1 { "" } else { "s" }
    );
    last.push(total.to_string());
    last.push(shown(groups.iter().filter_map(|g| g.oldest).min()));
    last.push(shown(groups.iter().filter_map(|g| g.newest).max()));
    last.push(String::new());
    table.add_row(last);
    p.print_table(&table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{DeadLetter, Origin, OriginKind};
    use serde_json::json;

    const NOW: u64 = 1_795_000_000;

    fn msg(id: &str, reason: Option<&str>, source: &str, age_secs: Option<u64>) -> Message {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
        let mut headers = crate::broker::Headers::new();
        headers.insert("tenant".into(), json!("acme"));
        Message {
            id: id.into(),
            timestamp: age_secs.map(|a| now - Duration::from_secs(a)),
            headers,
            dead_letter: DeadLetter {
                reason: reason.map(str::to_owned),
                source: Some(source.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    #[test]
    fn keys_parse_and_unknown_ones_are_named() {
        let k = parse_keys("reason, header:tenant,age,day").unwrap();
        assert_eq!(
            k,
            vec![
                Key::Reason,
                Key::Header("tenant".into()),
                Key::Age,
                Key::Day
            ]
        );
        assert_eq!(k[1].name(), "header:tenant");
        let e = parse_keys("reason,colour").unwrap_err().to_string();
        assert!(e.contains("\"colour\""), "{e}");
        assert_eq!(
            crate::exit::code_for(&parse_keys("x").unwrap_err()),
            Exit::Usage
        );
        assert!(parse_keys("header:").is_err());
        assert!(parse_keys("reason,reason").is_err());
        assert_eq!(
            parse_keys(DEFAULT_KEYS).unwrap(),
            vec![Key::Reason, Key::Source]
        );
    }

    #[test]
    fn age_buckets_have_sharp_edges() {
        let h = 3600;
        assert_eq!(age_bucket(Duration::from_secs(0)), "<1h");
        assert_eq!(age_bucket(Duration::from_secs(h - 1)), "<1h");
        assert_eq!(age_bucket(Duration::from_secs(h)), "1h-1d");
        assert_eq!(age_bucket(Duration::from_secs(24 * h)), "1d-7d");
        assert_eq!(age_bucket(Duration::from_secs(7 * 24 * h - 1)), "1d-7d");
        assert_eq!(age_bucket(Duration::from_secs(7 * 24 * h)), ">7d");
        assert_eq!(
            day(SystemTime::UNIX_EPOCH + Duration::from_secs(86_399)),
            "1970-01-01"
        );
        assert_eq!(
            day(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400)),
            "1970-01-02"
        );
    }

    #[test]
    fn groups_count_and_sort_by_count_then_key() {
        let mut g = Grouper::new(parse_keys("reason,source").unwrap(), now());
        g.add(&msg("1", Some("rejected"), "orders", Some(100)));
        g.add(&msg("2", Some("expired"), "orders", Some(50)));
        g.add(&msg("3", Some("rejected"), "orders", Some(10)));
        g.add(&msg("4", None, "orders", None));
        g.add(&msg("5", Some("maxlen"), "orders", Some(5)));
        assert_eq!(g.total, 5);
        let groups = g.sorted();
        let keys: Vec<_> = groups.iter().map(|g| (g.key[0].clone(), g.count)).collect();
        assert_eq!(
            keys,
            vec![
                (Some("rejected".into()), 2),
                (None, 1),
                (Some("expired".into()), 1),
                (Some("maxlen".into()), 1),
            ]
        );
        let top = &groups[0];
        assert_eq!(top.sample_id, "1");
        assert_eq!(top.oldest, Some(now() - Duration::from_secs(100)));
        assert_eq!(top.newest, Some(now() - Duration::from_secs(10)));
        assert_eq!(groups[1].oldest, None);
    }

    #[test]
    fn group_json_has_the_spec_shape_and_nulls() {
        let keys = parse_keys("reason,error_type,header:tenant,age,origin").unwrap();
        let mut m = msg("9", Some("rejected"), "orders", Some(2 * 86_400));
        m.dead_letter.origin = Some(Origin {
            kind: OriginKind::Exchange,
            name: "orders-x".into(),
            routing_key: Some("orders".into()),
        });
        let mut g = Grouper::new(keys.clone(), now());
        g.add(&m);
        let v = group_json(&keys, &g.sorted()[0]);
        assert_eq!(v["key"]["reason"], "rejected");
        assert!(v["key"]["error_type"].is_null());
        assert_eq!(v["key"]["header:tenant"], "acme");
        assert_eq!(v["key"]["age"], "1d-7d");
        assert_eq!(v["key"]["origin"], "exchange:orders-x [orders]");
        assert_eq!(v["count"], 1);
        assert_eq!(v["sample_id"], "9");
        assert_eq!(v["oldest"], v["newest"]);
        let fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(fields, ["key", "count", "oldest", "newest", "sample_id"]);
    }

    #[test]
    fn a_field_key_keeps_the_type_the_filter_gave() {
        let keys = parse_keys("field:.n").unwrap();
        let mut g = Grouper::new(keys.clone(), now());
        for (id, body) in [
            ("1", r#"{"n": 100}"#),
            ("2", r#"{"n": 100}"#),
            ("3", r#"{"n": "100"}"#),
            ("4", r#"{"n": {"a": [1]}}"#),
            ("5", "not json"),
        ] {
            let mut m = msg(id, None, "orders", None);
            m.body = body.as_bytes().to_vec();
            g.add(&m);
        }
        let groups = g.sorted();
        let json: Vec<Value> = groups
            .iter()
            .map(|x| group_json(&keys, x)["key"]["field:.n"].clone())
            .collect();
        assert_eq!(json[0], json!(100));
        assert_eq!(groups[0].count, 2);
        assert!(json.contains(&json!("100")), "{json:?}");
        assert!(json.contains(&json!({"a": [1]})), "{json:?}");
        assert!(json.contains(&Value::Null), "{json:?}");
        let shown: Vec<String> = groups
            .iter()
            .map(|x| key_text(&keys[0], x.key[0].as_deref()))
            .collect();
        assert!(shown.contains(&"100".to_owned()), "{shown:?}");
        assert!(shown.contains(&r#"{"a":[1]}"#.to_owned()), "{shown:?}");
        assert!(shown.contains(&"-".to_owned()), "{shown:?}");
    }

    #[test]
    fn memory_is_one_entry_per_group() {
        let mut g = Grouper::new(parse_keys("reason").unwrap(), now());
        for i in 0..10_000 {
            g.add(&msg(
                &i.to_string(),
                Some(["a", "b", "c"][i % 3]),
                "q",
                Some(1),
            ));
        }
        assert_eq!(g.groups.len(), 3);
        assert_eq!(g.total, 10_000);
    }
}
