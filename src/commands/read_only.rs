//! Read-only mode: a profile with `read_only = true`, the global flag
//! `--read-only`, or env `DLQ_READ_ONLY=1` refuses every command that
//! changes messages, before it connects (SPEC.md, "Read-only profiles").
//!
//! Which commands change messages is one fact, [`changes_messages`], and the
//! refusal is one method on [`Ctx`], so that the interactive view asks the
//! same question as the commands. A dry run changes nothing and is allowed.

use anyhow::Result;

use super::Ctx;
use crate::cli::Command;
use crate::exit::usage;

/// True when running `command` as given would change messages.
pub fn changes_messages(command: &Command) -> bool {
    match command {
        Command::Retry(a) => !a.redrive.dry_run,
        Command::RetryAll(a) => !a.redrive.dry_run,
        Command::Purge(a) => !a.dry_run,
        Command::Edit(a) => !a.dry_run,
        Command::Publish(_) => true,
        _ => false,
    }
}

/// Why this run is read-only, as the error names it (`profile 'prod' is
/// read-only`), or None. `env` is the value of `DLQ_READ_ONLY`.
pub fn why(flag: bool, env: Option<&str>, profile: Option<(&str, bool)>) -> Result<Option<String>> {
    if let Some((name, true)) = profile {
        return Ok(Some(format!("profile '{name}' is read-only")));
    }
    if flag {
        return Ok(Some("read-only (--read-only)".into()));
    }
    match env.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "0" | "false" | "no") => Ok(None),
        Some("1" | "true" | "yes") => Ok(Some("read-only (DLQ_READ_ONLY)".into())),
        Some(_) => Err(usage(format!(
            "DLQ_READ_ONLY={:?}: use 1 (read-only) or 0",
            env.unwrap_or_default()
        ))),
    }
}

impl Ctx {
    /// Why changes are refused in this run (the profile, `--read-only` or
    /// `DLQ_READ_ONLY`), or None when they are allowed. A profile that does
    /// not resolve is left to the command to report.
    pub fn read_only(&self) -> Result<Option<String>> {
        let settings = self.settings().ok();
        let profile = settings.as_ref().and_then(|s| {
            let name = s.profile_name.as_deref()?;
            Some((name, s.profile.read_only == Some(true)))
        });
        let env = std::env::var("DLQ_READ_ONLY").ok();
        why(self.global.read_only, env.as_deref(), profile)
    }

    /// Refuses (exit 2) a command that would change messages in a
    /// read-only run; `command` is its name as typed.
    pub fn refuse_if_read_only(&self, command: &str) -> Result<()> {
        match self.read_only()? {
            Some(why) => Err(usage(format!("{why}: {command} changes messages"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_flag_or_env_makes_a_run_read_only() {
        assert_eq!(why(false, None, None).unwrap(), None);
        assert_eq!(why(false, None, Some(("dev", false))).unwrap(), None);
        assert_eq!(
            why(false, None, Some(("prod", true))).unwrap().unwrap(),
            "profile 'prod' is read-only"
        );
        assert_eq!(
            why(true, None, None).unwrap().unwrap(),
            "read-only (--read-only)"
        );
        for on in ["1", "true", "YES"] {
            assert!(why(false, Some(on), None).unwrap().is_some(), "{on}");
        }
        for off in ["", "0", "false", "no"] {
            assert!(why(false, Some(off), None).unwrap().is_none(), "{off}");
        }
        let e = why(false, Some("maybe"), None).unwrap_err();
        assert_eq!(crate::exit::code_for(&e), crate::exit::Exit::Usage);
    }
}
