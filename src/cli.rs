//! The command line, as clap derives it. `dlq completions` and `dlq man`
//! generate from these same definitions, so help, completions and man pages
//! never disagree.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::select::{parse_duration, parse_header, parse_time_arg};

/// A count of 1 or more: 0 would be a run that silently does nothing.
fn at_least_one<T: std::str::FromStr + PartialEq + From<u8>>(s: &str) -> Result<T, String> {
    match s.trim().parse::<T>() {
        Ok(n) if n == T::from(0) => Err("0 would do nothing: give 1 or more".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// A queue, topic, stream or subject name: an empty one names nothing.
fn name(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("an empty name names no queue, topic, stream or subject".into())
    } else {
        Ok(s.to_owned())
    }
}

/// A duration above zero: a zero timeout fails every call, a zero `--watch` spins.
fn nonzero_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("{s:?} is zero: give a duration such as 1s or 30s")),
        d => Ok(d),
    }
}

const EXIT_CODES: &str = "\
Exit codes:
  0    done
  1    a lag threshold was exceeded (the tool itself worked)
  2    usage or configuration error (bad flag, bad URL, unknown profile, no broker named)
  3    partly done: some messages failed, the rest went through; the summary says which
  4    broker error: cannot connect, authenticate, or find the queue, or the connection
       failed mid-run; the summary says what was done before
  130  interrupted (Ctrl-C); the summary says what was done";

const BROKERS: &str = "\
Brokers (by URL scheme):
  amqp://, amqps://   RabbitMQ         QUEUE is a queue
  sqs://[REGION]      Amazon SQS       QUEUE is a queue name, URL or ARN
  kafka://HOST:PORT   Kafka            QUEUE is a topic
  nats://, tls://     NATS JetStream   QUEUE is a stream
  pubsub://PROJECT    Google Pub/Sub   QUEUE is a subscription

The broker is, first wins: --broker, DLQ_BROKER, --profile or DLQ_PROFILE, the
default profile of the config file (--config, DLQ_CONFIG, or dlq/config.toml
in the user's config directory).";

/// Inspect and re-drive dead-letter queues on RabbitMQ, SQS, Kafka, NATS JetStream and Google Pub/Sub.
#[derive(Debug, Parser)]
#[command(
    name = "dlq",
    version,
    long_version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DLQ_COMMIT"), ")"),
    about = "Inspect and re-drive dead-letter queues on RabbitMQ, SQS, Kafka, NATS JetStream and Google Pub/Sub",
    long_about = None,
    after_help = "Examples:\n  dlq -b amqp://guest:guest@127.0.0.1:5672 queues\n  dlq list orders.dlq\n  dlq retry-all orders.dlq --yes\n  dlq lag --max-lag 1000 -o json",
    after_long_help = format!("{BROKERS}\n\n{EXIT_CODES}"),
    propagate_version = true,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)
    #[arg(short = 'b', long, global = true, value_name = "URL")]
    pub broker: Option<String>,

    /// Profile from the config file (env DLQ_PROFILE)
    #[arg(short = 'p', long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Config file (env DLQ_CONFIG; default: dlq/config.toml in the user's config directory)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Output format: table on a terminal by default; prometheus on lag and queues only
    #[arg(short = 'o', long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,

    /// When to color output (NO_COLOR is honoured with auto)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Print only data and errors: no progress, no summaries on stderr
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,

    /// Say more: the cause chain of errors, broker details
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Bound on connecting and on each broker call, such as 10s or 1m
    #[arg(long, global = true, value_parser = nonzero_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Do not record this run in the journal (see `dlq history`)
    #[arg(long, global = true)]
    pub no_journal: bool,

    /// Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)
    #[arg(long, global = true)]
    pub no_pager: bool,

    /// Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true
    #[arg(long, global = true)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    /// A table with every column whole, however wide
    Wide,
    Json,
    Ndjson,
    /// The Prometheus text exposition format (`lag` and `queues` only)
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// The whole input is one message
    Raw,
    /// One message per line
    Lines,
    /// One envelope per line, as `dlq export` writes them
    Ndjson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BinaryFormat {
    Hex,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    #[value(name = "powershell")]
    PowerShell,
    Elvish,
}

