//! `dlq export QUEUE`: NDJSON envelopes to stdout or `--out`, without
//! removing anything. The output replays with `publish --format ndjson`.

use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::{Context as _, Result};

use super::{read_flags, read_options, selected, selection, Ctx};
use crate::broker::Flow;
use crate::cli::ExportArgs;
use crate::exit::{usage, Exit};
use crate::select::Decision;

pub async fn run(ctx: &Ctx, a: &ExportArgs) -> Result<Exit> {
    let (queue, filters, read, all) = (a.queue.as_str(), &a.filters, &a.read, a.all);
    let out = a.out.as_deref();
    ctx.check(&read_flags(read, all))?;
    let mut writer: Box<dyn Write + Send> = match out {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).map_err(|e| {
                usage(format!("cannot create {}: {e}", path.display()))
            })?))
        }
        None => Box::new(BufWriter::new(std::io::stdout())),
    };
    let broker = ctx.connect_with(&read_flags(read, all)).await?;
    let sel = selection(filters, None);
    let opts = read_options(read, all, &[]);
    let mut count = 0u64;
    let mut err = None;
    selected::browse(&*broker, queue, &opts, &sel, &mut |m, d| {
        if d == Decision::Take {
            let line = serde_json::to_string(&m.envelope())?;
            if let Err(e) = writeln!(writer, "{line}") {
                err = Some(e);
                return Ok(Flow::Stop);
            }
            count += 1;
        }
        Ok(Flow::Continue)
    })
    .await?;
    if let Some(e) = err {
        return Err(e).context("writing the export");
    }
    writer.flush().context("writing the export")?;
    let dest = out
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "stdout".into());
    ctx.printer.note(&format!(
        "exported {count} message{} to {dest}",
        if count == 1 { "" } else { "s" }
    ));
    Ok(Exit::Ok)
}
