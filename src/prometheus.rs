//! `-o prometheus`: the Prometheus text exposition format, for node_exporter's
//! textfile collector or a Pushgateway.
//!
//! `lag` and `queues` turn their rows into gauge families; each family is
//! written as one block (HELP, TYPE, then its samples), as the format asks.
//! A value the broker did not give is left out, never written as 0. Label
//! values are escaped per the format (backslash, double quote, newline).

use crate::broker::{LagRow, QueueInfo};

/// One gauge and its samples: (labels, value).
#[derive(Debug, Clone)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            samples: Vec::new(),
        }
    }
}

/// Escapes a label value: `\` `"` and newline.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The exposition text of some families; families without samples are left out.
pub fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} gauge\n",
            f.name, f.help, f.name
        ));
        for (labels, value) in &f.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            out.push_str(&format!(
                "{}{{{}}} {}\n",
                f.name,
                labels.join(","),
                number(*value)
            ));
        }
    }
    out
}

/// The families of a lag report.
pub fn lag_families(broker: &str, rows: &[LagRow]) -> Vec<Family> {
    let mut lag = Family::new(
        "dlq_lag",
        "Messages waiting to be consumed (Kafka: end offset minus committed offset).",
    );
    let mut age = Family::new(
        "dlq_oldest_age_seconds",
        "Age in seconds of the oldest message waiting to be consumed.",
    );
    let mut dead = Family::new(
        "dlq_dead_letter_depth",
        "Messages in the dead-letter queue that serves this name.",
    );
    for r in rows {
        let mut names = vec![("broker", broker.to_owned()), ("name", r.name.clone())];
        // Kafka's partition rows share their group's name: a series must be unique.
        if let (Some(t), Some(p)) = (
            r.extra.get("topic").and_then(|v| v.as_str()),
            r.extra.get("partition").and_then(|v| v.as_i64()),
        ) {
            names.push(("topic", t.to_owned()));
            names.push(("partition", p.to_string()));
        }
        let labels = || names.clone();
        if let Some(l) = r.lag {
            lag.samples.push((labels(), l as f64));
        }
        if let Some(a) = r.oldest_age {
            age.samples.push((labels(), a.as_secs() as f64));
        }
        if let Some(d) = r.dlq_depth {
            dead.samples.push((labels(), d as f64));
        }
    }
    vec![lag, age, dead]
}

/// The families of `dlq queues`: each depth, and for a source queue the
/// depth of its dead-letter queue.
pub fn queue_families(broker: &str, queues: &[QueueInfo]) -> Vec<Family> {
    let mut depth = Family::new(
        "dlq_queue_depth",
        "Messages in the queue, topic or stream; dlq=\"true\" marks dead-letter queues.",
    );
    let mut dead = Family::new(
        "dlq_dead_letter_depth",
        "Messages in the dead-letter queue that serves this name.",
    );
    for q in queues {
        if let Some(d) = q.depth {
            depth.samples.push((
                vec![
                    ("broker", broker.to_owned()),
                    ("name", q.name.clone()),
                    ("dlq", q.is_dlq.to_string()),
                ],
                d as f64,
            ));
        }
        let dlq_depth = q
            .dead_letter_queue
            .as_ref()
            .and_then(|d| queues.iter().find(|o| &o.name == d))
            .and_then(|o| o.depth);
        if let Some(d) = dlq_depth {
            dead.samples.push((
                vec![("broker", broker.to_owned()), ("name", q.name.clone())],
                d as f64,
            ));
        }
    }
    vec![depth, dead]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_label("ünï"), "ünï");
    }

    #[test]
    fn unknown_values_are_left_out() {
        let rows = vec![
            LagRow {
                name: "orders".into(),
                lag: Some(3),
                oldest_age: Some(Duration::from_millis(61_900)),
                dlq_depth: None,
                ..Default::default()
            },
            LagRow {
                name: "q\"x".into(),
                lag: Some(0),
                ..Default::default()
            },
        ];
        let text = render(&lag_families("amqp://guest:***@h:5672", &rows));
        assert_eq!(
            text,
            "# HELP dlq_lag Messages waiting to be consumed (Kafka: end offset minus committed offset).\n\
             # TYPE dlq_lag gauge\n\
             dlq_lag{broker=\"amqp://guest:***@h:5672\",name=\"orders\"} 3\n\
             dlq_lag{broker=\"amqp://guest:***@h:5672\",name=\"q\\\"x\"} 0\n\
             # HELP dlq_oldest_age_seconds Age in seconds of the oldest message waiting to be consumed.\n\
             # TYPE dlq_oldest_age_seconds gauge\n\
             dlq_oldest_age_seconds{broker=\"amqp://guest:***@h:5672\",name=\"orders\"} 61\n"
        );
        assert!(!text.contains("dlq_dead_letter_depth"));
    }

    #[test]
    fn partition_rows_are_series_of_their_own() {
        let mut extra = serde_json::Map::new();
        extra.insert("topic".into(), serde_json::json!("orders"));
        extra.insert("partition".into(), serde_json::json!(1));
        let rows = vec![
            LagRow {
                name: "billing".into(),
                lag: Some(4),
                ..Default::default()
            },
            LagRow {
                name: "billing".into(),
                lag: Some(4),
                extra,
                ..Default::default()
            },
        ];
        let text = render(&lag_families("b", &rows));
        assert!(text.contains("dlq_lag{broker=\"b\",name=\"billing\"} 4\n"));
        assert!(text.contains(
            "dlq_lag{broker=\"b\",name=\"billing\",topic=\"orders\",partition=\"1\"} 4\n"
        ));
    }

    #[test]
    fn queues_mark_dlqs_and_link_depths() {
        let queues = vec![
            QueueInfo {
                name: "orders".into(),
                depth: Some(5),
                dead_letter_queue: Some("orders.dlq".into()),
                ..Default::default()
            },
            QueueInfo {
                name: "orders.dlq".into(),
                depth: Some(2),
                is_dlq: true,
                ..Default::default()
            },
            QueueInfo {
                name: "unknown".into(),
                depth: None,
                ..Default::default()
            },
        ];
        let text = render(&queue_families("b", &queues));
        assert!(text.contains("dlq_queue_depth{broker=\"b\",name=\"orders\",dlq=\"false\"} 5\n"));
        assert!(text.contains("dlq_queue_depth{broker=\"b\",name=\"orders.dlq\",dlq=\"true\"} 2\n"));
        assert!(text.contains("dlq_dead_letter_depth{broker=\"b\",name=\"orders\"} 2\n"));
        assert!(!text.contains("name=\"unknown\""));
        assert_eq!(text.matches("# TYPE").count(), 2);
    }

    #[test]
    fn numbers_print_as_integers() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.5), "0.5");
    }
}
