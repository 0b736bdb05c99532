//! What dlq read inside a body (the envelope's `decoded`), apart from the
//! decoders, so that the message vocabulary can hold it without depending
//! on schemas, registries or the run's settings.

use serde::ser::SerializeMap;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The encoding of a body, as the envelope names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Avro,
    Protobuf,
    JsonSchema,
}

impl Format {
    pub fn word(self) -> &'static str {
        match self {
            Format::Avro => "avro",
            Format::Protobuf => "protobuf",
            Format::JsonSchema => "json-schema",
        }
    }
}

/// How a decoded body carried its schema; what re-encoding must write again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// The Confluent wire format, with the message indexes of a Protobuf body.
    Framed {
        schema_id: u32,
        indexes: Option<Vec<usize>>,
    },
    /// Bytes written without a registry, read with a local schema.
    Plain,
}

/// What dlq read inside a body: the envelope's `decoded`.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// None when the registry could not say (unreachable, unknown ID).
    pub format: Option<Format>,
    pub schema_id: Option<u32>,
    pub subject: Option<String>,
    /// The full Protobuf message type (`shop.v1.Order`).
    pub message_type: Option<String>,
    /// The value as compact JSON text, or why it could not be decoded. Kept
    /// as text: that is what the envelope, previews and `--grep` use, and
    /// writing it once costs less than building a tree per message;
    /// [`Decoded::value_json`] parses it for the code that wants one.
    pub value: Result<Box<RawValue>, String>,
    pub framing: Framing,
}

impl PartialEq for Decoded {
    fn eq(&self, o: &Decoded) -> bool {
        let text = |d: &Decoded| {
            d.value
                .as_ref()
                .map(|v| v.get().to_owned())
                .map_err(Clone::clone)
        };
        (
            self.format,
            self.schema_id,
            &self.subject,
            &self.message_type,
            &self.framing,
        ) == (
            o.format,
            o.schema_id,
            &o.subject,
            &o.message_type,
            &o.framing,
        ) && text(self) == text(o)
    }
}

/// Compact JSON text as the envelope embeds it.
pub fn raw(text: String) -> Result<Box<RawValue>, String> {
    RawValue::from_string(text).map_err(|e| format!("the decoded value is not JSON: {e}"))
}

impl Serialize for Decoded {
    /// `{"format", "schema_id", "subject", "message_type", "value"}`, or for
    /// a failure `{"format", "schema_id", "error"}` (SPEC.md).
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("format", &self.format)?;
        m.serialize_entry("schema_id", &self.schema_id)?;
        match &self.value {
            Ok(v) => {
                m.serialize_entry("subject", &self.subject)?;
                m.serialize_entry("message_type", &self.message_type)?;
                m.serialize_entry("value", v)?;
            }
            Err(e) => m.serialize_entry("error", e)?,
        }
        m.end()
    }
}

impl Decoded {
    /// The value as compact JSON, for previews and `--grep`.
    pub fn value_text(&self) -> Option<&str> {
        self.value.as_ref().ok().map(|v| v.get())
    }

    /// The value as a JSON tree (`--where`, `--transform`, `edit`).
    pub fn value_json(&self) -> Option<Value> {
        self.value_text().and_then(|t| serde_json::from_str(t).ok())
    }

    /// `avro, schema 42` / `protobuf, schema 7, shop.v1.Order` / `avro, local schema`.
    pub fn label(&self) -> String {
        let mut out = self
            .format
            .map_or("schema-encoded", Format::word)
            .to_owned();
        match self.schema_id {
            Some(id) => out.push_str(&format!(", schema {id}")),
            None => out.push_str(", local schema"),
        }
        if let Some(t) = &self.message_type {
            out.push_str(&format!(", {t}"));
        }
        out
    }

    pub(super) fn failed(format: Option<Format>, schema_id: Option<u32>, error: String) -> Decoded {
        Decoded {
            format,
            schema_id,
            subject: None,
            message_type: None,
            value: Err(error),
            framing: Framing::Plain,
        }
    }
}
