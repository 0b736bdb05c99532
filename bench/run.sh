#!/usr/bin/env bash
# Runs every benchmark (or those named: rabbitmq sqs kafka nats pubsub) with its
# baseline in the same run, and prints one table. With RTT=20ms, also the
# bulk commands and hand-written loops of every broker (bench/distance.sh)
# through a delay line at 0 ms and at RTT. With rabbitmq among them, also the
# deep-queue reads of bench/rabbitmq_depth.sh (DEPTH=0 leaves them out).
# DISTANCE_N (default 50000) is the depth of the distance runs.
# Needs the brokers of scripts/brokers/start-all.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
brokers=("$@")
[ ${#brokers[@]} -eq 0 ] && brokers=(rabbitmq sqs kafka nats pubsub)
results=$(mktemp)
for b in "${brokers[@]}"; do
  echo "== $b" >&2
  bash "$here/$b.sh" | tee -a "$results" >&2
done
echo
echo "| broker | messages | dlq msg/s | baseline | baseline msg/s | ratio | dlq peak RSS |"
echo "|---|---|---|---|---|---|---|"
grep '^RESULT' "$results" | while read -r _ rest; do
  eval "$rest"
  printf '| %s | %s | %s | %s | %s | %s | %s MiB |\n' "$broker" "$messages" "$dlq_rate" "$baseline" "$baseline_rate" "$ratio" "$rss_mib"
done
if [ "${DEPTH:-1}" != 0 ] && [[ " ${brokers[*]} " == *" rabbitmq "* ]]; then
  echo "== depth (RabbitMQ)" >&2
  bash "$here/rabbitmq_depth.sh" | tee -a "$results" >&2
  echo
  echo "| queue | messages | what | dlq ran (s) | peak RSS | all ready again after exit (s) | goal |"
  echo "|---|---|---|---|---|---|---|"
  grep '^DEPTH' "$results" | while read -r _ rest; do
    rss_mib='' all_ready_after_exit_s='' goal=''
    eval "$rest"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$queue" "$messages" "$what" "$seconds" "${rss_mib:+$rss_mib MiB}" "$all_ready_after_exit_s" "$goal"
  done
fi
if [ -n "${RTT:-}" ]; then
  echo "== distance (RTT=$RTT)" >&2
  N=${DISTANCE_N:-50000} bash "$here/distance.sh" "${brokers[@]}" | tee -a "$results" >&2
  echo
  echo "| broker | command | messages | msg/s at 0 ms | msg/s at RTT | RTT | ratio | peak RSS |"
  echo "|---|---|---|---|---|---|---|---|"
  grep '^DISTANCE' "$results" | while read -r _ rest; do
    eval "$rest"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s MiB |\n' "$broker" "$command" "$messages" "$rate_0ms" "$rate_rtt" "$rtt" "$ratio" "$rss_mib"
  done
fi
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB memory"
