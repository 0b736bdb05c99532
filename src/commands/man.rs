//! `dlq man`: man pages from the clap definition, `dlq.1` and one page per
//! command (`dlq-list.1`, ...).

use std::io::Write;

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::exit::Exit;

/// Every page as (file name, roff text).
pub fn pages() -> Result<Vec<(String, Vec<u8>)>> {
    // The release, not the commit: a committed page must not change with
    // every commit (`dlq --version` names the commit).
    let cmd = Cli::command().long_version(None::<&'static str>);
    let mut out = Vec::new();
    let mut top = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut top)?;
    out.push(("dlq.1".to_string(), top));
    for sub in cmd.get_subcommands() {
        let name = format!("dlq-{}", sub.get_name());
        let mut page = Vec::new();
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("dlq {}", sub.get_name()));
        clap_mangen::Man::new(sub).render(&mut page)?;
        out.push((format!("{name}.1"), page));
    }
    Ok(out)
}

pub fn run(a: &ManArgs) -> Result<Exit> {
    let dir = a.dir.as_deref();
    let pages = pages()?;
    match dir {
        None => std::io::stdout().lock().write_all(&pages[0].1)?,
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, text) in &pages {
                std::fs::write(dir.join(name), text)
                    .with_context(|| format!("writing {}", dir.join(name).display()))?;
            }
        }
    }
    Ok(Exit::Ok)
}
