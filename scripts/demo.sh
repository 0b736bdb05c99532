#!/usr/bin/env bash
# Try dlq in one command: makes sure RabbitMQ runs on 127.0.0.1, installs
# dlq from this checkout, and builds a small dead-letter setup to look at:
# demo.orders dead-letters into demo.orders.dlq (its messages expire after
# 1 ms, so RabbitMQ itself dead-letters them with an x-death history).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/brokers/rabbitmq.sh
cargo install --locked --quiet --path .
export PATH="$HOME/.cargo/bin:$PATH"
api=http://127.0.0.1:15672/api/queues/%2F
auth=guest:guest
curl -fsS -u $auth -X PUT -H 'content-type: application/json' "$api/demo.orders.dlq" -d '{"durable":true}' >/dev/null
curl -fsS -u $auth -X PUT -H 'content-type: application/json' "$api/demo.orders" \
  -d '{"durable":true,"arguments":{"x-dead-letter-exchange":"","x-dead-letter-routing-key":"demo.orders.dlq","x-message-ttl":1}}' >/dev/null
export DLQ_BROKER=amqp://guest:guest@127.0.0.1:5672/%2f
printf '%s\n' '{"order_id":1041,"sku":"A-7"}' '{"order_id":1042,"sku":"B-2"}' 'plain text order 1043' |
  dlq publish demo.orders --format lines --header tenant=acme -q
sleep 1
dlq queues
dlq list demo.orders.dlq
echo
echo "Now try:  export DLQ_BROKER=$DLQ_BROKER"
echo "          dlq peek demo.orders.dlq"
echo "          dlq retry-all demo.orders.dlq --dry-run"
