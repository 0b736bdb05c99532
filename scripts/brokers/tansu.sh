#!/usr/bin/env bash
# Ensures tansu, an Apache-Kafka-compatible broker from crates.io, answers
# on 127.0.0.1:9092 with in-memory storage. The first run builds it into the
# cache (about 9 minutes on 2 cores); later runs reuse the binary.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

root="$DLQ_CACHE/tansu"
bin="$root/bin/tansu"
if [ ! -x "$bin" ]; then
  log "building tansu 0.6.0 into $root (first run only)"
  # Its own build directory, whatever the caller set for dlq's.
  env -u CARGO_TARGET_DIR cargo install tansu --version 0.6.0 --locked --features dynostore --root "$root" >"$DLQ_CACHE/tansu-install.log" 2>&1 \
    || { tail -30 "$DLQ_CACHE/tansu-install.log" >&2; exit 1; }
fi
pidfile="$DLQ_CACHE/tansu.pid"
if [ "${1:-}" = "restart" ] && [ -f "$pidfile" ]; then
  kill "$(cat "$pidfile")" 2>/dev/null || true
  for i in $(seq 1 50); do port_open 127.0.0.1 9092 || break; sleep 0.1; done
fi
if ! port_open 127.0.0.1 9092; then
  log "starting tansu on 127.0.0.1:9092"
  nohup "$bin" broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
    --storage-engine memory://tansu/ >"$DLQ_CACHE/tansu.log" 2>&1 &
  echo $! >"$pidfile"
fi
wait_port tansu 127.0.0.1 9092 60
