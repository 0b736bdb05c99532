//! Schema-encoded bodies: Avro, Protobuf and JSON Schema in the Confluent
//! wire format, or plain Avro and Protobuf bytes written without a registry.
//!
//! A command builds one [`Decoder`] per run from [`SchemaSettings`] (the
//! flags, `DLQ_SCHEMA_REGISTRY`, the profile) and hands it each message it
//! reads: [`Decoder::attach`] fills `Message::decoded`. Schemas come from a
//! registry, asked once per schema ID per run (the parsed schema is cached,
//! failures too), or from local files. Nothing here knows a broker.
//!
//! Which schema a body is read with:
//! - A body that starts with the zero byte and is 5 bytes or more carries
//!   the framing. With a registry, its schema ID is looked up there. Without
//!   one, the local schema reads what follows the framing (for Protobuf the
//!   message-index list picks the type unless `--proto-message` names it).
//! - Any other body is plain: with a local schema it is decoded as a whole,
//!   and shown as it is when it does not fit (Avro must use every byte,
//!   Protobuf must define every field it meets), since a queue may hold
//!   bodies of other shapes. A plain Protobuf body never starts with the
//!   zero byte (field number 0 does not exist); a plain Avro one may, so a
//!   zero-led Avro body that does not fit after the framing is tried whole.
//! - A framed body that cannot be decoded (schema ID unknown, registry
//!   unreachable or refusing, bytes that do not fit) gets a `decoded` with
//!   its `error`, and one warning per kind of failure per run.
//!
//! Encoding goes the other way with the same schemas: [`Decoder::encoder_for`]
//! re-encodes an edited value with the schema ID and message type it was
//! read with; [`Decoder::publish_encoder`] encodes with a subject's version or
//! a schema ID for `publish --encode`.

pub mod avro;
pub mod decoded;
pub mod json_schema;
pub mod protobuf;
pub mod registry;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use prost_reflect::MessageDescriptor;
use serde_json::Value;

use crate::config::Profile;
use crate::exit::usage;
use crate::message::Message;
use crate::output::Warner;
use crate::url_parts::UrlParts;

pub use decoded::{raw, Decoded, Format, Framing};
pub use registry::{Fetched, Registry, RegistrySettings};

/// Kinds of failure, each warned about once per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Connection refused, DNS, TLS, timeout.
    Unreachable,
    /// HTTP 401 or 403.
    Refused,
    /// The registry has no schema of that ID (40403).
    UnknownId,
    /// Another answer, or a schema dlq cannot compile.
    Unusable,
    /// Bytes that do not fit their schema.
    Misfit,
}

/// Why a schema or a value could not be had.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    pub text: String,
    /// The format, when known before it failed.
    pub format: Option<Format>,
}

impl Failure {
    pub fn new(kind: FailureKind, text: String) -> Failure {
        Failure {
            kind,
            text,
            format: None,
        }
    }

    /// As a command's error: the registry unreachable or refusing is a
    /// broker-side error (exit 4), anything else a usage error (exit 2).
    pub fn into_error(self) -> anyhow::Error {
        match self.kind {
            FailureKind::Unreachable | FailureKind::Refused => crate::exit::broker_msg(self.text),
            _ => usage(self.text),
        }
    }
}

/// A compiled schema.
#[derive(Debug)]
pub enum Parsed {
    Avro(Box<avro::AvroSchema>),
    Protobuf(protobuf::ProtoSchema),
    Json(json_schema::JsonSchema),
}

impl Parsed {
    fn format(&self) -> Format {
        match self {
            Parsed::Avro(_) => Format::Avro,
            Parsed::Protobuf(_) => Format::Protobuf,
            Parsed::Json(_) => Format::JsonSchema,
        }
    }

    /// Compiles what a registry gave.
    pub fn from_fetched(f: &Fetched) -> Result<Parsed, String> {
        Ok(match f.format {
            Format::Avro => {
                let refs: Vec<String> = f.references.iter().map(|(_, t)| t.clone()).collect();
                Parsed::Avro(Box::new(avro::AvroSchema::parse(&f.schema, &refs)?))
            }
            Format::Protobuf => {
                Parsed::Protobuf(protobuf::ProtoSchema::from_texts(&f.schema, &f.references)?)
            }
            Format::JsonSchema => {
                Parsed::Json(json_schema::JsonSchema::parse(&f.schema, &f.references)?)
            }
        })
    }
}

/// A schema ready to use, with where it came from.
#[derive(Debug)]
struct Entry {
    parsed: Parsed,
    subject: Option<String>,
}

