#!/usr/bin/env bash
# RabbitMQ `retry-all --native` at depth: N persistent messages (default
# 1,000,000) filled with `dlq publish --format lines`, moved by the broker's
# shovel, then checked through an independent client: exact counts of both
# queues (passive declare in pika) and the bodies of a sample (the first
# SAMPLE messages of the origin, read without acking and given back), each
# byte for byte. Prints one NATIVE line. Not run by bench/run.sh (it takes
# minutes and a few hundred MB of disk); run it by hand.
#   N (default 1000000), SIZE (default 128 bytes per body), SAMPLE (default 5000)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
bash "$repo/scripts/brokers/rabbitmq.sh" >&2
N=${N:-1000000}
SIZE=${SIZE:-128}
SAMPLE=${SAMPLE:-5000}
B=amqp://guest:guest@127.0.0.1:5672/%2f
API=http://127.0.0.1:15672/api
id=bench-native-$$
tmp=$(mktemp -d)
api() { curl -fsS -u guest:guest -H content-type:application/json "$@"; }
trap 'for q in $id.dlq $id.origin; do api -X DELETE "$API/queues/%2f/$q" >/dev/null 2>&1 || true; done; rm -rf "$tmp"' EXIT
v="$DLQ_CACHE/pika-venv"
"$v/bin/python" -c 'import pika' 2>/dev/null || { python3 -m venv "$v" && "$v/bin/pip" install -q pika >&2; }
py="$v/bin/python"
check() { "$py" "$here/distance/rabbitmq_client.py" "$@"; }

log "disk before: $(df -h / | awk 'NR == 2 {print $4 " free of " $2}')"
for q in dlq origin; do api -X PUT "$API/queues/%2f/$id.$q" -d '{"durable":true}' >/dev/null; done
awk -v n="$N" -v s="$SIZE" 'BEGIN { pad = sprintf("%" (s - 13) "s", ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "%012d %s\n", i, pad }' >"$tmp/lines"
measure "$tmp/fill" "$DLQ_BIN" -b "$B" -q publish "$id.dlq" --format lines --file "$tmp/lines"
rm -f "$tmp/lines"
read -r fill_s fill_rss <"$tmp/fill"
read -r dlq0 origin0 < <(check counts 127.0.0.1 "$id.dlq" "$id.origin")
[ "$dlq0" = "$N" ] && [ "$origin0" = 0 ] || { echo "filled $dlq0 of $N" >&2; exit 1; }
log "filled $N in ${fill_s}s ($(rate "$N" "$fill_s") msg/s); disk: $(df -h / | awk 'NR == 2 {print $4 " free"}')"

measure "$tmp/move" "$DLQ_BIN" -b "$B" -q retry-all "$id.dlq" --native --to "$id.origin" --yes
read -r move_s move_rss <"$tmp/move"
read -r dlq1 origin1 < <(check counts 127.0.0.1 "$id.dlq" "$id.origin")
log "moved in ${move_s}s: DLQ $dlq1, origin $origin1 (peak RSS $((move_rss / 1024)) MiB)"
[ "$dlq1" = 0 ] && [ "$origin1" = "$N" ] || { echo "lost: DLQ $dlq1, origin $origin1, expected 0 and $N" >&2; exit 1; }
sample=$(check sample 127.0.0.1 "$id.origin" "$SAMPLE" "$SIZE") || { echo "sample check failed: $sample" >&2; exit 1; }
log "sample: $sample"
printf 'NATIVE broker=rabbitmq messages=%s size=%s fill_rate=%s move_rate=%s move_s=%s rss_mib=%s dlq_after=%s origin_after=%s sample=%q\n' \
  "$N" "$SIZE" "$(rate "$N" "$fill_s")" "$(rate "$N" "$move_s")" "$move_s" "$(echo "scale=1; $move_rss / 1024" | bc -l)" "$dlq1" "$origin1" "$sample"
