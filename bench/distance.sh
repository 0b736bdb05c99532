#!/usr/bin/env bash
# dlq at a distance: the same RabbitMQ bulk commands through the delay line
# (examples/delayline.rs) at a 0 ms and at an RTT round trip, on 127.0.0.2
# and 127.0.0.3 (loopback aliases; the management API is relayed beside
# AMQP, so dlq finds it on the same host). Prints one DISTANCE line per
# command: rates at 0 ms and at RTT, their ratio, peak RSS.
#   N (default 20000)  persistent 1 KiB messages
#   RTT (default 20ms) the round trip of the far relay
#   DELAYLINE          the relay binary (default: built in release)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$repo/scripts/brokers/rabbitmq.sh" >&2
N=${N:-20000}
RTT=${RTT:-20ms}
API=http://127.0.0.1:15672/api
tmp=$(mktemp -d)
id=dist-$$
line=${DELAYLINE:-$repo/target/release/examples/delayline}
[ -x "$line" ] || (cd "$repo" && cargo build --release --locked --example delayline >&2)
"$line" --rtt 0ms 127.0.0.2:5672=127.0.0.1:5672 127.0.0.2:15672=127.0.0.1:15672 2>"$tmp/near.log" & near=$!
"$line" --rtt "$RTT" 127.0.0.3:5672=127.0.0.1:5672 127.0.0.3:15672=127.0.0.1:15672 2>"$tmp/far.log" & far=$!
trap 'kill $near $far 2>/dev/null; for q in $id.dlq $id.origin; do api -X DELETE "$API/queues/%2f/$q" >/dev/null 2>&1 || true; done; rm -rf "$tmp"' EXIT
wait_port delayline 127.0.0.2 5672 10
wait_port delayline 127.0.0.3 5672 10

api() { curl -fsS -u guest:guest -H content-type:application/json "$@"; }
depth() { rabbitmqctl -q list_queues name messages | awk -v q="$1" '$1 == q {print $2}'; }
reset() { for q in "$@"; do api -X DELETE "$API/queues/%2f/$q" >/dev/null 2>&1 || true; api -X PUT "$API/queues/%2f/$q" -d '{"durable":true}' >/dev/null; done; }
awk -v n="$N" 'BEGIN { pad = sprintf("%1010s", ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "%012d %s\n", i, pad }' >"$tmp/lines"
fill() { "$DLQ_BIN" -b amqp://guest:guest@127.0.0.1:5672/%2f -q publish "$1" --format lines --file "$tmp/lines" >&2; }

# one COMMAND HOST: seconds and peak RSS of one run through the relay on HOST.
one() {
  local cmd=$1 host=$2 b="amqp://guest:guest@$2:5672/%2f"
  reset "$id.dlq" "$id.origin"
  [ "$cmd" = publish ] || fill "$id.dlq"
  case $cmd in
    retry-all) measure "$tmp/m" "$DLQ_BIN" -b "$b" -q retry-all "$id.dlq" --to "$id.origin" --yes ;;
    purge) measure "$tmp/m" "$DLQ_BIN" -b "$b" -q purge "$id.dlq" --grep 0 --backup "$tmp/backup.ndjson" --yes ;;
    export) measure "$tmp/m" "$DLQ_BIN" -b "$b" -q export "$id.dlq" --out "$tmp/export.ndjson" ;;
    publish) measure "$tmp/m" "$DLQ_BIN" -b "$b" -q publish "$id.origin" --format ndjson --file "$tmp/src.ndjson" ;;
  esac
  cat "$tmp/m"
}

# The envelopes publish replays: an export of N messages, made once.
reset "$id.src"; fill "$id.src"
"$DLQ_BIN" -b amqp://guest:guest@127.0.0.1:5672/%2f -q export "$id.src" --out "$tmp/src.ndjson"
api -X DELETE "$API/queues/%2f/$id.src" >/dev/null

for cmd in retry-all purge publish export; do
  read -r s0 r0 < <(one "$cmd" 127.0.0.2)
  read -r s1 r1 < <(one "$cmd" 127.0.0.3)
  rss=$(( r0 > r1 ? r0 : r1 ))
  n=$N
  # A filtered purge removes the messages whose body holds a 0: count them.
  [ "$cmd" = purge ] && n=$(grep -c 0 "$tmp/lines")
  near_rate=$(rate "$n" "$s0"); far_rate=$(rate "$n" "$s1")
  log "$cmd: $near_rate msg/s at 0 ms, $far_rate msg/s at $RTT"
  echo "DISTANCE broker=rabbitmq command=$cmd messages=$n rate_0ms=$near_rate rate_rtt=$far_rate rtt=$RTT ratio=$(echo "scale=2; $far_rate / $near_rate" | bc -l) rss_mib=$(echo "scale=1; $rss / 1024" | bc -l)"
done
