//! Avro bodies: the schema parsed by the Apache Avro crate (`apache-avro`),
//! with the named types of its references; values decoded to plain JSON and
//! encoded back from it.
//!
//! Decoding walks the parsed schema over the bytes and writes JSON directly,
//! as SPEC.md wants it: a union's value without its branch name, `bytes` and
//! `fixed` as Avro's JSON encoding writes them (one code point per byte,
//! U+0000 to U+00FF), logical types as their underlying type (a date is its
//! int, a decimal its bytes). The crate's own datum reader builds a table of
//! the schema's names on every call and its JSON conversion writes bytes as
//! arrays of numbers; walking the schema once parsed, with the names looked
//! up in a table built once, keeps a decode at a few hundred nanoseconds.
//! Encoding walks the schema over the JSON value and writes the bytes (a
//! map's entries in the JSON object's order, so an untouched map keeps its
//! order); a union takes the branch the original datum took where there is
//! one (read back by the crate), else the first that holds the value
//! exactly.

use std::collections::HashMap;

use apache_avro::schema::{Name, Namespace, RecordSchema, Schema};
use apache_avro::types::Value as Avro;
use serde_json::{Number, Value};

/// A parsed Avro schema with the named types it may refer to.
#[derive(Debug)]
pub struct AvroSchema {
    pub root: Schema,
    /// The schemas of the references, for the crate's writer.
    pub references: Vec<Schema>,
    /// Every named type (record, enum, fixed), by full name.
    names: HashMap<String, Schema>,
    /// The same, by the crate's name as it stands in a reference.
    by_name: HashMap<Name, Schema>,
}

/// Deepest nesting a value may have: a recursive schema over hostile bytes
/// must not exhaust the stack.
const MAX_DEPTH: usize = 256;

impl AvroSchema {
    /// Parses `text`, with the schema texts of its references (in any order).
    pub fn parse(text: &str, references: &[String]) -> Result<AvroSchema, String> {
        let (root, references) = if references.is_empty() {
            (
                Schema::parse_str(text).map_err(|e| format!("not an Avro schema: {e}"))?,
                Vec::new(),
            )
        } else {
            Schema::parse_str_with_list(text, references)
                .map_err(|e| format!("not an Avro schema (with its references): {e}"))?
        };
        let mut names = HashMap::new();
        let mut by_name = HashMap::new();
        for s in references.iter().chain(std::iter::once(&root)) {
            collect_names(s, &None, &mut names, &mut by_name);
        }
        Ok(AvroSchema {
            root,
            references,
            names,
            by_name,
        })
    }

    /// The full name of the root type, when it is named (a record).
    pub fn full_name(&self) -> Option<String> {
        match &self.root {
            Schema::Record(r) => Some(r.name.fullname(None)),
            _ => None,
        }
    }

    /// Decodes `bytes`, which must hold exactly one value, to compact JSON text.
    pub fn decode(&self, bytes: &[u8]) -> Result<String, String> {
        let mut r = Reader { buf: bytes, at: 0 };
        let mut out = String::with_capacity(bytes.len() * 3 + 16);
        self.read(&self.root, &mut r, &None, 0, &mut out)?;
        if r.at != bytes.len() {
            return Err(format!(
                "the Avro value ends at byte {} of {}: the bytes do not fit the schema",
                r.at,
                bytes.len()
            ));
        }
        Ok(out)
    }

