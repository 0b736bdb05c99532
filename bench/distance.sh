#!/usr/bin/env bash
# dlq at a distance: the bulk commands (retry-all, filtered purge --backup,
# publish --format ndjson, export) and each broker's hand-written re-drive
# loop, through the delay line (examples/delayline.rs) at 0 ms on 127.0.0.2
# and at an RTT round trip on 127.0.0.3 (loopback aliases, same ports as the
# broker). The RabbitMQ management API is relayed beside AMQP, so dlq finds
# it on the same host; Kafka's advertised address is rewritten by the relay,
# so every connection of the client goes through it. Queues are filled and
# checked on the broker's own address, not through the relay.
# Prints one DISTANCE line per broker and command: rates at 0 ms and at RTT,
# their ratio, dlq's peak RSS.
#   bash bench/distance.sh [rabbitmq nats kafka sqs]
#   N (default 20000)        persistent 1 KiB messages (RabbitMQ, NATS, SQS)
#   KAFKA_N (default 100000) Kafka messages, with a key and a header
#   KAFKA_PARTITIONS (default 16) partitions of the Kafka topics (noida-db
#                            answers a fetch with whole partitions, whatever
#                            its size limit: many small ones keep that small)
#   BASE_N (default 400)     messages of the one-at-a-time loops (Kafka's
#                            consume-then-produce loop does all KAFKA_N)
#   COMMANDS (default: retry-all purge publish export) the dlq commands run
#   LOOP (default 1; 0: not)  run the hand-written loop too
#   RTT (default 20ms)       the round trip of the far relay
#   DELAYLINE                the relay binary (default: built in release)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
brokers=("$@")
[ ${#brokers[@]} -eq 0 ] && brokers=(rabbitmq nats kafka sqs)
N=${N:-20000}
KAFKA_N=${KAFKA_N:-100000}
KAFKA_PARTITIONS=${KAFKA_PARTITIONS:-16}
BASE_N=${BASE_N:-400}
RTT=${RTT:-20ms}
NEAR=127.0.0.2 FAR=127.0.0.3
tmp=$(mktemp -d)
id=dist-$$
line=${DELAYLINE:-$repo/target/release/examples/delayline}
[ -x "$line" ] || (cd "$repo" && cargo build --release --locked --example delayline >&2)
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS AWS_PROFILE

venv() { # venv NAME MODULE PACKAGE: a python with MODULE, made on first use
  local v="$DLQ_CACHE/$1"
  if ! "$v/bin/python" -c "import $2" 2>/dev/null; then
    python3 -m venv "$v" && "$v/bin/pip" install -q "$3" >&2
  fi
  echo "$v/bin/python"
}

relays=()
cleanups=()
trap 'for c in "${cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done; kill "${relays[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
# relay PAIR... : a near (0 ms) and a far (RTT) relay of each broker port;
# a pair is [kafka:]PORT.
relay() {
  local near=() far=() p k
  for p in "$@"; do
    k=""; [[ $p == kafka:* ]] && { k=kafka:; p=${p#kafka:}; }
    near+=("$k$NEAR:$p=127.0.0.1:$p"); far+=("$k$FAR:$p=127.0.0.1:$p")
  done
  "$line" --rtt 0ms "${near[@]}" 2>>"$tmp/relay.log" & relays+=($!)
  "$line" --rtt "$RTT" "${far[@]}" 2>>"$tmp/relay.log" & relays+=($!)
  p=${1#kafka:}
  wait_port delayline $NEAR "$p" 10
  wait_port delayline $FAR "$p" 10
}

# 1 KiB bodies numbered from 0: a filtered purge takes those holding a 0.
lines() {
  awk -v n="$1" 'BEGIN { pad = sprintf("%1010s", ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "%012d %s\n", i, pad }' >"$2"
}

# distance BROKER COMMAND MESSAGES SECS_0 SECS_RTT RSS_0 RSS_RTT [NOTE]
distance() {
  local b=$1 c=$2 n=$3 near far rss
  near=$(rate "$n" "$4"); far=$(rate "$n" "$5")
  rss=$(( $6 > $7 ? $6 : $7 ))
  log "$b $c: $near msg/s at 0 ms, $far msg/s at $RTT (peak RSS $((rss / 1024)) MiB)"
  printf 'DISTANCE broker=%s command=%s messages=%s rate_0ms=%s rate_rtt=%s rtt=%s ratio=%s rss_mib=%s note=%q\n' \
    "$b" "$c" "$n" "$near" "$far" "$RTT" "$(echo "scale=2; $far / $near" | bc -l)" \
    "$(echo "scale=1; $rss / 1024" | bc -l)" "${8:-}"
}

# expect WHAT GOT WANT: a count check; a run that lost messages stops the bench.
expect() {
  [ "$2" = "$3" ] || { echo "distance: $1: $2, expected $3" >&2; exit 1; }
}

# run BROKER: each command at 0 ms and at RTT, then the loop. The broker's
# functions: B_url HOST (the broker arguments of dlq), B_reset (fresh queues Q.dlq, Q.origin for the
# current $q), B_cleanup, B_fill QUEUE FILE, B_count QUEUE, B_baseline HOST -> "n secs".
run() {
  local b=$1 n=$2 cmd host s r secs=() rsss=() want
  lines "$n" "$tmp/lines"
  q=$id-$b-src; "${b}_reset"; "${b}_fill" "$q-dlq" "$tmp/lines"
  # shellcheck disable=SC2046 # B_url prints the broker arguments
  "$DLQ_BIN" $("${b}_url" 127.0.0.1) -q export "$q-dlq" --out "$tmp/src.ndjson"
  for cmd in ${COMMANDS-retry-all purge publish export}; do
    secs=(); rsss=()
    for host in $NEAR $FAR; do
      q=$id-$b-$cmd-${host##*.}
      "${b}_reset"
      [ "$cmd" = publish ] || "${b}_fill" "$q-dlq" "$tmp/lines"
      local u; read -ra u < <("${b}_url" "$host")
      case $cmd in
        retry-all) measure "$tmp/m" "$DLQ_BIN" "${u[@]}" -q retry-all "$q-dlq" --to "$q-origin" --yes ;;
        purge) measure "$tmp/m" "$DLQ_BIN" "${u[@]}" -q purge "$q-dlq" --grep 0 --backup "$tmp/backup.ndjson" --yes ;;
        export) measure "$tmp/m" "$DLQ_BIN" "${u[@]}" -q export "$q-dlq" --out "$tmp/export.ndjson" ;;
        publish) measure "$tmp/m" "$DLQ_BIN" "${u[@]}" -q publish "$q-origin" --format ndjson --file "$tmp/src.ndjson" ;;
      esac
      read -r s r <"$tmp/m"; secs+=("$s"); rsss+=("$r")
      case $cmd in
        retry-all) expect "$b $cmd: origin" "$("${b}_count" "$q-origin")" "$n"
                   "${b}_drained" "$q-dlq" && expect "$b $cmd: DLQ" "$("${b}_count" "$q-dlq")" 0 ;;
        purge) want=$(grep -c 0 "$tmp/lines"); expect "$b $cmd: backup" "$(wc -l <"$tmp/backup.ndjson")" "$want"
               "${b}_drained" "$q-dlq" && expect "$b $cmd: DLQ" "$("${b}_count" "$q-dlq")" $((n - want)) ;;
        export) expect "$b $cmd: exported" "$(wc -l <"$tmp/export.ndjson")" "$n" ;;
        publish) expect "$b $cmd: published" "$("${b}_count" "$q-origin")" "$n" ;;
      esac
      rm -f "$tmp/backup.ndjson" "$tmp/export.ndjson"
      "${b}_cleanup"
    done
    want=$n; [ "$cmd" = purge ] && want=$(grep -c 0 "$tmp/lines")
    distance "$b" "$cmd" "$want" "${secs[@]}" "${rsss[@]}"
  done
  # The hand-written loop, through the same relays.
  [ "${LOOP:-1}" = 1 ] || return 0
  local bn=${BASE_N}; [ "$b" = kafka ] && bn=$n
  lines "$bn" "$tmp/lines"
  secs=()
  for host in $NEAR $FAR; do
    q=$id-$b-loop-${host##*.}
    "${b}_reset"; "${b}_fill" "$q-dlq" "$tmp/lines"
    read -r moved s < <("${b}_baseline" "$host" "$bn")
    expect "$b loop: moved" "$moved" "$bn"
    expect "$b loop: origin" "$("${b}_count" "$q-origin")" "$bn"
    secs+=("$s")
    "${b}_cleanup"
  done
  distance "$b" loop "$bn" "${secs[@]}" 0 0 "$("${b}_loop_name")"
}