/// The filters shared by list, peek, stats, retry-all, purge and export.
#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    /// At most N messages
    #[arg(long, value_name = "N", value_parser = at_least_one::<u64>)]
    pub limit: Option<u64>,

    /// Only messages older than this, such as 7d or 12h
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub older_than: Option<Duration>,

    /// Only messages newer than this, such as 30m
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub newer_than: Option<Duration>,

    /// Only messages whose dead-letter reason contains REASON (case-insensitive)
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,

    /// Only messages with this header value (repeat for several)
    #[arg(long = "header", value_parser = parse_header, value_name = "KEY=VALUE")]
    pub headers: Vec<(String, String)>,

    /// Only messages whose body, or decoded body, contains TEXT
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,

    /// Only messages dead-lettered from this queue, topic or subject
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,

    /// Only messages whose error type (or root cause's) is NAME or ends in .NAME
    #[arg(long, value_name = "NAME")]
    pub error_type: Option<String>,

    /// Only messages with this failure fingerprint (see `dlq stats --by fingerprint`)
    #[arg(long, value_name = "FP")]
    pub fingerprint: Option<String>,

    /// Only messages stored at or after TIME: RFC 3339 (2026-12-01T08:00:00Z) or a UTC date
    #[arg(long, value_parser = parse_time_arg, value_name = "TIME")]
    pub since: Option<SystemTime>,

    /// Only messages stored before TIME: RFC 3339 or a UTC date
    #[arg(long, value_parser = parse_time_arg, value_name = "TIME")]
    pub until: Option<SystemTime>,

    /// Only messages on whose envelope (as `list -o json` prints it) this jq filter yields true, such as '.dead_letter.attempts > 3'
    #[arg(long = "where", value_name = "FILTER")]
    pub where_: Option<String>,
}

/// Schema-encoded bodies: where their schemas come from.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Schema-encoded bodies")]
pub struct SchemaArgs {
    /// Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)
    #[arg(long, value_name = "URL")]
    pub schema_registry: Option<String>,

    /// Avro schema (.avsc) of bodies written without a registry; repeat it to
    /// give the named types it refers to first (the last one is the bodies')
    #[arg(long, value_name = "FILE")]
    pub avro_schema: Vec<PathBuf>,

    /// .proto file of bodies written without a registry (repeat for several)
    #[arg(long, value_name = "FILE")]
    pub proto: Vec<PathBuf>,

    /// Directory where imports of --proto files are found (repeat for several)
    #[arg(long, value_name = "DIR")]
    pub proto_path: Vec<PathBuf>,

    /// Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto
    #[arg(long, value_name = "FILE")]
    pub descriptor_set: Option<PathBuf>,

    /// Full name of the Protobuf message type the bodies hold, such as shop.v1.Order
    #[arg(long, value_name = "NAME")]
    pub proto_message: Option<String>,

    /// Show schema-encoded bodies as they are, without decoding them
    #[arg(long)]
    pub no_decode: bool,
}

/// How a queue is read; each flag applies to one broker.
#[derive(Debug, Args, Clone, Default)]
pub struct ReadArgs {
    /// Kafka: dlq's cursor group for this topic (default dlq.<topic>)
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,