    /// Writes the JSON of one value of schema `s` read from `r` onto `out`.
    fn read(
        &self,
        s: &Schema,
        r: &mut Reader,
        ns: &Namespace,
        depth: usize,
        out: &mut String,
    ) -> Result<(), String> {
        use std::fmt::Write as _;
        if depth > MAX_DEPTH {
            return Err("the Avro value nests too deep".into());
        }
        match s {
            Schema::Null => out.push_str("null"),
            Schema::Boolean => match r.byte()? {
                0 => out.push_str("false"),
                1 => out.push_str("true"),
                b => return Err(format!("bad Avro boolean byte {b}")),
            },
            Schema::Int
            | Schema::Long
            | Schema::Date
            | Schema::TimeMillis
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => {
                let _ = write!(out, "{}", r.long()?);
            }
            Schema::Float => float(
                f32::from_le_bytes(r.take(4)?.try_into().unwrap()) as f64,
                out,
            ),
            Schema::Double => float(f64::from_le_bytes(r.take(8)?.try_into().unwrap()), out),
            Schema::Bytes | Schema::BigDecimal => {
                let n = r.len()?;
                latin1(r.take(n)?, out);
            }
            Schema::String | Schema::Uuid => {
                let n = r.len()?;
                let text = std::str::from_utf8(r.take(n)?)
                    .map_err(|_| "an Avro string is not UTF-8".to_owned())?;
                json_str(text, out);
            }
            Schema::Fixed(f) => latin1(r.take(f.size)?, out),
            Schema::Duration => latin1(r.take(12)?, out),
            Schema::Decimal(d) => return self.read(&d.inner, r, ns, depth + 1, out),
            Schema::Enum(e) => {
                let i = r.long()?;
                match usize::try_from(i).ok().and_then(|i| e.symbols.get(i)) {
                    Some(sym) => json_str(sym, out),
                    None => {
                        return Err(format!(
                            "Avro enum index {i} is out of range for {}",
                            e.name.fullname(None)
                        ))
                    }
                }
            }
            Schema::Union(u) => {
                let i = r.long()?;
                match usize::try_from(i).ok().and_then(|i| u.variants().get(i)) {
                    Some(branch) => self.read(branch, r, ns, depth + 1, out)?,
                    None => return Err(format!("Avro union branch {i} is out of range")),
                }
            }
            Schema::Array(a) => {
                out.push('[');
                let mut first = true;
                while let Some(n) = r.block(&a.items)? {
                    for _ in 0..n {
                        if !std::mem::take(&mut first) {
                            out.push(',');
                        }
                        self.read(&a.items, r, ns, depth + 1, out)?;
                    }
                }
                out.push(']');
            }
            Schema::Map(m) => {
                out.push('{');
                let mut first = true;
                while let Some(n) = r.block(&Schema::String)? {
                    for _ in 0..n {
                        if !std::mem::take(&mut first) {
                            out.push(',');
                        }
                        let len = r.len()?;
                        let k = std::str::from_utf8(r.take(len)?)
                            .map_err(|_| "an Avro map key is not UTF-8".to_owned())?;
                        json_str(k, out);
                        out.push(':');
                        self.read(&m.types, r, ns, depth + 1, out)?;
                    }
                }
                out.push('}');
            }
            Schema::Record(RecordSchema { name, fields, .. }) => {
                let inner = if name.namespace.is_some() {
                    &name.namespace
                } else {
                    ns
                };
                out.push('{');
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_str(&f.name, out);
                    out.push(':');
                    self.read(&f.schema, r, inner, depth + 1, out)?;
                }
                out.push('}');
            }
            Schema::Ref { name } => {
                let s = self.named(name, ns)?;
                return self.read(s, r, ns, depth + 1, out);
            }
        }
        Ok(())
    }

    /// The named type a reference means: by its full name as parsed (no
    /// allocation), else qualified by the enclosing namespace.
    fn named(&self, name: &Name, ns: &Namespace) -> Result<&Schema, String> {
        if let Some(s) = self.by_name.get(name) {
            return Ok(s);
        }
        let full = name.fullname(ns.clone());
        self.names
            .get(&full)
            .or_else(|| self.names.get(&name.fullname(None)))
            .ok_or_else(|| {
                format!("the Avro schema names {full}, which none of its references defines")
            })
    }

    /// Encodes a JSON value as an Avro datum (no framing). Errors say why it
    /// does not fit.
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, String> {
        self.encode_like(value, None)
    }

    /// Encodes `value` as an edit of `original` (a datum of this schema):
    /// where the original took a branch of a union that the new value still
    /// fits, the copy takes it too, so a field nobody changed keeps its
    /// bytes (JSON cannot tell a `double` from a `float`, an `int` from a
    /// `long`). Elsewhere a union takes the first branch that holds the value
    /// exactly.
    pub fn encode_like(&self, value: &Value, original: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let hint = original.and_then(|mut bytes| {
            let mut schemata: Vec<&Schema> = self.references.iter().collect();
            schemata.push(&self.root);
            apache_avro::from_avro_datum_schemata(&self.root, schemata, &mut bytes, None).ok()
        });
        let mut out = Vec::new();
        self.write(&self.root, value, &None, "", hint.as_ref(), 0, &mut out)?;
        Ok(out)
    }

    /// Writes `v` as a value of schema `s` onto `out` (Avro's binary
    /// encoding; a map's entries in the JSON object's order). `hint` is the
    /// same place in the original datum, when there is one.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        s: &Schema,
        v: &Value,
        ns: &Namespace,
        at: &str,
        hint: Option<&Avro>,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("the value nests too deep".into());
        }
        let here = || {
            if at.is_empty() {
                "the value".to_owned()
            } else {
                format!("field {at}")
            }
        };
        let want = |what: &str| format!("{} must be {what}, not {}", here(), kind(v));
        let int = |what: &str| int32(v).map(i64::from).ok_or_else(|| want(what));
        let long = || v.as_i64().ok_or_else(|| want("an integer"));
        match s {
            Schema::Null => match v {
                Value::Null => {}
                _ => return Err(want("null")),
            },
            Schema::Boolean => out.push(u8::from(v.as_bool().ok_or_else(|| want("a boolean"))?)),
            Schema::Int | Schema::TimeMillis => zigzag(int("a 32-bit integer")?, out),
            Schema::Date => zigzag(int("a 32-bit integer (days)")?, out),
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => zigzag(long()?, out),
            Schema::Float => {
                let f = v.as_f64().ok_or_else(|| want("a number"))? as f32;
                out.extend_from_slice(&f.to_le_bytes());
            }
            Schema::Double => {
                let f = v.as_f64().ok_or_else(|| want("a number"))?;
                out.extend_from_slice(&f.to_le_bytes());
            }
            Schema::Bytes => {
                let b = unlatin1(v).ok_or_else(|| want("a string of code points up to U+00FF"))?;
                bytes(&b, out);
            }
            Schema::BigDecimal => {
                return Err(format!(
                    "{}: big-decimal values cannot be encoded from JSON",
                    here()
                ))
            }
            Schema::String => bytes(v.as_str().ok_or_else(|| want("a string"))?.as_bytes(), out),
            Schema::Uuid => bytes(
                v.as_str().ok_or_else(|| want("a UUID string"))?.as_bytes(),
                out,
            ),
            Schema::Fixed(f) => {
                let b = unlatin1(v).ok_or_else(|| want("a string of code points up to U+00FF"))?;
                if b.len() != f.size {
                    return Err(format!(
                        "{} must be {} bytes, not {}",
                        here(),
                        f.size,
                        b.len()
                    ));
                }
                out.extend_from_slice(&b);
            }
            Schema::Duration => {
                let b = unlatin1(v).ok_or_else(|| want("12 bytes as a string"))?;
                if b.len() != 12 {
                    return Err(format!("{} must be 12 bytes", here()));
                }
                out.extend_from_slice(&b);
            }
            Schema::Decimal(d) => {
                let b = unlatin1(v).ok_or_else(|| want("a string of code points up to U+00FF"))?;
                match d.inner.as_ref() {
                    Schema::Fixed(f) if b.len() != f.size => {
                        return Err(format!(
                            "{} must be {} bytes, not {}",
                            here(),
                            f.size,
                            b.len()
                        ))
                    }
                    Schema::Fixed(_) => out.extend_from_slice(&b),
                    _ => bytes(&b, out),
                }
            }
            Schema::Enum(e) => {
                let sym = v.as_str().ok_or_else(|| want("an enum symbol"))?;
                let i = e.symbols.iter().position(|s| s == sym).ok_or_else(|| {
                    format!(
                        "{}: {sym:?} is not a symbol of {} ({})",
                        here(),
                        e.name.fullname(None),
                        e.symbols.join(", ")
                    )
                })?;
                zigzag(i as i64, out);
            }
            Schema::Union(u) => {
                let branches = u.variants();
                // The original's branch first, then each in order.
                let first = match hint {
                    Some(Avro::Union(i, inner)) => Some((*i as usize, inner.as_ref())),
                    _ => None,
                };
                let order = first
                    .iter()
                    .map(|&(i, h)| (i, Some(h)))
                    .chain((0..branches.len()).map(|i| (i, None)));
                let mut why = Vec::new();
                let mark = out.len();
                for (i, h) in order {
                    let Some(branch) = branches.get(i) else {
                        continue;
                    };
                    // Without the original's word, a number takes a float only when it is exact.
                    if h.is_none() {
                        if let (Schema::Float, Some(x)) = (branch, v.as_f64()) {
                            if f64::from(x as f32) != x
                                && branches[i + 1..].contains(&Schema::Double)
                            {
                                continue;
                            }
                        }
                    }
                    zigzag(i as i64, out);
                    match self.write(branch, v, ns, at, h, depth + 1, out) {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            out.truncate(mark);
                            if h.is_none() {
                                why.push(e);
                            }
                        }
                    }
                }
                return Err(format!(
                    "{} fits no branch of its union ({})",
                    here(),
                    why.join("; ")
                ));
            }
            Schema::Array(a) => {
                let items = v.as_array().ok_or_else(|| want("an array"))?;
                let hints = match hint {
                    Some(Avro::Array(h)) => h.as_slice(),
                    _ => &[],
                };
                if !items.is_empty() {
                    zigzag(items.len() as i64, out);
                    for (i, x) in items.iter().enumerate() {
                        let at = format!("{at}[{i}]");
                        self.write(&a.items, x, ns, &at, hints.get(i), depth + 1, out)?;
                    }
                }
                out.push(0);
            }
            Schema::Map(m) => {
                let obj = v.as_object().ok_or_else(|| want("an object"))?;
                let hints = match hint {
                    Some(Avro::Map(h)) => Some(h),
                    _ => None,
                };
                if !obj.is_empty() {
                    zigzag(obj.len() as i64, out);
                    for (k, x) in obj {
                        bytes(k.as_bytes(), out);
                        let h = hints.and_then(|h| h.get(k));
                        self.write(&m.types, x, ns, &path(at, k), h, depth + 1, out)?;
                    }
                }
                out.push(0);
            }
            Schema::Record(RecordSchema { name, fields, .. }) => {
                let obj = v
                    .as_object()
                    .ok_or_else(|| want(&format!("an object (record {})", name.fullname(None))))?;
                let inner = name.namespace.clone().or_else(|| ns.clone());
                if let Some(k) = obj.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
                    return Err(format!(
                        "{} has a field {k:?} that record {} does not",
                        here(),
                        name.fullname(None)
                    ));
                }
                let hints = match hint {
                    Some(Avro::Record(h)) => h.as_slice(),
                    _ => &[],
                };
                for f in fields {
                    let fv = match (obj.get(&f.name), &f.default) {
                        (Some(x), _) => x,
                        (None, Some(d)) => d,
                        (None, None) => {
                            return Err(format!(
                                "{} lacks field {:?} of record {}",
                                here(),
                                f.name,
                                name.fullname(None)
                            ))
                        }
                    };
                    let h = hints.iter().find(|(n, _)| n == &f.name).map(|(_, h)| h);
                    self.write(&f.schema, fv, &inner, &path(at, &f.name), h, depth + 1, out)?;
                }
            }
            Schema::Ref { name } => {
                let s = self.named(name, ns)?;
                return self.write(s, v, ns, at, hint, depth + 1, out);
            }
        }
        Ok(())
    }
}

