#!/usr/bin/env bash
# Ensures the moto server (an SQS-compatible server from PyPI) answers on
# 127.0.0.1:4566. Installs moto[server] into a virtual environment in the
# cache on first use. `moto.sh restart` starts a fresh one (the benchmark
# does, since moto slows down as queues grow).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

venv="$DLQ_CACHE/moto"
if [ ! -x "$venv/bin/moto_server" ]; then
  command -v python3 >/dev/null || apt_install python3 python3-venv
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
  log "installing moto[server] into $venv"
  "$venv/bin/pip" install -q "moto[server]"
fi
pidfile="$DLQ_CACHE/moto.pid"
if [ "${1:-}" = "restart" ] && [ -f "$pidfile" ]; then
  kill "$(cat "$pidfile")" 2>/dev/null || true
  for i in $(seq 1 50); do port_open 127.0.0.1 4566 || break; sleep 0.1; done
fi
if ! port_open 127.0.0.1 4566; then
  log "starting moto_server on 127.0.0.1:4566"
  nohup "$venv/bin/moto_server" -H 127.0.0.1 -p 4566 >"$DLQ_CACHE/moto.log" 2>&1 &
  echo $! >"$pidfile"
fi
wait_port moto 127.0.0.1 4566 60
