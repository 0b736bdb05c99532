//! One conformance suite, four brokers: the promises of SPEC.md, written
//! once against the `dlq` binary and a [`Fixture`] per broker.
//!
//! A fixture builds a real dead-letter setup with the broker's own client and
//! reads the broker's state back through that client, never through dlq. The
//! suite (`suite.rs`) then runs the same checks on every broker: reads change
//! nothing, retry moves every message exactly once with body, headers and key
//! byte-identical, dry runs touch nothing, filtered purges keep the rest, a
//! backup replays exactly, `--max-redrives` skips, lag thresholds exit 1.

#[path = "../common/mod.rs"]
mod common;
mod faults;
mod fixture;
mod kafka;
mod nats;
mod rabbitmq;
mod sqs;
mod suite;

/// One test per broker and check, named `broker::check`.
macro_rules! conformance {
    ($($broker:ident => $make:expr;)*) => {$(
        mod $broker {
            use super::*;
            #[test] fn list_peek_export_change_nothing() { suite::list_peek_export_change_nothing(&$make) }
            #[test] fn retry_all_moves_each_message_once_intact() { suite::retry_all_moves_each_message_once_intact(&$make) }
            #[test] fn retry_one_moves_only_that_one() { suite::retry_one_moves_only_that_one(&$make) }
            #[test] fn dry_runs_touch_nothing() { suite::dry_runs_touch_nothing(&$make) }
            #[test] fn filtered_purge_keeps_the_rest() { suite::filtered_purge_keeps_the_rest(&$make) }
            #[test] fn backup_replays_exactly() { suite::backup_replays_exactly(&$make) }
            #[test] fn max_redrives_skips() { suite::max_redrives_skips(&$make) }
            #[test] fn lag_threshold_exits_1() { suite::lag_threshold_exits_1(&$make) }
            #[test] fn unknown_queue_exits_4() { suite::unknown_queue_exits_4(&$make) }
            #[test] fn fault_sigkill_during_retry_all() { faults::sigkill_during_retry_all_loses_nothing(&$make) }
            #[test] fn fault_sigkill_during_purge_backup() { faults::sigkill_during_purge_backup_loses_nothing(&$make) }
            #[test] fn fault_ctrl_c_stops_cleanly() { faults::ctrl_c_stops_cleanly(&$make) }
            #[test] fn fault_connection_cut_then_rerun() { faults::connection_cut_midway_then_rerun_finishes(&$make) }
            #[test] fn fault_missing_origin_keeps_messages() { faults::missing_origin_keeps_the_message(&$make) }
        }
    )*};
}

conformance! {
    rabbitmq_suite => rabbitmq::Rabbit::new();
    nats_suite => nats::Nats::new();
    sqs_suite => sqs::Sqs::new();
    kafka_suite => kafka::Kafka::new();
}
