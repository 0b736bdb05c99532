//! One printer decides what goes where: data on stdout, everything else on
//! stderr; tables for people, JSON and NDJSON for scripts.
//!
//! Tables fit the terminal and use plain columns when stdout is not a
//! terminal. JSON lists are streamed element by element so a deep queue
//! never has to fit in memory. Text reaching a terminal is sanitized. Color
//! is used only when asked for, or on a terminal without `NO_COLOR`. A
//! closed pipe (`dlq list q | head`) ends the run quietly.

use std::io::{self, IsTerminal, Write};

use anyhow::Result;
use comfy_table::{
    presets, Attribute, Cell, Color, ColumnConstraint, ContentArrangement, Table, Width,
};
use serde::Serialize;

use crate::bulk::Progress;
use crate::cli::{ColorChoice, GlobalArgs, OutputFormat};
use crate::fit;
use crate::report::{Action, BulkReport};
use crate::sanitize;
use crate::secrets;

/// Where a backend's warnings go: the printer's, once a command set it.
#[derive(Clone, Default)]
pub struct Warner(Option<Printer>);

impl Warner {
    pub fn new(printer: &Printer) -> Self {
        Warner(Some(printer.clone()))
    }

    pub fn warn(&self, text: &str) {
        match &self.0 {
            Some(p) => p.warn(text),
            None => eprintln!("dlq: warning: {}", secrets::scrub(text)),
        }
    }

    /// A note for people (silent with `-q`), as the Printer writes them.
    pub fn note(&self, text: &str) {
        match &self.0 {
            Some(p) => p.note(text),
            None => eprintln!("{}", secrets::scrub(text)),
        }
    }
}

impl std::fmt::Debug for Warner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Warner")
    }
}

/// Where output goes and how it looks.
#[derive(Debug, Clone)]
pub struct Printer {
    pub format: OutputFormat,
    pub color: bool,
    pub quiet: bool,
    pub verbose: u8,
    pub stdout_tty: bool,
    pub stderr_tty: bool,
    /// `-o wide`: tables keep every column whole at any width.
    pub wide: bool,
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Self {
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        let color = match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        let wide = global.output == Some(OutputFormat::Wide);
        Printer {
            format: match global.output {
                None | Some(OutputFormat::Wide) => OutputFormat::Table,
                Some(f) => f,
            },
            wide,
            color,
            quiet: global.quiet,
            verbose: global.verbose,
            stdout_tty,
            stderr_tty,
        }
    }

    pub fn is_table(&self) -> bool {
        self.format == OutputFormat::Table
    }

    /// A table styled for where stdout goes.
    pub fn table(&self, header: &[&str]) -> Table {
        let mut t = Table::new();
        if self.stdout_tty {
            t.load_preset(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Disabled)
                .set_truncation_indicator("…");
        } else {
            t.load_preset(presets::NOTHING)
                .set_content_arrangement(ContentArrangement::Disabled);
        }
        if self.color {
            // comfy-table measures styled cells correctly; raw escapes would be counted as text.
            t.enforce_styling();
        }
        t.set_header(header.iter().map(|h| {
            let c = Cell::new(h);
            if self.color {
                c.add_attribute(Attribute::Bold)
            } else {
                c
            }
        }));
        t
    }

    /// Writes a line of data to stdout.
    pub fn line(&self, text: &str) -> Result<()> {
        let mut out = io::stdout().lock();
        writeln!(out, "{text}")?;
        Ok(())
    }

