#!/usr/bin/env bash
# Ensures RabbitMQ answers on 127.0.0.1:5672 (AMQP) and :15672 (management),
# with the shovel plugin for the benchmark baseline. Installs Debian's
# rabbitmq-server on a fresh machine.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  apt_install rabbitmq-server
fi
# The readiness check here and the tests read the management API with curl.
command -v curl >/dev/null 2>&1 || apt_install curl
if ! port_open 127.0.0.1 5672; then
  log "starting rabbitmq-server"
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 rabbitmq-server -detached
fi
wait_port rabbitmq 127.0.0.1 5672 120
rabbitmqctl -q await_startup >/dev/null 2>&1 || true
rabbitmq-plugins -q enable rabbitmq_management rabbitmq_shovel rabbitmq_shovel_management >/dev/null
wait_port rabbitmq-management 127.0.0.1 15672 60
for i in $(seq 1 100); do
  curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1 && exit 0
  sleep 0.3
done
log "rabbitmq management API does not answer"
exit 1
