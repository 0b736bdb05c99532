//! `dlq edit QUEUE ID`: fix one message in an editor, then send it back.
//!
//! The message is read like `peek` and written to a private temporary file
//! (the format is in `edit_file`); `$VISUAL`, else `$EDITOR`, else `vi` opens
//! it (the variable may hold arguments). What is saved goes out by the retry
//! path itself: a one-ID re-drive whose rewrite is "send the edited message",
//! so the original is removed only once the edited copy is confirmed and the
//! copy carries the re-drive count header. Nothing is sent for an unchanged
//! or emptied file (exit 0), an editor that fails, or a file that does not
//! parse (exit 2; the file is kept so the edit is not lost). The broker is
//! connected to again after the editor closes, so a long edit does not leave
//! a connection idle.
//!
//! A schema-encoded body is written as its decoded value (`@body: avro`,
//! `protobuf` or `json-schema`); once edited it is encoded again with the
//! schema it was read with, and a value that no longer fits leaves the
//! message on the DLQ, listed in `failures` (exit 3).

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};
use tokio::signal::unix::{signal, SignalKind};

use super::{read_options, redrive, selected, Ctx};
use crate::broker::{Flow, Message, RedriveOptions};
use crate::cli::{EditArgs, ReadArgs};
use crate::edit_file::{self, Edited};
use crate::exit::{usage, Exit};
use crate::rewrite::{Replacement, Rewrite};
use crate::schema::Decoder;
use crate::select::{Criteria, Filter, Selection};

pub async fn run(ctx: &Ctx, a: &EditArgs) -> Result<Exit> {
    let (queue, id, to, read) = (a.queue.as_str(), a.id.as_str(), a.to.as_deref(), &a.read);
    let (yes, dry_run) = (a.yes, a.dry_run);
    ctx.require_consent(
        yes,
        dry_run,
        &format!("edit and re-send message {id} of {queue}"),
    )?;
    let ids = [id.to_owned()];
    let with_kind = ctx
        .check(&read_options(read, false, &ids).flags())?
        .1
        .origin_kinds_shown();
    let decoder = ctx.decoder(&a.schema)?;
    let message = find(ctx, queue, &ids, read, decoder.as_ref()).await?;
    let destination = redrive::target_of(&message, to, with_kind);
    if to.is_none() && message.dead_letter.origin.is_none() {
        return Err(usage(format!(
            "message {id} records no origin to send it to: pass --to TARGET (nothing changed)"
        )));
    }

    let mut file = tempfile::Builder::new()
        .prefix("dlq-edit-")
        .suffix(".txt")
        .tempfile()
        .context("creating the file to edit")?;
    let written = edit_file::render(&message, &destination);
    file.write_all(written.as_bytes())
        .and_then(|()| file.flush())
        .context("writing the file to edit")?;
    open_editor(file.path()).await?;
    let saved = std::fs::read_to_string(file.path())
        .with_context(|| format!("reading back {}", file.path().display()))?;

    let edited = match edit_file::parse(&saved, &message) {
        Ok(Edited::Aborted) => {
            ctx.printer
                .note("aborted: the file was emptied, nothing sent");
            return Ok(Exit::Ok);
        }
        Ok(Edited::Message(r)) => r,
        Err(e) => {
            let kept = file
                .keep()
                .map(|(_, path)| format!(" (the edit is kept in {})", path.display()))
                .unwrap_or_default();
            return Err(usage(format!(
                "the edited message does not read back, nothing sent: {e}{kept}"
            )));
        }
    };
    if edited == as_replacement(&message) {
        ctx.printer.note("unchanged: nothing sent");
        return Ok(Exit::Ok);
    }

    let opts = RedriveOptions {
        read: read_options(read, false, &ids),
        to: to.map(str::to_owned),
        rewrite: Rewrite::replace_with(edited).with_schema(decoder),
        ..Default::default()
    };
    let broker = ctx.connect_with(&opts.flags()).await?;
    let sel = Selection::new(Some(&ids), Filter::default(), None, None);
    if dry_run {
        return redrive::dry_run(ctx, &*broker, queue, &sel, &opts).await;
    }
    let drive = redrive::Drive {
        command: "edit",
        rate: None,
        total: Some(1),
    };
    redrive::execute(ctx, &*broker, queue, sel, &opts, drive).await
}

/// The one message with this ID, its body decoded when it is
/// schema-encoded; none or several is an error (exit 4).
async fn find(
    ctx: &Ctx,
    queue: &str,
    ids: &[String],
    read: &ReadArgs,
    decoder: Option<&Decoder>,
) -> Result<Message> {
    let read = read_options(read, false, ids);
    let broker = ctx.connect_with(&read.flags()).await?;
    let sel = Criteria::new(Some(ids), Filter::default(), None, None).start();
    let mut found = None;
    selected::browse_decoded(&*broker, queue, &read, &sel, decoder, &mut |m, _| {
        found.get_or_insert(m);
        Ok(Flow::Continue)
    })
    .await?;
    selected::check_ids(queue, &sel)?;
    found.context("the message went away while it was read")
}

fn as_replacement(m: &Message) -> Replacement {
    Replacement {
        headers: m.headers.clone(),
        key: m.key.clone(),
        key_base64: m
            .broker
            .get(crate::message::KEY_BASE64)
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        body: m.body.clone(),
        encode: false,
    }
}

/// Runs the editor on `path`; a failing editor changes nothing (exit 2).
async fn open_editor(path: &Path) -> Result<()> {
    let command = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned());
    let mut words = command.split_whitespace();
    let program = words.next().unwrap_or("vi");
    // Ctrl-C in the editor (vi uses it) reaches dlq too: it must not end dlq meanwhile.
    let mut sigint = signal(SignalKind::interrupt()).context("setting up the Ctrl-C handler")?;
    let shield = tokio::spawn(async move { while sigint.recv().await.is_some() {} });
    let status = tokio::process::Command::new(program)
        .args(words)
        .arg(path)
        .status()
        .await;
    shield.abort();
    let status = status.map_err(|e| {
        usage(format!(
            "cannot start the editor {command:?}: {e}; nothing sent"
        ))
    })?;
    if !status.success() {
        return Err(usage(format!(
            "the editor {command:?} exited with {status}: nothing sent"
        )));
    }
    Ok(())
}