/// A long in Avro's zigzag variable-length encoding.
fn zigzag(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Bytes or a string: its length, then the bytes.
fn bytes(b: &[u8], out: &mut Vec<u8>) {
    zigzag(b.len() as i64, out);
    out.extend_from_slice(b);
}

fn path(at: &str, k: &str) -> String {
    if at.is_empty() {
        k.to_owned()
    } else {
        format!("{at}.{k}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn int32(v: &Value) -> Option<i32> {
    v.as_i64().and_then(|n| i32::try_from(n).ok())
}

/// Every named type in `s`, by full name (namespaces inherited as Avro
/// does) and by the crate's name.
fn collect_names(
    s: &Schema,
    ns: &Namespace,
    out: &mut HashMap<String, Schema>,
    by_name: &mut HashMap<Name, Schema>,
) {
    let name = match s {
        Schema::Record(r) => &r.name,
        Schema::Enum(e) => &e.name,
        Schema::Fixed(f) => &f.name,
        Schema::Decimal(d) => return collect_names(&d.inner, ns, out, by_name),
        Schema::Array(a) => return collect_names(&a.items, ns, out, by_name),
        Schema::Map(m) => return collect_names(&m.types, ns, out, by_name),
        Schema::Union(u) => {
            for b in u.variants() {
                collect_names(b, ns, out, by_name);
            }
            return;
        }
        _ => return,
    };
    out.insert(name.fullname(ns.clone()), s.clone());
    by_name.insert(name.clone(), s.clone());
    if let Schema::Record(r) = s {
        let inner = r.name.namespace.clone().or_else(|| ns.clone());
        for f in &r.fields {
            collect_names(&f.schema, &inner, out, by_name);
        }
    }
}

/// Bytes as Avro's JSON encoding writes them, one code point per byte, as a JSON string.
fn latin1(b: &[u8], out: &mut String) {
    out.push('"');
    for &c in b {
        escape_char(c as char, out);
    }
    out.push('"');
}

/// A JSON string, escaped as serde_json escapes it.
fn json_str(text: &str, out: &mut String) {
    out.push('"');
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push_str(text);
    } else {
        text.chars().for_each(|c| escape_char(c, out));
    }
    out.push('"');
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        c if (c as u32) < 0x20 => {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// The bytes of a string [`latin1`] wrote; None when a code point is past U+00FF.
fn unlatin1(v: &Value) -> Option<Vec<u8>> {
    v.as_str()?
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

/// A float as JSON; NaN and infinities, which JSON lacks, as strings.
fn float(f: f64, out: &mut String) {
    match Number::from_f64(f) {
        Some(n) => out.push_str(&n.to_string()),
        None => json_str(&f.to_string(), out),
    }
}

struct Reader<'b> {
    buf: &'b [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.at).ok_or_else(short)?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(short)?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn long(&mut self) -> Result<i64, String> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err("an Avro long is too long".into());
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(((v >> 1) as i64) ^ -((v & 1) as i64));
            }
        }
        Err("an Avro long is too long".into())
    }

    /// A length that must fit in what is left.
    fn len(&mut self) -> Result<usize, String> {
        let n = self.long()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.buf.len() - self.at)
            .ok_or_else(|| {
                format!(
                    "an Avro length of {n} does not fit the {} bytes left",
                    self.buf.len() - self.at
                )
            })
    }

    /// The item count of the next block of an array or map; None at its end.
    fn block(&mut self, item: &Schema) -> Result<Option<usize>, String> {
        let mut n = self.long()?;
        if n == 0 {
            return Ok(None);
        }
        if n < 0 {
            n = n.checked_neg().ok_or_else(short)?;
            self.long()?; // the block's size in bytes
        }
        let left = self.buf.len() - self.at;
        // Each item takes a byte at least, but for null items.
        if !matches!(item, Schema::Null) && n as u64 > left as u64 {
            return Err(format!(
                "an Avro block of {n} items does not fit the {left} bytes left"
            ));
        }
        Ok(Some(n as usize))
    }
}

