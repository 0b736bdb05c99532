#!/usr/bin/env bash
# SQS benchmark against a fresh moto server: `dlq retry-all` of a DLQ of
# 500 messages of 1 KiB, against (a) the usual hand-written redrive script
# (boto3, one message at a time: receive, send, delete) and (b) moto's own
# SendMessageBatch rate into a fresh queue of the same size, the ceiling
# this test server allows. Each run gets fresh queues of the same size,
# because moto slows down as a queue grows.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

n=${DLQ_BENCH_SQS_MESSAGES:-500}
ep=http://127.0.0.1:4566
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
unset AWS_ENDPOINT_URL AWS_PROFILE

bash "$repo/scripts/brokers/moto.sh" restart >&2
py="$DLQ_CACHE/moto/bin/python"
if ! "$py" -c 'import boto3' 2>/dev/null; then
  python3 -m venv "$DLQ_CACHE/bench-sqs"
  "$DLQ_CACHE/bench-sqs/bin/pip" install -q boto3
  py="$DLQ_CACHE/bench-sqs/bin/python"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/sqs.py" <<'PY'
import json, sys, time
import boto3
s = boto3.client("sqs", endpoint_url=sys.argv[2])
cmd, n = sys.argv[1], int(sys.argv[3])
body = "x" * 1024

def fill(url, n):
    for i in range(0, n, 10):
        s.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(j), "MessageBody": f"{i + j:06d}" + body[6:]} for j in range(min(10, n - i))])

if cmd == "pair":      # a DLQ of n messages and its source queue
    name = sys.argv[4]
    dlq = s.create_queue(QueueName=name + "-dlq")["QueueUrl"]
    arn = s.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = s.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": arn, "maxReceiveCount": "5"})})["QueueUrl"]
    fill(dlq, n)
    print(dlq, src)
elif cmd == "ceiling": # moto's own SendMessageBatch rate into a fresh queue
    url = s.create_queue(QueueName=sys.argv[4])["QueueUrl"]
    t0 = time.time()
    fill(url, n)
    print(n, time.time() - t0)
elif cmd == "depth":
    url = s.get_queue_url(QueueName=sys.argv[4])["QueueUrl"]
    print(s.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
PY

# dlq
"$py" "$tmp/sqs.py" pair "$ep" "$n" bench-dlq >/dev/null
measure "$tmp/dlq" "$DLQ_BIN" -b sqs://us-east-1 --endpoint-url "$ep" retry-all bench-dlq-dlq --yes -q
read -r secs rss <"$tmp/dlq"
moved=$("$py" "$tmp/sqs.py" depth "$ep" 0 bench-dlq)
left=$("$py" "$tmp/sqs.py" depth "$ep" 0 bench-dlq-dlq)
# Standard queues deliver at least once, and moto can hand one message to two
# concurrent receives: an extra copy is reported, a missing one fails the run.
[ "$left" = 0 ] && [ "$moved" -ge "$n" ] || { echo "dlq moved $moved of $n, $left left on the DLQ" >&2; exit 1; }
[ "$moved" = "$n" ] || echo "note: $((moved - n)) duplicate copies (at-least-once delivery)" >&2
dlq_rate=$(rate "$n" "$secs")

# (a) one message at a time
"$py" "$tmp/sqs.py" pair "$ep" "$n" bench-loop >/dev/null
# The loop of bench/distance.sh: receive one, send it, delete it.
read -r loop_moved loop_secs < <("$py" "$(dirname "$0")/distance/sqs_client.py" baseline "$ep" bench-loop-dlq bench-loop)
loop_rate=$(rate "$loop_moved" "$loop_secs")

# (b) moto's ceiling
read -r _ ceil_secs < <("$py" "$tmp/sqs.py" ceiling "$ep" "$n" bench-ceiling)
ceil_rate=$(rate "$n" "$ceil_secs")

echo "sqs: dlq $dlq_rate msg/s, boto3 loop $loop_rate msg/s, moto SendMessageBatch ceiling $ceil_rate msg/s" >&2
result sqs "$n" "$dlq_rate" "boto3 one-at-a-time loop" "$loop_rate" "$rss" "goal >= 5x"
result sqs "$n" "$dlq_rate" "moto SendMessageBatch ceiling" "$ceil_rate" "$rss" "goal >= 0.5x"
