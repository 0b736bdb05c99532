//! `dlq completions SHELL`: completion scripts from the clap definition.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell as CShell;

use crate::cli::{Cli, CompletionsArgs, Shell};
use crate::exit::Exit;

/// The completion script for one shell.
pub fn script(shell: Shell) -> Vec<u8> {
    let shell = match shell {
        Shell::Bash => CShell::Bash,
        Shell::Zsh => CShell::Zsh,
        Shell::Fish => CShell::Fish,
        Shell::PowerShell => CShell::PowerShell,
        Shell::Elvish => CShell::Elvish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "dlq", &mut out);
    out
}

/// The file name each script is committed under in `completions/`.
pub fn file_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "dlq.bash",
        Shell::Zsh => "_dlq",
        Shell::Fish => "dlq.fish",
        Shell::PowerShell => "_dlq.ps1",
        Shell::Elvish => "dlq.elv",
    }
}

pub fn run(a: &CompletionsArgs) -> Result<Exit> {
    let shell = a.shell;
    std::io::stdout().lock().write_all(&script(shell))?;
    Ok(Exit::Ok)
}