## RabbitMQ: queues through the management API, the loop in pika.
API=http://127.0.0.1:15672/api
api() { curl -fsS -u guest:guest -H content-type:application/json "$@"; }
rabbitmq_url() { echo "-b amqp://guest:guest@$1:5672/%2f"; }
rabbitmq_reset() {
  local x
  for x in dlq origin; do
    api -X DELETE "$API/queues/%2f/$q-$x" >/dev/null 2>&1 || true
    api -X PUT "$API/queues/%2f/$q-$x" -d '{"durable":true}' >/dev/null
  done
  cleanups+=("api -X DELETE $API/queues/%2f/$q-dlq; api -X DELETE $API/queues/%2f/$q-origin")
}
rabbitmq_cleanup() { api -X DELETE "$API/queues/%2f/$q-dlq" >/dev/null; api -X DELETE "$API/queues/%2f/$q-origin" >/dev/null; }
rabbitmq_fill() { "$DLQ_BIN" -b amqp://guest:guest@127.0.0.1:5672/%2f -q publish "$1" --format lines --file "$2" >&2; }
rabbitmq_count() { rabbitmqctl -q list_queues name messages | awk -v q="$1" '$1 == q {print $2}'; }
rabbitmq_drained() { true; }
rabbitmq_baseline() { "$PIKA" "$here/distance/rabbitmq_client.py" baseline "$1" "$q-dlq" "$q-origin"; }
rabbitmq_loop_name() { echo "pika basic.get, confirmed publish, ack"; }

## NATS: streams Q-dlq and Q-origin, the loop in nats-py.
nats_url() { echo "-b nats://$1:4222"; }
nats_reset() {
  # Each stream takes the subject of its own name.
  "$NATSPY" "$here/distance/nats_client.py" streams nats://127.0.0.1:4222 "$q-dlq" "$q-dlq" "$q-origin" "$q-origin"
  cleanups+=("$NATSPY $here/distance/nats_client.py delete nats://127.0.0.1:4222 $q-dlq $q-origin")
}
nats_cleanup() { "$NATSPY" "$here/distance/nats_client.py" delete nats://127.0.0.1:4222 "$q-dlq" "$q-origin"; }
nats_fill() {
  "$DLQ_BIN" -b nats://127.0.0.1:4222 -q publish "$1" --format lines --file "$2" \
    --header "dlq-original-subject=$q-origin" >&2
}
nats_count() { "$NATSPY" "$here/distance/nats_client.py" count nats://127.0.0.1:4222 "$1"; }
nats_drained() { true; }
nats_baseline() { "$NATSPY" "$here/distance/nats_client.py" baseline "nats://$1:4222" "$q-dlq"; }
nats_loop_name() { echo "nats-py get, publish, delete"; }

## Kafka (noida-db): topics with KAFKA_PARTITIONS partitions, keys and a
## header; the loop in confluent-kafka. A purge moves dlq's cursor, the log
## keeps its records: only the backup is counted.
kafka_url() { echo "-b kafka://$1:9094"; }
kafka_reset() {
  "$CK" "$here/distance/kafka_client.py" topics 127.0.0.1:9094 "$KAFKA_PARTITIONS" "$q-dlq" "$q-origin"
  cleanups+=("$CK $here/distance/kafka_client.py delete 127.0.0.1:9094 $q-dlq $q-origin")
}
kafka_cleanup() { "$CK" "$here/distance/kafka_client.py" delete 127.0.0.1:9094 "$q-dlq" "$q-origin"; }
kafka_fill() {
  # Keys spread the records over the partitions; the header names the origin.
  awk '{ printf "{\"key\":\"key-%d\",\"body\":\"%s\",\"headers\":{\"dlq-original-topic\":\"%s\"}}\n", NR, $0, q }' q="$q-origin" "$2" >"$tmp/fill.ndjson"
  "$DLQ_BIN" -b kafka://127.0.0.1:9094 -q publish "$1" --format ndjson --file "$tmp/fill.ndjson" >&2
}
kafka_count() { "$CK" "$here/distance/kafka_client.py" count 127.0.0.1:9094 "$1"; }
kafka_drained() { false; }
kafka_baseline() { "$CK" "$here/distance/kafka_client.py" baseline "$1:9094" "$q-dlq" "$q-origin" "$2"; }
kafka_loop_name() { echo "confluent-kafka consume-then-produce"; }

## SQS (fauxqs): standard queues, the loop in boto3.
sqs_url() { echo "-b sqs://us-east-1 --endpoint-url http://$1:4576"; }
sqs_reset() {
  "$BOTO" "$here/distance/sqs_client.py" queues http://127.0.0.1:4576 "$q-dlq" "$q-origin"
  cleanups+=("$BOTO $here/distance/sqs_client.py delete http://127.0.0.1:4576 $q-dlq $q-origin")
}
sqs_cleanup() { "$BOTO" "$here/distance/sqs_client.py" delete http://127.0.0.1:4576 "$q-dlq" "$q-origin"; }
sqs_fill() { "$DLQ_BIN" -b sqs://us-east-1 --endpoint-url http://127.0.0.1:4576 -q publish "$1" --format lines --file "$2" >&2; }
sqs_count() { "$BOTO" "$here/distance/sqs_client.py" depth http://127.0.0.1:4576 "$1"; }
sqs_drained() { true; }
sqs_baseline() { "$BOTO" "$here/distance/sqs_client.py" baseline "http://$1:4576" "$q-dlq" "$q-origin"; }
sqs_loop_name() { echo "boto3 receive, send, delete"; }

for b in "${brokers[@]}"; do
  case $b in
    rabbitmq) bash "$repo/scripts/brokers/rabbitmq.sh" >&2; PIKA=$(venv pika-venv pika pika)
              relay 5672 15672; run rabbitmq "$N" ;;
    nats) bash "$repo/scripts/brokers/nats.sh" >&2; NATSPY=$(venv nats-py-venv nats nats-py)
          relay 4222; run nats "$N" ;;
    kafka) bash "$repo/scripts/brokers/noida.sh" >&2; CK=$(venv kafka-venv confluent_kafka confluent-kafka)
           relay kafka:9094; run kafka "$KAFKA_N" ;;
    sqs) bash "$repo/scripts/brokers/fauxqs.sh" >&2; BOTO=$(venv moto boto3 boto3)
         relay 4576; run sqs "$N" ;;
    *) echo "distance: unknown broker '$b' (rabbitmq nats kafka sqs)" >&2; exit 2 ;;
  esac
done
