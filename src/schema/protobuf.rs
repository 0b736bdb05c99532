//! Protobuf bodies on `prost-reflect`, with schemas compiled at run time by
//! `protox` (a .proto compiler in Rust, so no `protoc` is needed).
//!
//! A registry gives a schema as .proto text (or, from some registries, a
//! base64 `FileDescriptorProto`) plus references: other files by import
//! name. They are compiled together, with the well-known types
//! (`google/protobuf/*.proto`) that protox carries. Local schemas are .proto
//! files with include directories, or a descriptor set as `protoc
//! --descriptor_set_out --include_imports` writes it. The Confluent
//! message-index list picks the message type within the schema's own file.
//! Values are the canonical proto3 JSON mapping: lowerCamelCase names,
//! 64-bit integers as strings, enums by name, default values left out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde_json::Value;

/// The name the schema's own file gets among its references.
const MAIN: &str = "dlq-schema.proto";

/// A compiled Protobuf schema: every message type it and its imports define.
#[derive(Debug)]
pub struct ProtoSchema {
    pool: DescriptorPool,
    /// The file whose messages the message-index list counts.
    main: String,
}

/// Files by import name, for the compiler.
struct Named(HashMap<String, File>);

impl FileResolver for Named {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| protox::Error::file_not_found(name))
    }
}

fn file(name: &str, text: &str) -> Result<File, String> {
    if !text.contains('{') {
        // A registry's serialized form: a base64 FileDescriptorProto.
        if let Ok(bytes) = crate::message::b64_decode(text) {
            if let Ok(f) = File::decode_file_descriptor_proto(&bytes[..]) {
                let mut proto = f.file_descriptor_proto().clone();
                proto.name = Some(name.to_owned());
                return Ok(File::from_file_descriptor_proto(proto));
            }
        }
    }
    File::from_source(name, text).map_err(|e| format!("not a Protobuf schema: {e}"))
}

impl ProtoSchema {
    /// Compiles a schema's text with its references (import name, text).
    pub fn from_texts(text: &str, references: &[(String, String)]) -> Result<ProtoSchema, String> {
        let mut files = HashMap::new();
        for (name, src) in references {
            files.insert(name.clone(), file(name, src)?);
        }
        files.insert(MAIN.to_owned(), file(MAIN, text)?);
        let mut chain = ChainFileResolver::new();
        chain.add(Named(files));
        chain.add(GoogleFileResolver::new());
        let mut c = protox::Compiler::with_file_resolver(chain);
        c.open_file(MAIN)
            .map_err(|e| format!("the Protobuf schema does not compile: {e}"))?;
        Ok(ProtoSchema {
            pool: c.descriptor_pool(),
            main: MAIN.to_owned(),
        })
    }

