//! One file per command, each written against `dyn Broker`.
//!
//! [`Ctx`] carries what every command needs: the global flags, the printer,
//! the Ctrl-C flag, and how to reach the broker. The helpers here are the
//! rules that several commands share: building the selection from the
//! filter flags, and asking before a bulk change.

pub mod browse;
pub mod completions;
pub mod edit;
pub mod export;
pub mod front;
pub mod history;
pub mod lag;
pub mod list;
pub mod man;
pub mod peek;
pub mod publish;
pub mod purge;
pub mod queues;
pub mod read_only;
pub mod redrive;
pub mod retry;
pub mod retry_all;
pub mod selected;
pub mod stats;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use anyhow::Result;

use crate::broker::registry::{self, BrokerKind};
use crate::broker::{Broker, Capabilities, Flag, Flow, ReadOptions};
use crate::bulk::{Backup, Interrupt, Ledger, Rate, Setup};
use crate::cli::{FilterArgs, GlobalArgs, ReadArgs, SchemaArgs};
use crate::config::{self, BrokerSettings, Selector};
use crate::exit::{code_for, usage, Exit};
use crate::journal::{self, Journal, Rotation, RunInfo};
use crate::output::{Printer, Warner};
use crate::report::{Action, Stopped};
use crate::schema::{Decoder, SchemaSettings};
use crate::select::{Criteria, Decision, Filter, Predicate, Selection};

/// What every command gets.
pub struct Ctx {
    pub global: GlobalArgs,
    pub printer: Printer,
    pub interrupt: Interrupt,
    /// Who is asked and shown progress: the terminal, or `dlq browse`.
    pub front: Arc<dyn front::Front>,
}

/// What a bulk run is: for the journal, the progress bar and the summary.
pub struct BulkRun<'a> {
    /// The command as the journal names it: retry, retry-all, purge, publish, edit.
    pub command: &'static str,
    pub queue: &'a str,
    /// What a finished message counts as.
    pub action: Action,
    /// How many messages are expected, for the progress bar.
    pub total: Option<u64>,
    pub rate: Option<f64>,
    pub backup: Option<Backup>,
    pub selection: Selection,
}

impl Ctx {
    /// The broker settings by the precedence of SPEC.md.
    pub fn settings(&self) -> Result<BrokerSettings> {
        let g = &self.global;
        config::resolve(
            &Selector {
                broker: g.broker.clone(),
                profile: g.profile.clone(),
                config: g.config.clone(),
                timeout: g.timeout,
                endpoint_url: g.endpoint_url.clone(),
                ..Default::default()
            }
            .with_env(),
        )
    }

    /// The decoder of schema-encoded bodies for this run, from the schema
    /// flags, `DLQ_SCHEMA_REGISTRY` and the profile; None when nothing is
    /// configured or `--no-decode`. Call it after [`Ctx::check`], which
    /// reports a config file that does not resolve.
    pub fn decoder(&self, args: &SchemaArgs) -> Result<Option<Decoder>> {
        if args.no_decode {
            return Ok(None);
        }
        let flags = SchemaSettings {
            avro_schema: args.avro_schema.clone(),
            proto: args.proto.clone(),
            proto_path: args.proto_path.clone(),
            descriptor_set: args.descriptor_set.clone(),
            proto_message: args.proto_message.clone(),
            ..Default::default()
        };
        let profile = self.settings().map(|s| s.profile).unwrap_or_default();
        let env = std::env::var("DLQ_SCHEMA_REGISTRY").ok();
        let settings = SchemaSettings::resolve(
            flags,
            args.schema_registry.as_deref(),
            env.as_deref().filter(|s| !s.is_empty()),
            &profile,
            self.global
                .timeout
                .unwrap_or(std::time::Duration::from_secs(10)),
        )?;
        Decoder::new(&settings, Warner::new(&self.printer))
    }

    /// Connects to the named broker; the command takes no broker-specific flag.
    pub async fn connect(&self) -> Result<Box<dyn Broker>> {
        self.connect_with(&[]).await
    }

    /// The capabilities of the named broker, once the broker-specific flags
    /// given and the profile's settings are checked against them; nothing
    /// is contacted.
    pub fn check(&self, flags: &[Flag]) -> Result<(BrokerSettings, &'static Capabilities)> {
        let mut settings = self.settings()?;
        settings.warner = Warner::new(&self.printer);
        let caps = BrokerKind::of(&settings)?.capabilities();
        if self.global.endpoint_url.is_some() {
            registry::check_flags(caps, &[Flag::EndpointUrl])?;
        }
        registry::check_flags(caps, flags)?;
        registry::check_settings(caps, &settings.profile, settings.profile_name.as_deref())?;
        Ok((settings, caps))
    }

