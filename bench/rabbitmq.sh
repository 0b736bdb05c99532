#!/usr/bin/env bash
# RabbitMQ: `dlq retry-all` against the rabbitmq_shovel plugin moving the same
# persistent 1 KiB messages (ack mode on-confirm, delete after the queue
# length), then dlq alone on a deeper queue to show memory stays flat.
#   N (default 50000)      messages for the comparison
#   BIG (default 500000)   messages for the memory run (0 skips it)
#   ROUNDS (default 3)     dlq and shovel runs, alternating; medians reported
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$repo/scripts/brokers/rabbitmq.sh" >&2

N=${N:-50000}
BIG=${BIG:-500000}
ROUNDS=${ROUNDS:-3}
B=${DLQ_TEST_AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
API=http://127.0.0.1:15672/api
tmp=$(mktemp -d)
id=bench-$$
trap 'for q in $id.dlq $id.origin $id.big.dlq $id.big.origin; do api -X DELETE "$API/queues/%2f/$q" >/dev/null 2>&1 || true; done; rm -rf "$tmp"' EXIT

api() { curl -fsS -u guest:guest -H content-type:application/json "$@"; }
declare_queue() { api -X PUT "$API/queues/%2f/$1" -d '{"durable":true}' >/dev/null; }
# Exact depth straight from the queue process (the API's figures lag by seconds).
depth() { rabbitmqctl -q list_queues name messages | awk -v q="$1" '$1 == q {print $2}'; }
fill() { # QUEUE COUNT
  awk -v n="$2" 'BEGIN { pad = sprintf("%1010s", ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "%012d %s\n", i, pad }' >"$tmp/lines"
  "$DLQ_BIN" -b "$B" -q publish "$1" --format lines --file "$tmp/lines" >&2
  rm -f "$tmp/lines"
  [ "$(depth "$1")" = "$2" ] || { echo "filling $1: expected $2 messages" >&2; exit 1; }
}

declare_queue "$id.dlq"
declare_queue "$id.origin"
log "filling $id.dlq with $N persistent 1 KiB messages"
fill "$id.dlq" "$N"

# One run of either is noisy by a tenth on a small host: take the median of
# ROUNDS runs, each dlq run followed by a shovel run moving the messages back.
dlq_rates=(); shovel_rates=(); dlq_rss=0
for round in $(seq "$ROUNDS"); do
  log "round $round: dlq retry-all $N messages"
  measure "$tmp/dlq" "$DLQ_BIN" -b "$B" -q retry-all "$id.dlq" --to "$id.origin" --yes
  read -r secs rss <"$tmp/dlq"
  [ "$(depth "$id.origin")" = "$N" ] || { echo "dlq moved $(depth "$id.origin") of $N" >&2; exit 1; }
  dlq_rates+=("$(rate "$N" "$secs")")
  [ "$rss" -gt "$dlq_rss" ] && dlq_rss=$rss
  log "dlq: ${secs}s, ${dlq_rates[-1]} msg/s, peak RSS ${rss} KiB"

  log "round $round: shovel moving the same $N messages back"
  t0=$(date +%s.%N)
  api -X PUT "$API/parameters/shovel/%2f/$id" -d "{\"value\":{\"src-protocol\":\"amqp091\",\"src-uri\":\"amqp://\",\"src-queue\":\"$id.origin\",\"dest-protocol\":\"amqp091\",\"dest-uri\":\"amqp://\",\"dest-queue\":\"$id.dlq\",\"ack-mode\":\"on-confirm\",\"src-delete-after\":\"queue-length\"}}" >/dev/null
  # The shovel removes its own parameter when it has moved the queue length.
  while api "$API/parameters/shovel/%2f/$id" >/dev/null 2>&1; do sleep 0.05; done
  t1=$(date +%s.%N)
  secs=$(echo "$t1 - $t0" | bc -l)
  [ "$(depth "$id.dlq")" = "$N" ] || { echo "shovel moved $(depth "$id.dlq") of $N" >&2; exit 1; }
  shovel_rates+=("$(rate "$N" "$secs")")
  log "shovel: ${secs}s, ${shovel_rates[-1]} msg/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
log "dlq runs: ${dlq_rates[*]} msg/s; shovel runs: ${shovel_rates[*]} msg/s"
result rabbitmq "$N" "$(median "${dlq_rates[@]}")" "shovel (on-confirm)" "$(median "${shovel_rates[@]}")" "$dlq_rss" "median of $ROUNDS rounds"

if [ "$BIG" -gt 0 ]; then
  declare_queue "$id.big.dlq"
  declare_queue "$id.big.origin"
  log "filling $id.big.dlq with $BIG messages for the memory run"
  fill "$id.big.dlq" "$BIG"
  measure "$tmp/big" "$DLQ_BIN" -b "$B" -q retry-all "$id.big.dlq" --to "$id.big.origin" --yes
  read -r big_secs big_rss <"$tmp/big"
  [ "$(depth "$id.big.origin")" = "$BIG" ] || { echo "dlq moved $(depth "$id.big.origin") of $BIG" >&2; exit 1; }
  log "dlq at $BIG: ${big_secs}s, $(rate "$BIG" "$big_secs") msg/s, peak RSS $((big_rss / 1024)) MiB"
  echo "MEMORY broker=rabbitmq messages=$BIG dlq_rate=$(rate "$BIG" "$big_secs") rss_mib=$(echo "scale=1; $big_rss / 1024" | bc -l)"
fi
