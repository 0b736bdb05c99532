//! One conformance suite, five brokers: the promises of SPEC.md, written
//! once against the `dlq` binary and a [`Fixture`] per broker.
//!
//! A fixture builds a real dead-letter setup with the broker's own client and
//! reads the broker's state back through that client, never through dlq. The
//! suite (`suite.rs`) then runs the same checks on every broker: reads change
//! nothing, retry moves every message exactly once with body, headers and key
//! byte-identical, dry runs touch nothing, filtered purges and retry-alls
//! keep the rest, a full purge empties, a message with no origin stays and
//! says `--to`, every publish format arrives, a backup replays exactly,
//! `--max-redrives` skips, lag thresholds exit 1 and `--watch` repeats,
//! stats groups without changing anything, `-o prometheus` passes promtool,
//! and the journal records what changed. Each fixture builds on that
//! broker's one harness (`tests/*_support`, `tests/nats/support.rs`).

#[path = "../common/mod.rs"]
mod common;
mod edit;
mod faults;
mod fixture;
mod journal;
mod kafka;
#[path = "../kafka_support/mod.rs"]
mod kafka_support;
mod nats;
#[path = "../nats/support.rs"]
mod nats_support;
mod pubsub;
#[path = "../pubsub_support/mod.rs"]
mod pubsub_support;
mod rabbitmq;
#[path = "../rabbitmq_support/mod.rs"]
mod rabbitmq_support;
mod select;
mod sqs;
#[path = "../sqs_support/mod.rs"]
mod sqs_support;
mod suite;

use libtest_mimic::{Arguments, Trial};

use fixture::Fixture;

/// A check of the suite: its name and what it runs on a fixture.
type Check = (&'static str, fn(&dyn Fixture));

/// Every check of the suite, by the name its test carries.
const CHECKS: &[Check] = &[
    (
        "list_peek_export_change_nothing",
        suite::list_peek_export_change_nothing,
    ),
    (
        "retry_all_moves_each_message_once_intact",
        suite::retry_all_moves_each_message_once_intact,
    ),
    (
        "retry_one_moves_only_that_one",
        suite::retry_one_moves_only_that_one,
    ),
    ("dry_runs_touch_nothing", suite::dry_runs_touch_nothing),
    (
        "filtered_purge_keeps_the_rest",
        suite::filtered_purge_keeps_the_rest,
    ),
    ("backup_replays_exactly", suite::backup_replays_exactly),
    ("max_redrives_skips", suite::max_redrives_skips),
    ("lag_threshold_exits_1", suite::lag_threshold_exits_1),
    ("unknown_queue_exits_4", suite::unknown_queue_exits_4),
    (
        "retry_rewrites_headers_and_body",
        suite::retry_rewrites_headers_and_body,
    ),
    (
        "edit_sends_the_edited_copy",
        edit::edit_sends_the_edited_copy,
    ),
    (
        "fault_sigkill_during_retry_all",
        faults::sigkill_during_retry_all_loses_nothing,
    ),
    (
        "fault_sigkill_during_purge_backup",
        faults::sigkill_during_purge_backup_loses_nothing,
    ),
    ("fault_ctrl_c_stops_cleanly", faults::ctrl_c_stops_cleanly),
    (
        "fault_connection_cut_then_rerun",
        faults::connection_cut_midway_then_rerun_finishes,
    ),
    (
        "stats_groups_without_changing",
        suite::stats_groups_without_changing,
    ),
    (
        "prometheus_passes_promtool",
        suite::prometheus_passes_promtool,
    ),
    (
        "journal_records_purge_and_retry_all",
        journal::records_purge_and_retry_all,
    ),
    (
        "journal_off_and_unwritable_never_stop_a_run",
        journal::off_and_unwritable_never_stop_a_run,
    ),
    (
        "journal_sigkilled_run_leaves_its_records",
        journal::sigkilled_run_leaves_its_records,
    ),
    ("full_purge_empties", suite::full_purge_empties),
    (
        "filtered_retry_all_keeps_the_rest",
        suite::filtered_retry_all_keeps_the_rest,
    ),
    (
        "retry_needs_an_origin_or_to",
        suite::retry_needs_an_origin_or_to,
    ),
    ("publish_formats", suite::publish_formats),
    (
        "publish_refused_message_fails_alone",
        suite::publish_refused_message_fails_alone,
    ),
    (
        "lag_watch_repeats_until_ctrl_c",
        suite::lag_watch_repeats_until_ctrl_c,
    ),
    (
        "fault_missing_origin_keeps_messages",
        faults::missing_origin_keeps_the_message,
    ),
    (
        "verbose_errors_show_the_cause_chain",
        suite::verbose_errors_show_the_cause_chain,
    ),
    (
        "select_filters_on_every_broker",
        select::filters_select_on_every_broker,
    ),
    (
        "select_purge_and_retry_exactly_the_reviewed_ids",
        select::purge_and_retry_exactly_the_reviewed_ids,
    ),
    (
        "select_read_only_refuses_changes",
        select::read_only_refuses_changes,
    ),
    (
        "select_bad_input_is_refused",
        select::bad_selection_input_is_refused,
    ),
    (
        "select_follow_prints_new_messages",
        select::follow_prints_new_messages,
    ),
];

/// Why `list --follow` is not run on a queue broker (its refusal is checked
/// by `select_bad_input_is_refused`).
const NO_FOLLOW: (&str, &str) = (
    "select_follow_prints_new_messages",
    "a queue cannot be watched without taking its messages: --follow is refused (exit 2)",
);

/// One suite: every check on one broker, named `SUITE::check`. A check the
/// broker's test server cannot pass is reported ignored, with why (it is a
/// gap of the server, listed in the README, never of dlq), not passed.
fn suite(
    name: &str,
    make: fn() -> Box<dyn Fixture>,
    server_gaps: &[(&'static str, &'static str)],
) -> Vec<Trial> {
    let mut gaps = server_gaps.to_vec();
    if !suite::have_promtool() {
        gaps.push((
            "prometheus_passes_promtool",
            "promtool is not installed (scripts/tools.sh installs it)",
        ));
    }
    CHECKS
        .iter()
        .map(|&(check, run)| {
            let full = format!("{name}::{check}");
            match gaps.iter().find(|(g, _)| *g == check) {
                Some((_, why)) => Trial::test(full, || Ok(()))
                    .with_ignored_flag(true)
                    .with_kind(format!("skipped: {why}")),
                None => Trial::test(full, move || {
                    run(&*make());
                    Ok(())
                }),
            }
        })
        .collect()
}

fn main() {
    let args = Arguments::from_args();
    let trials: Vec<Trial> = [
        suite(
            "rabbitmq_suite",
            || Box::new(rabbitmq::Rabbit::new()),
            &[NO_FOLLOW],
        ),
        suite("nats_suite", || Box::new(nats::Nats::new()), &[]),
        suite("sqs_suite", || Box::new(sqs::Sqs::new()), &[NO_FOLLOW]),
        suite(
            "kafka_suite",
            || Box::new(kafka::Kafka::new()),
            &kafka::gaps(),
        ),
        suite(
            "pubsub_suite",
            || Box::new(pubsub::PubSub::new()),
            &[pubsub::gaps(), vec![NO_FOLLOW]].concat(),
        ),
    ]
    .into_iter()
    .flatten()
    .chain([Trial::test(
        "pubsub::fixture_makes_real_dead_letters",
        || {
            pubsub::fixture_makes_real_dead_letters();
            Ok(())
        },
    )])
    .collect();
    libtest_mimic::run(&args, trials).exit();
}
