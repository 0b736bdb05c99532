#!/usr/bin/env bash
# Tools the tests use beside the brokers: promtool (Debian's prometheus
# package) checks the output of `-o prometheus`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=brokers/lib.sh
. scripts/brokers/lib.sh
command -v promtool >/dev/null || apt_install prometheus
