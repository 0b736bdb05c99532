#!/usr/bin/env bash
# NATS JetStream: a DLQ stream of copies (dlq-original-subject header) with
# N messages of 1 KiB; times `dlq retry-all` back to the work stream, and in
# the same run a one-at-a-time get, publish, delete loop in Python (nats-py)
# over BASE_N messages. Prints one RESULT line.
#   N (default 100000), BASE_N (default 10000), SIZE (default 1024),
#   DIRECT (default 1: streams with allow_direct; 0: reads go through STREAM.MSG.GET)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bash "$repo/scripts/brokers/nats.sh"

N=${N:-100000}
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
fill() {
  awk -v n="$1" -v b="$body" 'BEGIN { for (i = 0; i < n; i++) print b }' >"$tmp/lines"
  "$DLQ_BIN" -b "$URL" publish "$dsub" --format lines --file "$tmp/lines" \
    --header "dlq-original-subject=$wsub.orders" -q
}

t0=$(date +%s.%N); fill "$N"; t1=$(date +%s.%N)
echo "filled $N messages in $(echo "$t1 - $t0" | bc -l | cut -c1-6)s with dlq publish" >&2
measure "$tmp/dlq" "$DLQ_BIN" -b "$URL" retry-all "$dlqs" --yes -q
read -r secs rss <"$tmp/dlq"
left=$("$py" "$script" count "$dlqs"); back=$("$py" "$script" count "$work")
echo "dlq retry-all: $N in ${secs}s, peak RSS ${rss} KiB; DLQ now $left, work stream $back" >&2
dlq_rate=$(rate "$N" "$secs")

fill "$BASE_N"
read -r bn bsecs < <("$py" "$script" baseline)
base_rate=$(rate "$bn" "$bsecs")
echo "nats-py get/publish/delete loop: $bn in ${bsecs}s" >&2
result nats "$N" "$dlq_rate" "nats-py get+publish+delete loop" "$base_rate" "$rss" "$SIZE-byte bodies, allow_direct=$direct, baseline over $BASE_N"
