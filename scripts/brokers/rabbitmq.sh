#!/usr/bin/env bash
# Ensures RabbitMQ answers on 127.0.0.1:5672 (AMQP) and :15672 (management),
# with the shovel plugin for the benchmark baseline. Installs Debian's
# rabbitmq-server on a fresh machine. Every listener stays on loopback: the
# config files say so for the next boot, and a running node gets its
# management listener moved there before (or instead of) 0.0.0.0.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  apt_install rabbitmq-server
fi
# The readiness check here and the tests read the management API with curl.
command -v curl >/dev/null 2>&1 || apt_install curl

# add_line FILE PATTERN LINE: appends LINE unless a line matches PATTERN.
add_line() {
  grep -qE "$2" "$1" 2>/dev/null && return 0
  # A last line without its newline would run into the new one.
  [ -s "$1" ] && [ -n "$(tail -c1 "$1")" ] && echo >>"$1"
  echo "$3" >>"$1"
}
if [ -w /etc/rabbitmq ] || { [ ! -e /etc/rabbitmq ] && mkdir -p /etc/rabbitmq; }; then
  add_line /etc/rabbitmq/rabbitmq.conf '^listeners\.tcp' 'listeners.tcp.local = 127.0.0.1:5672'
  add_line /etc/rabbitmq/rabbitmq.conf '^management\.tcp\.ip' 'management.tcp.ip = 127.0.0.1'
  add_line /etc/rabbitmq/rabbitmq-env.conf '^ERL_EPMD_ADDRESS' 'ERL_EPMD_ADDRESS=127.0.0.1'
  add_line /etc/rabbitmq/rabbitmq-env.conf 'inet_dist_use_interface' \
    'SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"'
fi

if ! port_open 127.0.0.1 5672; then
  log "starting rabbitmq-server"
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 rabbitmq-server -detached
fi
wait_port rabbitmq 127.0.0.1 5672 120
rabbitmqctl -q await_startup >/dev/null 2>&1 || true
rabbitmq-plugins -q enable rabbitmq_management rabbitmq_shovel rabbitmq_shovel_management >/dev/null
# A node booted before the config said so opens the management listener on
# every interface: move it to loopback (the app keeps its env over a restart).
if ss -Hltn 'sport = :15672' 2>/dev/null | grep -qvE '127\.0\.0\.1:15672'; then
  log "moving the management listener to 127.0.0.1"
  rabbitmqctl -q eval 'application:set_env(rabbitmq_management, tcp_config, [{ip, "127.0.0.1"}, {port, 15672}]), ok = application:stop(rabbitmq_management), application:start(rabbitmq_management).' >/dev/null
fi
wait_port rabbitmq-management 127.0.0.1 15672 60
for i in $(seq 1 100); do
  curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1 && exit 0
  sleep 0.3
done
log "rabbitmq management API does not answer"
exit 1
