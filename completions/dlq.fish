# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dlq_global_optspecs
    string join \n b/broker= p/profile= config= o/output= color= q/quiet v/verbose timeout= endpoint-url= no-journal no-pager read-only h/help V/version
end

function __fish_dlq_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dlq_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dlq_using_subcommand
    set -l cmd (__fish_dlq_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dlq -n "__fish_dlq_needs_command" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_needs_command" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_needs_command" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_needs_command" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_needs_command" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_needs_command" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_needs_command" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_needs_command" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_needs_command" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_needs_command" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_needs_command" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_needs_command" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_needs_command" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "queues" -d 'List every queue, topic or stream with its depth; DLQs marked and linked to their sources'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "list" -d 'One row per message: ID, age, dead-letter reason, source, attempts, size, body preview'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "peek" -d 'Whole messages: properties, headers, dead-letter history, body'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "retry" -d 'Send messages back to where they came from (or --to), then take them off the DLQ'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "retry-all" -d 'Send every message (or every match of the filters) back, then take them off the DLQ'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "edit" -d 'Fix one message in an editor, then send it back like retry'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "purge" -d 'Delete every message, or every match of the filters'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "export" -d 'Write messages as NDJSON envelopes to stdout or --out, without removing them'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "publish" -d 'Publish messages from --body, --file or standard input'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "lag" -d 'Consumer lag report, with thresholds that set the exit code'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "stats" -d 'Group a queue\'s messages by reason, error type, source, origin, header or age'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "history" -d 'The journal of what dlq changed: runs, newest first, or the messages of one run'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "browse" -d 'An interactive terminal view: scroll, open, group, mark, retry, purge, export, edit'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "man" -d 'Print the man page, or write every page to a directory'
complete -c dlq -n "__fish_dlq_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dlq -n "__fish_dlq_using_subcommand queues" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand queues" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand queues" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand queues" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand queues" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand queues" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand queues" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand queues" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand queues" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand queues" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand queues" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand queues" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand queues" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand queues" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand list" -l limit -d 'At most N messages' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l older-than -d 'Only messages older than this, such as 7d or 12h' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l newer-than -d 'Only messages newer than this, such as 30m' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l reason -d 'Only messages whose dead-letter reason contains REASON (case-insensitive)' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l header -d 'Only messages with this header value (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l grep -d 'Only messages whose body, or decoded body, contains TEXT' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l source -d 'Only messages dead-lettered from this queue, topic or subject' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l error-type -d 'Only messages whose error type (or root cause\'s) is NAME or ends in .NAME' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l fingerprint -d 'Only messages with this failure fingerprint (see `dlq stats --by fingerprint`)' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l since -d 'Only messages stored at or after TIME: RFC 3339 (2026-12-01T08:00:00Z) or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l until -d 'Only messages stored before TIME: RFC 3339 or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l where -d 'Only messages on whose envelope (as `list -o json` prints it) this jq filter yields true, such as \'.dead_letter.attempts > 3\'' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l schema-registry -d 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l avro-schema -d 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies\')' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand list" -l proto -d '.proto file of bodies written without a registry (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand list" -l proto-path -d 'Directory where imports of --proto files are found (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand list" -l descriptor-set -d 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand list" -l proto-message -d 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l group -d 'Kafka: dlq\'s cursor group for this topic (default dlq.<topic>)' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand list" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand list" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand list" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand list" -l no-decode -d 'Show schema-encoded bodies as they are, without decoding them'
complete -c dlq -n "__fish_dlq_using_subcommand list" -l force -d 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ); RabbitMQ: read a queue whose type the management API cannot tell (a quorum queue\'s delivery limit could drop what a read gives back)'
complete -c dlq -n "__fish_dlq_using_subcommand list" -l all -d 'Kafka: the whole log, also what is before dlq\'s cursor'
complete -c dlq -n "__fish_dlq_using_subcommand list" -s f -l follow -d 'Kafka, NATS: after what is there, print each new message as it comes, until Ctrl-C or --limit'
complete -c dlq -n "__fish_dlq_using_subcommand list" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand list" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand list" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand list" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand list" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand list" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l ids-from -d 'Also the IDs in FILE (- for standard input): one a line, or NDJSON envelopes as `list -o ndjson` writes them' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l limit -d 'At most N messages' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l older-than -d 'Only messages older than this, such as 7d or 12h' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l newer-than -d 'Only messages newer than this, such as 30m' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l reason -d 'Only messages whose dead-letter reason contains REASON (case-insensitive)' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l header -d 'Only messages with this header value (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l grep -d 'Only messages whose body, or decoded body, contains TEXT' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l source -d 'Only messages dead-lettered from this queue, topic or subject' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l error-type -d 'Only messages whose error type (or root cause\'s) is NAME or ends in .NAME' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l fingerprint -d 'Only messages with this failure fingerprint (see `dlq stats --by fingerprint`)' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l since -d 'Only messages stored at or after TIME: RFC 3339 (2026-12-01T08:00:00Z) or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l until -d 'Only messages stored before TIME: RFC 3339 or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l where -d 'Only messages on whose envelope (as `list -o json` prints it) this jq filter yields true, such as \'.dead_letter.attempts > 3\'' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l schema-registry -d 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l avro-schema -d 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies\')' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l proto -d '.proto file of bodies written without a registry (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l proto-path -d 'Directory where imports of --proto files are found (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l descriptor-set -d 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l proto-message -d 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l group -d 'Kafka: dlq\'s cursor group for this topic (default dlq.<topic>)' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l binary -d 'How to show a body that is not UTF-8' -r -f -a "hex\t''
base64\t''"
complete -c dlq -n "__fish_dlq_using_subcommand peek" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand peek" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l no-decode -d 'Show schema-encoded bodies as they are, without decoding them'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l force -d 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ); RabbitMQ: read a queue whose type the management API cannot tell (a quorum queue\'s delivery limit could drop what a read gives back)'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l all -d 'Kafka: the whole log, also what is before dlq\'s cursor'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l full -d 'Show whole bodies at a terminal (else the first 64 KiB of each)'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand peek" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l ids-from -d 'Also the IDs in FILE (- for standard input): one a line, or NDJSON envelopes as `list -o ndjson` writes them' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l to -d 'Send to TARGET (queue, topic or subject) instead of each message\'s origin' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l max-redrives -d 'Skip messages that dlq already sent back N times' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l set-header -d 'Set a header on each copy, as a string (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l unset-header -d 'Remove a header from each copy (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l transform -d 'Rewrite each JSON body with a jq filter; its one output is the new body (a schema-encoded body: its decoded value, encoded again with the same schema)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l schema-registry -d 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l avro-schema -d 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies\')' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l proto -d '.proto file of bodies written without a registry (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l proto-path -d 'Directory where imports of --proto files are found (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l descriptor-set -d 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l proto-message -d 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l group -d 'Kafka: dlq\'s cursor group for this topic (default dlq.<topic>)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l dry-run -d 'Print what would move where; change nothing'
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l no-decode -d 'Show schema-encoded bodies as they are, without decoding them'
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l force -d 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ); RabbitMQ: read a queue whose type the management API cannot tell (a quorum queue\'s delivery limit could drop what a read gives back)'
complete -c dlq -n "__fish_dlq_using_subcommand retry" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand retry" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand retry" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand retry" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand retry" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l limit -d 'At most N messages' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l older-than -d 'Only messages older than this, such as 7d or 12h' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l newer-than -d 'Only messages newer than this, such as 30m' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l reason -d 'Only messages whose dead-letter reason contains REASON (case-insensitive)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l header -d 'Only messages with this header value (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l grep -d 'Only messages whose body, or decoded body, contains TEXT' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l source -d 'Only messages dead-lettered from this queue, topic or subject' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l error-type -d 'Only messages whose error type (or root cause\'s) is NAME or ends in .NAME' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l fingerprint -d 'Only messages with this failure fingerprint (see `dlq stats --by fingerprint`)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l since -d 'Only messages stored at or after TIME: RFC 3339 (2026-12-01T08:00:00Z) or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l until -d 'Only messages stored before TIME: RFC 3339 or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l where -d 'Only messages on whose envelope (as `list -o json` prints it) this jq filter yields true, such as \'.dead_letter.attempts > 3\'' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l to -d 'Send to TARGET (queue, topic or subject) instead of each message\'s origin' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l max-redrives -d 'Skip messages that dlq already sent back N times' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l set-header -d 'Set a header on each copy, as a string (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l unset-header -d 'Remove a header from each copy (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l transform -d 'Rewrite each JSON body with a jq filter; its one output is the new body (a schema-encoded body: its decoded value, encoded again with the same schema)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l schema-registry -d 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l avro-schema -d 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies\')' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l proto -d '.proto file of bodies written without a registry (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l proto-path -d 'Directory where imports of --proto files are found (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l descriptor-set -d 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l proto-message -d 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l group -d 'Kafka: dlq\'s cursor group for this topic (default dlq.<topic>)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l rate -d 'At most N messages a second' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l dry-run -d 'Print what would move where; change nothing'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l no-decode -d 'Show schema-encoded bodies as they are, without decoding them'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l force -d 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ); RabbitMQ: read a queue whose type the management API cannot tell (a quorum queue\'s delivery limit could drop what a read gives back)'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -s y -l yes -d 'Do not ask for confirmation'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l native -d 'SQS: let SQS move the messages server-side (StartMessageMoveTask); RabbitMQ: a dynamic shovel to the one origin all messages share (or --to). No filters, no re-drive count header'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l detach -d 'With --native: start the move, print how to follow and stop it, and return'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand retry-all" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l to -d 'Send to TARGET (queue, topic or subject) instead of the message\'s origin' -r
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l group -d 'Kafka: dlq\'s cursor group for this topic (default dlq.<topic>)' -r
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l schema-registry -d 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)' -r
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l avro-schema -d 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies\')' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l proto -d '.proto file of bodies written without a registry (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l proto-path -d 'Directory where imports of --proto files are found (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l descriptor-set -d 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l proto-message -d 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order' -r
complete -c dlq -n "__fish_dlq_using_subcommand edit" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand edit" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand edit" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l force -d 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ); RabbitMQ: read a queue whose type the management API cannot tell (a quorum queue\'s delivery limit could drop what a read gives back)'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -s y -l yes -d 'Run without a terminal (the editor is a script)'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l dry-run -d 'Print what would be sent; change nothing'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l no-decode -d 'Show schema-encoded bodies as they are, without decoding them'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand edit" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l ids-from -d 'Also the IDs in FILE (- for standard input): one a line, or NDJSON envelopes as `list -o ndjson` writes them' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l limit -d 'At most N messages' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l older-than -d 'Only messages older than this, such as 7d or 12h' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l newer-than -d 'Only messages newer than this, such as 30m' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l reason -d 'Only messages whose dead-letter reason contains REASON (case-insensitive)' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l header -d 'Only messages with this header value (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l grep -d 'Only messages whose body, or decoded body, contains TEXT' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l source -d 'Only messages dead-lettered from this queue, topic or subject' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l error-type -d 'Only messages whose error type (or root cause\'s) is NAME or ends in .NAME' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l fingerprint -d 'Only messages with this failure fingerprint (see `dlq stats --by fingerprint`)' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l since -d 'Only messages stored at or after TIME: RFC 3339 (2026-12-01T08:00:00Z) or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l until -d 'Only messages stored before TIME: RFC 3339 or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l where -d 'Only messages on whose envelope (as `list -o json` prints it) this jq filter yields true, such as \'.dead_letter.attempts > 3\'' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l group -d 'Kafka: dlq\'s cursor group for this topic (default dlq.<topic>)' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l backup -d 'Write each message as an NDJSON envelope to FILE before removing it' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand purge" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand purge" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l force -d 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ); RabbitMQ: read a queue whose type the management API cannot tell (a quorum queue\'s delivery limit could drop what a read gives back)'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -s y -l yes -d 'Do not ask for confirmation'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l dry-run -d 'Print what would be purged; change nothing'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l delete-records -d 'Kafka: also truncate the log with DeleteRecords'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand purge" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand export" -l limit -d 'At most N messages' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l older-than -d 'Only messages older than this, such as 7d or 12h' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l newer-than -d 'Only messages newer than this, such as 30m' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l reason -d 'Only messages whose dead-letter reason contains REASON (case-insensitive)' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l header -d 'Only messages with this header value (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l grep -d 'Only messages whose body, or decoded body, contains TEXT' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l source -d 'Only messages dead-lettered from this queue, topic or subject' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l error-type -d 'Only messages whose error type (or root cause\'s) is NAME or ends in .NAME' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l fingerprint -d 'Only messages with this failure fingerprint (see `dlq stats --by fingerprint`)' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l since -d 'Only messages stored at or after TIME: RFC 3339 (2026-12-01T08:00:00Z) or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l until -d 'Only messages stored before TIME: RFC 3339 or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l where -d 'Only messages on whose envelope (as `list -o json` prints it) this jq filter yields true, such as \'.dead_letter.attempts > 3\'' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l schema-registry -d 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l avro-schema -d 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies\')' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand export" -l proto -d '.proto file of bodies written without a registry (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand export" -l proto-path -d 'Directory where imports of --proto files are found (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand export" -l descriptor-set -d 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand export" -l proto-message -d 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l group -d 'Kafka: dlq\'s cursor group for this topic (default dlq.<topic>)' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l out -d 'Write to FILE instead of stdout' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand export" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand export" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand export" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand export" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand export" -l no-decode -d 'Show schema-encoded bodies as they are, without decoding them'
complete -c dlq -n "__fish_dlq_using_subcommand export" -l force -d 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ); RabbitMQ: read a queue whose type the management API cannot tell (a quorum queue\'s delivery limit could drop what a read gives back)'
complete -c dlq -n "__fish_dlq_using_subcommand export" -l all -d 'Kafka: the whole log, also what is before dlq\'s cursor'
complete -c dlq -n "__fish_dlq_using_subcommand export" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand export" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand export" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand export" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand export" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand export" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l body -d 'The message body' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l file -d 'Read messages from FILE' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l format -d 'How the input splits into messages' -r -f -a "raw\t'The whole input is one message'
lines\t'One message per line'
ndjson\t'One envelope per line, as `dlq export` writes them'"
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l count -d 'Publish each message N times' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l header -d 'Add a header (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l key -d 'Kafka: message key; Pub/Sub: ordering key (an envelope\'s own key wins)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l partition -d 'Kafka: partition to produce to' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l group-id -d 'SQS FIFO: message group ID' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l dedup-id -d 'SQS FIFO: deduplication ID (default: content-based or a fresh one)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l delay -d 'SQS: delivery delay, such as 30s (at most 15m)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l exchange -d 'RabbitMQ: exchange to publish through (default: the default exchange)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l routing-key -d 'RabbitMQ: routing key (default: TARGET)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l rate -d 'At most N messages a second' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l encode -d 'Encode each JSON input value with a schema, in the Confluent wire format with a registry' -r -f -a "avro\t''
protobuf\t''
json-schema\t''"
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l schema-subject -d 'The registry subject whose schema encodes (its latest version unless --schema-version)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l schema-version -d 'The version of --schema-subject' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l schema-id -d 'The registry schema ID that encodes' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l schema-registry -d 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l avro-schema -d 'Avro schema (.avsc) to encode with, without a registry (plain Avro bytes); repeat it to give the named types it refers to first' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l proto -d '.proto file to encode with, without a registry (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l proto-path -d 'Directory where imports of --proto files are found (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l descriptor-set -d 'Protobuf descriptor set to encode with, instead of --proto' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l proto-message -d 'Full name of the Protobuf message type to write, such as shop.v1.Order' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand publish" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand publish" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand publish" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand publish" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand publish" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand publish" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l topic -d 'Kafka: only this topic' -r
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l max-lag -d 'Fail (exit 1) when a lag is over N' -r
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l max-age -d 'Fail (exit 1) when the oldest waiting message is older than this' -r
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l max-dlq -d 'Fail (exit 1) when a dead-letter queue holds more than N messages' -r
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l watch -d 'Refresh every INTERVAL until Ctrl-C' -r
complete -c dlq -n "__fish_dlq_using_subcommand lag" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand lag" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand lag" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand lag" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand lag" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand lag" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand lag" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand lag" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l by -d 'Comma-separated keys to group by' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l limit -d 'At most N messages' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l older-than -d 'Only messages older than this, such as 7d or 12h' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l newer-than -d 'Only messages newer than this, such as 30m' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l reason -d 'Only messages whose dead-letter reason contains REASON (case-insensitive)' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l header -d 'Only messages with this header value (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l grep -d 'Only messages whose body, or decoded body, contains TEXT' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l source -d 'Only messages dead-lettered from this queue, topic or subject' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l error-type -d 'Only messages whose error type (or root cause\'s) is NAME or ends in .NAME' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l fingerprint -d 'Only messages with this failure fingerprint (see `dlq stats --by fingerprint`)' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l since -d 'Only messages stored at or after TIME: RFC 3339 (2026-12-01T08:00:00Z) or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l until -d 'Only messages stored before TIME: RFC 3339 or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l where -d 'Only messages on whose envelope (as `list -o json` prints it) this jq filter yields true, such as \'.dead_letter.attempts > 3\'' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l schema-registry -d 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l avro-schema -d 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies\')' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l proto -d '.proto file of bodies written without a registry (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l proto-path -d 'Directory where imports of --proto files are found (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l descriptor-set -d 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l proto-message -d 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l group -d 'Kafka: dlq\'s cursor group for this topic (default dlq.<topic>)' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand stats" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l no-decode -d 'Show schema-encoded bodies as they are, without decoding them'
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l force -d 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ); RabbitMQ: read a queue whose type the management API cannot tell (a quorum queue\'s delivery limit could drop what a read gives back)'
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l all -d 'Kafka: the whole log, also what is before dlq\'s cursor'
complete -c dlq -n "__fish_dlq_using_subcommand stats" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand stats" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand stats" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand stats" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand stats" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand history" -l limit -d 'At most N runs (or messages)' -r
complete -c dlq -n "__fish_dlq_using_subcommand history" -l older-than -d 'With --prune: how long ago a run must have started to be removed, such as 30d' -r
complete -c dlq -n "__fish_dlq_using_subcommand history" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand history" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand history" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand history" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand history" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand history" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand history" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand history" -l prune -d 'Remove the runs that started longer ago than --older-than, with all their records'
complete -c dlq -n "__fish_dlq_using_subcommand history" -l dry-run -d 'With --prune: say what would be removed, and remove nothing'
complete -c dlq -n "__fish_dlq_using_subcommand history" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand history" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand history" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand history" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand history" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand history" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l limit -d 'At most N messages' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l older-than -d 'Only messages older than this, such as 7d or 12h' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l newer-than -d 'Only messages newer than this, such as 30m' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l reason -d 'Only messages whose dead-letter reason contains REASON (case-insensitive)' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l header -d 'Only messages with this header value (repeat for several)' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l grep -d 'Only messages whose body, or decoded body, contains TEXT' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l source -d 'Only messages dead-lettered from this queue, topic or subject' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l error-type -d 'Only messages whose error type (or root cause\'s) is NAME or ends in .NAME' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l fingerprint -d 'Only messages with this failure fingerprint (see `dlq stats --by fingerprint`)' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l since -d 'Only messages stored at or after TIME: RFC 3339 (2026-12-01T08:00:00Z) or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l until -d 'Only messages stored before TIME: RFC 3339 or a UTC date' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l where -d 'Only messages on whose envelope (as `list -o json` prints it) this jq filter yields true, such as \'.dead_letter.attempts > 3\'' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l schema-registry -d 'Confluent-compatible schema registry, such as http://127.0.0.1:8081 (env DLQ_SCHEMA_REGISTRY; profile key schema_registry)' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l avro-schema -d 'Avro schema (.avsc) of bodies written without a registry; repeat it to give the named types it refers to first (the last one is the bodies\')' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l proto -d '.proto file of bodies written without a registry (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l proto-path -d 'Directory where imports of --proto files are found (repeat for several)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l descriptor-set -d 'Protobuf descriptor set (protoc --descriptor_set_out --include_imports) instead of --proto' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l proto-message -d 'Full name of the Protobuf message type the bodies hold, such as shop.v1.Order' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l group -d 'Kafka: dlq\'s cursor group for this topic (default dlq.<topic>)' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand browse" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l no-decode -d 'Show schema-encoded bodies as they are, without decoding them'
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l force -d 'SQS, Pub/Sub: read a queue (subscription) that has a redrive (dead-letter) policy of its own (a read can push its messages into its DLQ); RabbitMQ: read a queue whose type the management API cannot tell (a quorum queue\'s delivery limit could drop what a read gives back)'
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l all -d 'Kafka: the whole log, also what is before dlq\'s cursor'
complete -c dlq -n "__fish_dlq_using_subcommand browse" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand browse" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand browse" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand browse" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand browse" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand completions" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand completions" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand completions" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand completions" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand completions" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand completions" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand completions" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand completions" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand completions" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand completions" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand completions" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand completions" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand completions" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand man" -l dir -d 'Write dlq.1 and one page per command into DIR' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand man" -s b -l broker -d 'Broker URL, such as amqp://guest:guest@127.0.0.1:5672 (env DLQ_BROKER)' -r
complete -c dlq -n "__fish_dlq_using_subcommand man" -s p -l profile -d 'Profile from the config file (env DLQ_PROFILE)' -r
complete -c dlq -n "__fish_dlq_using_subcommand man" -l config -d 'Config file (env DLQ_CONFIG; default: dlq/config.toml in the user\'s config directory)' -r -F
complete -c dlq -n "__fish_dlq_using_subcommand man" -s o -l output -d 'Output format: table on a terminal by default; prometheus on lag and queues only' -r -f -a "table\t''
wide\t'A table with every column whole, however wide'
json\t''
ndjson\t''
prometheus\t'The Prometheus text exposition format (`lag` and `queues` only)'"
complete -c dlq -n "__fish_dlq_using_subcommand man" -l color -d 'When to color output (NO_COLOR is honoured with auto)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dlq -n "__fish_dlq_using_subcommand man" -l timeout -d 'Bound on connecting and on each broker call, such as 10s or 1m' -r
complete -c dlq -n "__fish_dlq_using_subcommand man" -l endpoint-url -d 'SQS: endpoint of an SQS-compatible server (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS); Pub/Sub: of the emulator (also PUBSUB_EMULATOR_HOST)' -r
complete -c dlq -n "__fish_dlq_using_subcommand man" -s q -l quiet -d 'Print only data and errors: no progress, no summaries on stderr'
complete -c dlq -n "__fish_dlq_using_subcommand man" -s v -l verbose -d 'Say more: the cause chain of errors, broker details'
complete -c dlq -n "__fish_dlq_using_subcommand man" -l no-journal -d 'Do not record this run in the journal (see `dlq history`)'
complete -c dlq -n "__fish_dlq_using_subcommand man" -l no-pager -d 'Do not page long output at a terminal (else DLQ_PAGER, PAGER or less -FRX)'
complete -c dlq -n "__fish_dlq_using_subcommand man" -l read-only -d 'Refuse retry, retry-all, purge, edit and publish (dry runs still work); also env DLQ_READ_ONLY=1 or the profile key read_only = true'
complete -c dlq -n "__fish_dlq_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlq -n "__fish_dlq_using_subcommand man" -s V -l version -d 'Print version'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "queues" -d 'List every queue, topic or stream with its depth; DLQs marked and linked to their sources'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "list" -d 'One row per message: ID, age, dead-letter reason, source, attempts, size, body preview'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "peek" -d 'Whole messages: properties, headers, dead-letter history, body'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "retry" -d 'Send messages back to where they came from (or --to), then take them off the DLQ'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "retry-all" -d 'Send every message (or every match of the filters) back, then take them off the DLQ'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "edit" -d 'Fix one message in an editor, then send it back like retry'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "purge" -d 'Delete every message, or every match of the filters'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "export" -d 'Write messages as NDJSON envelopes to stdout or --out, without removing them'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "publish" -d 'Publish messages from --body, --file or standard input'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "lag" -d 'Consumer lag report, with thresholds that set the exit code'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "stats" -d 'Group a queue\'s messages by reason, error type, source, origin, header or age'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "history" -d 'The journal of what dlq changed: runs, newest first, or the messages of one run'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "browse" -d 'An interactive terminal view: scroll, open, group, mark, retry, purge, export, edit'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "man" -d 'Print the man page, or write every page to a directory'
complete -c dlq -n "__fish_dlq_using_subcommand help; and not __fish_seen_subcommand_from queues list peek retry retry-all edit purge export publish lag stats history browse completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
