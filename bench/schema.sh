#!/usr/bin/env bash
# `dlq list` over a Kafka topic of Avro messages in the Confluent wire format,
# with decoding (the registry double of the tests) and without (--no-decode),
# in the same run: elapsed time, the ratio, and peak RSS of each. The
# messages are one Avro order (19 fields: a union with a record branch, a
# reference to another subject, logical types, bytes, a map) made by
# confluent-kafka's AvroSerializer (tests/schema_support/fixtures.py).
#   N (default 50000)   messages
#   DLQ_BIN             the binary to measure (default: a release build)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$repo/scripts/brokers/noida.sh" >&2
py=$(bash "$repo/scripts/tools.sh" schema-python)

N=${N:-50000}
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

run_list() { # LABEL FLAGS...
  local label=$1; shift
  measure "$tmp/$label" "$DLQ_BIN" -b "$K" -q list "$topic" --all -o ndjson "$@" >"$tmp/$label.out"
  local got
  got=$(wc -l <"$tmp/$label.out")
  [ "$got" = "$N" ] || { echo "$label: listed $got of $N" >&2; exit 1; }
}
run_list plain --no-decode
run_list decoded --schema-registry "$url"
grep -q '"decoded":{"format":"avro"' "$tmp/decoded.out" || { echo "nothing was decoded" >&2; exit 1; }
read -r s_plain rss_plain <"$tmp/plain"
read -r s_dec rss_dec <"$tmp/decoded"
printf 'SCHEMA broker=kafka messages=%s plain_seconds=%.2f decoded_seconds=%.2f ratio=%.2f plain_rss_mib=%.1f decoded_rss_mib=%.1f\n' \
  "$N" "$s_plain" "$s_dec" "$(echo "$s_dec / $s_plain" | bc -l)" \
  "$(echo "$rss_plain / 1024" | bc -l)" "$(echo "$rss_dec / 1024" | bc -l)"