/// The schema flags of a command, the registry settings of the profile and
/// environment, resolved.
#[derive(Debug, Clone, Default)]
pub struct SchemaSettings {
    pub registry: Option<RegistrySettings>,
    /// The bodies' schema last, the named types it refers to before it.
    pub avro_schema: Vec<PathBuf>,
    pub proto: Vec<PathBuf>,
    pub proto_path: Vec<PathBuf>,
    pub descriptor_set: Option<PathBuf>,
    pub proto_message: Option<String>,
    pub no_decode: bool,
}

impl SchemaSettings {
    /// From the flags (`registry_flag` is `--schema-registry`), then
    /// `DLQ_SCHEMA_REGISTRY` (`registry_env`), then the profile: the first
    /// named wins. User and password come from the URL, or, for the
    /// profile's own registry (same scheme, host and port), from the profile
    /// (`schema_registry_user`, `schema_registry_password_env`).
    pub fn resolve(
        flags: SchemaSettings,
        registry_flag: Option<&str>,
        registry_env: Option<&str>,
        profile: &Profile,
        timeout: Duration,
    ) -> Result<SchemaSettings> {
        let from_profile = profile.schema_registry.as_deref();
        let url = registry_flag.or(registry_env).or(from_profile);
        let mut out = flags;
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(out);
        };
        let parts = UrlParts::split(url)
            .filter(|p| p.scheme == "http" || p.scheme == "https")
            .ok_or_else(|| {
                usage(format!(
                    "bad schema registry URL {:?}: expected http://HOST:PORT or https://HOST:PORT",
                    crate::secrets::redact_url(url)
                ))
            })?;
        let (mut user, mut password) = (parts.user(), parts.password());
        if let Some(p) = &password {
            crate::secrets::register(p);
        }
        let bare = format!("{}://{}{}", parts.scheme, parts.hosts, parts.tail);
        // The profile's credentials go to the profile's registry only, never
        // to another one a flag or the environment names.
        let own = from_profile
            .and_then(|p| UrlParts::split(p.trim()))
            .is_some_and(|p| {
                p.scheme.eq_ignore_ascii_case(parts.scheme)
                    && p.hosts.eq_ignore_ascii_case(parts.hosts)
            });
        if let Some(u) = profile.schema_registry_user.as_ref().filter(|_| own) {
            user = Some(u.clone());
        }
        if let Some(var) = profile
            .schema_registry_password_env
            .as_ref()
            .filter(|_| own)
        {
            let v = std::env::var(var).map_err(|_| {
                usage(format!(
                    "the profile's schema_registry_password_env names {var}, which is not set"
                ))
            })?;
            crate::secrets::register(&v);
            password = Some(v);
        }
        let ca_pem = match &profile.schema_registry_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                usage(format!(
                    "cannot read schema_registry_ca_file {}: {e}",
                    path.display()
                ))
            })?),
            None => None,
        };
        out.registry = Some(RegistrySettings {
            url: bare,
            user,
            password,
            ca_pem,
            timeout,
        });
        Ok(out)
    }

    /// True when nothing would be decoded.
    pub fn is_off(&self) -> bool {
        self.no_decode
            || (self.registry.is_none()
                && self.avro_schema.is_empty()
                && self.proto.is_empty()
                && self.descriptor_set.is_none())
    }
}

/// A local schema, and the Protobuf type it reads plain bodies as.
struct Local {
    entry: Arc<Entry>,
    message: Option<MessageDescriptor>,
}

/// Decodes (and encodes) the bodies of one run.
pub struct Decoder {
    registry: Option<Registry>,
    local: Option<Local>,
    cache: Mutex<HashMap<u32, std::result::Result<Arc<Entry>, Failure>>>,
    /// Set once the registry could not be reached: later IDs fail at once.
    down: Mutex<Option<Failure>>,
    warned: Mutex<HashSet<FailureKind>>,
    warner: Warner,
}

impl Decoder {
    /// The decoder of a run; None when decoding is off or nothing is
    /// configured. Local schema files are read and compiled here, so a bad
    /// one is a usage error before anything is read.
    pub fn new(settings: &SchemaSettings, warner: Warner) -> Result<Option<Decoder>> {
        if settings.is_off() {
            return Ok(None);
        }
        let local = local(settings)?;
        let registry = settings.registry.clone().map(Registry::new).transpose()?;
        Ok(Some(Decoder {
            registry,
            local,
            cache: Mutex::new(HashMap::new()),
            down: Mutex::new(None),
            warned: Mutex::new(HashSet::new()),
            warner,
        }))
    }

    /// Fills `m.decoded` from its body.
    pub fn attach(&self, m: &mut Message) {
        m.decoded = self.decode(&m.body);
    }

