#!/usr/bin/env bash
# Ensures every broker the tests need is up; installs what is missing.
# The main servers first (RabbitMQ 3.10, NATS 2.9, moto, noida-db for
# Kafka, the Pub/Sub emulator), then the second versions the conformance
# suite also runs on (tansu, RabbitMQ 4.0, NATS 2.10, fauxqs). Prints how
# long each took.
set -euo pipefail
here=$(dirname "$0")
for b in rabbitmq nats moto noida pubsub tansu rabbitmq4 nats210 fauxqs; do
  start=$SECONDS
  bash "$here/$b.sh"
  printf '[brokers] %s ready (%ss)\n' "$b" $((SECONDS - start)) >&2
done
