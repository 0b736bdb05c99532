#!/usr/bin/env bash
# `dlq history` on a 1 GiB journal: elapsed and CPU time and peak RSS of
#   history --limit 20             the first time (it builds the index), then with it
#   history RUN_ID                 a run of 100,000 messages written beside another
#                                  one, in the middle of the journal; and a small run
#   the same on that journal without its header, as an older dlq wrote it
#                                  (no index: read whole)
# The journal is written here in dlq's own record format (run_start, message,
# run_end, as src/journal.rs writes them): runs of 20 to 3,000 messages, every
# 100th run 100,000 messages interleaved with another one as two runs at once
# write, two killed runs (no run_end): one in the first half, and the newest.
# No broker is needed. Figures are with the journal in the page cache; /usr/bin/time
# gives seconds to the hundredth.
#   SIZE (default 1073741824)   journal bytes
#   DLQ_BIN                     the binary to measure (default: a release build)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || apt_install python3

SIZE=${SIZE:-1073741824}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/new" "$tmp/old"
journal=$tmp/new/journal.ndjson

log "writing a journal of $SIZE bytes"
python3 - "$journal" "$SIZE" >"$tmp/ids" <<'EOF'
import random, sys
from datetime import datetime, timedelta, timezone
path, size = sys.argv[1], int(sys.argv[2])
rnd = random.Random(27)
t = datetime(2026, 10, 1, tzinfo=timezone.utc)
def iso(t): return t.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (t.microsecond // 1000)
def rid(t): return t.strftime('%Y%m%dT%H%M%S') + '%03dZ' % (t.microsecond // 1000) + '-%04x' % rnd.getrandbits(16)
def start(r, t, q):
    return ('{"type":"run_start","run_id":"%s","started_at":"%s","user":"ops","host":"bastion",'
            '"broker":"amqp://ops:***@rabbit:5672/%%2f","profile":null,"command":"retry-all","queue":"%s",'
            '"action":"moved","argv":["dlq","retry-all","%s","--yes"],"pid":%d}\n' % (r, iso(t), q, q, rnd.randint(1000, 99999)))
def msg(r, t, q):
    return ('{"type":"message","run_id":"%s","id":"%012x","action":"moved","to":"queue \'%s\'","error":null,"at":"%s"}\n'
            % (r, rnd.getrandbits(48), q[:-4], iso(t)))
def end(r, t, n, ms):
    return ('{"type":"run_end","run_id":"%s","ended_at":"%s","elapsed_ms":%d,"counts":{"moved":%d,"skipped":0,"failed":0},'
            '"interrupted":false,"stopped_by":null,"error":null,"exit_code":0}\n' % (r, iso(t), ms, n))
out = open(path, 'w', buffering=1 << 22)
out.write('{"type":"journal","file_id":"20261001T000000000Z-0badcafe","created_at":"2026-10-01T00:00:00.000Z","format":1}\n')
written, i, big, small = 0, 0, None, None
while written < size:
    i += 1
    t += timedelta(seconds=rnd.randint(60, 3600))
    if i % 100 == 0:
        # Two runs of 100,000 at once: their records alternate in 64 KiB-sized batches.
        runs = [(rid(t), 'orders-%d.dlq' % i), (rid(t + timedelta(milliseconds=3)), 'payments-%d.dlq' % i)]
        for r, q in runs: out.write(start(r, t, q))
        for b in range(0, 100000, 350):
            for r, q in runs:
                out.write(''.join(msg(r, t, q) for _ in range(350 if b + 350 <= 100000 else 100000 - b)))
            t += timedelta(milliseconds=30)
        for r, q in runs: out.write(end(r, t, 100000, 10000))
        if big is None and written > size // 2: big = runs[0][0]
    else:
        r, q, n = rid(t), 'q%d.dlq' % (i % 37), rnd.randint(20, 3000)
        out.write(start(r, t, q) + ''.join(msg(r, t, q) for _ in range(n)))
        if i != 701: out.write(end(r, t, n, n * 3))  # else killed
        if small is None and written > size // 2: small = r
    written = out.tell()
# The newest run was killed too.
t += timedelta(seconds=60)
r = rid(t)
out.write(start(r, t, 'q0.dlq') + ''.join(msg(r, t, 'q0.dlq') for _ in range(500)))
out.close()
print(big, small)
EOF
read -r big small <"$tmp/ids"
chmod 600 "$journal" # as dlq creates it
bytes=$(stat -c %s "$journal")
log "journal: $bytes bytes, $(wc -l <"$journal") lines; the big run $big, a small one $small"

run() { # LABEL JOURNAL EXPECTED_LINES ARGS...: elapsed and CPU time, peak RSS, lines printed
  local label=$1 j=$2 want=$3; shift 3
  command -v /usr/bin/time >/dev/null || apt_install time
  DLQ_JOURNAL="$j" DLQ_CONFIG=/nonexistent /usr/bin/time -f '%e %U %S %M' -o "$tmp/m" \
    "$DLQ_BIN" "$@" -o ndjson >"$tmp/out"
  read -r secs user sys rss <"$tmp/m"
  local got cpu
  got=$(wc -l <"$tmp/out")
  [ "$got" = "$want" ] || { echo "$label: $got lines, expected $want" >&2; exit 1; }
  cpu=$(printf '%.2f' "$(echo "$user + $sys" | bc -l)")
  log "$label: ${secs}s (CPU ${cpu}s), peak RSS $((rss / 1024)) MiB"
  echo "JOURNAL what=$label bytes=$bytes seconds=$secs cpu_seconds=$cpu rss_mib=$(echo "scale=1; $rss / 1024" | bc -l) lines=$got"
}

run history-limit-20-first-builds-index "$journal" 20 history --limit 20
run history-limit-20 "$journal" 20 history --limit 20
run history-limit-20-again "$journal" 20 history --limit 20
run history-big-run "$journal" 100000 history "$big"
run history-big-run-limit-20 "$journal" 20 history "$big" --limit 20
run history-small-run "$journal" "$(grep -c "\"run_id\":\"$small\",\"id\"" "$journal")" history "$small"
log "index: $(stat -c %s "$journal.index") bytes"

tail -n +2 "$journal" >"$tmp/old/journal.ndjson"
chmod 600 "$tmp/old/journal.ndjson"
rm -f "$journal" "$journal.index" "$journal.lock"
run older-dlq-history-limit-20 "$tmp/old/journal.ndjson" 20 history --limit 20
run older-dlq-history-big-run "$tmp/old/journal.ndjson" 100000 history "$big"
