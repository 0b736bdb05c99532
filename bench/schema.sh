#!/usr/bin/env bash
# `dlq list` over a Kafka topic of Avro messages in the Confluent wire format,
# with decoding (the registry double of the tests) and without (--no-decode),
# in the same run: elapsed and CPU time, their ratios, and peak RSS of each. The
# messages are one Avro order (19 fields: a union with a record branch, a
# reference to another subject, logical types, bytes, a map) made by
# confluent-kafka's AvroSerializer (tests/schema_support/fixtures.py).
#   N (default 50000)   messages
#   ROUNDS (default 5)  alternated rounds; the figures are their medians
#   DLQ_BIN             the binary to measure (default: a release build)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$repo/scripts/brokers/noida.sh" >&2
py=$(bash "$repo/scripts/tools.sh" schema-python)

N=${N:-50000}
ROUNDS=${ROUNDS:-5}
K=kafka://${DLQ_TEST_KAFKA:-127.0.0.1:9094}
tmp=$(mktemp -d)
topic=bench-schema-$$
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$py" "$repo/tests/schema_support/registry.py" --port "$port" >"$tmp/registry.log" 2>&1 &
reg=$!
cleanup() {
  kill "$reg" 2>/dev/null || true
  "$py" -c 'import sys; from confluent_kafka.admin import AdminClient; AdminClient({"bootstrap.servers": sys.argv[1]}).delete_topics([sys.argv[2]])' \
    "${K#kafka://}" "$topic" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
wait_port registry 127.0.0.1 "$port" 30
url=http://127.0.0.1:$port
"$py" "$repo/tests/schema_support/fixtures.py" "$url" >"$tmp/fixtures.ndjson"
b64=$(grep '"avro-order-card"' "$tmp/fixtures.ndjson" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["base64"])')
"$py" - "$K" "$topic" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1][len("kafka://"):]})
for f in a.create_topics([NewTopic(sys.argv[2], 1, 1)]).values():
    f.result()
PY
awk -v n="$N" -v b="$b64" 'BEGIN { for (i = 0; i < n; i++) printf "{\"body_base64\":\"%s\",\"key\":\"k%d\"}\n", b, i }' >"$tmp/lines"
"$DLQ_BIN" -b "$K" -q --no-journal publish "$topic" --format ndjson --file "$tmp/lines" >&2

run_list() { # LABEL FLAGS...: writes "wall_s cpu_s peak_rss_kib" to $tmp/LABEL
  local label=$1; shift
  command -v /usr/bin/time >/dev/null || apt_install time
  /usr/bin/time -f '%e %U %S %M' -o "$tmp/$label.time" \
    "$DLQ_BIN" -b "$K" -q list "$topic" --all -o "${FORMAT:-ndjson}" "$@" >"$tmp/$label.out"
  local got
  got=$(wc -l <"$tmp/$label.out")
  [ "${FORMAT:-ndjson}" = table ] && got=$((got - 1))
  [ "$got" = "$N" ] || { echo "$label: listed $got of $N" >&2; exit 1; }
  tail -1 "$tmp/$label.time" | awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' >"$tmp/$label"
}
# Alternated, ROUNDS times each (a run is under a second, so one slow
# round moves a mean); the figures are the medians (the CPU time
# is the steadier one on a shared machine).
for i in $(seq "$ROUNDS"); do
  run_list "plain$i" --no-decode
  run_list "decoded$i" --schema-registry "$url"
done
grep -q '"order_id":9000000001' "$tmp/decoded1.out" || { echo "nothing was decoded" >&2; exit 1; }
median() { sort -n | sed -n "$(((ROUNDS + 1) / 2))p"; }
col() { for i in $(seq "$ROUNDS"); do awk -v c="$2" '{ print $c }' "$tmp/$1$i"; done | median; }
pw=$(col plain 1); pc=$(col plain 2); pr=$(col plain 3)
dw=$(col decoded 1); dc=$(col decoded 2); dr=$(col decoded 3)
printf 'SCHEMA broker=kafka messages=%s plain_seconds=%.2f decoded_seconds=%.2f ratio=%.2f plain_cpu=%.2f decoded_cpu=%.2f cpu_ratio=%.2f plain_rss_mib=%.1f decoded_rss_mib=%.1f plain_out_mib=%.1f decoded_out_mib=%.1f\n' \
  "$N" "$pw" "$dw" "$(echo "$dw / $pw" | bc -l)" "$pc" "$dc" "$(echo "$dc / $pc" | bc -l)" \
  "$(echo "$pr / 1024" | bc -l)" "$(echo "$dr / 1024" | bc -l)" \
  "$(echo "$(wc -c <"$tmp/plain1.out") / 1048576" | bc -l)" "$(echo "$(wc -c <"$tmp/decoded1.out") / 1048576" | bc -l)"
