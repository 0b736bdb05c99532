//! Names the commit dlq is built from, for `dlq --version`: `git describe`
//! of the source tree when it is a git checkout (with `-dirty` when it has
//! changes), else "unknown commit" (a source tarball). Rebuilds only when
//! HEAD or the branch it points at moves, so ordinary builds stay cached.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    let commit = git(&["describe", "--always", "--dirty", "--abbrev=12"])
        .map(|c| format!("commit {c}"))
        .unwrap_or_else(|| "unknown commit".into());
    println!("cargo:rustc-env=DLQ_COMMIT={commit}");
    // The files whose change means a new commit; in a worktree they live
    // outside `.git`, which git itself says where.
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(&["rev-parse", "--git-path", &branch]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
