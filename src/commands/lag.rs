//! `dlq lag [NAME...]`: consumer lag, with thresholds that set the exit code.
//!
//! Each breach of `--max-lag`, `--max-age` or `--max-dlq` is one line on
//! stderr and makes the exit code 1. `--watch` refreshes until Ctrl-C.

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use super::Ctx;
use crate::broker::{LagQuery, LagRow};
use crate::cli::{LagArgs, OutputFormat};
use crate::exit::Exit;
use crate::output::human_age;
use crate::prometheus;
use crate::sanitize::escape;

/// The thresholds of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Thresholds {
    pub max_lag: Option<u64>,
    pub max_age: Option<Duration>,
    pub max_dlq: Option<u64>,
}

/// What a threshold is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Lag,
    OldestAge,
    DlqDepth,
}

/// One exceeded threshold, serialized as an entry of `breaches`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    pub name: String,
    pub metric: Metric,
    pub value: f64,
    pub threshold: f64,
}

/// The `-o json` document of `lag`.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    pub rows: &'a [LagRow],
    pub breaches: &'a [Breach],
}

impl Breach {
    fn line(&self) -> String {
        match self.metric {
            Metric::OldestAge => format!(
                "{}: oldest message is {} old, over --max-age {}",
                self.name,
                human_age(Duration::from_secs_f64(self.value)),
                human_age(Duration::from_secs_f64(self.threshold))
            ),
            Metric::DlqDepth => format!(
                "{}: dead-letter queue holds {}, over --max-dlq {}",
                self.name, self.value, self.threshold
            ),
            Metric::Lag => format!(
                "{}: lag {}, over --max-lag {}",
                self.name, self.value, self.threshold
            ),
        }
    }
}

/// Checks every row marked `checked` against the thresholds.
pub fn breaches(rows: &[LagRow], t: &Thresholds) -> Vec<Breach> {
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| r.checked) {
        if let (Some(max), Some(lag)) = (t.max_lag, r.lag) {
            if lag > max {
                out.push(Breach {
                    name: r.name.clone(),
                    metric: Metric::Lag,
                    value: lag as f64,
                    threshold: max as f64,
                });
            }
        }
        if let (Some(max), Some(age)) = (t.max_age, r.oldest_age) {
            if age > max {
                out.push(Breach {
                    name: r.name.clone(),
                    metric: Metric::OldestAge,
                    value: age.as_secs_f64().floor(),
                    threshold: max.as_secs_f64(),
                });
            }
        }
        if let (Some(max), Some(depth)) = (t.max_dlq, r.dlq_depth) {
            if depth > max {
                out.push(Breach {
                    name: r.name.clone(),
                    metric: Metric::DlqDepth,
                    value: depth as f64,
                    threshold: max as f64,
                });
            }
        }
    }
    out
}

/// What the thresholds could not be checked on: an unknown value is no
/// breach, but must not pass for a checked one. One warning line each.
pub fn unchecked(rows: &[LagRow], t: &Thresholds) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| r.checked) {
        let name = escape(&r.name, false);
        if t.max_lag.is_some() && r.lag.is_none() {
            out.push(format!(
                "{name}: its lag is unknown (the broker gives none), so --max-lag was not checked"
            ));
        }
        if t.max_age.is_some() && r.lag != Some(0) && r.oldest_age.is_none() {
            out.push(format!(
                "{name}: the age of its oldest message is unknown (the broker gives none), so --max-age was not checked"
            ));
        }
        let has_dlq = r
            .extra
            .get("dead_letter_queue")
            .is_some_and(|v| !v.is_null());
        if t.max_dlq.is_some() && has_dlq && r.dlq_depth.is_none() {
            out.push(format!(
                "{name}: the depth of its dead-letter queue is unknown (the broker gives none), so --max-dlq was not checked"
            ));
        }
    }
    out
}

/// The stable JSON shape of one row.
pub fn row_json(r: &LagRow) -> Value {
    serde_json::to_value(r).expect("a lag row is plain JSON")
}

pub async fn run(ctx: &Ctx, a: &LagArgs) -> Result<Exit> {
    let query = &LagQuery {
        names: a.names.clone(),
        topic: a.topic.clone(),
    };
    let t = Thresholds {
        max_lag: a.max_lag,
        max_age: a.max_age,
        max_dlq: a.max_dlq,
    };
    let watch = a.watch;
    let broker = ctx.connect_with(&query.flags()).await?;
    if watch.is_some() {
        ctx.interrupt.install();
    }
    loop {
        let rows = broker.lag(query).await?;
        let found = breaches(&rows, &t);
        print(ctx, &rows, &found)?;
        for b in &found {
            eprintln!("dlq: threshold exceeded: {}", escape(&b.line(), false));
        }
        for line in unchecked(&rows, &t) {
            ctx.printer.warn(&line);
        }
        let code = if found.is_empty() {
            Exit::Ok
        } else {
            Exit::Threshold
        };
        let Some(every) = watch else { return Ok(code) };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = ctx.interrupt.wait() => return Ok(Exit::Interrupted),
        }
        if ctx.printer.is_table() && ctx.printer.stdout_tty {
            ctx.printer.line("")?;
        }
    }
}

