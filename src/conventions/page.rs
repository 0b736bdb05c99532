//! The dead-letter conventions page (`docs/conventions.md`), written from the
//! conventions table itself so that it cannot drift from what dlq reads:
//! `tests/generated.rs` fails when the committed page differs from this.

use std::fmt::Write as _;

use super::{Convention, Enc, Field, OriginRule, Where, CONVENTIONS};

fn place(w: &Where) -> String {
    match w {
        Where::Header(h) => format!("header `{h}`"),
        Where::Broker(p) => format!("broker property `{p}`"),
        Where::Body(p) => format!("JSON body `{p}`"),
        Where::HeaderJson(h, k) => format!("key `{k}` of the JSON in header `{h}`"),
        Where::HeaderTable(h, p) => format!("`{p}` in the header table `{h}`"),
        Where::Fact(f) => format!("what the broker module works out (`{f}`)"),
        Where::FirstDeath(k) => format!("`{k}` of the first `x-death` entry"),
        Where::DeathCount => "the sum of the `x-death` counts".into(),
        Where::Stored => "the time the broker stored the dead letter".into(),
    }
}

fn encoding(e: Enc) -> &'static str {
    match e {
        Enc::Text => "",
        Enc::Int => " (integer)",
        Enc::Iso8601 => " (ISO 8601)",
        Enc::NsbTime => " (NServiceBus time)",
        Enc::UnixMs => " (ms since the epoch)",
        Enc::UnixSecs => " (s since the epoch)",
        Enc::LastSegment => " (last segment of an ARN or URL)",
        Enc::TraceType => " (the exception type of a stack trace)",
        Enc::TraceMessage => " (the message of a stack trace's exception line)",
        Enc::TraceCauseType => " (the root cause's type of a Java trace)",
        Enc::Retries => " (retries: attempts are one more)",
    }
}

fn fields(fs: &[Field]) -> String {
    if fs.is_empty() {
        return "-".into();
    }
    fs.iter()
        .map(|f| format!("{}{}", place(&f.from), encoding(f.enc)))
        .collect::<Vec<_>>()
        .join(", else ")
}

fn origin(o: &OriginRule) -> String {
    match o {
        OriginRule::Unrecorded => "not recorded".into(),
        OriginRule::NotAQueue(what) => format!("not a queue ({what}): retry needs `--to`"),
        OriginRule::Named {
            kind,
            name,
            routing_key,
            default_queue,
        } => {
            let kind = format!("{kind:?}").to_lowercase();
            let mut s = format!("{kind} named by {}", fields(name));
            if !routing_key.is_empty() {
                let _ = write!(s, ", routing key {}", fields(routing_key));
            }
            if !default_queue.is_empty() {
                let _ = write!(
                    s,
                    "; through the default exchange, the queue {}",
                    fields(default_queue)
                );
            }
            s
        }
        OriginRule::Endpoint(f) => format!("the endpoint URI in {}", fields(f)),
    }
}

fn section(out: &mut String, c: &Convention) {
    let _ = writeln!(out, "## `{}`\n", c.name);
    let markers: Vec<String> = c.marker.iter().map(place).collect();
    let _ = writeln!(out, "Recognised by: {}.\n", markers.join(", or "));
    let _ = writeln!(out, "| field | read from |\n|---|---|");
    let rows: [(&str, &[Field]); 8] = [
        ("reason", c.reason),
        ("error_type", c.error_type),
        ("source", c.source),
        ("attempts", c.attempts),
        ("first_death_at", c.failed_at),
        ("error message (fingerprint)", c.error_message),
        ("stack trace (fingerprint)", c.stack_trace),
        ("cause type (`--error-type`)", c.cause_type),
    ];
    for (name, fs) in rows {
        let _ = writeln!(out, "| {name} | {} |", fields(fs));
    }
    let _ = writeln!(out, "| origin | {} |\n", origin(&c.origin));
}

/// The whole page, in the table's order (most specific first).
pub fn page() -> String {
    let mut out = String::from(
        "# Dead-letter conventions\n\n\
         What each framework and broker writes on a dead-lettered message, and where\n\
         dlq reads each `dead_letter` field from. Written from the conventions table\n\
         (`src/conventions/table.rs`) by `DLQ_REGENERATE=1 cargo test --test generated`;\n\
         that test fails when this page and the table differ. The first convention\n\
         whose marker is present names `dead_letter.convention`; the ones after it only\n\
         fill fields it leaves unknown.\n\n",
    );
    for c in CONVENTIONS {
        section(&mut out, c);
    }
    out
}