    /// Compiles local .proto files; imports are looked up in `include`
    /// (each file's own directory when none is given).
    pub fn from_files(files: &[PathBuf], include: &[PathBuf]) -> Result<ProtoSchema, String> {
        let dirs: Vec<PathBuf> = if include.is_empty() {
            files
                .iter()
                .map(|f| f.parent().map(Path::to_path_buf).unwrap_or_default())
                .map(|d| {
                    if d.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        d
                    }
                })
                .collect()
        } else {
            include.to_vec()
        };
        let mut c = protox::Compiler::new(&dirs).map_err(|e| e.to_string())?;
        for f in files {
            c.open_file(f)
                .map_err(|e| format!("--proto {}: {e}", f.display()))?;
        }
        let first = c
            .files()
            .find(|f| !f.is_import())
            .map(|f| f.name().to_owned());
        Ok(ProtoSchema {
            pool: c.descriptor_pool(),
            main: first.unwrap_or_default(),
        })
    }

    /// A descriptor set (`protoc --descriptor_set_out`); its last file is the main one.
    pub fn from_descriptor_set(bytes: &[u8]) -> Result<ProtoSchema, String> {
        let set = protox::file::DescriptorSetFileResolver::decode(bytes)
            .map_err(|e| format!("not a FileDescriptorSet: {e}"))?;
        let names: Vec<String> = prost_types::FileDescriptorSet::decode(bytes)
            .map_err(|e| format!("not a FileDescriptorSet: {e}"))?
            .file
            .into_iter()
            .map(|f| f.name.unwrap_or_default())
            .collect();
        let mut chain = ChainFileResolver::new();
        chain.add(set);
        chain.add(GoogleFileResolver::new());
        let mut c = protox::Compiler::with_file_resolver(chain);
        for n in &names {
            c.open_file(n)
                .map_err(|e| format!("the descriptor set: {e}"))?;
        }
        Ok(ProtoSchema {
            pool: c.descriptor_pool(),
            main: names.last().cloned().unwrap_or_default(),
        })
    }

    /// The message type a message-index list names in the main file.
    pub fn by_indexes(&self, indexes: &[usize]) -> Result<MessageDescriptor, String> {
        let file = self
            .pool
            .get_file_by_name(&self.main)
            .ok_or_else(|| "the Protobuf schema has no file".to_owned())?;
        let bad = || format!("message indexes {indexes:?} name no message type of the schema");
        let mut cur = file
            .messages()
            .nth(*indexes.first().ok_or_else(bad)?)
            .ok_or_else(bad)?;
        for &i in &indexes[1..] {
            let next = cur.child_messages().nth(i).ok_or_else(bad)?;
            cur = next;
        }
        Ok(cur)
    }

    /// The message type of a full name (`shop.v1.Order`).
    pub fn by_name(&self, name: &str) -> Result<MessageDescriptor, String> {
        self.pool
            .get_message_by_name(name.trim_start_matches('.'))
            .ok_or_else(|| {
                let known: Vec<String> = self
                    .pool
                    .get_file_by_name(&self.main)
                    .into_iter()
                    .flat_map(|f| {
                        f.messages()
                            .map(|m| m.full_name().to_owned())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                format!(
                    "no message type {name} in the Protobuf schema (it has {})",
                    known.join(", ")
                )
            })
    }

    /// The only top-level message type of the main file, when there is one.
    pub fn single_message(&self) -> Option<MessageDescriptor> {
        let file = self.pool.get_file_by_name(&self.main)?;
        let mut it = file.messages();
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }
}

/// The message-index list of a type: its place in its file, then in each parent.
pub fn indexes_of(desc: &MessageDescriptor) -> Vec<usize> {
    let mut out = Vec::new();
    let mut cur = desc.clone();
    loop {
        match cur.parent_message() {
            Some(parent) => {
                out.push(parent.child_messages().position(|m| m == cur).unwrap_or(0));
                cur = parent;
            }
            None => {
                out.push(
                    cur.parent_file()
                        .messages()
                        .position(|m| m == cur)
                        .unwrap_or(0),
                );
                break;
            }
        }
    }
    out.reverse();
    out
}

/// Decodes `bytes` as `desc` to canonical proto3 JSON text. With `strict`, bytes
/// with fields the type does not define do not fit (a plain body of another
/// shape decodes "successfully" as unknown fields otherwise).
pub fn decode(desc: &MessageDescriptor, bytes: &[u8], strict: bool) -> Result<String, String> {
    let msg = DynamicMessage::decode(desc.clone(), bytes)
        .map_err(|e| format!("the bytes do not fit {}: {e}", desc.full_name()))?;
    if strict && msg.unknown_fields().next().is_some() {
        return Err(format!(
            "the bytes have fields that {} does not define",
            desc.full_name()
        ));
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 + 16);
    msg.serialize_with_options(
        &mut serde_json::Serializer::new(&mut out),
        &SerializeOptions::new(),
    )
    .map_err(|e| format!("{} cannot be written as JSON: {e}", desc.full_name()))?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Encodes canonical proto3 JSON as `desc`; errors say why it does not fit.
pub fn encode(desc: &MessageDescriptor, value: &Value) -> Result<Vec<u8>, String> {
    let msg =
        DynamicMessage::deserialize_with_options(desc.clone(), value, &DeserializeOptions::new())
            .map_err(|e| format!("the value does not fit {}: {e}", desc.full_name()))?;
    Ok(msg.encode_to_vec())
}