fn short() -> String {
    "the bytes end inside an Avro value: they do not fit the schema".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UNION: &str = r#"{"type": "record", "name": "U", "fields": [
        {"name": "x", "type": ["null", "float", "double"]},
        {"name": "n", "type": ["null", "int", "long"]},
        {"name": "m", "type": {"type": "map", "values": ["float", "double"]}},
        {"name": "tag", "type": "string"}]}"#;

    fn schema() -> AvroSchema {
        AvroSchema::parse(UNION, &[]).unwrap()
    }

    #[test]
    fn an_edit_keeps_the_union_branches_the_original_took() {
        let s = schema();
        // x: double 0.5 (branch 2), n: long 7 (branch 2), m: {"b": double 0.5, "a": float 0.25}.
        let mut original = vec![4];
        original.extend_from_slice(&0.5f64.to_le_bytes());
        original.extend_from_slice(&[4, 14, 4, 2, b'b', 2]);
        original.extend_from_slice(&0.5f64.to_le_bytes());
        original.extend_from_slice(&[2, b'a', 0]);
        original.extend_from_slice(&0.25f32.to_le_bytes());
        original.extend_from_slice(&[0, 2, b'a']);
        let v: Value = serde_json::from_str(&s.decode(&original).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"x": 0.5, "n": 7, "m": {"b": 0.5, "a": 0.25}, "tag": "a"})
        );
        // Untouched fields keep their bytes; only the tag changes.
        let mut edited = v.clone();
        edited["tag"] = json!("b");
        let again = s.encode_like(&edited, Some(&original)).unwrap();
        let mut want = original.clone();
        *want.last_mut().unwrap() = b'b';
        assert_eq!(again, want);
        // Without the original, each takes the first branch that holds it exactly.
        let plain = s.encode(&edited).unwrap();
        assert_eq!(plain[0], 2, "0.5 fits a float exactly");
        assert_eq!(plain[5], 2, "7 fits an int");
        // A value the original's branch cannot hold takes another.
        edited["n"] = json!(1_i64 << 40);
        let wide = s.encode_like(&edited, Some(&original)).unwrap();
        let back: Value = serde_json::from_str(&s.decode(&wide).unwrap()).unwrap();
        assert_eq!(back["n"], json!(1_i64 << 40));
    }

    #[test]
    fn a_number_a_float_cannot_hold_takes_the_double() {
        let s = schema();
        let v = json!({"x": 0.1, "n": null, "m": {}, "tag": ""});
        let bytes = s.encode(&v).unwrap();
        assert_eq!(bytes[0], 4, "the double branch");
        let back: Value = serde_json::from_str(&s.decode(&bytes).unwrap()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn a_map_is_written_in_its_order() {
        let s = AvroSchema::parse(r#"{"type": "map", "values": "int"}"#, &[]).unwrap();
        let v: Value = serde_json::from_str(r#"{"d": 4, "a": 1, "c": 3, "b": 2}"#).unwrap();
        let bytes = s.encode(&v).unwrap();
        assert_eq!(
            bytes,
            [8, 2, b'd', 8, 2, b'a', 2, 2, b'c', 6, 2, b'b', 4, 0]
        );
        assert_eq!(s.decode(&bytes).unwrap(), r#"{"d":4,"a":1,"c":3,"b":2}"#);
    }
}
