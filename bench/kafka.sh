#!/usr/bin/env bash
# Kafka re-drive against what a Kafka user runs by hand, in one run,
# alternating rounds: `dlq retry-all` (keys, headers, order per partition,
# idempotent produce, cursor committed after the copies are confirmed), a
# kcat pipe (`kcat -C ... | kcat -P ...`: keys kept, headers dropped,
# nothing committed) and a confluent-kafka consume-then-produce loop (keys
# and headers kept, librdkafka's defaults). N messages of 1 KiB with a key
# and a header, over each partition count of PARTITIONS; every copy is
# counted on its topic through confluent-kafka (end minus start offsets).
# Then dlq and the kcat pipe again through the delay line, at 0 ms and at
# RTT (examples/delayline.rs, a relay that rewrites the broker's address).
# Prints a table per layout (msg/s of each round, their mean, ratio to the
# kcat pipe, peak RSS) and the machine's load average at the start.
#   KAFKA_SERVER noida (default, :9094) | tansu (:9092)
#   N (default 100000), PARTITIONS (default "16 4"), ROUNDS (default 2)
#   RTT (default 20ms; empty: no delay line)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

N=${N:-100000}
PARTITIONS=${PARTITIONS:-16 4}
ROUNDS=${ROUNDS:-2}
RTT=${RTT-20ms}
case ${KAFKA_SERVER:-noida} in
  noida) port=9094; bash "$repo/scripts/brokers/noida.sh" >&2 ;;
  tansu) port=9092; bash "$repo/scripts/brokers/tansu.sh" >&2 ;;
  *) echo "kafka.sh: KAFKA_SERVER is noida or tansu" >&2; exit 2 ;;
