#!/usr/bin/env bash
# Paired runs of two ximup binaries (or one binary with two sets of options) on bench/upload.sh's
# big tree against one ximup-mock --discard: A and B alternate, so that both see the same machine
# load, which on a shared machine moves more than most changes do. Prints each run and the median
# wall time, client CPU (user+sys) and mock CPU of each side, and B's median wall as a share of A's.
#
#   bench/compare.sh OLD_XIMUP NEW_XIMUP            # e.g. a copy of build-bench/src/cli/ximup from before
#   A_ARGS="--io-threads 1" B_ARGS="--io-threads 2" bench/compare.sh X X
#   PAIRS=11 TREES=small BUILD_DIR=build-bench NO_BUILD=1 bench/compare.sh A B   # mock: BUILD_DIR
#   TREES=large bench/compare.sh A B     # 100 JPEGs of 4 MiB instead of 2000 of 200 KiB
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -ne 2 ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
a_bin=$(realpath "$1")
b_bin=$(realpath "$2")
pairs=${PAIRS:-7}
bench_dir=${BENCH_DIR:-/tmp/ximup-bench}
big_count=${BIG_COUNT:-2000}
small_count=${SMALL_COUNT:-100000}
trees=${TREES:-big}
mock_threads=${MOCK_THREADS:-2}
read -r -a a_args <<<"${A_ARGS:-}"
read -r -a b_args <<<"${B_ARGS:-}"
source bench/build-binaries.sh  # for the mock
source bench/upload-setup.sh
ticks_per_s=$(getconf CLK_TCK)
dir="$bench_dir/${trees%% *}"
cat "$dir"/*/* >/dev/null 2>&1 || true  # warm the page cache

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "A: $a_bin ${a_args[*]}"
echo "B: $b_bin ${b_args[*]}"
echo "tree: $dir; $pairs pairs, A then B; mock: $mock --discard --threads $mock_threads"
run_one() {  # side binary args...
  local side=$1 bin=$2
  shift 2
  local before after
  before=$(mock_cpu_ticks)
  XIMILAR_API_TOKEN=$(cat "$bench_dir/token") /usr/bin/time -f '%e %U %S' -o "$bench_dir/time" \
    "$bin" upload "$dir" --endpoint tagging --api-base "https://127.0.0.1:$port/" --cacert "$bench_dir/cert.pem" \
    --results "$bench_dir/results.jsonl" --no-state --log-level warn "$@" 2>"$bench_dir/ximup.err" || {
    echo "$side failed:"; cat "$bench_dir/ximup.err"; exit 1; }
  after=$(mock_cpu_ticks)
  read -r elapsed user sys <"$bench_dir/time"
  echo "$elapsed" >>"$bench_dir/$side.wall"
  awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}' >>"$bench_dir/$side.cpu"
  awk -v t=$((after - before)) -v hz="$ticks_per_s" 'BEGIN {print t / hz}' >>"$bench_dir/$side.mock"
  printf '  %-4s %5d %8.2f %10.2f %10.2f\n' "$side" "$i" "$elapsed" "$(tail -1 "$bench_dir/$side.cpu")" \
    "$(tail -1 "$bench_dir/$side.mock")"
}
i=0
run_one A "$a_bin" "${a_args[@]}" >/dev/null  # warm-up, not counted (the files start empty below)
: >"$bench_dir/A.wall"; : >"$bench_dir/A.cpu"; : >"$bench_dir/A.mock"
: >"$bench_dir/B.wall"; : >"$bench_dir/B.cpu"; : >"$bench_dir/B.mock"
printf '  %-4s %5s %8s %10s %10s\n' side pair "wall s" "client CPU" "mock CPU"
for i in $(seq "$pairs"); do
  run_one A "$a_bin" "${a_args[@]}"
  run_one B "$b_bin" "${b_args[@]}"
done
for side in A B; do
  printf '  %-4s %5s %8.2f %10.2f %10.2f\n' "$side" median "$(median <"$bench_dir/$side.wall")" \
    "$(median <"$bench_dir/$side.cpu")" "$(median <"$bench_dir/$side.mock")"
done
awk -v a="$(median <"$bench_dir/A.wall")" -v b="$(median <"$bench_dir/B.wall")" \
  'BEGIN {printf "B/A median wall: %.3f (%+.1f%% throughput)\n", b / a, (a / b - 1) * 100}'
