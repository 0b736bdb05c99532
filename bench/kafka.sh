#!/usr/bin/env bash
# Kafka (tansu): 100,000 messages of 1 KiB with a key and a header in a DLQ
# topic; times `dlq retry-all` against the usual hand-written replay script
# (a confluent-kafka consume-then-produce loop copying key and headers).
#
# tansu 0.6.0 miscounts multi-record batches (its high watermark moves by one
# per batch), so the DLQ is filled one record per batch to be readable. Both
# re-drives then produce with librdkafka's default batching, as they would
# against Kafka; the origin topics' watermarks are wrong afterwards, which
# neither run reads.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

N=${KAFKA_BENCH_MESSAGES:-100000}
bash "$repo/scripts/brokers/tansu.sh"
venv="$DLQ_CACHE/kafka-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q confluent-kafka
fi
py="$venv/bin/python"
export BOOT=127.0.0.1:9092
tag="bench-$$-$(date +%s)"
export DLQ_TOPIC="$tag.dlq" ORIGIN="$tag-orders" REPLAY="$tag-replay" N
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  "$py" -c 'import os; from confluent_kafka.admin import AdminClient
a = AdminClient({"bootstrap.servers": os.environ["BOOT"]})
[f.exception() for f in a.delete_topics([os.environ[v] for v in ("DLQ_TOPIC", "ORIGIN", "REPLAY")]).values()]' 2>/dev/null || true
}
trap cleanup EXIT

"$py" - <<'PY'
import os, time
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
boot, n = os.environ["BOOT"], int(os.environ["N"])
admin = AdminClient({"bootstrap.servers": boot})
for f in admin.create_topics([NewTopic(t, 1, 1) for t in (os.environ["DLQ_TOPIC"], os.environ["ORIGIN"], os.environ["REPLAY"])]).values():
    f.result()
time.sleep(1)
p = Producer({"bootstrap.servers": boot, "batch.num.messages": 1, "linger.ms": 0})
body = b"x" * 1024
origin = os.environ["ORIGIN"].encode()
for i in range(n):
    while True:
        try:
            p.produce(os.environ["DLQ_TOPIC"], body, key=b"key-%d" % i, headers=[("dlq-original-topic", origin)], partition=0)
            break
        except BufferError:
            p.poll(0.1)
    p.poll(0)
p.flush()
PY
echo "filled $DLQ_TOPIC with $N messages" >&2

# CPU seconds tansu spent: both runs wait on the broker, which shares the cores.
broker_cpu() {
  local pid
  pid=$(pidof tansu | awk '{print $1}')
  [ -n "$pid" ] && awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat" || echo 0
}

c0=$(broker_cpu)
measure "$work/dlq" "$DLQ_BIN" -b "kafka://$BOOT" retry-all "$DLQ_TOPIC" --yes -q
read -r dlq_s dlq_rss <"$work/dlq"
c1=$(broker_cpu)
# The loop of bench/distance.sh, consuming from the start of the DLQ.
measure "$work/base" "$py" "$here/distance/kafka_client.py" baseline "$BOOT" "$DLQ_TOPIC" "$REPLAY" "$N" >&2
read -r base_s _ <"$work/base"
c2=$(broker_cpu)
# The same re-drive without the idempotent producer (as the loop produces),
# from the start of the log under another cursor group.
printf '[profiles.plain.kafka]\n"enable.idempotence" = "false"\n' >"$work/plain.toml"
measure "$work/plain" env DLQ_CONFIG="$work/plain.toml" "$DLQ_BIN" -b "kafka://$BOOT" -p plain \
  retry-all "$DLQ_TOPIC" --group "dlq-bench-plain-$tag" --yes -q
read -r plain_s plain_rss <"$work/plain"
c3=$(broker_cpu)
echo "tansu CPU: dlq $(echo "$c1 - $c0" | bc)s, loop $(echo "$c2 - $c1" | bc)s, dlq non-idempotent $(echo "$c3 - $c2" | bc)s" >&2

dlq_rate=$(rate "$N" "$dlq_s")
base_rate=$(rate "$N" "$base_s")
echo "dlq retry-all: $N in ${dlq_s}s = $dlq_rate msg/s, peak RSS $((dlq_rss / 1024)) MiB" >&2
plain_rate=$(rate "$N" "$plain_s")
echo "confluent-kafka replay loop: $N in ${base_s}s = $base_rate msg/s" >&2
echo "dlq retry-all, enable.idempotence=false: $N in ${plain_s}s = $plain_rate msg/s" >&2
result kafka "$N" "$dlq_rate" confluent-kafka-loop "$base_rate" "$dlq_rss" "tansu 0.6.0; DLQ filled one record per batch"
result kafka "$N" "$plain_rate" confluent-kafka-loop "$base_rate" "$plain_rss" "dlq with enable.idempotence=false"