    /// Writes text to stdout as it is (it ends with its own newline).
    pub fn raw(&self, text: &str) -> Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }

    pub fn print_table(&self, table: &Table) -> Result<()> {
        let mut table = table.clone();
        if self.stdout_tty && !self.wide {
            fit_to_terminal(&mut table);
        }
        let text = table.to_string();
        let text = if self.stdout_tty {
            text
        } else {
            text.lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n")
        };
        self.line(&text)
    }

    /// One JSON document on stdout, pretty-printed.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.line(&self.safe_json(text))
    }

    /// One JSON object on one line of stdout.
    pub fn ndjson<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let text = serde_json::to_string(value)?;
        self.line(&self.safe_json(text))
    }

    fn safe_json(&self, text: String) -> String {
        if self.stdout_tty {
            sanitize::escape_json_for_terminal(&text)
        } else {
            text
        }
    }

    /// Data values in the chosen format: a JSON array, NDJSON lines.
    pub fn values<T: Serialize>(&self, values: &[T]) -> Result<()> {
        match self.format {
            OutputFormat::Ndjson => values.iter().try_for_each(|v| self.ndjson(v)),
            _ => self.json(values),
        }
    }

    /// A streaming writer for a list of JSON values in the chosen format.
    pub fn stream(&self) -> JsonStream<'_> {
        JsonStream {
            printer: self,
            count: 0,
        }
    }

    /// A note for people on stderr; silent with `-q`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}", secrets::scrub(text));
        }
    }

    /// A warning on stderr; shown even with `-q`.
    pub fn warn(&self, text: &str) {
        eprintln!(
            "{} {}",
            self.paint_err("dlq: warning:", "33"),
            secrets::scrub(text)
        );
    }

    /// A progress bar on stderr when stderr is a terminal and not `-q`.
    pub fn progress(&self, total: Option<u64>, verb: &str) -> Progress {
        if self.stderr_tty && !self.quiet {
            Progress::bar(total, verb)
        } else {
            Progress::hidden()
        }
    }

    /// Prints a bulk command's closing summary: an object on stdout in JSON
    /// modes, a line on stderr in table mode; failures are always listed.
    pub fn summary(&self, report: &BulkReport, verb: Action) -> Result<()> {
        match self.format {
            OutputFormat::Json | OutputFormat::Prometheus => self.json(&report.summary(verb))?,
            OutputFormat::Ndjson => self.ndjson(&report.summary(verb))?,
            OutputFormat::Table | OutputFormat::Wide => {
                let mut line = format!(
                    "{}{} {}, skipped {}, failed {}",
                    if report.dry_run {
                        "dry run: would have "
                    } else {
                        ""
                    },
                    verb.as_str(),
                    report.done,
                    report.skipped,
                    report.failed
                );
                if report.interrupted {
                    line.push_str(" (interrupted)");
                }
                if !self.quiet || report.failed > 0 || report.interrupted {
                    eprintln!("{}", secrets::scrub(&line));
                }
            }
        }
        for f in &report.failures {
            eprintln!(
                "  {}: {}",
                sanitize::escape(&f.id, false),
                secrets::scrub(&sanitize::escape(&f.error, false))
            );
        }
        for n in &report.notes {
            self.note(n);
        }
        if let Some(stop) = &report.stopped {
            eprintln!(
                "{} {}",
                self.paint_err("dlq: error:", "31"),
                secrets::scrub(&stop.message)
            );
            if self.verbose > 0 {
                for cause in &stop.causes {
                    eprintln!("  caused by: {}", secrets::scrub(cause));
                }
            }
        }
        Ok(())
    }

    /// A table cell, in `color` when color is on.
    pub fn cell(&self, text: impl Into<String>, color: Option<Color>) -> Cell {
        let c = Cell::new(text.into());
        match color {
            Some(col) if self.color => c.fg(col),
            _ => c,
        }
    }

    pub fn bold(&self, s: &str) -> String {
        self.paint(s, "1")
    }

    /// Wraps `s` in an ANSI style when color is on.
    pub fn paint(&self, s: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    fn paint_err(&self, s: &str, code: &str) -> String {
        if self.color && self.stderr_tty {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

/// Streams JSON values: `[a,b,...]` in JSON mode, one per line in NDJSON.
pub struct JsonStream<'a> {
    printer: &'a Printer,
    count: u64,
}

impl JsonStream<'_> {
    pub fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let p = self.printer;
        if p.format == OutputFormat::Ndjson {
            p.ndjson(value)?;
        } else {
            let text = serde_json::to_string_pretty(value)?;
            let indented = text.replace('\n', "\n  ");
            let lead = if self.count == 0 { "[\n  " } else { ",\n  " };
            let mut out = io::stdout().lock();
            write!(out, "{lead}{}", p.safe_json(indented))?;
        }
        self.count += 1;
        Ok(())
    }

    pub fn finish(self) -> Result<u64> {
        if self.printer.format != OutputFormat::Ndjson {
            let mut out = io::stdout().lock();
            writeln!(out, "{}", if self.count == 0 { "[]" } else { "\n]" })?;
        }
        Ok(self.count)
    }
}

/// Shortens or leaves out columns so each row is one line at the
/// terminal's width (see `fit`).
fn fit_to_terminal(table: &mut Table) {
    let Some(total) = table.width() else {
        return;
    };
    let headers: Vec<String> = table
        .header()
        .map(|h| h.cell_iter().map(|c| c.content()).collect())
        .unwrap_or_default();
    let widths = table.column_max_content_widths();
    let fits = fit::fit(&headers, &widths, total);
    if fits.iter().all(|f| *f == fit::Fit::Whole) {
        return;
    }
    for (i, f) in fits.iter().enumerate() {
        let constraint = match f {
            fit::Fit::Whole => ColumnConstraint::ContentWidth,
            fit::Fit::Cut(w) => ColumnConstraint::Absolute(Width::Fixed(*w)),
            fit::Fit::Hidden => ColumnConstraint::Hidden,
        };
        if let Some(c) = table.column_mut(i) {
            c.set_constraint(constraint);
        }
    }
    table.set_content_arrangement(ContentArrangement::Dynamic);
    for r in table.row_iter_mut() {
        r.max_height(1);
    }
}

/// Human age: `45s`, `12m`, `3h`, `5d`.
pub fn human_age(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Human size: `187 B`, `1.0 KiB`, `1.0 MiB`.
pub fn human_size(n: usize) -> String {
    match n {
        0..=1023 => format!("{n} B"),
        1024..=1_048_575 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// True when the error is a closed stdout pipe, which is not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    // A broker's connection closed under dlq (a TLS peer refusing the client
    // certificate) is a broker error, never the quiet end of `| head`.
    let from_broker = err
        .chain()
        .any(|c| c.downcast_ref::<crate::exit::Tagged>().is_some());
    !from_broker
        && err.chain().any(|c| {
            c.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_our_own_output_ends_quietly_on_a_broken_pipe() {
        let pipe = || io::Error::new(io::ErrorKind::BrokenPipe, "Broken pipe");
        assert!(is_broken_pipe(&anyhow::Error::new(pipe())));
        let broker = crate::exit::broker_with("rabbitmq", "connecting", "closed", pipe());
        assert!(!is_broken_pipe(&broker));
    }

    #[test]
    fn ages_and_sizes() {
        assert_eq!(human_age(Duration::from_secs(5)), "5s");
        assert_eq!(human_age(Duration::from_secs(600)), "10m");
        assert_eq!(human_age(Duration::from_secs(3 * 3600 + 120)), "3h02m");
        assert_eq!(human_age(Duration::from_secs(2 * 86400 + 3600)), "2d01h");
        assert_eq!(human_size(187), "187 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(1 << 20), "1.0 MiB");
    }

    #[test]
    fn broken_pipe_is_recognised() {
        let e = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
