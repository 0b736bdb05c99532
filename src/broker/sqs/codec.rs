//! An SQS message to dlq's envelope, and an outgoing message back to SQS.
//!
//! Message attributes become headers: String and Number values as text,
//! Binary values as `{"$bytes": BASE64}` as on every broker. The SQS data type of every
//! attribute that is not plain `String` is kept in
//! `broker.MessageAttributeTypes` (`{"amount": "Number", "sig": "Binary"}`),
//! so that `retry` and an `export` replayed by `publish --format ndjson` send
//! each attribute back with its own type and bytes. System attributes
//! (ApproximateReceiveCount, SentTimestamp, MessageGroupId, ...) go under
//! `broker` as SQS gives them. SQS bodies are text from a restricted set of
//! characters; [`body_text`] says why a body cannot be sent instead of
//! letting it be mangled.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::builders::SendMessageBatchRequestEntryBuilder;
use aws_sdk_sqs::types::{
    Message as SqsMessage, MessageAttributeValue, MessageSystemAttributeName,
    SendMessageBatchRequestEntry,
};
use serde_json::{Map, Value};

use crate::broker::{Headers, Message, OutgoingMessage};
use crate::conventions;
use crate::message::{b64_decode, bytes_value, value_bytes};

/// Where the attribute types of a message are kept in `broker`.
pub const TYPES_KEY: &str = "MessageAttributeTypes";

/// SQS's limit on message attributes per message.
pub const MAX_ATTRIBUTES: usize = 10;

/// SQS's limit on the total size of one SendMessageBatch request.
pub const BATCH_BYTES: usize = 1_048_576;

/// Builds the envelope of a received message. `source` is the DLQ's single
/// source queue, used when the message does not name its own origin.
pub fn to_message(m: &SqsMessage, queue: &str, source: Option<&str>) -> Message {
    let sys = m.attributes().into_iter().flatten();
    let sorted: BTreeMap<&str, &String> = sys.map(|(k, v)| (k.as_str(), v)).collect();
    let mut broker: Map<String, Value> = Map::new();
    for (k, v) in sorted {
        broker.insert(k.to_owned(), Value::String(v.clone()));
    }
    let sent = m
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp));
    let timestamp = sent
        .and_then(|t| t.parse::<u64>().ok())
        .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));

    let mut headers = Headers::new();
    let mut types = Map::new();
    let attrs = m.message_attributes().into_iter().flatten();
    for (name, a) in attrs.collect::<BTreeMap<_, _>>() {
        let data_type = a.data_type();
        let value = if data_type.starts_with("Binary") {
            bytes_value(a.binary_value().map(|b| b.as_ref()).unwrap_or_default())
        } else {
            Value::String(a.string_value().unwrap_or_default().to_owned())
        };
        if data_type != "String" {
            types.insert(name.clone(), Value::String(data_type.to_owned()));
        }
        headers.insert(name.clone(), value);
    }
    if !types.is_empty() {
        broker.insert(TYPES_KEY.into(), Value::Object(types));
    }
    let body = m.body().unwrap_or_default().as_bytes().to_vec();
    let mut facts = Map::new();
    if let Some(s) = source {
        facts.insert("source_queue".into(), Value::String(s.to_owned()));
    }
    let dead_letter = conventions::read(&conventions::Input {
        facts: &facts,
        ..conventions::Input::new(&headers, &broker, &body)
    });
    Message {
        id: m.message_id().unwrap_or_default().to_owned(),
        queue: queue.to_owned(),
        timestamp,
        headers,
        key: None,
        body,
        dead_letter,
        decoded: None,
        broker,
    }
}

/// The body as SQS text, or why SQS cannot carry it.
pub fn body_text(body: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(body).map_err(|_| {
        "SQS message bodies are text and this body is not valid UTF-8 (binary); it cannot be sent to SQS".to_owned()
    })?;
    if text.is_empty() {
        return Err("SQS does not accept an empty message body".into());
    }
    if let Some((at, c)) = text.char_indices().find(|(_, c)| !allowed(*c)) {
        return Err(format!(
            "SQS does not accept the character U+{:04X} (at byte {at}) in a message body; only tab, newline, \
             carriage return and characters from U+0020 up are allowed",
            c as u32
        ));
    }
    Ok(text)
}

