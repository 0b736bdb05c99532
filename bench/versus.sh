#!/usr/bin/env bash
# Two builds of dlq in the same run, broker by broker: each benchmark of
# bench/run.sh (bench/<broker>.sh) runs with the first binary, then the
# second, ROUNDS times in turn, and one table puts their rates side by side
# with the ratio second/first. For "did this change lose speed": pass the
# binary before the change, then after it.
#   bash bench/versus.sh BEFORE_BIN AFTER_BIN [rabbitmq sqs kafka nats]
#   ROUNDS (default 2): alternations; each bench runs its own rounds inside.
#   N, BIG and the rest pass through to the benchmark scripts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: bench/versus.sh BEFORE_BIN AFTER_BIN [BROKER...]" >&2; exit 2; }
before=$(realpath "$1")
after=$(realpath "$2")
shift 2
brokers=("$@")
[ ${#brokers[@]} -eq 0 ] && brokers=(rabbitmq sqs kafka nats)
rounds=${ROUNDS:-2}
out=$(mktemp)
for b in "${brokers[@]}"; do
  for r in $(seq "$rounds"); do
    for which in before after; do
      bin=$before
      [ "$which" = after ] && bin=$after
      echo "== $b round $r: $which ($bin)" >&2
      DLQ_BIN=$bin BIG=${BIG:-0} bash "$here/$b.sh" | sed "s/^RESULT /RESULT which=$which round=$r /" | tee -a "$out" >&2
    done
  done
done
echo
echo "| broker | baseline | round | before msg/s | after msg/s | after/before | before RSS | after RSS |"
echo "|---|---|---|---|---|---|---|---|"
grep '^RESULT which=before' "$out" | while read -r _ rest; do
  eval "$rest"
  b_rate=$dlq_rate b_rss=$rss_mib
  a=$(grep "^RESULT which=after round=$round broker=$broker " "$out" | grep -F "baseline=$(printf %q "$baseline")" | head -1)
  [ -n "$a" ] || continue
  eval "${a#RESULT }"
  ratio=$(echo "scale=2; $dlq_rate / $b_rate" | bc -l)
  printf '| %s | %s | %s | %s | %s | %s | %s MiB | %s MiB |\n' "$broker" "$baseline" "$round" "$b_rate" "$dlq_rate" "$ratio" "$b_rss" "$rss_mib"
done
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
