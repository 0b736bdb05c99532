#!/usr/bin/env bash
# `dlq stats` over a deep RabbitMQ queue: elapsed time and peak RSS at a
# tenth of the messages and at all of them. Stats keeps one entry per group,
# never the messages, so the two peaks should be about the same.
#   N (default 500000)   messages, persistent, ~200 bytes, 7 header values
#   DLQ_BIN              the binary to measure (default: a release build)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$repo/scripts/brokers/rabbitmq.sh" >&2

N=${N:-500000}
B=${DLQ_TEST_AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
API=http://127.0.0.1:15672/api
tmp=$(mktemp -d)
id=bench-stats-$$
trap 'for q in $id.small $id.big; do api -X DELETE "$API/queues/%2f/$q" >/dev/null 2>&1 || true; done; rm -rf "$tmp"' EXIT

api() { curl -fsS -u guest:guest -H content-type:application/json "$@"; }
declare_queue() { api -X PUT "$API/queues/%2f/$1" -d '{"durable":true}' >/dev/null; }
depth() { rabbitmqctl -q list_queues name messages | awk -v q="$1" '$1 == q {print $2}'; }
fill() { # QUEUE COUNT: envelopes whose `kind` header takes 7 values
  awk -v n="$2" 'BEGIN { pad = sprintf("%150s", ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "{\"body\":\"%012d %s\",\"headers\":{\"kind\":\"k%d\"}}\n", i, pad, i % 7 }' >"$tmp/lines"
  "$DLQ_BIN" -b "$B" -q --no-journal publish "$1" --format ndjson --file "$tmp/lines" >&2
  rm -f "$tmp/lines"
  [ "$(depth "$1")" = "$2" ] || { echo "filling $1: expected $2 messages" >&2; exit 1; }
}

run_stats() { # QUEUE COUNT LABEL
  measure "$tmp/$3" "$DLQ_BIN" -b "$B" -q stats "$1" --by header:kind,age -o json >"$tmp/$3.json"
  read -r secs rss <"$tmp/$3"
  total=$(grep -o '"total": *[0-9]*' "$tmp/$3.json" | grep -o '[0-9]*$')
  [ "$total" = "$2" ] || { echo "stats counted $total of $2" >&2; exit 1; }
  [ "$(depth "$1")" = "$2" ] || { echo "stats changed $1" >&2; exit 1; }
  log "stats over $2 messages: ${secs}s, $(rate "$2" "$secs") msg/s, peak RSS $((rss / 1024)) MiB"
  echo "STATS broker=rabbitmq messages=$2 seconds=$(printf '%.1f' "$secs") rate=$(rate "$2" "$secs") rss_mib=$(echo "scale=1; $rss / 1024" | bc -l)"
}

small=$((N / 10))
declare_queue "$id.small"
declare_queue "$id.big"
log "filling $id.small with $small and $id.big with $N messages"
fill "$id.small" "$small"
fill "$id.big" "$N"
run_stats "$id.small" "$small" small
run_stats "$id.big" "$N" big
