#!/usr/bin/env bash
# Google Cloud Pub/Sub on the emulator: a topic whose subscription is the DLQ
# holds N messages of 1 KiB, each with the dead-letter attributes Pub/Sub
# sets (naming a source subscription of the work topic); times `dlq
# retry-all` back to the work topic, and in the same run a pull, publish,
# acknowledge loop in Python (google-cloud-pubsub, the usual hand-written
# re-drive: pull 100, publish each to its source subscription's topic, asked
# once, and wait for it, acknowledge the batch)
# over BASE_N messages. Prints one RESULT line.
#   N (default 50000), BASE_N (default 5000), SIZE (default 1024)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bash "$repo/scripts/brokers/pubsub.sh"

N=${N:-50000}
BASE_N=${BASE_N:-5000}
SIZE=${SIZE:-1024}
ENDPOINT=${DLQ_BENCH_PUBSUB:-127.0.0.1:8085}
PROJECT=dlq-bench
id="b$$$(date +%s)"
work="bench-$id-work"; source="bench-$id-source"; dlt="bench-$id-dlq"; dsub="bench-$id-dlq-sub"

venv="$DLQ_CACHE/pubsub-py-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import google.cloud.pubsub' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q google-cloud-pubsub >&2
fi
py="$venv/bin/python"
tmp=$(mktemp -d)
script="$tmp/bench.py"
export PUBSUB_EMULATOR_HOST=$ENDPOINT
trap '"$py" "$script" cleanup 2>/dev/null || true; rm -rf "$tmp"' EXIT

cat >"$script" <<PY
import sys, time
from google.cloud import pubsub_v1
P = "$PROJECT"
pub = pubsub_v1.PublisherClient()
sub = pubsub_v1.SubscriberClient()
def t(n): return pub.topic_path(P, n)
def s(n): return sub.subscription_path(P, n)
cmd = sys.argv[1]
if cmd == "setup":
    for n in ("$work", "$dlt"):
        pub.create_topic(name=t(n))
    sub.create_subscription(name=s("$source"), topic=t("$work"))
    sub.create_subscription(name=s("$dsub"), topic=t("$dlt"))
elif cmd == "cleanup":
    for n in ("$source", "$dsub"):
        try: sub.delete_subscription(subscription=s(n))
        except Exception: pass
    for n in ("$work", "$dlt"):
        try: pub.delete_topic(topic=t(n))
        except Exception: pass
elif cmd == "count":
    n = 0
    while True:
        r = sub.pull(subscription=s(sys.argv[2]), max_messages=1000, return_immediately=True)
        if not r.received_messages: break
        n += len(r.received_messages)
        sub.acknowledge(subscription=s(sys.argv[2]), ack_ids=[m.ack_id for m in r.received_messages])
    print(n)
elif cmd == "baseline":
    moved, t0, topics = 0, time.monotonic(), {}
    while True:
        r = sub.pull(subscription=s("$dsub"), max_messages=100, return_immediately=True)
        if not r.received_messages: break
        for m in r.received_messages:
            src = m.message.attributes["CloudPubSubDeadLetterSourceSubscription"]
            if src not in topics:
                topics[src] = sub.get_subscription(subscription=s(src)).topic
            topic = topics[src]
            pub.publish(topic, m.message.data, **dict(m.message.attributes)).result()
            moved += 1
        sub.acknowledge(subscription=s("$dsub"), ack_ids=[m.ack_id for m in r.received_messages])
    print(moved, time.monotonic() - t0)
PY
"$py" "$script" setup

body=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
fill() {
  awk -v n="$1" -v b="$body" 'BEGIN { for (i = 0; i < n; i++) print b }' >"$tmp/lines"
  "$DLQ_BIN" -b "pubsub://$PROJECT" --endpoint-url "http://$ENDPOINT" publish "$dlt" --format lines --file "$tmp/lines" \
    --header "CloudPubSubDeadLetterSourceSubscription=$source" \
    --header "CloudPubSubDeadLetterSourceSubscriptionProject=$PROJECT" \
    --header "CloudPubSubDeadLetterSourceDeliveryCount=5" -q
}

t0=$(date +%s.%N); fill "$N"; t1=$(date +%s.%N)
echo "filled $N messages in $(echo "$t1 - $t0" | bc -l | cut -c1-6)s with dlq publish" >&2
measure "$tmp/dlq" "$DLQ_BIN" -b "pubsub://$PROJECT" --endpoint-url "http://$ENDPOINT" retry-all "$dsub" --yes -q
read -r secs rss <"$tmp/dlq"
left=$("$py" "$script" count "$dsub"); back=$("$py" "$script" count "$source")
echo "dlq retry-all: $N in ${secs}s, peak RSS ${rss} KiB; DLQ now $left, source subscription got $back" >&2
dlq_rate=$(rate "$N" "$secs")

fill "$BASE_N"
read -r bn bsecs < <("$py" "$script" baseline)
base_rate=$(rate "$bn" "$bsecs")
echo "google-cloud-pubsub pull/publish/ack loop: $bn in ${bsecs}s" >&2
result pubsub "$N" "$dlq_rate" "google-cloud-pubsub pull+publish+ack loop" "$base_rate" "$rss" "$SIZE-byte bodies on the emulator, baseline over $BASE_N"