    /// What `body` holds; None when it carries no framing and no local
    /// schema reads it.
    pub fn decode(&self, body: &[u8]) -> Option<Decoded> {
        if body.is_empty() {
            return None;
        }
        match (wire::split(body), &self.registry, &self.local) {
            (Some(frame), Some(_), _) => Some(self.framed_from_registry(frame)),
            (Some(frame), None, Some(local)) => Some(self.framed_local(local, body, frame)),
            (None, _, Some(local)) => plain(local, body),
            _ => None,
        }
    }

    fn misfit(&self, d: &Decoded) {
        if let Err(e) = &d.value {
            self.warn_once(
                FailureKind::Misfit,
                &format!("{e}; such bodies show as they are, with decoded.error"),
            );
        }
    }

    fn framed_from_registry(&self, frame: wire::Frame) -> Decoded {
        let id = frame.schema_id;
        let entry = match self.schema(id) {
            Ok(e) => e,
            Err(f) => return Decoded::failed(f.format, Some(id), f.text),
        };
        let mut d = read_framed(&entry, frame, None);
        d.subject = entry.subject.clone();
        self.misfit(&d);
        d
    }

    fn framed_local(&self, local: &Local, body: &[u8], frame: wire::Frame) -> Decoded {
        let d = read_framed(&local.entry, frame, local.message.as_ref());
        if d.value.is_err() {
            if let Some(p) = plain(local, body) {
                return p;
            }
        }
        self.misfit(&d);
        d
    }

    /// The schema of an ID for a read: a failure is also one warning per
    /// kind, since the read goes on without it.
    fn schema(&self, id: u32) -> std::result::Result<Arc<Entry>, Failure> {
        let result = self.fetch(id);
        if let Err(f) = &result {
            self.warn_once(
                f.kind,
                &format!(
                    "{}; bodies it would decode show as they are, with decoded.error",
                    f.text
                ),
            );
        }
        result
    }

    /// The schema of an ID: from the cache, else from the registry (once).
    fn fetch(&self, id: u32) -> std::result::Result<Arc<Entry>, Failure> {
        if let Some(r) = self.cache.lock().unwrap().get(&id) {
            return r.clone();
        }
        let registry = self.registry.as_ref().expect("a registry");
        let down = self.down.lock().unwrap().clone();
        let result = match down {
            Some(f) => Err(f),
            None => match registry.by_id(id) {
                Ok(f) => Parsed::from_fetched(&f)
                    .map(|parsed| {
                        Arc::new(Entry {
                            parsed,
                            subject: f.subject.clone(),
                        })
                    })
                    .map_err(|e| Failure {
                        kind: FailureKind::Unusable,
                        text: format!("schema {id} ({}): {e}", f.format.word()),
                        format: Some(f.format),
                    }),
                Err(f) => {
                    if f.kind == FailureKind::Unreachable {
                        *self.down.lock().unwrap() = Some(f.clone());
                    }
                    Err(f)
                }
            },
        };
        self.cache.lock().unwrap().insert(id, result.clone());
        result
    }

    fn warn_once(&self, kind: FailureKind, text: &str) {
        if self.warned.lock().unwrap().insert(kind) {
            self.warner.warn(text);
        }
    }

    /// An encoder that writes a value back the way `decoded` was read: same
    /// schema ID and message type (framed), or plain with the local schema.
    pub fn encoder_for(&self, decoded: &Decoded) -> std::result::Result<Encoder, String> {
        let entry = match (&decoded.framing, &self.registry, &self.local) {
            (Framing::Framed { schema_id, .. }, Some(_), _) => {
                self.schema(*schema_id).map_err(|f| f.text)?
            }
            (_, _, Some(local)) => local.entry.clone(),
            _ => return Err("no schema to encode with".into()),
        };
        let message = match (&entry.parsed, &decoded.message_type) {
            (Parsed::Protobuf(p), Some(name)) => Some(p.by_name(name)?),
            (Parsed::Protobuf(_), None) => return Err("the message type is unknown".into()),
            _ => None,
        };
        Ok(Encoder {
            entry,
            message,
            framing: decoded.framing.clone(),
        })
    }

