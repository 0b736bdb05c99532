//! dlq: an operator tool for dead-letter queues on RabbitMQ, Amazon SQS,
//! Kafka and NATS JetStream.
//!
//! The binary (`main.rs`) parses the command line and calls [`run`]. Commands
//! (`commands/`) are written against one trait (`broker::Broker`), with one
//! backend per broker behind it. The library form lets tests and benchmarks
//! reach the same code.

pub mod broker;
pub mod bulk;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod input;
pub mod output;
pub mod sanitize;
pub mod secrets;
pub mod select;
pub mod url_parts;

use anyhow::Result;

use crate::broker::LagQuery;
use crate::cli::{Cli, Command};
use crate::commands::{lag::Thresholds, Ctx};
use crate::exit::Exit;

/// Runs one parsed command line.
pub async fn run(cli: Cli, ctx: &Ctx) -> Result<Exit> {
    use commands::*;
    match cli.command {
        Command::Queues => queues::run(ctx).await,
        Command::List {
            queue,
            filters,
            read,
            all,
        } => list::run(ctx, &queue, &filters, &read, all).await,
        Command::Peek {
            queue,
            ids,
            filters,
            read,
            all,
            binary,
        } => peek::run(ctx, &queue, &ids, &filters, &read, all, binary).await,
        Command::Retry {
            queue,
            ids,
            redrive,
            read,
        } => retry::run(ctx, &queue, &ids, &redrive, &read).await,
        Command::RetryAll {
            queue,
            filters,
            redrive,
            read,
            rate,
            yes,
            native,
            detach,
        } => {
            retry_all::run(
                ctx, &queue, &filters, &redrive, &read, rate, yes, native, detach,
            )
            .await
        }
        Command::Purge {
            queue,
            filters,
            read,
            backup,
            yes,
            dry_run,
            delete_records,
        } => {
            purge::run(
                ctx,
                &queue,
                &filters,
                &read,
                backup.as_deref(),
                yes,
                dry_run,
                delete_records,
            )
            .await
        }
        Command::Export {
            queue,
            filters,
            read,
            all,
            out,
        } => export::run(ctx, &queue, &filters, &read, all, out.as_deref()).await,
        Command::Publish(args) => publish::run(ctx, &args).await,
        Command::Lag {
            names,
            topic,
            max_lag,
            max_age,
            max_dlq,
            watch,
        } => {
            lag::run(
                ctx,
                &LagQuery { names, topic },
                Thresholds {
                    max_lag,
                    max_age,
                    max_dlq,
                },
                watch,
            )
            .await
        }
        Command::Completions { shell } => completions::run(shell),
        Command::Man { dir } => man::run(dir.as_deref()),
    }
}
