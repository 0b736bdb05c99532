#!/usr/bin/env bash
# Ensures every broker the tests need is up; installs what is missing.
set -euo pipefail
here=$(dirname "$0")
for b in rabbitmq nats moto tansu; do
  bash "$here/$b.sh"
done
