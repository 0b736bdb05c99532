#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs and starts every broker
# the tests need (scripts/brokers/start-all.sh), runs the unit and
# integration tests against the main servers, then the conformance suite
# once more on each second server version (the README's test matrix).
# Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
threads="${DLQ_TEST_THREADS:-4}"
failed=()

# step NAME CMD...: runs CMD, prints its time, remembers a failure.
step() {
  local name=$1 start=$SECONDS rc=0
  shift
  printf '== %s\n' "$name" >&2
  "$@" || rc=$?
  printf '== %s: %s in %ss\n' "$name" "$([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")" $((SECONDS - start)) >&2
  [ $rc -eq 0 ] || failed+=("$name")
}

step "brokers" bash scripts/brokers/start-all.sh
step "tools" bash scripts/tools.sh
step "frameworks" bash scripts/frameworks.sh
[ ${#failed[@]} -eq 0 ] || exit 1
step "build" cargo build --all-targets --locked
[ ${#failed[@]} -eq 0 ] || exit 1
step "tests (RabbitMQ 3.10, NATS 2.9, moto, noida-db, the Pub/Sub emulator)" \
  cargo test --all-targets --locked --no-fail-fast -- --test-threads="$threads"
rabbit4=(env DLQ_TEST_AMQP='amqp://guest:guest@127.0.0.1:5673/%2f' DLQ_TEST_AMQP_MANAGEMENT=http://127.0.0.1:15673)
step "conformance on RabbitMQ 4.0" "${rabbit4[@]}" \
  cargo test --locked --test conformance rabbitmq_suite -- --test-threads="$threads"
step "version differences on RabbitMQ 4.0" "${rabbit4[@]}" \
  cargo test --locked --test rabbitmq_versions -- --test-threads="$threads"
step "conformance on NATS 2.10" env DLQ_TEST_NATS=nats://127.0.0.1:4223 \
  cargo test --locked --test conformance nats_suite -- --test-threads="$threads"
step "NATS tests on NATS 2.10" env DLQ_TEST_NATS=nats://127.0.0.1:4223 \
  cargo test --locked --test nats_copies --test nats_advisories -- --test-threads="$threads"
step "conformance on tansu" env DLQ_TEST_KAFKA=127.0.0.1:9092 DLQ_TEST_KAFKA_SERVER=tansu \
  cargo test --locked --test conformance kafka_suite -- --test-threads="$threads"
step "conformance on fauxqs" env DLQ_TEST_SQS_ENDPOINT=http://127.0.0.1:4576 DLQ_TEST_SQS_SERVER=fauxqs \
  cargo test --locked --test conformance sqs_suite -- --test-threads="$threads"

printf 'total %ss\n' "$SECONDS" >&2
if [ ${#failed[@]} -ne 0 ]; then
  printf 'failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