    /// SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ); RabbitMQ: read a queue whose type the management API cannot tell (a quorum queue's delivery limit could drop what a read gives back)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every queue, topic or stream with its depth; DLQs marked and linked to their sources
    #[command(
        after_help = "Examples:\n  dlq queues\n  dlq queues -o json | jq '.[] | select(.is_dlq)'"
    )]
    Queues,

    /// One row per message: ID, age, dead-letter reason, source, attempts, size, body preview
    #[command(
        after_help = "Never removes, reorders or expires a message. On SQS, which has no true peek, \
reading receives each message and makes it visible again at once: that raises its \
ApproximateReceiveCount. Pub/Sub has no peek either: reading pulls each message and gives it \
back at once, which raises its delivery attempt on that subscription. On Kafka, shows what \
follows dlq's cursor unless --all.\n\n\
--follow (Kafka, NATS) then prints each new message as it is written, until Ctrl-C or --limit; \
queue brokers cannot be watched without taking messages (watch their depth with `dlq lag --watch`).\n\n\
Examples:\n  dlq list orders.dlq\n  dlq list orders.dlq --reason rejected --older-than 1h -o json\n  \
dlq list orders.dlq --error-type TimeoutException --since 2026-12-01\n  \
dlq list orders.dlq --where '.dead_letter.attempts > 3' -o ndjson > review.ndjson\n  \
dlq list orders.DLT --follow"
    )]
    List(ListArgs),

    /// Whole messages: properties, headers, dead-letter history, body
    #[command(
        after_help = "Without an ID, shows the first message (or --limit N of them) that the filters \
match. Reads like `list`: nothing is removed. SQS has no true peek: each message is received \
and made visible again at once, which raises its ApproximateReceiveCount; on Pub/Sub each \
message is pulled and given back at once, which raises its delivery attempt.\n\n\
Examples:\n  dlq peek orders.dlq\n  dlq peek orders.dlq 3:1042 -o json"
    )]
    Peek(PeekArgs),

    /// Send messages back to where they came from (or --to), then take them off the DLQ
    #[command(
        after_help = "Each copy is published and confirmed by the broker before its original is \
removed: a failure in between can leave a duplicate, never a loss.\n\n\
Examples:\n  dlq retry orders.dlq 3f2a9c1d07be\n  dlq retry orders.dlq 3:1042 3:1043 --to orders.replay"
    )]
    Retry(RetryArgs),

    /// Send every message (or every match of the filters) back, then take them off the DLQ
    #[command(
        name = "retry-all",
        after_help = "Each copy is published and confirmed by the broker before its original is \
removed: a failure in between can leave a duplicate, never a loss. Asks first on a \
terminal; without one, refuses unless --yes. Ctrl-C stops cleanly (exit 130).\n\n\
Examples:\n  dlq retry-all orders.dlq --dry-run\n  dlq retry-all orders.dlq --reason rejected --rate 100 --yes"
    )]
    RetryAll(RetryAllArgs),

    /// Fix one message in an editor, then send it back like retry
    #[command(
        after_help = "Writes the message to a temporary file (a header block of `name: text` or \
`name:= JSON` lines, @key and @body lines, a blank line, then the body, pretty-printed when it \
is JSON) and opens $VISUAL, else $EDITOR, else vi. On save, the edited copy goes to the \
message's origin (or --to) and the original is removed once the copy is confirmed. An \
unchanged or emptied file sends nothing (exit 0); an editor that exits non-zero or a file \
that does not read back sends nothing (exit 2). Needs a terminal unless --yes.\n\n\
Examples:\n  dlq edit orders.dlq 3:1042\n  EDITOR='code --wait' dlq edit orders.dlq 3f2a9c1d07be --to orders.replay"
    )]
    Edit(EditArgs),

    /// Delete every message, or every match of the filters
    #[command(
        after_help = "A full purge uses the broker's own operation; a filtered purge removes only \
the matches and leaves the rest in place and in order. With --backup, each message \
is written and flushed to the file before it is removed. On Kafka, moves dlq's cursor \
past the purged messages (--delete-records also truncates the log). Asks first on a \
terminal; without one, refuses unless --yes.\n\n\
With IDs (or --ids-from), every ID is checked first: when one names no message or \
several, nothing is removed.\n\n\
Examples:\n  dlq purge orders.dlq --older-than 7d --backup dump.ndjson --yes\n  dlq purge orders.dlq --dry-run\n  \
dlq purge orders.dlq --ids-from reviewed.ndjson --yes"
    )]
    Purge(PurgeArgs),

    /// Write messages as NDJSON envelopes to stdout or --out, without removing them
    #[command(
        after_help = "The envelopes can be replayed with `dlq publish TARGET --format ndjson`. \
Nothing is removed. SQS has no true peek: each message is received and made visible again at \
once, which raises its ApproximateReceiveCount; on Pub/Sub each message is pulled and given \
back at once, which raises its delivery attempt.\n\n\
Examples:\n  dlq export orders.dlq --out orders.ndjson\n  dlq export orders.dlq --grep timeout | jq .body"
    )]
    Export(ExportArgs),

    /// Publish messages from --body, --file or standard input
    #[command(
        after_help = "TARGET is a queue on RabbitMQ (through the default exchange unless --exchange), \
a queue on SQS, a topic on Kafka, a subject on NATS, a topic on Pub/Sub. Each message counts as published \
only once the broker confirmed it. A malformed input line stops the run and names its line.\n\n\
Examples:\n  dlq publish orders --body '{\"id\":1}' --header tenant=acme\n  cat fixtures.ndjson | dlq publish orders --format ndjson\n  dlq export orders.dlq | dlq publish orders --format ndjson"
    )]
    Publish(PublishArgs),

    /// Consumer lag report, with thresholds that set the exit code
    #[command(
        after_help = "NAME is a consumer group on Kafka, a queue on RabbitMQ and SQS, a subscription on Pub/Sub, a stream on NATS \
(STREAM/CONSUMER for one consumer). Without NAME, every one the broker lists. When a \
threshold is exceeded, each breach is listed on stderr and the exit code is 1.\n\n\
Examples:\n  dlq lag --max-lag 1000 -o json\n  dlq lag orders --max-age 5m --max-dlq 0"
    )]
    Lag(LagArgs),

    /// Group a queue's messages by reason, error type, source, origin, header or age
    #[command(
        after_help = "Reads like `list` and never changes the queue; memory grows with the number of \
groups, not of messages. KEYS: reason, error_type, source, origin, convention, header:NAME, \
age (<1h, 1h-1d, 1d-7d, >7d), day (UTC date), fingerprint (each group also shows the error \
type and the first line of one error message), field:FILTER (the first output of a jq filter on \
the JSON or decoded body). A value a message does not carry groups as `-` (null in JSON). SQS has no true peek: reading raises each message's ApproximateReceiveCount; \
on Pub/Sub, each message's delivery attempt.\n\n\
Examples:\n  dlq stats orders.dlq\n  dlq stats orders.dlq --by error_type,age -o json\n  dlq stats orders.dlq --by fingerprint\n  dlq stats orders.dlq --by field:.customer.tier"
    )]
    Stats(StatsArgs),

    /// The journal of what dlq changed: runs, newest first, or the messages of one run
    #[command(
        after_help = "Every retry, retry-all, purge and publish appends to the journal: $DLQ_JOURNAL, \
else dlq/journal.ndjson in the user's state directory (~/.local/state/dlq/ on Linux), readable \
by its owner only. At journal_max_bytes (config file; default 64 MiB) it is set aside as \
journal.ndjson.<time>, and journal_keep (default 3) of those are kept. --no-journal or \
`journal = false` in the config file turns it off. An unknown RUN_ID is exit 2.\n\n\
Examples:\n  dlq history\n  dlq history --limit 5 -o json\n  dlq history 20261201T221405123Z-3f9a\n  \
dlq history --prune --older-than 30d"
    )]
    History(HistoryArgs),

    /// An interactive terminal view: scroll, open, group, mark, retry, purge, export, edit
    #[command(
        after_help = "Reads like `list` (up to --limit, default 10,000; the title says \"first N of M\" \
when the queue holds more) and never changes the queue by itself. Keys: arrows or j/k, PgUp/PgDn, \
Home/End move; Enter opens the message card, Esc goes back; Space marks, a marks all shown, \
u unmarks all; / filters by text; s groups by reason and error type, f by fingerprint; r retries, \
p purges, x exports the marked messages (or the current one), e edits the current one; each asks \
first (y/n) and runs as the command of that name does, journal included. R reloads, ? helps, \
q or Ctrl-C quits. Needs a terminal (exit 2 without one). SQS has no true peek: each read (and \
each R) raises the messages' ApproximateReceiveCount; on Pub/Sub, each message's delivery attempt.\n\n\
Examples:\n  dlq browse orders.dlq\n  dlq browse orders.dlq --reason rejected --limit 500"
    )]
    Browse(BrowseArgs),

    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  dlq completions bash > /etc/bash_completion.d/dlq\n  dlq completions zsh > ~/.zfunc/_dlq"
    )]
    Completions(CompletionsArgs),

    /// Print the man page, or write every page to a directory
    #[command(
        after_help = "Examples:\n  dlq man | man -l -\n  dlq man --dir /usr/local/share/man/man1"
    )]
    Man(ManArgs),
}

