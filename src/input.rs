//! Where `publish` gets its messages: `--body`, `--file` or standard input,
//! split as `raw`, `lines` or `ndjson`.
//!
//! Input is read on a blocking thread and handed over through a bounded
//! channel, so a large file streams through in constant memory and the
//! backend's confirm window keeps working while the next line is read. A
//! line that does not parse ends the stream with an error naming it.
//!
//! With `publish --encode`, each message's body is a JSON value that the
//! [`Encoder`] writes with its schema on the reading thread; a value that
//! does not fit ends the stream like a malformed line, naming its line.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use anyhow::Result;
use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::bulk::publish::MessageInput;
use crate::cli::InputFormat;
use crate::exit::usage;
use crate::message::OutgoingMessage;
use crate::schema::Encoder;

/// Where the bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    Body(String),
    File(PathBuf),
    Stdin,
}

/// Messages read on a thread, received in order.
pub struct ChannelInput {
    rx: mpsc::Receiver<Result<OutgoingMessage>>,
}

#[async_trait]
impl MessageInput for ChannelInput {
    async fn next(&mut self) -> Option<Result<OutgoingMessage>> {
        self.rx.recv().await
    }
}

/// A fixed list of messages, for tests and `--body`.
pub struct VecInput(pub std::collections::VecDeque<Result<OutgoingMessage>>);

#[async_trait]
impl MessageInput for VecInput {
    async fn next(&mut self) -> Option<Result<OutgoingMessage>> {
        self.0.pop_front()
    }
}

/// Starts reading `source` as `format`; each message is encoded by
/// `encoder` when there is one, and sent `count` times with `headers` added.
pub fn open(
    source: Source,
    format: InputFormat,
    count: u64,
    headers: Vec<(String, String)>,
    encoder: Option<Encoder>,
) -> Result<ChannelInput> {
    let reader: Box<dyn Read + Send> = match &source {
        Source::Body(b) => Box::new(std::io::Cursor::new(b.clone().into_bytes())),
        Source::File(p) => Box::new(
            std::fs::File::open(p)
                .map_err(|e| usage(format!("cannot read {}: {e}", p.display())))?,
        ),
        Source::Stdin => Box::new(std::io::stdin()),
    };
    // An empty pipe is no message; an explicit --body "" or empty file is one.
    let skip_empty = matches!(source, Source::Stdin);
    let headers = flag_headers(headers);
    let (tx, rx) = mpsc::channel(256);
    std::thread::spawn(move || {
        let emit = |m: Result<OutgoingMessage>| -> bool {
            let m = match (m, &encoder) {
                (Ok(m), Some(e)) => encode(m, e, format),
                (m, _) => m,
            };
            match m {
                Ok(mut m) => {
                    for (k, v) in &headers {
                        m.headers.insert(k.clone(), v.clone());
                    }
                    (0..count).all(|_| tx.blocking_send(Ok(m.clone())).is_ok())
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    false
                }
            }
        };
        read_all(reader, format, skip_empty, emit);
    });
    Ok(ChannelInput { rx })
}

/// `--header` flags as envelope headers: a name given more than once is a
/// repeated header, its values in the order given (an array, as read ones are).
fn flag_headers(flags: Vec<(String, String)>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, v) in flags {
        match out.iter_mut().find(|(name, _)| *name == k) {
            Some((_, Value::Array(all))) => all.push(Value::String(v)),
            Some((_, first)) => *first = Value::Array(vec![first.take(), Value::String(v)]),
            None => out.push((k, Value::String(v))),
        }
    }
    out
}

/// The message with its JSON body written by `encoder`; errors name the line.
fn encode(
    mut m: OutgoingMessage,
    encoder: &Encoder,
    format: InputFormat,
) -> Result<OutgoingMessage> {
    let at = if format == InputFormat::Raw {
        "the input".to_owned()
    } else {
        format!("input line {}", m.line)
    };
    let value: Value = serde_json::from_slice(&m.body).map_err(|e| {
        usage(format!(
            "{at}: not valid JSON ({e}); --encode {} takes one JSON value a message",
            encoder.format().word()
        ))
    })?;
    m.body = encoder
        .encode(&value)
        .map_err(|e| usage(format!("{at}: {e} ({})", encoder.label())))?;
    Ok(m)
}

