#!/usr/bin/env bash
# Tools the tests use beside the brokers: promtool (Debian's prometheus
# package) checks the output of `-o prometheus`; a Python virtual environment
# with Confluent's own serializers (confluent-kafka with fastavro, protobuf
# and jsonschema, and grpcio-tools for protoc) makes the schema-encoded
# fixtures and decodes what dlq writes, against the registry double
# (tests/schema_support/registry.py); tmux runs `dlq browse` in a real
# terminal (tests/browse.rs). Prints the venv's python when asked
# (`tools.sh schema-python`). `tools.sh kcat` installs kcat (Debian's
# package), the Kafka baseline of bench/kafka.sh, and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=brokers/lib.sh
. scripts/brokers/lib.sh
if [ "${1:-}" = "kcat" ]; then
  command -v kcat >/dev/null || apt_install kcat
  exit 0
fi
if [ "${1:-}" != "schema-python" ]; then
  command -v promtool >/dev/null || apt_install prometheus
  command -v tmux >/dev/null || apt_install tmux
fi
venv="$DLQ_CACHE/schema-tools"
if [ ! -f "$venv/.installed" ]; then
  command -v python3 >/dev/null || apt_install python3 python3-venv
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
  log "installing confluent-kafka, fastavro, protobuf, jsonschema and grpcio-tools into $venv"
  "$venv/bin/pip" install -q "confluent-kafka[avro,protobuf,json,schemaregistry]" fastavro protobuf jsonschema grpcio-tools
  touch "$venv/.installed"
fi
if [ "${1:-}" = "schema-python" ]; then
  echo "$venv/bin/python"
fi
