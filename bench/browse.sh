#!/usr/bin/env bash
# `dlq browse` at depth on RabbitMQ, in a real terminal (tmux): the time from
# start to the first screen with rows on it, on a queue of DEEP messages, and
# the peak RSS once LOADED 1 KiB messages are loaded (--limit LOADED).
#   DEEP (default 50000)     messages in the deep queue, 1 KiB each
#   LOADED (default 10000)   messages loaded for the RSS figure
#   DLQ_BIN                  the binary to measure (default: a release build)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$repo/scripts/brokers/rabbitmq.sh" >&2
command -v tmux >/dev/null || apt_install tmux
command -v /usr/bin/time >/dev/null || apt_install time

DEEP=${DEEP:-50000}
LOADED=${LOADED:-10000}
B=${DLQ_TEST_AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
API=http://127.0.0.1:15672/api
tmp=$(mktemp -d)
id=bench-browse-$$
sock=bench-browse-$$
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; api -X DELETE "$API/queues/%2f/$id" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

api() { curl -fsS -u guest:guest -H content-type:application/json "$@"; }
api -X PUT "$API/queues/%2f/$id" -d '{"durable":true}' >/dev/null
awk -v n="$DEEP" 'BEGIN { pad = sprintf("%1000s", ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "{\"body\":\"%012d %s\"}\n", i, pad }' >"$tmp/lines"
log "filling $id with $DEEP messages of 1 KiB"
"$DLQ_BIN" -b "$B" -q --no-journal publish "$id" --format ndjson --file "$tmp/lines" >&2

now_ms() { date +%s%3N; }
# Starts browse in tmux; waits until the screen shows TEXT; prints the ms it took.
open_until() { # TEXT ARGS...
  local text=$1; shift
  local t0; t0=$(now_ms)
  tmux -L "$sock" -f /dev/null new-session -d -x 160 -y 40 \
    "/usr/bin/time -f '%M' -o '$tmp/rss' '$DLQ_BIN' -b '$B' --no-journal browse $id $*; sleep 600"
  until tmux -L "$sock" capture-pane -p | grep -q -- "$text"; do sleep 0.01; done
  echo $(( $(now_ms) - t0 ))
}
quit() {
  tmux -L "$sock" send-keys q
  until [ -s "$tmp/rss" ]; do sleep 0.05; done
  tmux -L "$sock" kill-server
}

# First screen: the first row (message 0) drawn while the rest loads.
first=$(open_until "000000000000 xxx")
quit; rm -f "$tmp/rss"
log "first screen on $DEEP messages: ${first} ms"
# Peak RSS with LOADED messages loaded.
all=$(open_until "first $LOADED of $DEEP" --limit "$LOADED")
quit
rss=$(tail -1 "$tmp/rss")
log "$LOADED messages of 1 KiB loaded in ${all} ms, peak RSS $((rss / 1024)) MiB"
echo "BROWSE broker=rabbitmq depth=$DEEP first_screen_ms=$first loaded=$LOADED loaded_ms=$all rss_mib=$(echo "scale=1; $rss / 1024" | bc -l)"
