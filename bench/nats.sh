#!/usr/bin/env bash
# NATS JetStream: a DLQ stream of copies (dlq-original-subject header) with
# N messages of 1 KiB. In one run: `dlq publish` of those messages (the
# rate the broker takes the very publishes a re-drive is made of), then
# `dlq retry-all` back to the work stream, full and filtered (`--header
# kind=a`, every other message), then full again through the delay line
# (examples/delayline.rs) at 0 ms and at RTT; and a one-at-a-time get,
# publish, delete loop in Python (nats-py) over BASE_N messages. Each
# retry-all's counts are checked on both streams. Prints the rates, their
# ratios to the goals' yardsticks, and one RESULT line.
#   N (default 100000), BASE_N (default 10000), SIZE (default 1024),
#   RTT (default 20ms; empty: no delay line), ROUNDS (default 3: alternating
#   pairs of re-drives through the delay line at 0 ms and at RTT; the ratio
#   is of their mean times),
#   DIRECT (default 1: streams with allow_direct; 0: reads go through STREAM.MSG.GET)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bash "$repo/scripts/brokers/nats.sh"

N=${N:-100000}
RTT=${RTT-20ms}
ROUNDS=${ROUNDS:-3}
BASE_N=${BASE_N:-10000}
SIZE=${SIZE:-1024}
if [ "${DIRECT:-1}" = 1 ]; then direct=True; else direct=False; fi
URL=${DLQ_BENCH_NATS:-nats://127.0.0.1:4222}
id="b$$$(date +%s)"
work="BENCH-$id"; dlqs="BENCH-$id-DLQ"
wsub="bench.$id.work"; dsub="bench.$id.dlq"

venv="$DLQ_CACHE/nats-py-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q nats-py >&2
fi
py="$venv/bin/python"
tmp=$(mktemp -d)
script="$tmp/bench.py"
trap '"$py" "$script" cleanup 2>/dev/null || true; rm -rf "$tmp"' EXIT

cat >"$script" <<PY
import asyncio, sys, time
import nats
async def main(cmd):
    nc = await nats.connect("$URL")
    js = nc.jetstream()
    if cmd == "setup":
        await js.add_stream(name="$work", subjects=["$wsub.>"], allow_direct=$direct)
        await js.add_stream(name="$dlqs", subjects=["$dsub"], allow_direct=$direct)
    elif cmd == "cleanup":
        for s in ("$work", "$dlqs"):
            try: await js.delete_stream(s)
            except Exception: pass
    elif cmd == "purge":
        await js.purge_stream(sys.argv[2])
    elif cmd == "count":
        print((await js.stream_info(sys.argv[2])).state.messages)
    elif cmd == "baseline":
        info = await js.stream_info("$dlqs")
        first, last = info.state.first_seq, info.state.last_seq
        n = 0
        t0 = time.monotonic()
        for seq in range(first, last + 1):
            m = await js.get_msg("$dlqs", seq, direct=$direct)
            hdrs = dict(m.headers or {})
            to = hdrs.get("dlq-original-subject")
            for k in ("Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp", "Nats-Expected-Stream"):
                hdrs.pop(k, None)
            await js.publish(to, m.data, headers=hdrs)
            await js.delete_msg("$dlqs", seq)
            n += 1
        print(n, time.monotonic() - t0)
    await nc.close()
asyncio.run(main(sys.argv[1]))
PY
"$py" "$script" setup

body=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
# NDJSON lines, every other one kind=a, each naming its original subject.
awk -v n="$N" -v b="$body" -v s="$wsub.orders" 'BEGIN {
  for (i = 0; i < n; i++)
    printf "{\"body\":\"%s\",\"headers\":{\"dlq-original-subject\":\"%s\",\"kind\":\"%s\"}}\n", b, s, (i % 2 ? "b" : "a")
}' >"$tmp/ndjson"
count() { "$py" "$script" count "$1"; }
# fill: N messages into the DLQ stream with dlq publish; prints its seconds.
fill() {
  local t0 t1
  t0=$(date +%s.%N)
  "$DLQ_BIN" -b "$URL" -q --no-journal publish "$dsub" --format ndjson --file "$tmp/ndjson"
  t1=$(date +%s.%N)
  [ "$(count "$dlqs")" = "$N" ] || { echo "nats.sh: the DLQ stream should hold $N" >&2; exit 1; }
  echo "$t1 - $t0" | bc -l
}
# redrive LABEL URL MOVED ARGS...: retry-all, checked on both streams; sets secs, rss.
redrive() {
  local label=$1 url=$2 moved=$3; shift 3
  local before left after
  before=$(count "$work")
  measure "$tmp/$label" "$DLQ_BIN" -b "$url" -q --no-journal retry-all "$dlqs" --yes "$@"
  read -r secs rss <"$tmp/$label"
  left=$(count "$dlqs"); after=$(count "$work")
  echo "$label: moved $((after - before)) of $N in ${secs}s, peak RSS ${rss} KiB; DLQ left $left" >&2
  [ $((after - before)) = "$moved" ] && [ "$left" = $((N - moved)) ] ||
    { echo "nats.sh: $label should move $moved and leave $((N - moved))" >&2; exit 1; }
  "$py" "$script" purge "$dlqs"
}