/// The arguments of `dlq list`.
#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    /// Queue, topic or stream
    #[arg(value_parser = name)]
    pub queue: String,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Kafka: the whole log, also what is before dlq's cursor
    #[arg(long)]
    pub all: bool,
    /// Kafka, NATS: after what is there, print each new message as it comes, until Ctrl-C or --limit
    #[arg(short = 'f', long)]
    pub follow: bool,
}

/// The arguments of `dlq browse`.
#[derive(Debug, Args, Clone)]
pub struct BrowseArgs {
    /// Queue, topic or stream
    #[arg(value_parser = name)]
    pub queue: String,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Kafka: the whole log, also what is before dlq's cursor
    #[arg(long)]
    pub all: bool,
}

/// The arguments of `dlq retry`.
#[derive(Debug, Args, Clone)]
pub struct RetryArgs {
    /// Queue, topic or stream
    #[arg(value_parser = name)]
    pub queue: String,
    /// Message IDs as `list` prints them
    #[arg(required_unless_present = "ids_from")]
    pub ids: Vec<String>,
    /// Also the IDs in FILE (- for standard input): one a line, or NDJSON envelopes as `list -o ndjson` writes them
    #[arg(long, value_name = "FILE")]
    pub ids_from: Option<PathBuf>,
    #[command(flatten)]
    pub redrive: RedriveArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// The arguments of `dlq edit`.
#[derive(Debug, Args, Clone)]
pub struct EditArgs {
    /// Queue, topic or stream
    #[arg(value_parser = name)]
    pub queue: String,
    /// Message ID as `list` prints it
    pub id: String,
    /// Send to TARGET (queue, topic or subject) instead of the message's origin
    #[arg(long, value_name = "TARGET", value_parser = name)]
    pub to: Option<String>,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Run without a terminal (the editor is a script)
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print what would be sent; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub schema: SchemaArgs,
}

/// The arguments of `dlq export`.
#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    /// Queue, topic or stream
    #[arg(value_parser = name)]
    pub queue: String,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Kafka: the whole log, also what is before dlq's cursor
    #[arg(long)]
    pub all: bool,
    /// Write to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The arguments of `dlq lag`.
#[derive(Debug, Args, Clone)]
pub struct LagArgs {
    /// Groups, queues or streams
    pub names: Vec<String>,
    /// Kafka: only this topic
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// Fail (exit 1) when a lag is over N
    #[arg(long, value_name = "N")]
    pub max_lag: Option<u64>,
    /// Fail (exit 1) when the oldest waiting message is older than this
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub max_age: Option<Duration>,
    /// Fail (exit 1) when a dead-letter queue holds more than N messages
    #[arg(long, value_name = "N")]
    pub max_dlq: Option<u64>,
    /// Refresh every INTERVAL until Ctrl-C
    #[arg(long, value_parser = nonzero_duration, value_name = "INTERVAL")]
    pub watch: Option<Duration>,
}

/// The arguments of `dlq stats`.
#[derive(Debug, Args, Clone)]
pub struct StatsArgs {
    /// Queue, topic or stream
    #[arg(value_parser = name)]
    pub queue: String,
    /// Comma-separated keys to group by
    #[arg(long, value_name = "KEYS", default_value = "reason,source")]
    pub by: String,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Kafka: the whole log, also what is before dlq's cursor
    #[arg(long)]
    pub all: bool,
}

/// The arguments of `dlq history`.
#[derive(Debug, Args, Clone)]
pub struct HistoryArgs {
    /// A run ID as `dlq history` lists it: show that run's messages
    pub run_id: Option<String>,
    /// At most N runs (or messages)
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub limit: Option<usize>,
    /// Remove the runs that started longer ago than --older-than, with all their records
    #[arg(long, requires = "older_than", conflicts_with_all = ["run_id", "limit"])]
    pub prune: bool,
    /// With --prune: how long ago a run must have started to be removed, such as 30d
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", requires = "prune")]
    pub older_than: Option<Duration>,
    /// With --prune: say what would be removed, and remove nothing
    #[arg(long, requires = "prune")]
    pub dry_run: bool,
}

/// The arguments of `dlq completions`.
#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The arguments of `dlq man`.
#[derive(Debug, Args, Clone)]
pub struct ManArgs {
    /// Write dlq.1 and one page per command into DIR
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Flags of `retry` and `retry-all`.
#[derive(Debug, Args, Clone, Default)]
pub struct RedriveArgs {
    /// Send to TARGET (queue, topic or subject) instead of each message's origin
    #[arg(long, value_name = "TARGET", value_parser = name)]
    pub to: Option<String>,

