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
pub mod conventions;
pub mod edit_file;
pub mod exit;
pub mod input;
pub mod journal;
pub mod message;
pub mod output;
pub mod prometheus;
pub mod rewrite;
pub mod sanitize;
pub mod secrets;
pub mod select;
pub mod tls;
pub mod url_parts;

use anyhow::Result;

use crate::broker::LagQuery;
use crate::cli::{Cli, Command, OutputFormat};
use crate::commands::{lag::Thresholds, Ctx};
use crate::exit::{usage, Exit};

/// Runs one parsed command line.
pub async fn run(cli: Cli, ctx: &Ctx) -> Result<Exit> {
    use commands::*;
    if cli.global.output == Some(OutputFormat::Prometheus)
        && !matches!(cli.command, Command::Lag { .. } | Command::Queues)
    {
        return Err(usage(format!(
            "-o prometheus applies to `dlq lag` and `dlq queues`, not to `dlq {}`",
            command_name(&cli.command)
        )));
    }
    match cli.command {
        Command::Queues => queues::run(ctx).await,
        Command::List {
            queue,
            filters,
            read,
            all,
        } => list::run(ctx, &queue, &filters, &read, all).await,
        Command::Peek(args) => peek::run(ctx, &args).await,
        Command::Retry {
            queue,
            ids,
            redrive,
            read,
        } => retry::run(ctx, &queue, &ids, &redrive, &read).await,
        Command::RetryAll(args) => retry_all::run(ctx, &args).await,
        Command::Edit {
            queue,
            id,
            to,
            read,
            yes,
            dry_run,
        } => edit::run(ctx, &queue, &id, to.as_deref(), &read, yes, dry_run).await,
        Command::Purge(args) => purge::run(ctx, &args).await,
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
        Command::Stats {
            queue,
            by,
            filters,
            read,
            all,
        } => stats::run(ctx, &queue, &by, &filters, &read, all).await,
        Command::History { run_id, limit } => history::run(ctx, run_id.as_deref(), limit).await,
        Command::Completions { shell } => completions::run(shell),
        Command::Man { dir } => man::run(dir.as_deref()),
    }
}

/// The subcommand's name as typed.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Queues => "queues",
        Command::List { .. } => "list",
        Command::Peek(_) => "peek",
        Command::Retry { .. } => "retry",
        Command::RetryAll(_) => "retry-all",
        Command::Purge(_) => "purge",
        Command::Export { .. } => "export",
        Command::Publish(_) => "publish",
        Command::Lag { .. } => "lag",
        Command::Stats { .. } => "stats",
        Command::Edit { .. } => "edit",
        Command::History { .. } => "history",
        Command::Completions { .. } => "completions",
        Command::Man { .. } => "man",
    }
}