pub_secs=$(fill); pub_rate=$(rate "$N" "$pub_secs")
redrive full "$URL" "$N"; full_rate=$(rate "$N" "$secs"); full_rss=$rss
fill >/dev/null
redrive filtered "$URL" $((N / 2)) --header kind=a; filt_rate=$(rate $((N / 2)) "$secs"); filt_rss=$rss
far_line=""
if [ -n "${RTT:-}" ]; then
  line=${DELAYLINE:-${CARGO_TARGET_DIR:-$repo/target}/release/examples/delayline}
  [ -x "$line" ] || (cd "$repo" && cargo build --release --locked --example delayline >&2)
  port=${URL##*:}
  "$line" --rtt 0ms "127.0.0.2:$port=127.0.0.1:$port" 2>>"$tmp/relay.log" & near_pid=$!
  "$line" --rtt "$RTT" "127.0.0.3:$port=127.0.0.1:$port" 2>>"$tmp/relay.log" & far_pid=$!
  trap 'kill $near_pid $far_pid 2>/dev/null; "$py" "$script" cleanup 2>/dev/null || true; rm -rf "$tmp"' EXIT
  wait_port delayline 127.0.0.2 "$port" 10
  wait_port delayline 127.0.0.3 "$port" 10
  # ROUNDS alternating pairs: one run each way is within this host's noise.
  near_sum=0 far_sum=0 far_rss=0 near_each="" far_each=""
  for _ in $(seq "$ROUNDS"); do
    fill >/dev/null
    redrive near "nats://127.0.0.2:$port" "$N"; near_sum=$(echo "$near_sum + $secs" | bc -l)
    near_each="$near_each $(rate "$N" "$secs")"
    fill >/dev/null
    redrive far "nats://127.0.0.3:$port" "$N"; far_sum=$(echo "$far_sum + $secs" | bc -l)
    far_each="$far_each $(rate "$N" "$secs")"
    [ "$rss" -gt "$far_rss" ] && far_rss=$rss
  done
  near_rate=$(rate "$((N * ROUNDS))" "$near_sum"); far_rate=$(rate "$((N * ROUNDS))" "$far_sum")
  far_line="retry-all through the delay line: $near_rate msg/s at 0 ms (each:$near_each), $far_rate at $RTT (each:$far_each): $(echo "scale=2; $near_sum / $far_sum" | bc -l) of its own rate (goal >= 0.9), peak RSS $((far_rss / 1024)) MiB"
fi

BN=$BASE_N
awk -v n="$BN" -v b="$body" -v s="$wsub.orders" 'BEGIN { for (i = 0; i < n; i++) printf "{\"body\":\"%s\",\"headers\":{\"dlq-original-subject\":\"%s\"}}\n", b, s }' >"$tmp/base"
"$DLQ_BIN" -b "$URL" -q --no-journal publish "$dsub" --format ndjson --file "$tmp/base"
read -r bn bsecs < <("$py" "$script" baseline)
base_rate=$(rate "$bn" "$bsecs")

echo "nats.sh: $URL, N=$N x $SIZE B, allow_direct=$direct, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "dlq publish of the same messages:  $pub_rate msg/s"
echo "retry-all, full:                   $full_rate msg/s, $(echo "scale=2; $full_rate / $pub_rate" | bc -l) x publish (goal >= 0.8), peak RSS $((full_rss / 1024)) MiB"
echo "retry-all, filtered (every other): $filt_rate moved/s, $(echo "scale=2; $filt_rate / $pub_rate" | bc -l) x publish (goal >= 0.8), peak RSS $((filt_rss / 1024)) MiB"
[ -z "$far_line" ] || echo "$far_line"
echo "nats-py get/publish/delete loop:   $base_rate msg/s over $bn"
result nats "$N" "$full_rate" "nats-py get+publish+delete loop" "$base_rate" "$full_rss" "$SIZE-byte bodies, allow_direct=$direct, baseline over $BASE_N"