    /// Skip messages that dlq already sent back N times
    #[arg(long, value_name = "N")]
    pub max_redrives: Option<u32>,

    /// Print what would move where; change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Set a header on each copy, as a string (repeat for several)
    #[arg(long = "set-header", value_parser = parse_header, value_name = "KEY=VALUE")]
    pub set_headers: Vec<(String, String)>,

    /// Remove a header from each copy (repeat for several)
    #[arg(long = "unset-header", value_name = "KEY")]
    pub unset_headers: Vec<String>,

    /// Rewrite each JSON body with a jq filter; its one output is the new body (a
    /// schema-encoded body: its decoded value, encoded again with the same schema)
    #[arg(long, value_name = "FILTER")]
    pub transform: Option<String>,

    #[command(flatten)]
    pub schema: SchemaArgs,
}

/// Flags of `publish`.
#[derive(Debug, Args, Clone)]
pub struct PublishArgs {
    /// Queue (RabbitMQ, SQS), topic (Kafka) or subject (NATS)
    #[arg(value_parser = name)]
    pub target: String,

    /// The message body
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub body: Option<String>,

    /// Read messages from FILE
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// How the input splits into messages
    #[arg(long, value_enum, default_value_t = InputFormat::Raw)]
    pub format: InputFormat,

    /// Publish each message N times
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one::<u64>)]
    pub count: u64,

