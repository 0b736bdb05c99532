#!/usr/bin/env bash
# Ensures the Google Cloud Pub/Sub emulator answers on 127.0.0.1:8085 (gRPC
# and REST on the one port). The emulator comes with the Debian package
# google-cloud-cli-pubsub-emulator (Google's apt source, with Java 17); this
# script starts it when it is installed and fails with a clear message when
# it is not. It keeps everything in memory: a restart starts empty.
# `pubsub.sh restart` starts a fresh one.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

port=${DLQ_PUBSUB_PORT:-8085}
emulator=${DLQ_PUBSUB_EMULATOR:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator}
if [ ! -x "$emulator" ]; then
  log "the Pub/Sub emulator is not installed ($emulator is missing): install the Debian package"
  log "google-cloud-cli-pubsub-emulator from Google's apt source (https://packages.cloud.google.com/apt),"
  log "or point DLQ_PUBSUB_EMULATOR at its cloud-pubsub-emulator script"
  exit 1
fi
command -v java >/dev/null || { log "the Pub/Sub emulator needs Java 11 or later (apt install openjdk-17-jre-headless)"; exit 1; }
pidfile="$DLQ_CACHE/pubsub.pid"
[ "${1:-}" = "restart" ] && stop_pid "$pidfile" 127.0.0.1 "$port"
if ! port_open 127.0.0.1 "$port"; then
  log "starting the Pub/Sub emulator on 127.0.0.1:$port"
  nohup "$emulator" --host=127.0.0.1 --port="$port" >"$DLQ_CACHE/pubsub.log" 2>&1 &
  echo $! >"$pidfile"
fi
wait_port pubsub-emulator 127.0.0.1 "$port" 90