/// The `-o json` document: every row and every exceeded threshold.
pub fn document<'a>(rows: &'a [LagRow], found: &'a [Breach]) -> Document<'a> {
    Document {
        rows,
        breaches: found,
    }
}

fn print(ctx: &Ctx, rows: &[LagRow], found: &[Breach]) -> Result<()> {
    let p = &ctx.printer;
    match p.format {
        OutputFormat::Prometheus => {
            let text = prometheus::render(&prometheus::lag_families(&ctx.broker_label()?, rows));
            p.raw(&text)
        }
        OutputFormat::Json => p.json(&document(rows, found)),
        OutputFormat::Ndjson => {
            for r in rows {
                p.ndjson(r)?;
            }
            Ok(())
        }
        OutputFormat::Table | OutputFormat::Wide => {
            if rows.is_empty() {
                p.note("nothing to report");
                return Ok(());
            }
            let mut keys: Vec<String> = Vec::new();
            for r in rows {
                for k in r.extra.keys() {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
            let mut header = vec!["NAME".to_string()];
            header.extend(keys.iter().map(|k| k.to_uppercase().replace('_', " ")));
            header.extend(["LAG", "OLDEST", "DLQ"].map(String::from));
            let mut table = p.table(&header.iter().map(String::as_str).collect::<Vec<_>>());
            for r in rows {
                let mut cells = vec![p.cell(escape(&r.name, false), None)];
                for k in &keys {
                    cells.push(p.cell(
                        r.extra.get(k).map(super::queues::cell).unwrap_or_default(),
                        None,
                    ));
                }
                let breached = found.iter().any(|b| b.name == r.name) && r.checked;
                cells.push(p.cell(
                    r.lag.map_or_else(|| "?".into(), |l| l.to_string()),
                    breached.then_some(comfy_table::Color::Red),
                ));
                cells.push(p.cell(
                    r.oldest_age.map(human_age).unwrap_or_else(|| "-".into()),
                    None,
                ));
                cells.push(
                    p.cell(
                        r.dlq_depth
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                        None,
                    ),
                );
                table.add_row(cells);
            }
            p.print_table(&table)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn row(name: &str, lag: u64, age: Option<u64>, dlq: Option<u64>, checked: bool) -> LagRow {
        LagRow {
            name: name.into(),
            lag: Some(lag),
            oldest_age: age.map(Duration::from_secs),
            dlq_depth: dlq,
            checked,
            extra: Map::new(),
        }
    }

    #[test]
    fn thresholds_find_each_breach() {
        let rows = vec![
            row("a", 1500, Some(30), Some(0), true),
            row("b", 10, Some(900), Some(3), true),
            row("a/p0", 5000, None, None, false),
        ];
        let t = Thresholds {
            max_lag: Some(1000),
            max_age: Some(Duration::from_secs(300)),
            max_dlq: Some(0),
        };
        let found = breaches(&rows, &t);
        let got: Vec<(&str, Metric)> = found.iter().map(|b| (b.name.as_str(), b.metric)).collect();
        assert_eq!(
            got,
            vec![
                ("a", Metric::Lag),
                ("b", Metric::OldestAge),
                ("b", Metric::DlqDepth)
            ]
        );
        assert!(breaches(&rows, &Thresholds::default()).is_empty());
        assert!(found[0].line().contains("over --max-lag 1000"));
    }

    #[test]
    fn unknown_values_are_warned_not_passed() {
        let mut unknown = row("sub", 0, None, None, true);
        unknown.lag = None;
        unknown
            .extra
            .insert("dead_letter_queue".into(), json!("sub-dlq"));
        let t = Thresholds {
            max_lag: Some(0),
            max_age: Some(Duration::from_secs(60)),
            max_dlq: Some(0),
        };
        assert!(breaches(std::slice::from_ref(&unknown), &t).is_empty());
        let lines = unchecked(std::slice::from_ref(&unknown), &t);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("--max-lag was not checked"));
        assert!(lines[2].contains("--max-dlq was not checked"));
        // An empty queue has no oldest message; a queue without a DLQ no DLQ depth.
        let known = row("q", 0, None, None, true);
        assert!(unchecked(&[known], &t).is_empty());
    }

    #[test]
    fn row_json_has_stable_fields() {
        let mut r = row("orders", 3, Some(61), None, true);
        r.extra.insert("consumers".into(), json!(2));
        let v = row_json(&r);
        assert_eq!(v["name"], "orders");
        assert_eq!(v["lag"], 3);
        assert_eq!(v["oldest_age_seconds"], 61);
        assert!(v["dlq_depth"].is_null());
        assert_eq!(v["consumers"], 2);
    }
}
