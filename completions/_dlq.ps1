
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'dlq' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'dlq'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'dlq' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('queues', 'queues', [CompletionResultType]::ParameterValue, 'List every queue, topic or stream with its depth; DLQs marked and linked to their sources')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One row per message: ID, age, dead-letter reason, source, attempts, size, body preview')
            [CompletionResult]::new('peek', 'peek', [CompletionResultType]::ParameterValue, 'Whole messages: properties, headers, dead-letter history, body')
            [CompletionResult]::new('retry', 'retry', [CompletionResultType]::ParameterValue, 'Send messages back to where they came from (or --to), then take them off the DLQ')
            [CompletionResult]::new('retry-all', 'retry-all', [CompletionResultType]::ParameterValue, 'Send every message (or every match of the filters) back, then take them off the DLQ')
            [CompletionResult]::new('edit', 'edit', [CompletionResultType]::ParameterValue, 'Fix one message in an editor, then send it back like retry')
            [CompletionResult]::new('purge', 'purge', [CompletionResultType]::ParameterValue, 'Delete every message, or every match of the filters')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Write messages as NDJSON envelopes to stdout or --out, without removing them')
            [CompletionResult]::new('publish', 'publish', [CompletionResultType]::ParameterValue, 'Publish messages from --body, --file or standard input')
            [CompletionResult]::new('lag', 'lag', [CompletionResultType]::ParameterValue, 'Consumer lag report, with thresholds that set the exit code')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Group a queue''s messages by reason, error type, source, origin, header or age')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'The journal of what dlq changed: runs, newest first, or the messages of one run')
            [CompletionResult]::new('browse', 'browse', [CompletionResultType]::ParameterValue, 'An interactive terminal view: scroll, open, group, mark, retry, purge, export, edit')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page, or write every page to a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dlq;queues' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;list' {
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N messages')
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Only messages older than this, such as 7d or 12h')
            [CompletionResult]::new('--newer-than', '--newer-than', [CompletionResultType]::ParameterName, 'Only messages newer than this, such as 30m')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Only messages whose dead-letter reason contains REASON (case-insensitive)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Only messages with this header value (repeat for several)')
            [CompletionResult]::new('--grep', '--grep', [CompletionResultType]::ParameterName, 'Only messages whose body, or decoded body, contains TEXT')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Only messages dead-lettered from this queue, topic or subject')
            [CompletionResult]::new('--schema-registry', '--schema-registry', [CompletionResultType]::ParameterName, 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)')
            [CompletionResult]::new('--avro-schema', '--avro-schema', [CompletionResultType]::ParameterName, 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies'')')
            [CompletionResult]::new('--proto', '--proto', [CompletionResultType]::ParameterName, '.proto file of bodies written without a registry (repeat for several)')
            [CompletionResult]::new('--proto-path', '--proto-path', [CompletionResultType]::ParameterName, 'Directory where imports of --proto files are found (repeat for several)')
            [CompletionResult]::new('--descriptor-set', '--descriptor-set', [CompletionResultType]::ParameterName, 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto')
            [CompletionResult]::new('--proto-message', '--proto-message', [CompletionResultType]::ParameterName, 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Kafka: dlq''s cursor group for this topic (default dlq.<topic>)')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('--no-decode', '--no-decode', [CompletionResultType]::ParameterName, 'Show schema-encoded bodies as they are, without decoding them')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Kafka: the whole log, also what is before dlq''s cursor')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;peek' {
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N messages')
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Only messages older than this, such as 7d or 12h')
            [CompletionResult]::new('--newer-than', '--newer-than', [CompletionResultType]::ParameterName, 'Only messages newer than this, such as 30m')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Only messages whose dead-letter reason contains REASON (case-insensitive)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Only messages with this header value (repeat for several)')
            [CompletionResult]::new('--grep', '--grep', [CompletionResultType]::ParameterName, 'Only messages whose body, or decoded body, contains TEXT')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Only messages dead-lettered from this queue, topic or subject')
            [CompletionResult]::new('--schema-registry', '--schema-registry', [CompletionResultType]::ParameterName, 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)')
            [CompletionResult]::new('--avro-schema', '--avro-schema', [CompletionResultType]::ParameterName, 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies'')')
            [CompletionResult]::new('--proto', '--proto', [CompletionResultType]::ParameterName, '.proto file of bodies written without a registry (repeat for several)')
            [CompletionResult]::new('--proto-path', '--proto-path', [CompletionResultType]::ParameterName, 'Directory where imports of --proto files are found (repeat for several)')
            [CompletionResult]::new('--descriptor-set', '--descriptor-set', [CompletionResultType]::ParameterName, 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto')
            [CompletionResult]::new('--proto-message', '--proto-message', [CompletionResultType]::ParameterName, 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Kafka: dlq''s cursor group for this topic (default dlq.<topic>)')
            [CompletionResult]::new('--binary', '--binary', [CompletionResultType]::ParameterName, 'How to show a body that is not UTF-8')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('--no-decode', '--no-decode', [CompletionResultType]::ParameterName, 'Show schema-encoded bodies as they are, without decoding them')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Kafka: the whole log, also what is before dlq''s cursor')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;retry' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Send to TARGET (queue, topic or subject) instead of each message''s origin')
            [CompletionResult]::new('--max-redrives', '--max-redrives', [CompletionResultType]::ParameterName, 'Skip messages that dlq already sent back N times')
            [CompletionResult]::new('--set-header', '--set-header', [CompletionResultType]::ParameterName, 'Set a header on each copy, as a string (repeat for several)')
            [CompletionResult]::new('--unset-header', '--unset-header', [CompletionResultType]::ParameterName, 'Remove a header from each copy (repeat for several)')
            [CompletionResult]::new('--transform', '--transform', [CompletionResultType]::ParameterName, 'Rewrite each JSON body with a jq filter; its one output is the new body')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Kafka: dlq''s cursor group for this topic (default dlq.<topic>)')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would move where; change nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;retry-all' {
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N messages')
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Only messages older than this, such as 7d or 12h')
            [CompletionResult]::new('--newer-than', '--newer-than', [CompletionResultType]::ParameterName, 'Only messages newer than this, such as 30m')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Only messages whose dead-letter reason contains REASON (case-insensitive)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Only messages with this header value (repeat for several)')
            [CompletionResult]::new('--grep', '--grep', [CompletionResultType]::ParameterName, 'Only messages whose body, or decoded body, contains TEXT')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Only messages dead-lettered from this queue, topic or subject')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Send to TARGET (queue, topic or subject) instead of each message''s origin')
            [CompletionResult]::new('--max-redrives', '--max-redrives', [CompletionResultType]::ParameterName, 'Skip messages that dlq already sent back N times')
            [CompletionResult]::new('--set-header', '--set-header', [CompletionResultType]::ParameterName, 'Set a header on each copy, as a string (repeat for several)')
            [CompletionResult]::new('--unset-header', '--unset-header', [CompletionResultType]::ParameterName, 'Remove a header from each copy (repeat for several)')
            [CompletionResult]::new('--transform', '--transform', [CompletionResultType]::ParameterName, 'Rewrite each JSON body with a jq filter; its one output is the new body')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Kafka: dlq''s cursor group for this topic (default dlq.<topic>)')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'At most N messages a second')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would move where; change nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--native', '--native', [CompletionResultType]::ParameterName, 'SQS: let SQS move the messages server-side (StartMessageMoveTask); RabbitMQ: a dynamic shovel to the one origin all messages share (or --to). No filters, no re-drive count header')
            [CompletionResult]::new('--detach', '--detach', [CompletionResultType]::ParameterName, 'With --native: start the move, print how to follow and stop it, and return')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;edit' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Send to TARGET (queue, topic or subject) instead of the message''s origin')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Kafka: dlq''s cursor group for this topic (default dlq.<topic>)')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Run without a terminal (the editor is a script)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Run without a terminal (the editor is a script)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would be sent; change nothing')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;purge' {
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N messages')
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Only messages older than this, such as 7d or 12h')
            [CompletionResult]::new('--newer-than', '--newer-than', [CompletionResultType]::ParameterName, 'Only messages newer than this, such as 30m')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Only messages whose dead-letter reason contains REASON (case-insensitive)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Only messages with this header value (repeat for several)')
            [CompletionResult]::new('--grep', '--grep', [CompletionResultType]::ParameterName, 'Only messages whose body, or decoded body, contains TEXT')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Only messages dead-lettered from this queue, topic or subject')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Kafka: dlq''s cursor group for this topic (default dlq.<topic>)')
            [CompletionResult]::new('--backup', '--backup', [CompletionResultType]::ParameterName, 'Write each message as an NDJSON envelope to FILE before removing it')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would be purged; change nothing')
            [CompletionResult]::new('--delete-records', '--delete-records', [CompletionResultType]::ParameterName, 'Kafka: also truncate the log with DeleteRecords')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;export' {
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N messages')
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Only messages older than this, such as 7d or 12h')
            [CompletionResult]::new('--newer-than', '--newer-than', [CompletionResultType]::ParameterName, 'Only messages newer than this, such as 30m')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Only messages whose dead-letter reason contains REASON (case-insensitive)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Only messages with this header value (repeat for several)')
            [CompletionResult]::new('--grep', '--grep', [CompletionResultType]::ParameterName, 'Only messages whose body, or decoded body, contains TEXT')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Only messages dead-lettered from this queue, topic or subject')
            [CompletionResult]::new('--schema-registry', '--schema-registry', [CompletionResultType]::ParameterName, 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)')
            [CompletionResult]::new('--avro-schema', '--avro-schema', [CompletionResultType]::ParameterName, 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies'')')
            [CompletionResult]::new('--proto', '--proto', [CompletionResultType]::ParameterName, '.proto file of bodies written without a registry (repeat for several)')
            [CompletionResult]::new('--proto-path', '--proto-path', [CompletionResultType]::ParameterName, 'Directory where imports of --proto files are found (repeat for several)')
            [CompletionResult]::new('--descriptor-set', '--descriptor-set', [CompletionResultType]::ParameterName, 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto')
            [CompletionResult]::new('--proto-message', '--proto-message', [CompletionResultType]::ParameterName, 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Kafka: dlq''s cursor group for this topic (default dlq.<topic>)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write to FILE instead of stdout')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('--no-decode', '--no-decode', [CompletionResultType]::ParameterName, 'Show schema-encoded bodies as they are, without decoding them')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Kafka: the whole log, also what is before dlq''s cursor')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;publish' {
            [CompletionResult]::new('--body', '--body', [CompletionResultType]::ParameterName, 'The message body')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Read messages from FILE')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'How the input splits into messages')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Publish each message N times')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Add a header (repeat for several)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Kafka: message key; Pub/Sub: ordering key (an envelope''s own key wins)')
            [CompletionResult]::new('--partition', '--partition', [CompletionResultType]::ParameterName, 'Kafka: partition to produce to')
            [CompletionResult]::new('--group-id', '--group-id', [CompletionResultType]::ParameterName, 'SQS FIFO: message group ID')
            [CompletionResult]::new('--dedup-id', '--dedup-id', [CompletionResultType]::ParameterName, 'SQS FIFO: deduplication ID (default: content-based or a fresh one)')
            [CompletionResult]::new('--delay', '--delay', [CompletionResultType]::ParameterName, 'SQS: delivery delay, such as 30s (at most 15m)')
            [CompletionResult]::new('--exchange', '--exchange', [CompletionResultType]::ParameterName, 'RabbitMQ: exchange to publish through (default: the default exchange)')
            [CompletionResult]::new('--routing-key', '--routing-key', [CompletionResultType]::ParameterName, 'RabbitMQ: routing key (default: TARGET)')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'At most N messages a second')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;lag' {
            [CompletionResult]::new('--topic', '--topic', [CompletionResultType]::ParameterName, 'Kafka: only this topic')
            [CompletionResult]::new('--max-lag', '--max-lag', [CompletionResultType]::ParameterName, 'Fail (exit 1) when a lag is over N')
            [CompletionResult]::new('--max-age', '--max-age', [CompletionResultType]::ParameterName, 'Fail (exit 1) when the oldest waiting message is older than this')
            [CompletionResult]::new('--max-dlq', '--max-dlq', [CompletionResultType]::ParameterName, 'Fail (exit 1) when a dead-letter queue holds more than N messages')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Refresh every INTERVAL until Ctrl-C')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;stats' {
            [CompletionResult]::new('--by', '--by', [CompletionResultType]::ParameterName, 'Comma-separated keys to group by')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N messages')
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Only messages older than this, such as 7d or 12h')
            [CompletionResult]::new('--newer-than', '--newer-than', [CompletionResultType]::ParameterName, 'Only messages newer than this, such as 30m')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Only messages whose dead-letter reason contains REASON (case-insensitive)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Only messages with this header value (repeat for several)')
            [CompletionResult]::new('--grep', '--grep', [CompletionResultType]::ParameterName, 'Only messages whose body, or decoded body, contains TEXT')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Only messages dead-lettered from this queue, topic or subject')
            [CompletionResult]::new('--schema-registry', '--schema-registry', [CompletionResultType]::ParameterName, 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)')
            [CompletionResult]::new('--avro-schema', '--avro-schema', [CompletionResultType]::ParameterName, 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies'')')
            [CompletionResult]::new('--proto', '--proto', [CompletionResultType]::ParameterName, '.proto file of bodies written without a registry (repeat for several)')
            [CompletionResult]::new('--proto-path', '--proto-path', [CompletionResultType]::ParameterName, 'Directory where imports of --proto files are found (repeat for several)')
            [CompletionResult]::new('--descriptor-set', '--descriptor-set', [CompletionResultType]::ParameterName, 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto')
            [CompletionResult]::new('--proto-message', '--proto-message', [CompletionResultType]::ParameterName, 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Kafka: dlq''s cursor group for this topic (default dlq.<topic>)')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('--no-decode', '--no-decode', [CompletionResultType]::ParameterName, 'Show schema-encoded bodies as they are, without decoding them')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Kafka: the whole log, also what is before dlq''s cursor')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;history' {
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N runs (or messages)')
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'With --prune: how long ago a run must have started to be removed, such as 30d')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('--prune', '--prune', [CompletionResultType]::ParameterName, 'Remove the runs that started longer ago than --older-than, with all their records')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'With --prune: say what would be removed, and remove nothing')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;browse' {
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N messages')
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Only messages older than this, such as 7d or 12h')
            [CompletionResult]::new('--newer-than', '--newer-than', [CompletionResultType]::ParameterName, 'Only messages newer than this, such as 30m')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Only messages whose dead-letter reason contains REASON (case-insensitive)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Only messages with this header value (repeat for several)')
            [CompletionResult]::new('--grep', '--grep', [CompletionResultType]::ParameterName, 'Only messages whose body, or decoded body, contains TEXT')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Only messages dead-lettered from this queue, topic or subject')
            [CompletionResult]::new('--schema-registry', '--schema-registry', [CompletionResultType]::ParameterName, 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)')
            [CompletionResult]::new('--avro-schema', '--avro-schema', [CompletionResultType]::ParameterName, 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies'')')
            [CompletionResult]::new('--proto', '--proto', [CompletionResultType]::ParameterName, '.proto file of bodies written without a registry (repeat for several)')
            [CompletionResult]::new('--proto-path', '--proto-path', [CompletionResultType]::ParameterName, 'Directory where imports of --proto files are found (repeat for several)')
            [CompletionResult]::new('--descriptor-set', '--descriptor-set', [CompletionResultType]::ParameterName, 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto')
            [CompletionResult]::new('--proto-message', '--proto-message', [CompletionResultType]::ParameterName, 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Kafka: dlq''s cursor group for this topic (default dlq.<topic>)')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('--no-decode', '--no-decode', [CompletionResultType]::ParameterName, 'Show schema-encoded bodies as they are, without decoding them')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Kafka: the whole log, also what is before dlq''s cursor')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;completions' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;man' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Write dlq.1 and one page per command into DIR')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile from the config file (env DLQ_PROFILE)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user''s config directory)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table on a terminal by default; prometheus on lag and queues only')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (NO_COLOR is honoured with auto)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on connecting and on each broker call, such as 10s or 1m')
            [CompletionResult]::new('--endpoint-url', '--endpoint-url', [CompletionResultType]::ParameterName, 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors: no progress, no summaries on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Say more: the cause chain of errors, broker details')
            [CompletionResult]::new('--no-journal', '--no-journal', [CompletionResultType]::ParameterName, 'Do not record this run in the journal (see `dlq history`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dlq;help' {
            [CompletionResult]::new('queues', 'queues', [CompletionResultType]::ParameterValue, 'List every queue, topic or stream with its depth; DLQs marked and linked to their sources')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One row per message: ID, age, dead-letter reason, source, attempts, size, body preview')
            [CompletionResult]::new('peek', 'peek', [CompletionResultType]::ParameterValue, 'Whole messages: properties, headers, dead-letter history, body')
            [CompletionResult]::new('retry', 'retry', [CompletionResultType]::ParameterValue, 'Send messages back to where they came from (or --to), then take them off the DLQ')
            [CompletionResult]::new('retry-all', 'retry-all', [CompletionResultType]::ParameterValue, 'Send every message (or every match of the filters) back, then take them off the DLQ')
            [CompletionResult]::new('edit', 'edit', [CompletionResultType]::ParameterValue, 'Fix one message in an editor, then send it back like retry')
            [CompletionResult]::new('purge', 'purge', [CompletionResultType]::ParameterValue, 'Delete every message, or every match of the filters')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Write messages as NDJSON envelopes to stdout or --out, without removing them')
            [CompletionResult]::new('publish', 'publish', [CompletionResultType]::ParameterValue, 'Publish messages from --body, --file or standard input')
            [CompletionResult]::new('lag', 'lag', [CompletionResultType]::ParameterValue, 'Consumer lag report, with thresholds that set the exit code')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Group a queue''s messages by reason, error type, source, origin, header or age')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'The journal of what dlq changed: runs, newest first, or the messages of one run')
            [CompletionResult]::new('browse', 'browse', [CompletionResultType]::ParameterValue, 'An interactive terminal view: scroll, open, group, mark, retry, purge, export, edit')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page, or write every page to a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dlq;help;queues' {
            break
        }
        'dlq;help;list' {
            break
        }
        'dlq;help;peek' {
            break
        }
        'dlq;help;retry' {
            break
        }
        'dlq;help;retry-all' {
            break
        }
        'dlq;help;edit' {
            break
        }
        'dlq;help;purge' {
            break
        }
        'dlq;help;export' {
            break
        }
        'dlq;help;publish' {
            break
        }
        'dlq;help;lag' {
            break
        }
        'dlq;help;stats' {
            break
        }
        'dlq;help;history' {
            break
        }
        'dlq;help;browse' {
            break
        }
        'dlq;help;completions' {
            break
        }
        'dlq;help;man' {
            break
        }
        'dlq;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
