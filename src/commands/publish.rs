//! `dlq publish TARGET`: publish from `--body`, `--file` or standard input.
//!
//! With `--encode`, each JSON input value is written with a schema: a
//! registry subject's version or schema ID (the Confluent wire format), or a
//! local schema (plain bytes). The schema is fetched and compiled before the
//! broker is contacted, so a registry that refuses the credentials is one
//! error line (exit 4) and nothing is sent.

use std::io::IsTerminal;

use anyhow::Result;

use super::{BulkRun, Ctx};
use crate::broker::PublishOptions;
use crate::bulk::publish::publish;
use crate::cli::{EncodeArgs, EncodeFormat, InputFormat, PublishArgs, SchemaArgs};
use crate::exit::{usage, Exit};
use crate::input::{self, Source};
use crate::report::Action;
use crate::schema::{Encoder, Format, SchemaSource};
use crate::select::Selection;

pub async fn run(ctx: &Ctx, args: &PublishArgs) -> Result<Exit> {
    let source = match (&args.body, &args.file) {
        (Some(b), _) => Source::Body(b.clone()),
        (None, Some(f)) => Source::File(f.clone()),
        (None, None) if !std::io::stdin().is_terminal() => Source::Stdin,
        (None, None) => return Err(usage(
            "nothing to publish: pass --body TEXT, --file PATH, or pipe messages on standard input",
        )),
    };
    if let Some(r) = args.rate {
        if r.is_nan() || r <= 0.0 {
            return Err(usage(
                "--rate must be a positive number of messages a second",
            ));
        }
    }
    let opts = PublishOptions {
        exchange: args.exchange.clone(),
        routing_key: args.routing_key.clone(),
        key: args.key.clone(),
        partition: args.partition,
        group_id: args.group_id.clone(),
        dedup_id: args.dedup_id.clone(),
        delay: args.delay,
    };
    let (_, caps) = ctx.check(&opts.flags())?;
    let encoder = encoder(ctx, &args.encode, args.format)?;
    let broker = ctx.connect_with(&opts.flags()).await?;
    let mut input = input::open(
        source,
        args.format,
        args.count,
        args.headers.clone(),
        encoder,
    )?;
    let mut publisher = broker.publisher(&args.target, &opts).await?;
    let run = ctx.ledger(BulkRun {
        command: "publish",
        queue: &args.target,
        action: Action::Published,
        total: None,
        rate: args.rate,
        backup: None,
        selection: Selection::everything(),
    });
    publish(&mut *publisher, &mut input, caps.keys, &run).await;
    drop(publisher);
    ctx.conclude(run, Ok(()), Action::Published)
}

/// The encoder of `--encode`, or None without it.
fn encoder(ctx: &Ctx, a: &EncodeArgs, input: InputFormat) -> Result<Option<Encoder>> {
    let Some(format) = a.encode else {
        return Ok(None);
    };
    if input == InputFormat::Ndjson {
        return Err(usage(
            "--encode does not apply to --format ndjson, which replays each envelope's bytes as they were",
        ));
    }
    let format = match format {
        EncodeFormat::Avro => Format::Avro,
        EncodeFormat::Protobuf => Format::Protobuf,
        EncodeFormat::JsonSchema => Format::JsonSchema,
    };
    let schema = SchemaArgs {
        schema_registry: a.schema_registry.clone(),
        avro_schema: a.avro_schema.clone(),
        proto: a.proto.clone(),
        proto_path: a.proto_path.clone(),
        descriptor_set: a.descriptor_set.clone(),
        proto_message: a.proto_message.clone(),
        no_decode: false,
    };
    let local = !a.avro_schema.is_empty() || !a.proto.is_empty() || a.descriptor_set.is_some();
    let source = match (&a.schema_subject, a.schema_id) {
        (Some(subject), _) => SchemaSource::Subject {
            subject: subject.clone(),
            version: a.schema_version,
        },
        (None, Some(id)) => SchemaSource::Id(id),
        (None, None) if local => SchemaSource::Local,
        (None, None) => {
            return Err(usage(format!(
                "--encode {} needs a schema: --schema-subject SUBJECT or --schema-id N with a registry, or a local {}",
                format.word(),
                match format {
                    Format::Avro => "--avro-schema FILE",
                    Format::Protobuf => "--proto FILE or --descriptor-set FILE",
                    Format::JsonSchema => "schema from a registry (JSON Schema has no local file)",
                }
            )))
        }
    };
    if local && source != SchemaSource::Local {
        return Err(usage(
            "give one schema: --schema-subject or --schema-id (registry), or a local schema file",
        ));
    }
    let decoder = ctx.decoder(&schema)?.ok_or_else(|| {
        usage("--schema-subject and --schema-id need a schema registry (--schema-registry, DLQ_SCHEMA_REGISTRY or the profile's schema_registry)")
    })?;
    decoder
        .publish_encoder(format, &source, a.proto_message.as_deref())
        .map(Some)
        .map_err(|f| f.into_error())
}
