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
pub mod dlq_names;
pub mod edit_file;
pub mod exit;
pub mod fit;
pub mod http;
pub mod ids_from;
pub mod input;
pub mod journal;
pub mod jq;
pub mod message;
pub mod output;
pub mod pager;
pub mod prometheus;
pub mod report;
pub mod rewrite;
pub mod sanitize;
pub mod schema;
pub mod secrets;
pub mod select;
#[cfg(test)]
mod shapes_tests;
pub mod tls;
pub mod url_parts;
pub mod view;

use anyhow::Result;

use crate::cli::{Cli, Command, OutputFormat};
use crate::commands::Ctx;
use crate::exit::{usage, Exit};

/// Whether a command's output may be long enough to page at a terminal.
pub fn pages(command: &Command) -> bool {
    match command {
        // A followed list never ends; a pager would hold it back.
        Command::List(a) => !a.follow,
        Command::Peek(_) | Command::History(_) | Command::Stats(_) => true,
        _ => false,
    }
}

/// Runs one parsed command line.
pub async fn run(cli: Cli, ctx: &Ctx) -> Result<Exit> {
    use commands::*;
    if cli.global.output == Some(OutputFormat::Prometheus)
        && !matches!(cli.command, Command::Lag(_) | Command::Queues)
    {
        return Err(usage(format!(
            "-o prometheus applies to `dlq lag` and `dlq queues`, not to `dlq {}`",
            command_name(&cli.command)
        )));
    }
    if read_only::changes_messages(&cli.command) {
        ctx.refuse_if_read_only(command_name(&cli.command))?;
    } else if !matches!(cli.command, Command::Completions(_) | Command::Man(_)) {
        // A DLQ_READ_ONLY that says neither yes nor no is refused by every command.
        read_only::why(false, std::env::var("DLQ_READ_ONLY").ok().as_deref(), None)?;
    }
    match &cli.command {
        Command::Queues => queues::run(ctx).await,
        Command::List(a) => list::run(ctx, a).await,
        Command::Peek(a) => peek::run(ctx, a).await,
        Command::Retry(a) => retry::run(ctx, a).await,
        Command::RetryAll(a) => retry_all::run(ctx, a).await,
        Command::Edit(a) => edit::run(ctx, a).await,
        Command::Purge(a) => purge::run(ctx, a).await,
        Command::Export(a) => export::run(ctx, a).await,
        Command::Publish(a) => publish::run(ctx, a).await,
        Command::Lag(a) => lag::run(ctx, a).await,
        Command::Stats(a) => stats::run(ctx, a).await,
        Command::History(a) => history::run(ctx, a).await,
        Command::Browse(a) => browse::run(ctx, a).await,
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
    }
}

/// The subcommand's name as typed.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Queues => "queues",
        Command::List(_) => "list",
        Command::Peek(_) => "peek",
        Command::Retry(_) => "retry",
        Command::RetryAll(_) => "retry-all",
        Command::Purge(_) => "purge",
        Command::Export(_) => "export",
        Command::Publish(_) => "publish",
        Command::Lag(_) => "lag",
        Command::Stats(_) => "stats",
        Command::Edit(_) => "edit",
        Command::History(_) => "history",
        Command::Browse(_) => "browse",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
    }
}
