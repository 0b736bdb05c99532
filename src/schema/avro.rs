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
//! Encoding turns JSON into the crate's `Value` (picking a union's branch
//! by the JSON value's shape) and lets the crate validate and write it.

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
        let v = self.to_avro(&self.root, value, &None, "")?;
        // The crate resolves names in order: the named types before their users.
        let mut schemata: Vec<&Schema> = self.references.iter().collect();
        schemata.push(&self.root);
        apache_avro::to_avro_datum_schemata(&self.root, schemata, v)
            .map_err(|e| format!("the value does not fit the Avro schema: {e}"))
    }

    fn to_avro(&self, s: &Schema, v: &Value, ns: &Namespace, at: &str) -> Result<Avro, String> {
        let here = || {
            if at.is_empty() {
                "the value".to_owned()
            } else {
                format!("field {at}")
            }
        };
        let want = |what: &str| format!("{} must be {what}, not {}", here(), kind(v));
        Ok(match s {
            Schema::Null => match v {
                Value::Null => Avro::Null,
                _ => return Err(want("null")),
            },
            Schema::Boolean => Avro::Boolean(v.as_bool().ok_or_else(|| want("a boolean"))?),
            Schema::Int => Avro::Int(int32(v).ok_or_else(|| want("a 32-bit integer"))?),
            Schema::Date => Avro::Date(int32(v).ok_or_else(|| want("a 32-bit integer (days)"))?),
            Schema::TimeMillis => {
                Avro::TimeMillis(int32(v).ok_or_else(|| want("a 32-bit integer"))?)
            }
            Schema::Long => Avro::Long(v.as_i64().ok_or_else(|| want("an integer"))?),
            Schema::TimeMicros => Avro::TimeMicros(v.as_i64().ok_or_else(|| want("an integer"))?),
            Schema::TimestampMillis => {
                Avro::TimestampMillis(v.as_i64().ok_or_else(|| want("an integer"))?)
            }
            Schema::TimestampMicros => {
                Avro::TimestampMicros(v.as_i64().ok_or_else(|| want("an integer"))?)
            }
            Schema::TimestampNanos => {
                Avro::TimestampNanos(v.as_i64().ok_or_else(|| want("an integer"))?)
            }
            Schema::LocalTimestampMillis => {
                Avro::LocalTimestampMillis(v.as_i64().ok_or_else(|| want("an integer"))?)
            }
            Schema::LocalTimestampMicros => {
                Avro::LocalTimestampMicros(v.as_i64().ok_or_else(|| want("an integer"))?)
            }
            Schema::LocalTimestampNanos => {
                Avro::LocalTimestampNanos(v.as_i64().ok_or_else(|| want("an integer"))?)
            }
            Schema::Float => Avro::Float(v.as_f64().ok_or_else(|| want("a number"))? as f32),
            Schema::Double => Avro::Double(v.as_f64().ok_or_else(|| want("a number"))?),
            Schema::Bytes => Avro::Bytes(
                unlatin1(v).ok_or_else(|| want("a string of code points up to U+00FF"))?,
            ),
            Schema::BigDecimal => {
                return Err(format!(
                    "{}: big-decimal values cannot be encoded from JSON",
                    here()
                ))
            }
            Schema::String => Avro::String(v.as_str().ok_or_else(|| want("a string"))?.to_owned()),
            Schema::Uuid => {
                Avro::String(v.as_str().ok_or_else(|| want("a UUID string"))?.to_owned())
            }
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
                Avro::Fixed(f.size, b)
            }
            Schema::Duration => {
                let b = unlatin1(v).ok_or_else(|| want("12 bytes as a string"))?;
                let arr: [u8; 12] = b
                    .try_into()
                    .map_err(|_| format!("{} must be 12 bytes", here()))?;
                Avro::Duration(arr.into())
            }
            Schema::Decimal(d) => {
                let b = unlatin1(v).ok_or_else(|| want("a string of code points up to U+00FF"))?;
                if let Schema::Fixed(f) = d.inner.as_ref() {
                    if b.len() != f.size {
                        return Err(format!(
                            "{} must be {} bytes, not {}",
                            here(),
                            f.size,
                            b.len()
                        ));
                    }
                }
                Avro::Decimal(apache_avro::Decimal::from(b))
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
                Avro::Enum(i as u32, sym.to_owned())
            }
            Schema::Union(u) => {
                let mut why = Vec::new();
                for (i, branch) in u.variants().iter().enumerate() {
                    match self.to_avro(branch, v, ns, at) {
                        Ok(x) => return Ok(Avro::Union(i as u32, Box::new(x))),
                        Err(e) => why.push(e),
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
                let mut out = Vec::with_capacity(items.len());
                for (i, x) in items.iter().enumerate() {
                    out.push(self.to_avro(&a.items, x, ns, &format!("{at}[{i}]"))?);
                }
                Avro::Array(out)
            }
            Schema::Map(m) => {
                let obj = v.as_object().ok_or_else(|| want("an object"))?;
                let mut out = HashMap::with_capacity(obj.len());
                for (k, x) in obj {
                    out.insert(k.clone(), self.to_avro(&m.types, x, ns, &path(at, k))?);
                }
                Avro::Map(out)
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
                let mut out = Vec::with_capacity(fields.len());
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
                    out.push((
                        f.name.clone(),
                        self.to_avro(&f.schema, fv, &inner, &path(at, &f.name))?,
                    ));
                }
                Avro::Record(out)
            }
            Schema::Ref { name } => {
                let s = self.named(name, ns)?;
                return self.to_avro(s, v, ns, at);
            }
        })
    }
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
