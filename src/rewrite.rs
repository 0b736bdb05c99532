//! Fix, then retry: what `retry --set-header/--unset-header/--transform` and
//! `edit` change on the copy of a message before it goes back.
//!
//! A [`Rewrite`] is one cloneable value carried in `RedriveOptions`; every
//! backend builds its copy with [`Rewrite::copy_of`] and, when that says why
//! not, leaves the original on the DLQ and lists it as failed, by the same
//! path it uses for a message it cannot send. The order is fixed: the edited
//! replacement (headers, key, body) first, then `--unset-header`, then
//! `--set-header`, then the jq filter on the body, and last the re-drive count
//! header, so no rewrite can drop or fake it. The filter is compiled once,
//! before connecting, with jaq (a jq implementation in Rust); it runs on a
//! JSON body and must yield exactly one value, which becomes the body,
//! serialized compactly.
//!
//! A schema-encoded body (Avro, Protobuf, JSON Schema) is rewritten as its
//! decoded value: the run's [`Decoder`] reads the original body, the filter
//! (or the edited value) gives the new value, and it is encoded again with
//! the schema it was read with (same ID, same message type, same framing).
//! A body that cannot be decoded, or a new value that does not fit the
//! schema, is a failure of that message alone: it stays on the DLQ.

use std::fmt;
use std::sync::Arc;

use anyhow::Result;
use serde_json::Value;

use crate::exit::usage;
use crate::jq::{self, Query};
use crate::message::{Headers, Message, OutgoingMessage, KEY_BASE64, REDRIVE_HEADER};
use crate::schema::Decoder;

/// A compiled jq filter for the body.
#[derive(Clone)]
pub struct Transform {
    query: Query,
}

/// The message `edit` sends instead of the original.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Replacement {
    pub headers: Headers,
    pub key: Option<String>,
    /// A key that is not UTF-8, in base64 (`broker.key_base64` on Kafka).
    pub key_base64: Option<String>,
    pub body: Vec<u8>,
    /// The body is the JSON of a decoded value, to be encoded again with
    /// the original's schema.
    pub encode: bool,
}

/// What changes on a re-driven copy; the default changes nothing.
#[derive(Clone, Default)]
pub struct Rewrite {
    /// `--set-header KEY=VALUE`, in order; values are strings.
    pub set: Vec<(String, String)>,
    /// `--unset-header KEY`.
    pub unset: Vec<String>,
    /// `--transform FILTER`.
    pub transform: Option<Transform>,
    /// `edit`: the edited message.
    pub replace: Option<Arc<Replacement>>,
    /// Reads schema-encoded bodies, and encodes their new values.
    pub schema: Option<Arc<Decoder>>,
}

impl fmt::Debug for Rewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rewrite")
            .field("set", &self.set)
            .field("unset", &self.unset)
            .field(
                "transform",
                &self.transform.as_ref().map(|t| t.query.source()),
            )
            .field("replace", &self.replace)
            .field("schema", &self.schema.is_some())
            .finish()
    }
}

impl Rewrite {
    /// From the command line; a filter that does not compile, or a header
    /// dlq itself maintains, is a usage error.
    pub fn new(
        set: &[(String, String)],
        unset: &[String],
        transform: Option<&str>,
    ) -> Result<Self> {
        for name in set.iter().map(|(k, _)| k).chain(unset) {
            if name.eq_ignore_ascii_case(REDRIVE_HEADER) {
                return Err(usage(format!(
                    "{REDRIVE_HEADER} is maintained by dlq (the copy always carries the count raised by one); it cannot be set or unset"
                )));
            }
        }
        let transform = match transform {
            Some(code) => Some(Transform::compile(code)?),
            None => None,
        };
        Ok(Rewrite {
            set: set.to_vec(),
            unset: unset.to_vec(),
            transform,
            replace: None,
            schema: None,
        })
    }