    /// Add a header (repeat for several)
    #[arg(long = "header", value_parser = parse_header, value_name = "KEY=VALUE")]
    pub headers: Vec<(String, String)>,

    /// Kafka: message key; Pub/Sub: ordering key (an envelope's own key wins)
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,

    /// Kafka: partition to produce to
    #[arg(long, value_name = "N")]
    pub partition: Option<i32>,

    /// SQS FIFO: message group ID
    #[arg(long, value_name = "ID")]
    pub group_id: Option<String>,

    /// SQS FIFO: deduplication ID (default: content-based or a fresh one)
    #[arg(long, value_name = "ID")]
    pub dedup_id: Option<String>,

    /// SQS: delivery delay, such as 30s (at most 15m)
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub delay: Option<Duration>,

    /// RabbitMQ: exchange to publish through (default: the default exchange)
    #[arg(long, value_name = "NAME")]
    pub exchange: Option<String>,

    /// RabbitMQ: routing key (default: TARGET)
    #[arg(long, value_name = "KEY")]
    pub routing_key: Option<String>,

    /// At most N messages a second
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,

    #[command(flatten)]
    pub encode: EncodeArgs,
}

/// The schema encodings `publish --encode` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncodeFormat {
    Avro,
    Protobuf,
    #[value(name = "json-schema")]
    JsonSchema,
}

/// How `publish` encodes JSON input with a schema.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Schema-encoded bodies")]
pub struct EncodeArgs {
    /// Encode each JSON input value with a schema, in the Confluent wire format with a registry
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub encode: Option<EncodeFormat>,

