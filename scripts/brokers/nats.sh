#!/usr/bin/env bash
# Ensures a NATS server with JetStream answers on 127.0.0.1:4222. Installs
# Debian's nats-server on a fresh machine and starts it with a store
# directory in the cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  apt_install nats-server
fi
if ! port_open 127.0.0.1 4222; then
  bin=$(command -v nats-server || echo /usr/sbin/nats-server)
  store="$DLQ_CACHE/nats-store"
  mkdir -p "$store"
  log "starting nats-server -js (store $store)"
  nohup "$bin" -a 127.0.0.1 -p 4222 -js -sd "$store" >"$DLQ_CACHE/nats.log" 2>&1 &
fi
wait_port nats 127.0.0.1 4222 30
