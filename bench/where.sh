#!/usr/bin/env bash
# `dlq list` of a deep RabbitMQ queue with and without `--where`: the jq
# predicate runs on every envelope, and must not make the read more than
# 1.5 times slower. Best of 3 runs each, NDJSON to /dev/null.
#   N (default 50000)    messages, ~200 bytes, a `kind` header of 7 values
#   DLQ_BIN              the binary to measure (default: a release build)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$repo/scripts/brokers/rabbitmq.sh" >&2
command -v /usr/bin/time >/dev/null || apt_install time

N=${N:-50000}
B=${DLQ_TEST_AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
API=http://127.0.0.1:15672/api
tmp=$(mktemp -d)
q=bench-where-$$
trap 'api -X DELETE "$API/queues/%2f/$q" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

api() { curl -fsS -u guest:guest -H content-type:application/json "$@"; }
depth() { rabbitmqctl -q list_queues name messages_ready | awk -v q="$1" '$1 == q {print $2}'; }

api -X PUT "$API/queues/%2f/$q" -d '{"durable":true}' >/dev/null
awk -v n="$N" 'BEGIN { pad = sprintf("%150s", ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "{\"body\":\"{\\\"n\\\":%d,\\\"pad\\\":\\\"%s\\\"}\",\"headers\":{\"kind\":\"k%d\"}}\n", i, pad, i % 7 }' >"$tmp/lines"
"$DLQ_BIN" -b "$B" -q --no-journal publish "$q" --format ndjson --file "$tmp/lines" >&2
[ "$(depth "$q")" = "$N" ] || { echo "filling $q: expected $N messages" >&2; exit 1; }

best() { # LABEL ARGS...: the best of 3 runs: "wall_s cpu_s"
  local label=$1; shift
  local b="" c=""
  for i in 1 2 3; do
    # Wait until the previous read gave every message back.
    for _ in $(seq 1 100); do [ "$(depth "$q")" = "$N" ] && break; sleep 0.2; done
    /usr/bin/time -f '%e %U %S' -o "$tmp/$label.time" \
      "$DLQ_BIN" -b "$B" -q list "$q" -o ndjson "$@" >"$tmp/$label.out"
    read -r secs user sys < <(tail -1 "$tmp/$label.time")
    [ "$(wc -l <"$tmp/$label.out")" = "$N" ] || { echo "$label listed $(wc -l <"$tmp/$label.out") of $N" >&2; exit 1; }
    if [ -z "$b" ] || [ "$(echo "$secs < $b" | bc -l)" = 1 ]; then b=$secs; fi
    local cpu; cpu=$(echo "$user + $sys" | bc -l)
    if [ -z "$c" ] || [ "$(echo "$cpu < $c" | bc -l)" = 1 ]; then c=$cpu; fi
  done
  echo "$b $c"
}

read -r plain plain_cpu < <(best plain)
read -r where where_cpu < <(best where --where '.headers.kind != null and (.size > 0)')
ratio=$(echo "scale=2; $where / $plain" | bc -l)
cpu_ratio=$(echo "scale=2; $where_cpu / $plain_cpu" | bc -l)
log "list of $N: ${plain}s (${plain_cpu}s CPU); with --where: ${where}s (${where_cpu}s CPU); ratio $ratio, CPU $cpu_ratio (goal <= 1.5)"
echo "WHERE broker=rabbitmq messages=$N plain_s=$(printf '%.2f' "$plain") where_s=$(printf '%.2f' "$where") ratio=$ratio plain_cpu_s=$(printf '%.2f' "$plain_cpu") where_cpu_s=$(printf '%.2f' "$where_cpu") cpu_ratio=$cpu_ratio"
