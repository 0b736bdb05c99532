#!/usr/bin/env bash
# RabbitMQ deep queues: how fast non-destructive reads give messages back,
# and that memory stays flat however deep the queue. Prints one DEPTH line
# per figure (bench/run.sh does not collect them; docs/benchmarks.md does).
#   N (default 50000)     messages of the give-back, peek and quorum runs
#   BIG (default 500000)  messages of the --limit 20 and export runs (0 skips)
#   SIZE (default 1024)   bytes per message, persistent
# Goals: every message ready again within 5 s of a list's exit; list --limit
# 20 of BIG under 2 s; peek of the last of N and export of BIG flat in RSS.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$repo/scripts/brokers/rabbitmq.sh" >&2

N=${N:-50000}
BIG=${BIG:-500000}
SIZE=${SIZE:-1024}
B=${DLQ_TEST_AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
API=http://127.0.0.1:15672/api
tmp=$(mktemp -d)
id=bench-depth-$$
trap 'for q in $id.classic $id.quorum $id.big; do api -X DELETE "$API/queues/%2f/$q" >/dev/null 2>&1 || true; done; rm -rf "$tmp"' EXIT

api() { curl -fsS -u guest:guest -H content-type:application/json "$@"; }
declare_queue() { api -X PUT "$API/queues/%2f/$1" -d "{\"durable\":true,\"arguments\":{\"x-queue-type\":\"$2\"}}" >/dev/null; }
# Ready messages, exact (dlq lag asks the queue with a passive queue.declare;
# the API's figures lag by seconds, rabbitmqctl takes a second to start).
ready() { "$DLQ_BIN" -b "$B" -o json lag "$1" | jq '.rows[0].ready'; }
fill() { # QUEUE COUNT
  awk -v n="$2" -v s="$SIZE" 'BEGIN { pad = sprintf("%" (s - 13) "s", ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "%012d %s\n", i, pad }' >"$tmp/lines"
  "$DLQ_BIN" -b "$B" -q publish "$1" --format lines --file "$tmp/lines" >&2
  rm -f "$tmp/lines"
  [ "$(ready "$1")" = "$2" ] || { echo "filling $1: expected $2 messages" >&2; exit 1; }
}
now() { date +%s.%N; }
since() { echo "scale=2; ($(now) - $1) / 1" | bc -l; }
# Seconds from now until QUEUE has COUNT messages ready (60 s at most).
ready_again() {
  local t0 c
  t0=$(now)
  while c=$(ready "$1"); [ "$c" != "$2" ]; do
    [ "$(echo "$(since "$t0") > 60" | bc -l)" = 1 ] && { echo "over-60s-$c-ready"; return; }
    sleep 0.05
  done
  since "$t0"
}
for kind in classic quorum; do
  q=$id.$kind
  declare_queue "$q" "$kind"
  log "filling $q ($kind) with $N persistent $SIZE-byte messages"
  fill "$q" "$N"
  measure "$tmp/list" sh -c "\"$DLQ_BIN\" -b \"$B\" -o ndjson list \"$q\" >\"$tmp/list.out\""
  back=$(ready_again "$q" "$N")
  read -r secs rss <"$tmp/list"
  listed=$(wc -l <"$tmp/list.out")
  [ "$listed" = "$N" ] || { echo "list printed $listed of $N" >&2; exit 1; }
  echo "DEPTH broker=rabbitmq queue=$kind messages=$N what=list seconds=$secs rss_mib=$(echo "scale=1; $rss / 1024" | bc -l) all_ready_after_exit_s=$back goal=5"
  t0=$(now)
  "$DLQ_BIN" -b "$B" -o ndjson list "$q" --limit 20 >/dev/null
  echo "DEPTH broker=rabbitmq queue=$kind messages=$N what=list-limit-20-after-list seconds=$(since "$t0")"
  ready_again "$q" "$N" >/dev/null
  if [ "$kind" = classic ]; then
    last=$(tail -1 "$tmp/list.out" | sed 's/^{"id":"\([^"]*\)".*/\1/')
    measure "$tmp/peek" sh -c "\"$DLQ_BIN\" -b \"$B\" -o json peek \"$q\" \"$last\" >\"$tmp/peek.out\""
    read -r secs rss <"$tmp/peek"
    grep -q "$(printf '%012d' $((N - 1)))" "$tmp/peek.out" || { echo "peek did not find the last message" >&2; exit 1; }
    echo "DEPTH broker=rabbitmq queue=$kind messages=$N what=peek-last seconds=$secs rss_mib=$(echo "scale=1; $rss / 1024" | bc -l) all_ready_after_exit_s=$(ready_again "$q" "$N")"
  fi
  api -X DELETE "$API/queues/%2f/$q" >/dev/null
done

if [ "$BIG" -gt 0 ]; then
  q=$id.big
  declare_queue "$q" classic
  log "filling $q with $BIG persistent $SIZE-byte messages"
  fill "$q" "$BIG"
  t0=$(now)
  "$DLQ_BIN" -b "$B" -o ndjson list "$q" --limit 20 >"$tmp/limit.out"
  echo "DEPTH broker=rabbitmq queue=classic messages=$BIG what=list-limit-20 seconds=$(since "$t0") goal=2"
  [ "$(wc -l <"$tmp/limit.out")" = 20 ] || { echo "list --limit 20 printed $(wc -l <"$tmp/limit.out")" >&2; exit 1; }
  ready_again "$q" "$BIG" >/dev/null
  measure "$tmp/export" "$DLQ_BIN" -b "$B" -q export "$q" --out "$tmp/export.ndjson"
  read -r secs rss <"$tmp/export"
  exported=$(wc -l <"$tmp/export.ndjson")
  rm -f "$tmp/export.ndjson"
  [ "$exported" = "$BIG" ] || { echo "export wrote $exported of $BIG" >&2; exit 1; }
  echo "DEPTH broker=rabbitmq queue=classic messages=$BIG what=export seconds=$secs rss_mib=$(echo "scale=1; $rss / 1024" | bc -l) all_ready_after_exit_s=$(ready_again "$q" "$BIG")"
  t0=$(now)
  "$DLQ_BIN" -b "$B" -o ndjson list "$q" --limit 20 >/dev/null
  echo "DEPTH broker=rabbitmq queue=classic messages=$BIG what=list-limit-20-after-export seconds=$(since "$t0") goal=2"
fi
