#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs and starts every broker
# the tests need (RabbitMQ, NATS JetStream, moto for SQS, tansu for Kafka),
# then runs the unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
bash scripts/brokers/start-all.sh
bash scripts/tools.sh
cargo build --all-targets --locked
cargo test --all-targets --locked -- --test-threads="${DLQ_TEST_THREADS:-4}"