/// Splits the input into messages, calling `emit` until it returns false.
fn read_all(
    reader: Box<dyn Read + Send>,
    format: InputFormat,
    skip_empty: bool,
    mut emit: impl FnMut(Result<OutgoingMessage>) -> bool,
) {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    if format == InputFormat::Raw {
        let mut body = Vec::new();
        match reader.read_to_end(&mut body) {
            Ok(0) if skip_empty => {}
            Ok(_) => {
                emit(Ok(OutgoingMessage {
                    line: 1,
                    ..OutgoingMessage::from_body(body)
                }));
            }
            Err(e) => {
                emit(Err(usage(format!("reading input: {e}"))));
            }
        }
        return;
    }
    let mut line_no = 0usize;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                emit(Err(usage(format!(
                    "reading input after line {line_no}: {e}"
                ))));
                return;
            }
        }
        line_no += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if buf.is_empty() {
            continue;
        }
        let msg = match format {
            InputFormat::Lines => Ok(OutgoingMessage {
                line: line_no,
                ..OutgoingMessage::from_body(buf.clone())
            }),
            _ => parse_envelope_line(&buf, line_no),
        };
        if !emit(msg) {
            return;
        }
    }
}

/// Parses one NDJSON line; errors name the line.
pub fn parse_envelope_line(line: &[u8], line_no: usize) -> Result<OutgoingMessage> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| usage(format!("input line {line_no}: not valid JSON: {e}")))?;
    let mut m = OutgoingMessage::from_envelope(value)
        .map_err(|e| usage(format!("input line {line_no}: {e}")))?;
    m.line = line_no;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        input: &str,
        format: InputFormat,
    ) -> Vec<std::result::Result<OutgoingMessage, String>> {
        let mut out = Vec::new();
        read_all(
            Box::new(std::io::Cursor::new(input.as_bytes().to_vec())),
            format,
            true,
            |m| {
                let ok = m.is_ok();
                out.push(m.map_err(|e| e.to_string()));
                ok
            },
        );
        out
    }

    #[test]
    fn a_header_flag_given_twice_is_a_repeated_header() {
        let flags = [("tag", "a"), ("x", "1"), ("tag", "b"), ("tag", "c")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec();
        assert_eq!(
            flag_headers(flags),
            vec![
                ("tag".to_owned(), serde_json::json!(["a", "b", "c"])),
                ("x".to_owned(), serde_json::json!("1")),
            ]
        );
    }

    #[test]
    fn raw_is_one_message() {
        let r = collect("a\nb\n", InputFormat::Raw);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].as_ref().unwrap().body, b"a\nb\n");
    }

    #[test]
    fn empty_pipe_is_no_message() {
        assert!(collect("", InputFormat::Raw).is_empty());
    }

    #[test]
    fn lines_split_and_skip_blank() {
        let r = collect("a\r\n\nb", InputFormat::Lines);
        let bodies: Vec<_> = r.iter().map(|m| m.as_ref().unwrap().body.clone()).collect();
        assert_eq!(bodies, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(r[1].as_ref().unwrap().line, 3);
    }

    #[test]
    fn ndjson_stops_at_bad_line_and_names_it() {
        let r = collect(
            "{\"body\":\"a\",\"key\":\"k\"}\n{\"body\":\"b\"}\nnot json\n{\"body\":\"c\"}\n",
            InputFormat::Ndjson,
        );
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].as_ref().unwrap().key.as_deref(), Some("k"));
        let err = r[2].as_ref().unwrap_err();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn ndjson_field_errors_name_line_and_field() {
        let r = collect("{\"body\": 1}\n", InputFormat::Ndjson);
        let err = r[0].as_ref().unwrap_err();
        assert!(err.contains("line 1") && err.contains("\"body\""), "{err}");
    }
}
