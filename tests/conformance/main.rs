//! One conformance suite, four brokers: the promises of SPEC.md, written
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
//! broker's one harness (`tests/*_support`, `tests/nats/support.rs`). The
//! Pub/Sub fixture only checks itself until Pub/Sub's bulk paths exist.

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
mod sqs;
#[path = "../sqs_support/mod.rs"]
mod sqs_support;
mod suite;

/// True (and says so) when the broker's test server cannot pass `check`.
fn gap(f: &dyn fixture::Fixture, check: &str) -> bool {
    match f.server_gaps().into_iter().find(|(name, _)| *name == check) {
        Some((_, why)) => {
            eprintln!("{}: {check}: skipped on this test server: {why}", f.name());
            true
        }
        None => false,
    }
}

/// One test per broker and check, named `broker::check`.
macro_rules! conformance {
    ($($broker:ident => $make:expr;)*) => {$(
        mod $broker {
            use super::*;
            #[test] fn list_peek_export_change_nothing() { let f = $make; if !gap(&f, stringify!(list_peek_export_change_nothing)) { suite::list_peek_export_change_nothing(&f) } }
            #[test] fn retry_all_moves_each_message_once_intact() { let f = $make; if !gap(&f, stringify!(retry_all_moves_each_message_once_intact)) { suite::retry_all_moves_each_message_once_intact(&f) } }
            #[test] fn retry_one_moves_only_that_one() { let f = $make; if !gap(&f, stringify!(retry_one_moves_only_that_one)) { suite::retry_one_moves_only_that_one(&f) } }
            #[test] fn dry_runs_touch_nothing() { let f = $make; if !gap(&f, stringify!(dry_runs_touch_nothing)) { suite::dry_runs_touch_nothing(&f) } }
            #[test] fn filtered_purge_keeps_the_rest() { let f = $make; if !gap(&f, stringify!(filtered_purge_keeps_the_rest)) { suite::filtered_purge_keeps_the_rest(&f) } }
            #[test] fn backup_replays_exactly() { let f = $make; if !gap(&f, stringify!(backup_replays_exactly)) { suite::backup_replays_exactly(&f) } }
            #[test] fn max_redrives_skips() { let f = $make; if !gap(&f, stringify!(max_redrives_skips)) { suite::max_redrives_skips(&f) } }
            #[test] fn lag_threshold_exits_1() { let f = $make; if !gap(&f, stringify!(lag_threshold_exits_1)) { suite::lag_threshold_exits_1(&f) } }
            #[test] fn unknown_queue_exits_4() { let f = $make; if !gap(&f, stringify!(unknown_queue_exits_4)) { suite::unknown_queue_exits_4(&f) } }
            #[test] fn retry_rewrites_headers_and_body() { let f = $make; if !gap(&f, stringify!(retry_rewrites_headers_and_body)) { suite::retry_rewrites_headers_and_body(&f) } }
            #[test] fn edit_sends_the_edited_copy() { let f = $make; if !gap(&f, stringify!(edit_sends_the_edited_copy)) { edit::edit_sends_the_edited_copy(&f) } }
            #[test] fn fault_sigkill_during_retry_all() { let f = $make; if !gap(&f, stringify!(fault_sigkill_during_retry_all)) { faults::sigkill_during_retry_all_loses_nothing(&f) } }
            #[test] fn fault_sigkill_during_purge_backup() { let f = $make; if !gap(&f, stringify!(fault_sigkill_during_purge_backup)) { faults::sigkill_during_purge_backup_loses_nothing(&f) } }
            #[test] fn fault_ctrl_c_stops_cleanly() { let f = $make; if !gap(&f, stringify!(fault_ctrl_c_stops_cleanly)) { faults::ctrl_c_stops_cleanly(&f) } }
            #[test] fn fault_connection_cut_then_rerun() { let f = $make; if !gap(&f, stringify!(fault_connection_cut_then_rerun)) { faults::connection_cut_midway_then_rerun_finishes(&f) } }
            #[test] fn stats_groups_without_changing() { let f = $make; if !gap(&f, stringify!(stats_groups_without_changing)) { suite::stats_groups_without_changing(&f) } }
            #[test] fn prometheus_passes_promtool() { let f = $make; if !gap(&f, stringify!(prometheus_passes_promtool)) { suite::prometheus_passes_promtool(&f) } }
            #[test] fn journal_records_purge_and_retry_all() { let f = $make; if !gap(&f, stringify!(journal_records_purge_and_retry_all)) { journal::records_purge_and_retry_all(&f) } }
            #[test] fn journal_off_and_unwritable_never_stop_a_run() { let f = $make; if !gap(&f, stringify!(journal_off_and_unwritable_never_stop_a_run)) { journal::off_and_unwritable_never_stop_a_run(&f) } }
            #[test] fn journal_sigkilled_run_leaves_its_records() { let f = $make; if !gap(&f, stringify!(journal_sigkilled_run_leaves_its_records)) { journal::sigkilled_run_leaves_its_records(&f) } }
            #[test] fn full_purge_empties() { let f = $make; if !gap(&f, stringify!(full_purge_empties)) { suite::full_purge_empties(&f) } }
            #[test] fn filtered_retry_all_keeps_the_rest() { let f = $make; if !gap(&f, stringify!(filtered_retry_all_keeps_the_rest)) { suite::filtered_retry_all_keeps_the_rest(&f) } }
            #[test] fn retry_needs_an_origin_or_to() { let f = $make; if !gap(&f, stringify!(retry_needs_an_origin_or_to)) { suite::retry_needs_an_origin_or_to(&f) } }
            #[test] fn publish_formats() { let f = $make; if !gap(&f, stringify!(publish_formats)) { suite::publish_formats(&f) } }
            #[test] fn lag_watch_repeats_until_ctrl_c() { let f = $make; if !gap(&f, stringify!(lag_watch_repeats_until_ctrl_c)) { suite::lag_watch_repeats_until_ctrl_c(&f) } }
            #[test] fn fault_missing_origin_keeps_messages() { let f = $make; if !gap(&f, stringify!(fault_missing_origin_keeps_messages)) { faults::missing_origin_keeps_the_message(&f) } }
        }
    )*};
}

conformance! {
    rabbitmq_suite => rabbitmq::Rabbit::new();
    nats_suite => nats::Nats::new();
    sqs_suite => sqs::Sqs::new();
    kafka_suite => kafka::Kafka::new();
}
