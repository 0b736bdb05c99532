//! `completions/` and `man/` are generated from the clap definition and
//! committed. This test fails when they drift; run it with
//! `DLQ_REGENERATE=1 cargo test --test generated` to rewrite them.

use std::path::Path;

use dlq::cli::Shell;
use dlq::commands::{completions, man};

fn check(path: &Path, want: &[u8], stale: &mut Vec<String>) {
    if std::env::var_os("DLQ_REGENERATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, want).unwrap();
        return;
    }
    match std::fs::read(path) {
        Ok(have) if have == want => {}
        _ => stale.push(path.display().to_string()),
    }
}

#[test]
fn completions_and_man_pages_match_the_cli() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stale = Vec::new();
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::PowerShell,
        Shell::Elvish,
    ] {
        check(
            &root.join("completions").join(completions::file_name(shell)),
            &completions::script(shell),
            &mut stale,
        );
    }
    check(
        &root.join("docs").join("conventions.md"),
        dlq::conventions::page::page().as_bytes(),
        &mut stale,
    );
    let pages = man::pages().unwrap();
    for (name, text) in &pages {
        check(&root.join("man").join(name), text, &mut stale);
    }
    // No leftover page for a command that no longer exists.
    if let Ok(entries) = std::fs::read_dir(root.join("man")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !pages.iter().any(|(n, _)| *n == name) {
                stale.push(format!("man/{name} (no such command)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated files are out of date: {stale:?}\nrun: DLQ_REGENERATE=1 cargo test --test generated"
    );
}

#[test]
fn man_page_documents_exit_codes() {
    let pages = man::pages().unwrap();
    let top = String::from_utf8(pages[0].1.clone()).unwrap();
    assert!(top.contains("Exit codes"), "dlq.1 lacks the exit codes");
    assert!(top.contains("130"));
}
