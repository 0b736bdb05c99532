//! The file `dlq edit` opens in the editor: a header block, a blank line,
//! then the body, so that a person can change a header or a field of a JSON
//! body with any editor, and an unchanged file reads back as exactly the
//! message it came from.
//!
//! ```text
//! # comment lines (only in the header block)
//! @key: order-1234          the message key; no @key line: no key
//! @body: json               json (sent compact), text (sent as is) or base64
//! tenant: acme              a text header: everything after ": "
//! retries:= 3               a typed header: JSON after ":="
//! "odd: name":= "a\nb"      a name or value a line cannot hold as is is JSON
//!
//! {
//!   "order_id": 1234
//! }
//! ```
//!
//! The body runs to the end of the file, less one final newline (editors add
//! one). A JSON body is written pretty and sent compact, unless it reads back
//! as the same JSON, when the original bytes go out. A body that is not UTF-8
//! is written as base64. A file with nothing but blank and comment lines
//! means "abort".
//!
//! A schema-encoded body that was decoded is written as its value, pretty,
//! under `@body: avro` (or `protobuf`, `json-schema`): read back, it is the
//! value to encode again with the same schema, unless it is the same value,
//! when the original bytes go out. `@body: json` there sends plain JSON.

use serde_json::Value;

use crate::message::{b64, b64_decode};
use crate::message::{Headers, Message};
use crate::rewrite::Replacement;
use crate::schema::Format;

/// What the saved file says.
#[derive(Debug, PartialEq)]
pub enum Edited {
    /// Only blank and comment lines: send nothing.
    Aborted,
    Message(Replacement),
}

/// How a body is written in the file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BodyKind {
    Json,
    Text,
    Base64,
    /// The decoded value of a schema-encoded body.
    Decoded(Format),
}

impl BodyKind {
    fn of(body: &[u8]) -> Self {
        if serde_json::from_slice::<Value>(body).is_ok() {
            BodyKind::Json
        } else if std::str::from_utf8(body).is_ok() {
            BodyKind::Text
        } else {
            BodyKind::Base64
        }
    }

    fn name(self) -> &'static str {
        match self {
            BodyKind::Json => "json",
            BodyKind::Text => "text",
            BodyKind::Base64 => "base64",
            BodyKind::Decoded(f) => f.word(),
        }
    }

    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "json" => BodyKind::Json,
            "text" => BodyKind::Text,
            "base64" => BodyKind::Base64,
            "avro" => BodyKind::Decoded(Format::Avro),
            "protobuf" => BodyKind::Decoded(Format::Protobuf),
            "json-schema" => BodyKind::Decoded(Format::JsonSchema),
            _ => return None,
        })
    }
}

/// The decoded value of `m` and its format, when its body was decoded.
fn decoded(m: &Message) -> Option<(Format, Value)> {
    let d = m.decoded.as_ref()?;
    Some((d.format?, d.value_json()?))
}