esac
bash "$repo/scripts/tools.sh" kcat
venv="$DLQ_CACHE/kafka-venv"
if ! "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q confluent-kafka >&2
fi
CK="$venv/bin/python $here/distance/kafka_client.py"
BOOT=127.0.0.1:$port NEAR=127.0.0.2 FAR=127.0.0.3
tag=kbench-$$
tmp=$(mktemp -d)
topics=()
relays=()
cleanup() {
  [ ${#topics[@]} -gt 0 ] && $CK delete "$BOOT" "${topics[@]}" >/dev/null 2>&1
  [ ${#relays[@]} -gt 0 ] && kill "${relays[@]}" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
if [ -n "$RTT" ]; then
  line=${DELAYLINE:-${CARGO_TARGET_DIR:-$repo/target}/release/examples/delayline}
  [ -x "$line" ] || (cd "$repo" && cargo build --release --locked --example delayline >&2)
  "$line" --rtt 0ms "kafka:$NEAR:$port=$BOOT" 2>>"$tmp/relay.log" & relays+=($!)
  "$line" --rtt "$RTT" "kafka:$FAR:$port=$BOOT" 2>>"$tmp/relay.log" & relays+=($!)
  wait_port delayline $NEAR "$port" 10
  wait_port delayline $FAR "$port" 10
fi

# fill TOPIC PARTITIONS: N records of 1 KiB, key and header, round robin.
fill() {
  "$venv/bin/python" - "$BOOT" "$1" "$2" "$N" "${KAFKA_SERVER:-noida}" <<'PY'
import sys
from confluent_kafka import Producer
boot, topic, parts, n, server = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
# tansu 0.6.0 miscounts multi-record batches: one record per batch there.
extra = {"batch.num.messages": 1} if server == "tansu" else {"linger.ms": 20}
p = Producer({"bootstrap.servers": boot, **extra})
body = b"x" * 1024
for i in range(n):
    while True:
        try:
            p.produce(topic, body, key=b"key-%d" % i, headers=[("dlq-original-topic", b"orders")], partition=i % parts)
            break
        except BufferError:
            p.poll(0.1)
    p.poll(0)
p.flush()
PY
}

# one NAME HOST SRC PARTITIONS: one re-drive of SRC to a fresh topic through
# HOST; appends "seconds rss_kib" to $tmp/NAME and checks the count.
one() {
  local name=$1 host=$2 src=$3 parts=$4 dst
  dst=$tag-$name-$RANDOM$RANDOM
  $CK topics "$BOOT" "$parts" "$dst"; topics+=("$dst")
  case $name in
    dlq*) measure "$tmp/m" "$DLQ_BIN" -b "kafka://$host:$port" -q retry-all "$src" --to "$dst" \
            --group "$dst-cursor" --yes ;;
    # noida-db answers a fetch with whole partitions: the receive limit must hold them.
    kcat*) measure "$tmp/m" bash -c 'kcat -C -b "$0" -t "$1" -o beginning -e -q -K "	" \
             -X receive.message.max.bytes=2000000000 | kcat -P -b "$0" -t "$2" -K "	"' \
             "$host:$port" "$src" "$dst" ;;
    loop) measure "$tmp/m" $CK baseline "$host:$port" "$src" "$dst" "$N" >/dev/null ;;
  esac
  local got; got=$($CK count "$BOOT" "$dst")
  [ "$got" = "$N" ] || { echo "kafka.sh: $name moved $got of $N" >&2; exit 1; }
  cat "$tmp/m" >>"$tmp/$name"
  $CK delete "$BOOT" "$dst" >/dev/null 2>&1 || true
}

# row NAME BASE_FILE: one table row: each round's msg/s, the mean (N over the
# mean time), ratio to BASE's mean, peak RSS.
row() {
  local name=$1 base=$2 label=$3 rates=() s r sum=0 peak=0 bsum=0 k=0
  while read -r s r; do
    rates+=("$(rate "$N" "$s")"); sum=$(echo "$sum + $s" | bc -l)
    [ "$r" -gt "$peak" ] && peak=$r; k=$((k + 1))
  done <"$tmp/$name"
  while read -r s r; do bsum=$(echo "$bsum + $s" | bc -l); done <"$tmp/$base"
  local mean; mean=$(rate "$((N * k))" "$sum")
  local ratio; ratio=$(echo "scale=2; $bsum / $sum" | bc -l)
  local rss="" ; [ "$peak" -gt 0 ] && rss="$(echo "scale=1; $peak / 1024" | bc -l) MiB"
  printf '| %s | %s | %s | %s | %s |\n' "$label" "$(IFS=' / '; echo "${rates[*]}" | sed 's# # / #g')" "$mean" "$ratio" "$rss"
}

# mean NAME: N over the mean time of NAME's rounds; peak NAME: its peak RSS (KiB).
mean() { awk -v n="$N" '{ s += $1; k++ } END { printf "%.1f", n * k / s }' "$tmp/$1"; }
peak() { awk '$2 > m { m = $2 } END { print m + 0 }' "$tmp/$1"; }

echo "kafka.sh: ${KAFKA_SERVER:-noida} on $BOOT, N=$N, rounds=$ROUNDS, RTT=${RTT:-none}, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for parts in $PARTITIONS; do
  src=$tag-src-$parts; $CK topics "$BOOT" "$parts" "$src"; topics+=("$src")
  fill "$src" "$parts"
  got=$($CK count "$BOOT" "$src"); [ "$got" = "$N" ] || { echo "kafka.sh: filled $got of $N" >&2; exit 1; }
  rm -f "$tmp"/dlq* "$tmp"/kcat* "$tmp"/loop
  for r in $(seq "$ROUNDS"); do
    # Alternate the order: a round's first run meets a colder broker.
    if [ $((r % 2)) = 1 ]; then order="dlq kcat loop"; else order="loop kcat dlq"; fi
    for name in $order; do one "$name" 127.0.0.1 "$src" "$parts"; done
    if [ -n "$RTT" ]; then
      for name in dlq-near dlq-far kcat-near kcat-far; do
        case $name in *near) h=$NEAR ;; *) h=$FAR ;; esac
        one "$name" "$h" "$src" "$parts"
      done
    fi
    echo "kafka.sh: $parts partitions, round $r done, load $(cut -d' ' -f1 /proc/loadavg)" >&2
  done
  echo
  echo "$N × 1 KiB over $parts partitions (${KAFKA_SERVER:-noida}), load average now $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| run | msg/s each round | mean msg/s | × kcat pipe | peak RSS |"
  echo "|---|---|---|---|---|"
  row dlq kcat "dlq retry-all"
  row kcat kcat "kcat pipe"
  row loop kcat "confluent-kafka loop"
  if [ -n "$RTT" ]; then
    row dlq-near dlq-near "dlq retry-all, relay 0 ms (× own 0 ms)"
    row dlq-far dlq-near "dlq retry-all, relay $RTT (× own 0 ms)"
    row kcat-near kcat-near "kcat pipe, relay 0 ms (× own 0 ms)"
    row kcat-far kcat-near "kcat pipe, relay $RTT (× own 0 ms)"
  fi
  result kafka "$N" "$(mean dlq)" kcat-pipe "$(mean kcat)" "$(peak dlq)" "$parts partitions, ${KAFKA_SERVER:-noida}"
  $CK delete "$BOOT" "$src" >/dev/null 2>&1 || true
done