    /// Connects after [`Ctx::check`].
    pub async fn connect_with(&self, flags: &[Flag]) -> Result<Box<dyn Broker>> {
        let (settings, _) = self.check(flags)?;
        if self.printer.verbose > 0 {
            self.printer
                .note(&format!("dlq: connecting to {}", settings.display_url));
        }
        BrokerKind::of(&settings)?.connect(&settings).await
    }

    /// The `broker` label of metrics: the profile name when one was used,
    /// else the URL with its password masked.
    pub fn broker_label(&self) -> Result<String> {
        let s = self.settings()?;
        Ok(s.profile_name.clone().unwrap_or(s.display_url))
    }

    /// Whether changes are journaled (not with `--no-journal` nor with
    /// `journal = false` in the config file), and how big it may grow. A
    /// config file that cannot be read stops the command where the broker
    /// is resolved from it; when the broker comes from elsewhere, it is a
    /// warning (none for a file that is not there) and the journal keeps
    /// its defaults.
    pub fn journal_config(&self) -> (bool, Rotation) {
        if self.global.no_journal {
            return (false, Rotation::default());
        }
        let explicit = self
            .global
            .config
            .clone()
            .or_else(|| std::env::var_os("DLQ_CONFIG").map(Into::into));
        match config::load(explicit.as_deref()) {
            Ok((cfg, _)) => {
                let d = Rotation::default();
                let rotation = Rotation {
                    max_bytes: cfg.journal_max_bytes.map_or(d.max_bytes, |b| b.0),
                    keep: cfg.journal_keep.unwrap_or(d.keep),
                };
                (cfg.journal != Some(false), rotation)
            }
            // A config file named but absent only matters where a profile is needed.
            Err(_) if explicit.as_ref().is_some_and(|p| !p.exists()) => (true, Rotation::default()),
            Err(e) => {
                self.printer
                    .warn(&format!("{e:#}; the journal keeps its defaults"));
                (true, Rotation::default())
            }
        }
    }

    /// Starts this run's record in the journal, just before a command changes
    /// messages; `action` is what a finished message counts as. Hand the
    /// journal to the `BulkContext`, then call [`finish_journal`] with the outcome.
    pub fn journal(&self, command: &str, queue: &str, action: Action) -> Journal {
        let (enabled, rotation) = self.journal_config();
        if !enabled {
            return Journal::off();
        }
        let (broker, profile) = match self.settings() {
            Ok(s) => (s.display_url, s.profile_name),
            Err(_) => (String::new(), None),
        };
        let printer = self.printer.clone();
        Journal::start_with(
            journal::path().as_deref(),
            &RunInfo {
                command: command.into(),
                queue: queue.into(),
                broker,
                profile,
                action,
            },
            journal::masked_argv(std::env::args()),
            Box::new(move |m| printer.warn(m)),
            rotation,
        )
    }

    /// True when there is a person to ask: stdin and stderr are terminals.
    pub fn interactive(&self) -> bool {
        self.front.can_ask()
    }

    /// Refuses a bulk change up front when nobody can be asked and `--yes`
    /// was not given, before anything is touched.
    pub fn require_consent(&self, yes: bool, dry_run: bool, what: &str) -> Result<()> {
        if yes || dry_run || self.interactive() {
            return Ok(());
        }
        Err(usage(format!(
            "refusing to {what} without confirmation: there is no terminal to ask on; pass --yes (or --dry-run to see what it would do)"
        )))
    }

    /// Asks whether to `verb` (Delete, Re-drive) `total` messages of `queue`;
    /// says "nothing changed" when the answer is no.
    pub fn confirm(&self, verb: &str, queue: &str, total: Option<u64>) -> Result<bool> {
        let question = match total {
            Some(n) => format!(
                "{verb} {n} message{} from {queue}?",
                if n == 1 { "" } else { "s" }
            ),
            None => format!("{verb} the messages of {queue}?"),
        };
        let yes = self.ask(&question)?;
        if !yes {
            self.printer.note("nothing changed");
        }
        Ok(yes)
    }

    /// Asks a yes/no question on the terminal; anything but y/yes is no.
    pub fn ask(&self, question: &str) -> Result<bool> {
        self.front.ask(&self.printer, question)
    }
}

/// Ends a journaled run: its summary and exit code, or the error that
/// stopped it. Call it once the report is final (after the command added
/// its own failures and the interrupt flag).
pub fn finish_journal(
    journal: &Journal,
    outcome: Result<&crate::report::BulkReport, &anyhow::Error>,
) {
    match outcome {
        Ok(r) => journal.finish(Some(r), r.exit(), None),
        Err(e) => journal.finish(None, code_for(e), Some(&format!("{e:#}"))),
    }
}