/// The file for message `m`, with a comment that says where it goes.
pub fn render(m: &Message, destination: &str) -> String {
    let mut out = format!(
        "# dlq edit: message {} of {}, to be sent to {}.\n\
         # Save and quit to send it; leave it unchanged or empty it to send nothing.\n\
         # Headers until the first blank line: `name: text` or `name:= JSON`.\n\
         # @key is the key (remove the line for none); @body is json, text or base64.\n",
        one_line(&m.id),
        one_line(&m.queue),
        one_line(destination)
    );
    let value = decoded(m);
    if let (Some(d), Some(_)) = (&m.decoded, &value) {
        out.push_str(&format!(
            "# The body is shown decoded ({}); it is encoded again with that schema when sent.\n",
            one_line(&d.label())
        ));
    }
    if let Some(k) = &m.key {
        out.push_str(&header_line("@key", &Value::String(k.clone()), true));
    } else if let Some(k) = m
        .broker
        .get(crate::message::KEY_BASE64)
        .and_then(Value::as_str)
    {
        // A key that is not text, as a binary header value is written.
        out.push_str(&header_line(
            "@key",
            &serde_json::json!({"$bytes": k}),
            true,
        ));
    }
    let kind = match &value {
        Some((f, _)) => BodyKind::Decoded(*f),
        None => BodyKind::of(&m.body),
    };
    out.push_str(&format!("@body: {}\n", kind.name()));
    for (name, value) in &m.headers {
        out.push_str(&header_line(name, value, false));
    }
    out.push('\n');
    match kind {
        BodyKind::Json => {
            let v: Value = serde_json::from_slice(&m.body).unwrap_or(Value::Null);
            out.push_str(&serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        BodyKind::Decoded(_) => {
            let v = value.map(|(_, v)| v).unwrap_or(Value::Null);
            out.push_str(&serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        BodyKind::Text => out.push_str(&String::from_utf8_lossy(&m.body)),
        BodyKind::Base64 => {
            let text = b64(&m.body);
            let lines: Vec<&str> = text
                .as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect();
            out.push_str(&lines.join("\n"));
        }
    }
    out.push('\n');
    out
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn header_line(name: &str, value: &Value, special: bool) -> String {
    let name = if special || plain_name(name) {
        name.to_owned()
    } else {
        Value::String(name.to_owned()).to_string()
    };
    match value {
        Value::String(s) if plain_value(s) => format!("{name}: {s}\n"),
        other => format!("{name}:= {other}\n"),
    }
}

fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['#', '@', '"'])
        && name.trim() == name
        && !name.contains(':')
        && !name.chars().any(char::is_control)
}

fn plain_value(s: &str) -> bool {
    !s.is_empty() && s.trim() == s && !s.chars().any(char::is_control)
}

/// Reads a saved file back. `original` is the message the file was made
/// from: a JSON body that reads back as the same JSON keeps its bytes.
/// Errors name the line.
pub fn parse(text: &str, original: &Message) -> Result<Edited, String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let meaningful = lines.iter().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    });
    if !meaningful {
        return Ok(Edited::Aborted);
    }
    let mut headers = Headers::new();
    let mut key = None;
    let mut key_base64 = None;
    let mut kind = None;
    let mut body_start = lines.len();
    for (i, raw) in lines.iter().enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            body_start = i + 1;
            break;
        }
        if line.starts_with('#') {
            continue;
        }
        let at = |e: String| format!("line {n}: {e}");
        let (name, value) = header(line).map_err(at)?;
        let special = if line.starts_with('"') {
            ""
        } else {
            name.as_str()
        };
        match special {
            "@key" => match value {
                Value::String(s) => key = Some(s),
                Value::Null => key = None,
                other => match crate::message::value_bytes(&other) {
                    Some(Ok(bytes)) => key_base64 = Some(crate::message::b64(&bytes)),
                    Some(Err(e)) => return Err(at(format!("@key: {e}"))),
                    None => {
                        return Err(at("@key must be text, {\"$bytes\": BASE64} or null".into()))
                    }
                },
            },
            "@body" => {
                let named = value.as_str().and_then(BodyKind::named);
                kind = Some(match (named, decoded(original)) {
                    (Some(BodyKind::Decoded(f)), Some((had, _))) if f != had => {
                        return Err(at(format!(
                            "the body was decoded as {}: @body must be {}, json, text or base64",
                            had.word(),
                            had.word()
                        )))
                    }
                    (Some(BodyKind::Decoded(_)), None) => {
                        return Err(at(
                            "the body was not decoded: @body must be json, text or base64".into(),
                        ))
                    }
                    (Some(k), _) => k,
                    (None, _) => return Err(at("@body must be json, text or base64".into())),
                })
            }
            n if n.starts_with('@') => {
                return Err(at(format!(
                    "unknown {n}: only @key and @body (quote a header name that starts with @)"
                )))
            }
            _ if headers.contains_key(&name) => {
                return Err(at(format!("header {name:?} appears twice")));
            }
            _ => {
                headers.insert(name, value);
            }
        }
    }
    if body_start == lines.len() && !lines.iter().any(|l| l.trim().is_empty()) {
        return Err(format!(
            "line {}: no blank line between the headers and the body",
            lines.len()
        ));
    }
    let mut body = lines.get(body_start..).unwrap_or_default().join("\n");
    if body.ends_with('\n') {
        body.pop();
    }
    let mut encode = false;
    let body = match kind.unwrap_or(BodyKind::Text) {
        BodyKind::Text => body.into_bytes(),
        BodyKind::Decoded(_) => {
            let v: Value = serde_json::from_str(&body).map_err(|e| {
                format!(
                    "line {}: the body is not JSON: {e}",
                    body_start + e.line().max(1)
                )
            })?;
            match decoded(original) {
                Some((_, old)) if old == v => original.body.clone(),
                _ => {
                    encode = true;
                    serde_json::to_vec(&v).map_err(|e| e.to_string())?
                }
            }
        }
        BodyKind::Base64 => {
            let compact: String = body.split_whitespace().collect();
            b64_decode(&compact)
                .map_err(|e| format!("line {}: the body is not base64: {e}", body_start + 1))?
        }
        BodyKind::Json => {
            let v: Value = serde_json::from_str(&body).map_err(|e| {
                format!(
                    "line {}: the body is not JSON: {e}",
                    body_start + e.line().max(1)
                )
            })?;
            match serde_json::from_slice::<Value>(&original.body) {
                Ok(old) if old == v => original.body.clone(),
                _ => serde_json::to_vec(&v).map_err(|e| e.to_string())?,
            }
        }
    };
    Ok(Edited::Message(Replacement {
        headers,
        key,
        key_base64,
        body,
        encode,
    }))
}

