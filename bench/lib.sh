# Shared by the benchmark scripts.
#   DLQ_BIN      the dlq binary to measure (default: target/release/dlq, built if missing)
#   measure OUT CMD...   runs CMD, writes "seconds peak_rss_kib" to OUT
#   result BROKER MESSAGES DLQ_RATE BASELINE_NAME BASELINE_RATE RSS_KIB [NOTE]
#                prints the RESULT line that bench/run.sh collects
here_bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here_bench/.." && pwd)
. "$repo/scripts/brokers/lib.sh"

if [ -z "${DLQ_BIN:-}" ]; then
  DLQ_BIN="$repo/target/release/dlq"
  if [ ! -x "$DLQ_BIN" ] || [ -n "$(find "$repo/src" -newer "$DLQ_BIN" -name '*.rs' | head -1)" ]; then
    (cd "$repo" && cargo build --release --locked >&2)
  fi
fi
export DLQ_BIN

measure() {
  local out=$1; shift
  command -v /usr/bin/time >/dev/null || apt_install time
  command -v bc >/dev/null || apt_install bc
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$out.rss" "$@"
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc -l) $(cat "$out.rss" | tail -1)" >"$out"
}

rate() { echo "scale=1; $1 / $2" | bc -l; }

result() {
  local broker=$1 n=$2 dlq_rate=$3 base_name=$4 base_rate=$5 rss=$6 note=${7:-}
  local ratio
  ratio=$(echo "scale=2; $dlq_rate / $base_rate" | bc -l)
  printf 'RESULT broker=%s messages=%s dlq_rate=%s baseline=%q baseline_rate=%s ratio=%s rss_mib=%s note=%q\n' \
    "$broker" "$n" "$dlq_rate" "$base_name" "$base_rate" "$ratio" "$(echo "scale=1; $rss / 1024" | bc -l)" "$note"
}