/// The characters SQS allows in a body: #x9 | #xA | #xD | #x20-#xD7FF |
/// #xE000-#xFFFD | #x10000-#x10FFFF.
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The message attributes to send for an outgoing message; an error says
/// why it cannot be sent rather than dropping an attribute.
pub fn attributes(out: &OutgoingMessage) -> Result<HashMap<String, MessageAttributeValue>, String> {
    if out.headers.len() > MAX_ATTRIBUTES {
        return Err(format!(
            "SQS allows at most {MAX_ATTRIBUTES} message attributes and this message would carry {} ({}); \
             not sent rather than dropping one",
            out.headers.len(),
            if out.headers.contains_key(crate::broker::REDRIVE_HEADER) {
                "with dlq's re-drive counter"
            } else {
                "headers"
            }
        ));
    }
    let types = out.broker.get(TYPES_KEY).and_then(Value::as_object);
    let mut attrs = HashMap::new();
    for (name, value) in &out.headers {
        let declared = types
            .and_then(|t| t.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let bytes = value_bytes(value)
            .transpose()
            .map_err(|e| format!("header {name:?}: {e}"))?;
        let data_type = declared.unwrap_or_else(|| {
            match (value, &bytes) {
                (_, Some(_)) => "Binary",
                (Value::Number(_), None) => "Number",
                _ => "String",
            }
            .to_owned()
        });
        let text = crate::message::value_text(value);
        let builder = MessageAttributeValue::builder().data_type(&data_type);
        let builder = if data_type.starts_with("Binary") {
            // `{"$bytes": ...}`, or plain base64 text as older exports wrote it.
            let bytes = match bytes {
                Some(b) => b,
                None => b64_decode(&text).map_err(|e| {
                    format!("header {name:?} has type {data_type} but is not base64 ({e})")
                })?,
            };
            builder.binary_value(Blob::new(bytes))
        } else {
            builder.string_value(text)
        };
        let value = builder
            .build()
            .map_err(|e| format!("header {name:?}: {e}"))?;
        attrs.insert(name.clone(), value);
    }
    Ok(attrs)
}

/// The SendMessageBatch entry of a message, but its ID (its position in
/// the batch it goes in) and what a FIFO queue needs; with the bytes it
/// counts against SQS's size limits: body plus every attribute's name, type
/// and value. An error says why SQS cannot carry the message.
pub fn entry(
    out: &OutgoingMessage,
) -> Result<(SendMessageBatchRequestEntryBuilder, usize), String> {
    let body = body_text(&out.body)?;
    let attrs = attributes(out)?;
    let size = attrs.iter().fold(body.len(), |n, (k, v)| {
        n + k.len()
            + v.data_type().len()
            + v.string_value().map_or(0, str::len)
            + v.binary_value().map_or(0, |b| b.as_ref().len())
    });
    let entry = SendMessageBatchRequestEntry::builder()
        .message_body(body)
        .set_message_attributes(Some(attrs).filter(|a| !a.is_empty()));
    Ok((entry, size))
}

/// The MessageGroupId the `broker` object of a message records.
pub fn group_id(broker: &Map<String, Value>) -> Option<&str> {
    broker
        .get(MessageSystemAttributeName::MessageGroupId.as_str())
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_sqs_cannot_carry() {
        assert!(body_text(b"").is_err());
        assert!(body_text(&[0xff, 0x00]).unwrap_err().contains("UTF-8"));
        assert!(body_text(b"a\x00b").unwrap_err().contains("U+0000"));
        assert!(body_text(b"bell \x07").is_err());
        assert_eq!(
            body_text("emoji 🎉\ttab".as_bytes()).unwrap(),
            "emoji 🎉\ttab"
        );
    }

    #[test]
    fn attribute_types_round_trip() {
        let mut out = OutgoingMessage::from_body(b"x".to_vec());
        out.headers.insert("s".into(), json!("text"));
        out.headers.insert("n".into(), json!("42"));
        out.headers.insert("b".into(), bytes_value(&[0, 255]));
        // Plain base64 under a declared Binary type, as older exports wrote it.
        out.headers.insert("old".into(), json!("AP8="));
        // `$bytes` without a declared type is Binary too.
        out.headers.insert("raw".into(), bytes_value(&[7]));
        out.broker.insert(
            TYPES_KEY.into(),
            json!({"n": "Number", "b": "Binary", "old": "Binary"}),
        );
        let a = attributes(&out).unwrap();
        assert_eq!(a["s"].data_type(), "String");
        assert_eq!(a["n"].data_type(), "Number");
        assert_eq!(a["n"].string_value(), Some("42"));
        assert_eq!(a["b"].binary_value().unwrap().as_ref(), &[0, 255]);
        assert_eq!(a["old"].binary_value().unwrap().as_ref(), &[0, 255]);
        assert_eq!(a["raw"].data_type(), "Binary");
        assert_eq!(a["raw"].binary_value().unwrap().as_ref(), &[7]);
    }

    #[test]
    fn too_many_attributes_fail() {
        let mut out = OutgoingMessage::from_body(b"x".to_vec());
        for i in 0..11 {
            out.headers.insert(format!("h{i}"), json!("v"));
        }
        assert!(attributes(&out).unwrap_err().contains("at most 10"));
    }
}