    /// The registry subject whose schema encodes (its latest version unless --schema-version)
    #[arg(
        long,
        value_name = "SUBJECT",
        requires = "encode",
        conflicts_with = "schema_id"
    )]
    pub schema_subject: Option<String>,

    /// The version of --schema-subject
    #[arg(long, value_name = "N", requires = "schema_subject")]
    pub schema_version: Option<u32>,

    /// The registry schema ID that encodes
    #[arg(long, value_name = "N", requires = "encode")]
    pub schema_id: Option<u32>,

    /// Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)
    #[arg(long, value_name = "URL", requires = "encode")]
    pub schema_registry: Option<String>,

    /// Avro schema (.avsc) to encode with, without a registry (plain Avro bytes); repeat it
    /// to give the named types it refers to first
    #[arg(long, value_name = "FILE", requires = "encode")]
    pub avro_schema: Vec<PathBuf>,

    /// .proto file to encode with, without a registry (repeat for several)
    #[arg(long, value_name = "FILE", requires = "encode")]
    pub proto: Vec<PathBuf>,

    /// Directory where imports of --proto files are found (repeat for several)
    #[arg(long, value_name = "DIR", requires = "proto")]
    pub proto_path: Vec<PathBuf>,

    /// Protobuf descriptor set to encode with, instead of --proto
    #[arg(long, value_name = "FILE", requires = "encode")]
    pub descriptor_set: Option<PathBuf>,

    /// Full name of the Protobuf message type to write, such as shop.v1.Order
    #[arg(long, value_name = "NAME", requires = "encode")]
    pub proto_message: Option<String>,
}

/// Flags of `peek`.
#[derive(Debug, Args, Clone)]
pub struct PeekArgs {
    /// Queue, topic or stream
    #[arg(value_parser = name)]
    pub queue: String,
    /// Message IDs as `list` prints them
    pub ids: Vec<String>,
    /// Also the IDs in FILE (- for standard input): one a line, or NDJSON envelopes as `list -o ndjson` writes them
    #[arg(long, value_name = "FILE")]
    pub ids_from: Option<PathBuf>,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Kafka: the whole log, also what is before dlq's cursor
    #[arg(long)]
    pub all: bool,
    /// How to show a body that is not UTF-8
    #[arg(long, value_enum, default_value_t = BinaryFormat::Hex)]
    pub binary: BinaryFormat,
    /// Show whole bodies at a terminal (else the first 64 KiB of each)
    #[arg(long)]
    pub full: bool,
}

/// Flags of `retry-all`.
#[derive(Debug, Args, Clone)]
pub struct RetryAllArgs {
    /// Queue, topic or stream
    #[arg(value_parser = name)]
    pub queue: String,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub redrive: RedriveArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// At most N messages a second
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// SQS: let SQS move the messages server-side (StartMessageMoveTask); RabbitMQ: a
    /// dynamic shovel to the one origin all messages share (or --to). No filters, no
    /// re-drive count header
    #[arg(long)]
    pub native: bool,
    /// With --native: start the move, print how to follow and stop it, and return
    #[arg(long, requires = "native")]
    pub detach: bool,
}

/// Flags of `purge`.
#[derive(Debug, Args, Clone)]
pub struct PurgeArgs {
    /// Queue, topic or stream
    #[arg(value_parser = name)]
    pub queue: String,
    /// Only these messages (IDs as `list` prints them); every one must exist, or nothing is removed
    pub ids: Vec<String>,
    /// Also the IDs in FILE (- for standard input): one a line, or NDJSON envelopes as `list -o ndjson` writes them
    #[arg(long, value_name = "FILE")]
    pub ids_from: Option<PathBuf>,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Write each message as an NDJSON envelope to FILE before removing it
    #[arg(long, value_name = "FILE")]
    pub backup: Option<PathBuf>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print what would be purged; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Kafka: also truncate the log with DeleteRecords
    #[arg(long)]
    pub delete_records: bool,
}