impl Ctx {
    /// The ledger of a bulk run about to start: Ctrl-C handled, the run
    /// opened in the journal, the progress bar drawn where a person watches.
    pub fn ledger(&self, run: BulkRun<'_>) -> Ledger {
        self.interrupt.install();
        let verb = match run.action {
            Action::Moved => "moving",
            Action::Purged => "purging",
            _ => "publishing",
        };
        Ledger::new(Setup {
            action: run.action,
            selection: run.selection,
            progress: self.front.progress(&self.printer, run.total, verb),
            interrupt: self.interrupt.clone(),
            rate: run.rate.map(Rate::new),
            backup: run.backup,
            journal: self.journal(run.command, run.queue, run.action),
        })
    }

    /// Ends a bulk run: the IDs no message carried are failures, the journal
    /// gets the outcome, the summary is printed; the exit code. A backend
    /// error before anything changed is the command's error; after, it
    /// stopped the run and the summary says what was done before.
    pub fn conclude(&self, run: Ledger, result: Result<()>, verb: Action) -> Result<Exit> {
        let journal = run.journal().clone();
        if let Err(e) = result {
            if run.counts() == (0, 0) {
                run.finish();
                finish_journal(&journal, Err(&e));
                return Err(e);
            }
            run.stop(Stopped::broker(&e));
        }
        warn_where_failures(&self.printer, &run.selection().criteria);
        run.fail_unseen_ids();
        let report = run.finish();
        finish_journal(&journal, Ok(&report));
        self.front.summary(&self.printer, &report, verb)?;
        Ok(report.exit())
    }
}

/// The filter part of a selection; `--where` is compiled here, before
/// anything is read (exit 2 when it does not compile).
pub fn filter(args: &FilterArgs) -> Result<Filter> {
    Ok(Filter {
        older_than: args.older_than,
        newer_than: args.newer_than,
        reason: args.reason.clone(),
        headers: args.headers.clone(),
        grep: args.grep.clone(),
        source: args.source.clone(),
        error_type: args.error_type.clone(),
        fingerprint: args.fingerprint.clone(),
        since: args.since,
        until: args.until,
        predicate: args.where_.as_deref().map(Predicate::compile).transpose()?,
    })
}

/// How to read, from the per-broker read flags.
pub fn read_options(read: &ReadArgs, all: bool, ids: &[String]) -> ReadOptions {
    ReadOptions {
        all,
        group: read.group.clone(),
        force: read.force,
        ids: ids.to_vec(),
        ..Default::default()
    }
}

/// The selection for filter flags, IDs and `--max-redrives`.
pub fn criteria(
    args: &FilterArgs,
    ids: Option<&[String]>,
    max_redrives: Option<u32>,
) -> Result<Criteria> {
    Ok(Criteria::new(ids, filter(args)?, args.limit, max_redrives))
}

/// A pass over what the shared filters select.
pub fn selection(args: &FilterArgs, max_redrives: Option<u32>) -> Result<Selection> {
    Ok(criteria(args, None, max_redrives)?.start())
}

/// Says once, on stderr, on how many messages `--where` failed to run (they
/// did not match).
pub fn warn_where_failures(printer: &Printer, criteria: &Criteria) {
    if let Some(p) = &criteria.filter.predicate {
        let n = p.take_failures();
        if n > 0 {
            printer.warn(&format!(
                "--where {:?} failed on {n} message{} (not matched)",
                p.source(),
                if n == 1 { "" } else { "s" }
            ));
        }
    }
}

/// How many messages a bulk run will go through, for the question and the
/// progress bar: the depth when every message is selected; with filters, the
/// matches of a read-only pass, made only when a person is asked (`!yes`).
/// Reading the depth first also fails early on an unknown queue.
pub async fn expected_total(
    broker: &dyn Broker,
    queue: &str,
    read: &ReadOptions,
    filters: &FilterArgs,
    max_redrives: Option<u32>,
    yes: bool,
) -> Result<Option<u64>> {
    let depth = broker.depth(queue, read).await?;
    let probe = selection(filters, max_redrives)?;
    if probe.is_everything() {
        return Ok(depth);
    }
    if yes {
        return Ok(None);
    }
    let mut n = 0u64;
    selected::browse(broker, queue, read, &probe, &mut |_, d| {
        if d == Decision::Take {
            n += 1;
        }
        Ok(Flow::Continue)
    })
    .await?;
    Ok(Some(n))
}