    /// The same rewrite, reading and writing schema-encoded bodies with `decoder`.
    pub fn with_schema(self, decoder: Option<Decoder>) -> Self {
        Rewrite {
            schema: decoder.map(Arc::new),
            ..self
        }
    }

    /// A rewrite that sends `replacement` instead of the message.
    pub fn replace_with(replacement: Replacement) -> Self {
        Rewrite {
            replace: Some(Arc::new(replacement)),
            ..Default::default()
        }
    }

    /// True when the copy is the message as it is (plus the count header).
    pub fn is_identity(&self) -> bool {
        self.set.is_empty()
            && self.unset.is_empty()
            && self.transform.is_none()
            && self.replace.is_none()
    }

    /// [`Rewrite::copy_of`] a message the caller has done with: as it is
    /// (the usual re-drive), the copy takes its body and maps instead of
    /// cloning them.
    pub fn copy_from(&self, m: Message) -> Result<OutgoingMessage, String> {
        if self.is_identity() {
            return Ok(OutgoingMessage::redrive_from(m));
        }
        self.copy_of(&m)
    }

    /// The copy to send back, or why this message cannot be sent.
    pub fn copy_of(&self, m: &Message) -> Result<OutgoingMessage, String> {
        let mut out = OutgoingMessage::redrive_of(m);
        // A decoded value waiting to be encoded with the schema `m` was read with.
        let mut value: Option<Value> = None;
        if let Some(r) = &self.replace {
            out.headers = r.headers.clone();
            out.key = r.key.clone();
            // The file says which key goes: a binary one removed there is not sent.
            match &r.key_base64 {
                Some(k) => out
                    .broker
                    .insert(KEY_BASE64.into(), Value::String(k.clone())),
                None => out.broker.remove(KEY_BASE64),
            };
            out.body = r.body.clone();
            if r.encode {
                let v = serde_json::from_slice(&r.body)
                    .map_err(|e| format!("the edited value is not JSON: {e}"))?;
                value = Some(v);
            }
        }
        for name in &self.unset {
            out.headers.shift_remove(name);
        }
        for (name, value) in &self.set {
            out.headers
                .insert(name.clone(), Value::String(value.clone()));
        }
        if let Some(t) = &self.transform {
            if value.is_none() && self.replace.is_none() {
                value = self.decoded_value(m)?;
            }
            match value.take() {
                Some(v) => value = Some(t.apply_value(&v)?),
                None => out.body = t.apply(&out.body)?,
            }
        }
        if let Some(v) = value {
            out.body = self.encode(m, &v)?;
        }
        out.headers.insert(
            REDRIVE_HEADER.into(),
            Value::String((m.redrives() + 1).to_string()),
        );
        Ok(out)
    }
}

impl Rewrite {
    /// The decoded value of a schema-encoded body; None for a body that is
    /// not one (it is rewritten as it is), an error when it cannot be read.
    fn decoded_value(&self, m: &Message) -> Result<Option<Value>, String> {
        let Some(d) = self.schema.as_ref().and_then(|s| s.decode(&m.body)) else {
            return Ok(None);
        };
        match &d.value {
            Ok(_) => d
                .value_json()
                .map(Some)
                .ok_or_else(|| "the decoded value is not JSON".to_owned()),
            Err(e) => Err(format!("the body cannot be decoded: {e}")),
        }
    }

    /// `value` encoded with the schema the body of `m` was read with.
    fn encode(&self, m: &Message, value: &Value) -> Result<Vec<u8>, String> {
        let decoder = self
            .schema
            .as_ref()
            .ok_or("no schema to encode the new value with")?;
        let d = decoder
            .decode(&m.body)
            .ok_or("the original body is no longer schema-encoded")?;
        if let Err(e) = &d.value {
            return Err(format!("the body cannot be decoded: {e}"));
        }
        let encoder = decoder
            .encoder_for(&d)
            .map_err(|e| format!("cannot encode with {}: {e}", d.label()))?;
        encoder
            .encode_like(value, Some(&m.body))
            .map_err(|e| format!("the new value does not fit its schema ({}): {e}", d.label()))
    }
}