/// One `name: text` or `name:= JSON` line.
fn header(line: &str) -> Result<(String, Value), String> {
    let (name, rest) = if line.starts_with('"') {
        let mut de = serde_json::Deserializer::from_str(line).into_iter::<String>();
        let name = match de.next() {
            Some(Ok(name)) => name,
            _ => return Err("a quoted header name must be one JSON string".into()),
        };
        let used = de.byte_offset();
        (name, &line[used..])
    } else {
        let Some(colon) = line.find(':') else {
            return Err("expected `name: text` or `name:= JSON`".into());
        };
        (line[..colon].to_owned(), &line[colon..])
    };
    let Some(rest) = rest.strip_prefix(':') else {
        return Err(format!("expected `:` after the header name {name:?}"));
    };
    if name.is_empty() {
        return Err("a header name cannot be empty (write it as \"\" to mean it)".into());
    }
    if let Some(json) = rest.strip_prefix('=') {
        let v: Value = serde_json::from_str(json.trim())
            .map_err(|e| format!("the value of {name:?} after := is not JSON: {e}"))?;
        return Ok((name, v));
    }
    match rest.strip_prefix(' ') {
        Some(text) => Ok((name, Value::String(text.to_owned()))),
        None if rest.is_empty() => Ok((name, Value::String(String::new()))),
        None => Err(format!("expected a space after `{name}:`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(body: &[u8]) -> Message {
        let mut headers = Headers::new();
        headers.insert("tenant".into(), json!("acme"));
        headers.insert("x-death".into(), json!([{"count": 1, "queue": "orders"}]));
        headers.insert("odd: name".into(), json!("two\nlines"));
        headers.insert("@at".into(), json!(" padded "));
        headers.insert("empty".into(), json!(""));
        headers.insert("n".into(), json!(3));
        Message {
            id: "3:1042".into(),
            queue: "orders.dlq".into(),
            headers,
            key: Some("order-1234".into()),
            body: body.to_vec(),
            ..Default::default()
        }
    }

    fn round_trip(m: &Message) -> Replacement {
        match parse(&render(m, "orders"), m).unwrap() {
            Edited::Message(r) => r,
            Edited::Aborted => panic!("aborted"),
        }
    }

    fn same(m: &Message, r: &Replacement) {
        assert_eq!(r.headers, m.headers);
        assert_eq!(r.key, m.key);
        assert_eq!(r.body, m.body);
        let names: Vec<&String> = r.headers.keys().collect();
        let want: Vec<&String> = m.headers.keys().collect();
        assert_eq!(names, want);
    }

    #[test]
    fn json_text_and_binary_bodies_round_trip_exactly() {
        for body in [
            &br#"{"b": 2,  "a": [1, 2.5, "x"]}"#[..],
            b"plain text",
            b"ends with newline\n\n",
            b"",
            &[0xff, 0, 1, 2][..],
        ] {
            let m = msg(body);
            same(&m, &round_trip(&m));
        }
    }

    fn decoded_msg() -> Message {
        let mut m = msg(&[0, 0, 0, 0, 42, 2, 4]);
        m.decoded = Some(crate::schema::Decoded {
            format: Some(Format::Avro),
            schema_id: Some(42),
            subject: None,
            message_type: None,
            value: crate::schema::raw(r#"{"total":42.5,"customer":"Ada"}"#.into()),
            framing: crate::schema::Framing::Framed {
                schema_id: 42,
                indexes: None,
            },
        });
        m
    }

    #[test]
    fn a_decoded_body_is_its_value_and_is_encoded_again_once_changed() {
        let m = decoded_msg();
        let text = render(&m, "orders");
        assert!(text.contains("shown decoded (avro, schema 42)"), "{text}");
        assert!(text.contains("@body: avro\n"), "{text}");
        assert!(
            text.contains("\n{\n  \"total\": 42.5,\n  \"customer\": \"Ada\"\n}\n"),
            "{text}"
        );
        // Unchanged: the original bytes, nothing to encode.
        let r = round_trip(&m);
        same(&m, &r);
        assert!(!r.encode);
        let Edited::Message(r) = parse(&text.replace("Ada", "Bo"), &m).unwrap() else {
            panic!("aborted")
        };
        assert!(r.encode);
        assert_eq!(r.body, br#"{"total":42.5,"customer":"Bo"}"#);
        // Plain JSON instead, by choice.
        let Edited::Message(r) = parse(&text.replace("@body: avro", "@body: json"), &m).unwrap()
        else {
            panic!("aborted")
        };
        assert!(!r.encode);
        // Another format than the one it was read as is refused.
        let e = parse(&text.replace("@body: avro", "@body: protobuf"), &m).unwrap_err();
        assert!(e.contains("decoded as avro"), "{e}");
        let e = parse(&text, &msg(b"x")).unwrap_err();
        assert!(e.contains("was not decoded"), "{e}");
    }

    #[test]
    fn a_binary_key_is_in_the_file_and_goes_only_if_it_stays() {
        let mut m = msg(b"x");
        m.key = None;
        m.broker
            .insert("key_base64".into(), Value::String("AP9rMw==".into()));
        let text = render(&m, "orders");
        assert!(
            text.contains("@key:= {\"$bytes\":\"AP9rMw==\"}\n"),
            "{text}"
        );
        let r = round_trip(&m);
        assert_eq!(
            (r.key.as_deref(), r.key_base64.as_deref()),
            (None, Some("AP9rMw=="))
        );
        let dropped = text.replace("@key:= {\"$bytes\":\"AP9rMw==\"}\n", "");
        let Edited::Message(r) = parse(&dropped, &m).unwrap() else {
            panic!()
        };
        assert_eq!(r.key_base64, None);
        let out = crate::rewrite::Rewrite::replace_with(r)
            .copy_of(&m)
            .unwrap();
        assert!(!out.broker.contains_key("key_base64"), "{:?}", out.broker);
    }

    #[test]
    fn no_key_stays_no_key() {
        let mut m = msg(b"x");
        m.key = None;
        same(&m, &round_trip(&m));
    }

    #[test]
    fn a_json_body_is_pretty_in_the_file_and_compact_when_changed() {
        let m = msg(br#"{"amount":12,"id":"a"}"#);
        let text = render(&m, "orders");
        assert!(
            text.contains("{\n  \"amount\": 12,\n  \"id\": \"a\"\n}\n"),
            "{text}"
        );
        let edited = text
            .replace("\"amount\": 12", "\"amount\": 1200")
            .replace("tenant: acme", "tenant: globex");
        let Edited::Message(r) = parse(&edited, &m).unwrap() else {
            panic!()
        };
        assert_eq!(r.body, br#"{"amount":1200,"id":"a"}"#);
        assert_eq!(r.headers["tenant"], "globex");
    }

    #[test]
    fn an_emptied_file_aborts() {
        let m = msg(b"x");
        assert_eq!(parse("", &m).unwrap(), Edited::Aborted);
        assert_eq!(
            parse("\n# only a comment\n\n", &m).unwrap(),
            Edited::Aborted
        );
    }

    #[test]
    fn errors_name_the_line() {
        let m = msg(b"{}");
        let e = parse("# c\ntenant acme\n\n{}\n", &m).unwrap_err();
        assert!(e.starts_with("line 2: "), "{e}");
        let e = parse("@body: json\nn:= [1,\n\n{}\n", &m).unwrap_err();
        assert!(e.starts_with("line 2: "), "{e}");
        let e = parse("@body: json\na: 1\n\n{\n  \"x\": ,\n}\n", &m).unwrap_err();
        assert!(e.starts_with("line 5: "), "{e}");
        let e = parse("a: 1\na: 2\n\nbody\n", &m).unwrap_err();
        assert!(e.starts_with("line 2: ") && e.contains("twice"), "{e}");
        let e = parse("@nope: 1\n\nbody\n", &m).unwrap_err();
        assert!(e.starts_with("line 1: "), "{e}");
    }

    #[test]
    fn a_body_kind_can_be_switched_to_text() {
        let m = msg(b"{}");
        let Edited::Message(r) = parse("@body: text\n\n{ \"a\" : 1 }\n", &m).unwrap() else {
            panic!()
        };
        assert_eq!(r.body, b"{ \"a\" : 1 }");
        assert!(r.headers.is_empty());
        assert_eq!(r.key, None);
    }
}