    /// An encoder for `publish --encode`: the schema of `source` (a subject's
    /// version, or an ID) from the registry, else the local schema (plain
    /// bytes). `format` must be the schema's; `proto_message` picks the
    /// Protobuf type (else the schema's only top-level one).
    pub fn publish_encoder(
        &self,
        format: Format,
        source: &SchemaSource,
        proto_message: Option<&str>,
    ) -> std::result::Result<Encoder, Failure> {
        let (entry, id) = match (&self.registry, source) {
            (Some(r), SchemaSource::Subject { subject, version }) => {
                let f = r.by_subject(subject, *version)?;
                let parsed = Parsed::from_fetched(&f).map_err(|e| Failure::new(FailureKind::Unusable, e))?;
                let entry = Arc::new(Entry {
                    parsed,
                    subject: Some(subject.clone()),
                });
                self.cache.lock().unwrap().insert(f.id, Ok(entry.clone()));
                (entry, Some(f.id))
            }
            // Publish stops on a failure with its error: no read's warning beside it.
            (Some(_), SchemaSource::Id(id)) => (self.fetch(*id)?, Some(*id)),
            (_, SchemaSource::Local) => match &self.local {
                Some(l) => (l.entry.clone(), None),
                None => return Err(Failure::new(FailureKind::Unusable, "no schema: name a registry, or --avro-schema, --proto or --descriptor-set".into())),
            },
            (None, _) => {
                return Err(Failure::new(
                    FailureKind::Unusable,
                    "--schema-subject and --schema-id need a schema registry (--schema-registry, DLQ_SCHEMA_REGISTRY or the profile's schema_registry)".into(),
                ))
            }
        };
        let have = entry.parsed.format();
        if have != format {
            return Err(Failure::new(
                FailureKind::Unusable,
                format!(
                    "--encode {} but the schema is {}",
                    format.word(),
                    have.word()
                ),
            ));
        }
        let message = match &entry.parsed {
            Parsed::Protobuf(p) => Some(
                match proto_message.or(self.local.as_ref().and_then(|l| l.message.as_ref().map(|m| m.full_name()))) {
                    Some(name) => p.by_name(name),
                    None => p.single_message().ok_or_else(|| {
                        "the Protobuf schema has several message types: name one with --proto-message".to_owned()
                    }),
                }
                .map_err(|e| Failure::new(FailureKind::Unusable, e))?,
            ),
            _ => None,
        };
        let framing = match id {
            Some(schema_id) => Framing::Framed {
                schema_id,
                indexes: message.as_ref().map(protobuf::indexes_of),
            },
            None => Framing::Plain,
        };
        Ok(Encoder {
            entry,
            message,
            framing,
        })
    }
}

/// Which registry schema `publish --encode` writes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaSource {
    /// A subject's version; None is the latest.
    Subject {
        subject: String,
        version: Option<u32>,
    },
    Id(u32),
    /// The local schema files.
    Local,
}

/// Writes JSON values as bodies with one schema.
#[derive(Debug)]
pub struct Encoder {
    entry: Arc<Entry>,
    message: Option<MessageDescriptor>,
    framing: Framing,
}

impl Encoder {
    /// The body for `value`: framing and payload. A value that does not fit
    /// the schema is an error that says why.
    pub fn encode(&self, value: &Value) -> std::result::Result<Vec<u8>, String> {
        self.encode_like(value, None)
    }

    /// The body for `value` as an edit of `original` (a body this encoder's
    /// schema reads): what JSON cannot say (an Avro union's branch) is kept
    /// as the original had it.
    pub fn encode_like(
        &self,
        value: &Value,
        original: Option<&[u8]>,
    ) -> std::result::Result<Vec<u8>, String> {
        let payload = match (&self.entry.parsed, &self.message) {
            (Parsed::Avro(s), _) => {
                let before = match &self.framing {
                    Framing::Framed { .. } => original.and_then(wire::split).map(|f| f.rest),
                    Framing::Plain => original,
                };
                s.encode_like(value, before)?
            }
            (Parsed::Protobuf(_), Some(desc)) => protobuf::encode(desc, value)?,
            (Parsed::Protobuf(_), None) => return Err("the message type is unknown".into()),
            (Parsed::Json(s), _) => {
                s.validate(value)?;
                serde_json::to_vec(value).map_err(|e| e.to_string())?
            }
        };
        Ok(match &self.framing {
            Framing::Framed { schema_id, indexes } => {
                let mut out = wire::header(*schema_id, indexes.as_deref());
                out.extend_from_slice(&payload);
                out
            }
            Framing::Plain => payload,
        })
    }

    /// The format it writes.
    pub fn format(&self) -> Format {
        self.entry.parsed.format()
    }

    /// `avro, schema 42` / `protobuf, local schema, shop.v1.Order`.
    pub fn label(&self) -> String {
        let mut out = self.format().word().to_owned();
        match &self.framing {
            Framing::Framed { schema_id, .. } => out.push_str(&format!(", schema {schema_id}")),
            Framing::Plain => out.push_str(", local schema"),
        }
        if let Some(m) = &self.message {
            out.push_str(&format!(", {}", m.full_name()));
        }
        out
    }
}