impl Transform {
    /// Parses and compiles a jq filter; errors carry jaq's message.
    pub fn compile(code: &str) -> Result<Self> {
        Ok(Transform {
            query: Query::compile("--transform", code)?,
        })
    }

    /// The filter's one output for a JSON body, compact.
    pub fn apply(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            return Err(format!("--transform: the body is not JSON ({e})"));
        }
        let input =
            jq::parse(body).map_err(|e| format!("--transform: the body is not JSON ({e})"))?;
        let value = self.run(input)?;
        serde_json::to_vec(&value).map_err(|e| e.to_string())
    }

    /// The filter's one output for a decoded value.
    pub fn apply_value(&self, value: &Value) -> Result<Value, String> {
        let text = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        let input = jq::parse(&text)
            .map_err(|e| format!("--transform: the decoded value is not JSON ({e})"))?;
        self.run(input)
    }

    fn run(&self, input: jaq_json::Val) -> Result<Value, String> {
        let mut outputs = self.query.run(input);
        let first = match outputs.next() {
            None => return Err("--transform: the filter yielded no value".into()),
            Some(r) => r.map_err(|e| format!("--transform: {e}"))?,
        };
        if outputs.next().is_some() {
            return Err("--transform: the filter yielded more than one value".into());
        }
        let text = first.to_string();
        // jaq's values are a superset of JSON (byte strings, NaN): only JSON goes out.
        serde_json::from_str(&text)
            .map_err(|e| format!("--transform: the filter's output is not JSON ({e}): {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(body: &str) -> Message {
        let mut headers = Headers::new();
        headers.insert("tenant".into(), json!("acme"));
        headers.insert("x-error".into(), json!("boom"));
        Message {
            id: "1".into(),
            headers,
            key: Some("k".into()),
            body: body.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn rw(set: &[(&str, &str)], unset: &[&str], t: Option<&str>) -> Rewrite {
        let set: Vec<(String, String)> = set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let unset: Vec<String> = unset.iter().map(|s| s.to_string()).collect();
        Rewrite::new(&set, &unset, t).unwrap()
    }

    #[test]
    fn identity_is_the_plain_redrive_copy() {
        let m = msg("{}");
        let r = Rewrite::default();
        assert!(r.is_identity());
        assert_eq!(r.copy_of(&m).unwrap(), OutgoingMessage::redrive_of(&m));
    }

    /// A copy made from the message itself is the copy made from a borrow of
    /// it, header order included, whatever the rewrite and the count so far.
    #[test]
    fn a_copy_from_the_message_is_its_copy() {
        let mut counted = msg("{\"amount\":1}");
        counted.broker.insert("partition".into(), json!(3));
        counted
            .headers
            .shift_insert(0, REDRIVE_HEADER.into(), json!("4"));
        let rewrites = [
            Rewrite::default(),
            rw(&[("tenant", "globex")], &["x-error"], None),
            rw(&[], &[], Some(".amount |= . * 100")),
        ];
        for m in [msg("{\"amount\":1}"), counted] {
            for r in &rewrites {
                let borrowed = r.copy_of(&m).unwrap();
                let owned = r.copy_from(m.clone()).unwrap();
                assert_eq!(owned, borrowed);
                let names = |o: &OutgoingMessage| o.headers.keys().cloned().collect::<Vec<_>>();
                assert_eq!(names(&owned), names(&borrowed));
            }
        }
        let out = Rewrite::default().copy_from(msg("{}")).unwrap();
        assert_eq!(out.headers[REDRIVE_HEADER], "1");
        assert!(out.broker.is_empty());
    }

    #[test]
    fn sets_and_unsets_headers_keeping_the_count() {
        let m = msg("{}");
        let r = rw(&[("tenant", "globex"), ("fixed", "1")], &["x-error"], None);
        let out = r.copy_of(&m).unwrap();
        let names: Vec<&str> = out.headers.keys().map(String::as_str).collect();
        assert_eq!(names, ["tenant", REDRIVE_HEADER, "fixed"]);
        assert_eq!(out.headers["tenant"], "globex");
        assert_eq!(out.headers["fixed"], "1");
        assert_eq!(out.headers[REDRIVE_HEADER], "1");
        assert_eq!(out.key.as_deref(), Some("k"));
    }

    #[test]
    fn unset_then_set_of_one_name_sets_it() {
        let out = rw(&[("x-error", "new")], &["x-error"], None)
            .copy_of(&msg("{}"))
            .unwrap();
        assert_eq!(out.headers["x-error"], "new");
    }

    #[test]
    fn the_count_header_is_refused() {
        let set = vec![(REDRIVE_HEADER.to_owned(), "0".to_owned())];
        assert!(Rewrite::new(&set, &[], None).is_err());
        assert!(Rewrite::new(&[], &["DLQ-Redrive-Count".into()], None).is_err());
    }

    #[test]
    fn transform_rewrites_a_json_body_compactly() {
        let r = rw(&[], &[], Some(".amount |= . * 100 | del(.bad)"));
        let out = r
            .copy_of(&msg(r#"{ "amount": 12, "bad": true, "id": "a" }"#))
            .unwrap();
        assert_eq!(out.body, br#"{"amount":1200,"id":"a"}"#);
    }

    #[test]
    fn a_body_that_is_not_json_fails() {
        let e = rw(&[], &[], Some("."))
            .copy_of(&msg("not json"))
            .unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
    }

    #[test]
    fn a_filter_error_fails_with_jaqs_message() {
        let e = rw(&[], &[], Some(r#"error("no amount")"#))
            .copy_of(&msg("{}"))
            .unwrap_err();
        assert!(e.contains("no amount"), "{e}");
        let e = rw(&[], &[], Some(".a + 1"))
            .copy_of(&msg(r#"{"a":"x"}"#))
            .unwrap_err();
        assert!(e.starts_with("--transform: "), "{e}");
    }

    #[test]
    fn zero_or_several_outputs_fail() {
        let e = rw(&[], &[], Some("empty")).copy_of(&msg("{}")).unwrap_err();
        assert!(e.contains("no value"), "{e}");
        let e = rw(&[], &[], Some(".[]"))
            .copy_of(&msg("[1,2]"))
            .unwrap_err();
        assert!(e.contains("more than one"), "{e}");
        assert_eq!(
            rw(&[], &[], Some(".[]")).copy_of(&msg("[7]")).unwrap().body,
            b"7"
        );
    }

    #[test]
    fn a_filter_that_does_not_compile_is_a_usage_error() {
        let e = Transform::compile(".a |").err().unwrap();
        assert_eq!(crate::exit::code_for(&e), crate::exit::Exit::Usage);
        assert!(e.to_string().contains("expected"), "{e}");
        let e = Transform::compile("nosuchfn(1)").err().unwrap();
        assert!(e.to_string().contains("nosuchfn"), "{e}");
    }

    #[test]
    fn a_replacement_comes_first_then_the_count() {
        let mut headers = Headers::new();
        headers.insert("only".into(), json!("this"));
        headers.insert(REDRIVE_HEADER.into(), json!("99"));
        let r = Rewrite::replace_with(Replacement {
            headers,
            key: None,
            body: b"edited".to_vec(),
            ..Default::default()
        });
        let out = r.copy_of(&msg("{}")).unwrap();
        assert_eq!(out.body, b"edited");
        assert_eq!(out.key, None);
        assert_eq!(out.headers["only"], "this");
        assert_eq!(out.headers[REDRIVE_HEADER], "1");
        assert_eq!(out.headers.len(), 2);
    }
}
