//! Stack traces as frameworks record them: Java's `printStackTrace` text
//! (Spring, Kafka Connect and Streams), .NET's `Exception.ToString()`
//! (MassTransit, NServiceBus, Wolverine) and Python's `traceback` module
//! (dramatiq).
//!
//! [`exception_line`] finds the line that names the exception (`Type:
//! message`): the first line in Java and .NET, the last part in Python,
//! which prints the most recent call last. [`frames`] lists a trace's
//! frames innermost first, each reduced to what stays the same between two
//! builds of the same code: Java `pkg.Class.method(File.java)` without the
//! line number or module prefix; .NET `Ns.Class.Method(args)` without the
//! file path and line; Python `file.py in func: code line` without the
//! directory and line number. Which frames: Java's of the root cause (the
//! last `Caused by:` section, since the outer sections are the framework's
//! dispatch code, the same for every failure of a listener); .NET's as
//! printed (the inner exception's come first); Python's of the exception
//! the traceback ends with, read backwards so that the frame that raised
//! comes first, as in the other two.

/// The `Type` and `message` of the exception a trace names; the message is
/// empty when there is none. None when no line looks like one.
pub fn exception_line(trace: &str) -> Option<(String, String)> {
    let text = if is_python(trace) {
        python_exception(trace)?
    } else {
        trace
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())?
            .to_owned()
    };
    split_exception(&text)
}

/// The type of a Java trace's root cause: its last `Caused by:` line.
pub fn root_cause_type(trace: &str) -> Option<String> {
    let line = trace
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Caused by:"))?;
    split_exception(line).map(|(t, _)| t)
}

/// `Type: message` (or a bare `Type`) into its parts.
fn split_exception(text: &str) -> Option<(String, String)> {
    let text = text.trim();
    let (ty, msg) = match text.split_once(':') {
        Some((t, m)) if is_type_name(t) => (t, m.trim()),
        _ if is_type_name(text) => (text, ""),
        _ => return None,
    };
    // .NET names the inner exception after ` ---> ` on the same line.
    let msg = msg.split(" ---> ").next().unwrap_or(msg).trim();
    Some((ty.to_owned(), msg.to_owned()))
}

/// A class name as traces print them: `pkg.Outer$Inner`, `Ns.Type+Nested`,
/// `List`1`, `ValueError`.
fn is_type_name(t: &str) -> bool {
    !t.is_empty()
        && !t.starts_with('.')
        && !t.ends_with('.')
        && !t.contains("..")
        && t.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '.' | '+' | '`' | '<' | '>'))
}

fn is_python(trace: &str) -> bool {
    trace.contains("Traceback (most recent call last):")
        || trace.lines().any(|l| l.starts_with("  File \""))
}

/// Python's exception text: what follows the frames of the last traceback
/// section (several lines when the message has several).
fn python_exception(trace: &str) -> Option<String> {
    let lines: Vec<&str> = trace.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.starts_with("Traceback (most recent call last):"))
        .map_or(0, |i| i + 1);
    let rest: Vec<&str> = lines[start..]
        .iter()
        .copied()
        .skip_while(|l| l.is_empty() || l.starts_with(' '))
        .collect();
    let text = rest.join("\n");
    (!text.trim().is_empty()).then_some(text)
}

/// Up to `n` frames, innermost first, reduced as the module docs say.
pub fn frames(trace: &str, n: usize) -> Vec<String> {
    let mut out = if is_python(trace) {
        python_frames(trace)
    } else {
        at_frames(trace)
    };
    out.truncate(n);
    out
}

/// Java and .NET: `at` lines; a `Caused by:` at the start of a line starts
/// the section that counts, `Suppressed:` sections do not count.
fn at_frames(trace: &str) -> Vec<String> {
    let mut section = Vec::new();
    let mut suppressed = false;
    for line in trace.lines() {
        let t = line.trim_start();
        if line.starts_with("Caused by:") {
            section.clear();
            suppressed = false;
        } else if t.starts_with("Suppressed:") || t.starts_with("Caused by:") {
            suppressed = true;
        } else if let Some(frame) = t.strip_prefix("at ") {
            if !suppressed {
                section.push(at_frame(frame));
            }
        }
    }
    section
}

/// One `at` frame without its line number, file path or Java module.
fn at_frame(frame: &str) -> String {
    let frame = frame.trim();
    // .NET: `Ns.Class.Method() in C:\src\File.cs:line 42`.
    let frame = frame.split(" in ").next().unwrap_or(frame).trim_end();
    // Java 9+: `java.base@17.0.2/java.lang.Integer.parseInt(...)`, `app//...`.
    let open = frame.find('(').unwrap_or(frame.len());
    let frame = match frame[..open].rfind('/') {
        Some(i) => &frame[i + 1..],
        None => frame,
    };
    // What a logger prints after the frame (`~[spring-kafka-2.8.3.jar:2.8.3]`).
    let frame = match (frame.find('('), frame.find(')')) {
        (Some(o), Some(c)) if c > o => &frame[..=c],
        _ => frame,
    };
    // Java: `(File.java:42)` to `(File.java)`.
    match (frame.rfind(':'), frame.ends_with(')')) {
        (Some(i), true)
            if frame[i + 1..frame.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_digit()) =>
        {
            format!("{})", &frame[..i])
        }
        _ => frame.to_owned(),
    }
}

/// Python: `File "path", line N, in func` and the code line under it, of
/// the last traceback section, innermost first.
fn python_frames(trace: &str) -> Vec<String> {
    let mut section: Vec<String> = Vec::new();
    let mut lines = trace.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("Traceback (most recent call last):") {
            section.clear();
            continue;
        }
        let Some(rest) = line.trim_start().strip_prefix("File \"") else {
            continue;
        };
        let Some((path, tail)) = rest.split_once('"') else {
            continue;
        };
        let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let func = tail.split(", in ").nth(1).unwrap_or("").trim();
        // The code line is indented deeper; markers (`^^^^`) are not code.
        let code = match lines.peek() {
            Some(next)
                if next.starts_with("    ")
                    && !next.trim_start().starts_with("File \"")
                    && !next.trim().chars().all(|c| c == '^' || c == '~') =>
            {
                lines.next().map(str::trim).unwrap_or("")
            }
            _ => "",
        };
        section.push(format!("{file} in {func}: {code}"));
    }
    section.reverse();
    section
}

#[cfg(test)]
#[path = "trace_tests.rs"]
pub(super) mod tests;