/// Reads a framed body with `entry`; `message` overrides the index list.
fn read_framed(entry: &Entry, frame: wire::Frame, message: Option<&MessageDescriptor>) -> Decoded {
    let id = frame.schema_id;
    let format = entry.parsed.format();
    let mut out = Decoded::failed(Some(format), Some(id), String::new());
    let result = match &entry.parsed {
        Parsed::Avro(s) => {
            out.framing = Framing::Framed {
                schema_id: id,
                indexes: None,
            };
            s.decode(frame.rest)
        }
        Parsed::Json(_) => {
            out.framing = Framing::Framed {
                schema_id: id,
                indexes: None,
            };
            json_schema::decode(frame.rest)
        }
        Parsed::Protobuf(p) => wire::message_indexes(frame.rest).and_then(|(ix, payload)| {
            let desc = match message {
                Some(m) => m.clone(),
                None => p.by_indexes(&ix)?,
            };
            out.message_type = Some(desc.full_name().to_owned());
            out.framing = Framing::Framed {
                schema_id: id,
                indexes: Some(ix),
            };
            protobuf::decode(&desc, payload, false)
        }),
    };
    out.value = result
        .and_then(raw)
        .map_err(|e| format!("schema {id} ({}): {e}", format.word()));
    out
}

/// A body without framing, read whole with the local schema; None when it does not fit.
fn plain(local: &Local, body: &[u8]) -> Option<Decoded> {
    let (value, message_type) = match (&local.entry.parsed, &local.message) {
        (Parsed::Avro(s), _) => (s.decode(body).ok()?, None),
        (Parsed::Protobuf(_), Some(desc)) => (
            protobuf::decode(desc, body, true).ok()?,
            Some(desc.full_name().to_owned()),
        ),
        _ => return None,
    };
    Some(Decoded {
        format: Some(local.entry.parsed.format()),
        schema_id: None,
        subject: None,
        message_type,
        value: Ok(raw(value).ok()?),
        framing: Framing::Plain,
    })
}

/// Reads and compiles the local schema files.
fn local(s: &SchemaSettings) -> Result<Option<Local>> {
    let given = [
        !s.avro_schema.is_empty(),
        !s.proto.is_empty(),
        s.descriptor_set.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(usage(
            "give one local schema: --avro-schema, --proto or --descriptor-set",
        ));
    }
    if s.proto_message.is_some()
        && s.proto.is_empty()
        && s.descriptor_set.is_none()
        && s.registry.is_none()
    {
        return Err(usage(
            "--proto-message needs --proto, --descriptor-set or a schema registry",
        ));
    }
    if !s.proto_path.is_empty() && s.proto.is_empty() {
        return Err(usage("--proto-path needs --proto"));
    }
    if let Some((path, named)) = s.avro_schema.split_last() {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map_err(|e| usage(format!("cannot read --avro-schema {}: {e}", p.display())))
        };
        let named = named.iter().map(read).collect::<Result<Vec<_>>>()?;
        let parsed = avro::AvroSchema::parse(&read(path)?, &named)
            .map_err(|e| usage(format!("--avro-schema {}: {e}", path.display())))?;
        return Ok(Some(Local {
            entry: Arc::new(Entry {
                parsed: Parsed::Avro(Box::new(parsed)),
                subject: None,
            }),
            message: None,
        }));
    }
    let schema = if !s.proto.is_empty() {
        for p in &s.proto {
            if !p.is_file() {
                return Err(usage(format!(
                    "cannot read --proto {}: no such file",
                    p.display()
                )));
            }
        }
        protobuf::ProtoSchema::from_files(&s.proto, &s.proto_path).map_err(usage)?
    } else if let Some(path) = &s.descriptor_set {
        let bytes = std::fs::read(path).map_err(|e| {
            usage(format!(
                "cannot read --descriptor-set {}: {e}",
                path.display()
            ))
        })?;
        protobuf::ProtoSchema::from_descriptor_set(&bytes)
            .map_err(|e| usage(format!("--descriptor-set {}: {e}", path.display())))?
    } else {
        return Ok(None);
    };
    let message = match &s.proto_message {
        Some(name) => Some(schema.by_name(name).map_err(|e| usage(format!("--proto-message: {e}")))?),
        None => Some(schema.single_message().ok_or_else(|| {
            usage("the .proto files define several message types: name the one the bodies hold with --proto-message")
        })?),
    };
    Ok(Some(Local {
        entry: Arc::new(Entry {
            parsed: Parsed::Protobuf(schema),
            subject: None,
        }),
        message,
    }))
}
