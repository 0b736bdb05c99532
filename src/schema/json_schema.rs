//! JSON Schema bodies: after the framing the body is JSON text, so decoding
//! is parsing it; the schema (with its references, by name) is compiled by
//! the `jsonschema` crate only to validate a value before it is encoded.

use std::collections::HashMap;

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

/// A compiled JSON Schema.
pub struct JsonSchema {
    validator: Validator,
}

impl std::fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonSchema")
    }
}

/// References by name, answered instead of fetching anything.
struct References(HashMap<String, Value>);

impl Retrieve for References {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let u = uri.as_str();
        self.0
            .iter()
            .find(|(name, _)| u == name.as_str() || u.ends_with(&format!("/{name}")))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                format!("the schema refers to {u}, which is none of its references").into()
            })
    }
}

impl JsonSchema {
    /// Compiles a schema's text with its references (name, text).
    pub fn parse(text: &str, references: &[(String, String)]) -> Result<JsonSchema, String> {
        let schema: Value =
            serde_json::from_str(text).map_err(|e| format!("the JSON Schema is not JSON: {e}"))?;
        let mut refs = HashMap::new();
        for (name, src) in references {
            let v: Value = serde_json::from_str(src)
                .map_err(|e| format!("JSON Schema reference {name} is not JSON: {e}"))?;
            refs.insert(name.clone(), v);
        }
        let validator = jsonschema::options()
            .with_retriever(References(refs))
            .build(&schema)
            .map_err(|e| format!("not a usable JSON Schema: {e}"))?;
        Ok(JsonSchema { validator })
    }

    /// Checks a value before it is encoded; the error names the first misfit.
    pub fn validate(&self, value: &Value) -> Result<(), String> {
        self.validator.validate(value).map_err(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                format!("the value does not fit the JSON Schema: {e}")
            } else {
                format!("the value does not fit the JSON Schema at {at}: {e}")
            }
        })
    }
}

/// The JSON of a body after its framing, as compact text.
pub fn decode(payload: &[u8]) -> Result<String, String> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the body after the framing is not JSON: {e}"))?;
    Ok(v.to_string())
}
