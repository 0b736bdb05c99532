//! `dlq export QUEUE`: NDJSON envelopes to stdout or `--out`, without
//! removing anything. The output replays with `publish --format ndjson`.

use std::io::{BufWriter, Write};

use anyhow::{Context as _, Result};

use super::{criteria, read_options, selected, warn_where_failures, Ctx};
use crate::broker::Flow;
use crate::cli::ExportArgs;
use crate::exit::{usage, Exit};
use crate::select::{Criteria, Decision};

pub async fn run(ctx: &Ctx, a: &ExportArgs) -> Result<Exit> {
    export(ctx, a, &criteria(&a.filters, None, None)?).await
}

/// Exports what `wanted` selects (the filters of `a`, or the IDs `dlq browse`
/// marked) as `run` does.
pub async fn export(ctx: &Ctx, a: &ExportArgs, wanted: &Criteria) -> Result<Exit> {
    let (queue, read, all) = (a.queue.as_str(), &a.read, a.all);
    let out = a.out.as_deref();
    ctx.check(&read_options(read, all, &[]).flags())?;
    // A file is written beside its path and renamed over it only once the
    // export is complete: a failed export leaves an existing file as it was.
    // Not for a device or pipe (`--out /dev/stdout`), which is written as it is.
    let special = out.is_some_and(|p| p.metadata().is_ok_and(|m| !m.is_file()));
    let staged = match out {
        Some(path) if !special => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            let mut builder = tempfile::Builder::new();
            builder.prefix(".dlq-export");
            // The mode File::create would give (less the umask), not tempfile's 0600.
            #[cfg(unix)]
            builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
            Some(builder.tempfile_in(dir).map_err(|e| {
                let why = e.to_string();
                let why = why.split(" at path ").next().unwrap_or_default();
                usage(format!("cannot create {}: {why}", path.display()))
            })?)
        }
        _ => None,
    };
    let mut writer: Box<dyn Write + Send> = match (&staged, out) {
        (Some(f), _) => Box::new(BufWriter::new(f.reopen().context("writing the export")?)),
        (None, Some(path)) => Box::new(BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| usage(format!("cannot create {}: {e}", path.display())))?,
        )),
        (None, None) => Box::new(BufWriter::new(std::io::stdout())),
    };
    let decoder = ctx.decoder(&a.schema)?;
    let broker = ctx
        .connect_with(&read_options(read, all, &[]).flags())
        .await?;
    let sel = wanted.start();
    let opts = read_options(read, all, &[]);
    let mut count = 0u64;
    let mut err = None;
    selected::browse_decoded(
        &*broker,
        queue,
        &opts,
        &sel,
        decoder.as_ref(),
        &mut |m, d| {
            if d == Decision::Take {
                let line = serde_json::to_string(&m.envelope())?;
                if let Err(e) = writeln!(writer, "{line}") {
                    err = Some(e);
                    return Ok(Flow::Stop);
                }
                count += 1;
            }
            Ok(Flow::Continue)
        },
    )
    .await?;
    if let Some(e) = err {
        return Err(e).context("writing the export");
    }
    writer.flush().context("writing the export")?;
    warn_where_failures(&ctx.printer, &sel.criteria);
    drop(writer);
    if let (Some(f), Some(path)) = (staged, out) {
        f.as_file().sync_all().context("writing the export")?;
        f.persist(path)
            .map_err(|e| usage(format!("cannot write {}: {}", path.display(), e.error)))?;
    }
    let dest = out
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "stdout".into());
    ctx.printer.note(&format!(
        "exported {count} message{} to {dest}",
        if count == 1 { "" } else { "s" }
    ));
    Ok(Exit::Ok)
}
