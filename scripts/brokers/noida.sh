#!/usr/bin/env bash
# Ensures noida-db 0.2.3 (a Kafka-protocol broker from PyPI) answers on
# 127.0.0.1:9094: the main Kafka test server. Installs it into a virtual
# environment in the cache on first use. It keeps records in its data dir
# across restarts, so every start gets a fresh one. Its console script runs
# the real binary as a child; this runs the binary itself so the recorded
# PID is the server's. `noida.sh restart` starts a fresh one.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

port=9094
venv="$DLQ_CACHE/noida"
if [ ! -x "$venv/bin/noida-db" ]; then
  command -v python3 >/dev/null || apt_install python3 python3-venv
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
  log "installing noida-db 0.2.3 into $venv"
  "$venv/bin/pip" install -q noida-db==0.2.3
fi
bin=$("$venv/bin/python" -c 'from importlib.resources import files; print(files("noida_db").joinpath("noida-db"))')
chmod +x "$bin"
pidfile="$DLQ_CACHE/noida.pid"
[ "${1:-}" = "restart" ] && stop_pid "$pidfile" 127.0.0.1 $port
if ! port_open 127.0.0.1 $port; then
  rm -rf "$DLQ_CACHE"/noida-data.*
  data=$(mktemp -d "$DLQ_CACHE/noida-data.XXXXXX")
  log "starting noida-db kafka on 127.0.0.1:$port (data $data)"
  # It warns about GLIBC_2.39 at start on Debian 12; harmless.
  nohup "$bin" start --only kafka --host 127.0.0.1 --kafka-port $port --data-dir "$data" \
    >"$DLQ_CACHE/noida.log" 2>&1 &
  echo $! >"$pidfile"
fi
wait_port noida-db 127.0.0.1 $port 120
