#!/usr/bin/env bash
# Upload throughput and memory benchmark (issue 2): ximup against ximup-mock --discard over TLS on
# loopback, client and server sharing this machine. Prints, per tree, the median over RUNS runs of:
# MB/s of image bytes, images/s, CPU seconds per GB (user+sys of ximup, and of ximup-mock from
# /proc during the run), and peak RSS of ximup. Each run is printed too.
#
#   bench/upload.sh                 # 2,000 JPEGs of 200 KiB (~400 MB) and 100,000 files of 1 KiB
#   RUNS=5 BENCH_DIR=/tmp/b bench/upload.sh
#   BUILD_DIR=build bench/upload.sh  # use an existing build tree instead of building build-release
#   XIMUP_ARGS="--io-threads 1" MOCK_THREADS=1 TREES=big bench/upload.sh   # variants
#   STATE=1 TREES=small bench/upload.sh   # with a state file (the default of ximup), new per run
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
bench_dir=${BENCH_DIR:-/tmp/ximup-bench}
big_count=${BIG_COUNT:-2000}
small_count=${SMALL_COUNT:-100000}
trees=${TREES:-big small}
mock_threads=${MOCK_THREADS:-2}
read -r -a ximup_args <<<"${XIMUP_ARGS:-}"
state_args=(--no-state)
[[ -n "${STATE:-}" ]] && state_args=(--state "${BENCH_DIR:-/tmp/ximup-bench}/bench-state.db")

source bench/build-binaries.sh
source bench/upload-setup.sh
ticks_per_s=$(getconf CLK_TCK)

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "command: $ximup upload TREE --endpoint tagging --api-base https://127.0.0.1:PORT/ --cacert cert.pem ${state_args[*]} ${ximup_args[*]} (ximup-mock --discard --threads $mock_threads)"
for tree in $trees; do
  dir="$bench_dir/$tree"
  files=$(find "$dir" -type f -name '*.jpg' -o -type f -name '*.png' | wc -l)
  bytes=$(find "$dir" -type f \( -name '*.jpg' -o -name '*.png' \) -printf '%s\n' | awk '{s+=$1} END {print s}')
  cat "$dir"/*/* >/dev/null 2>&1 || true  # warm the page cache
  : >"$bench_dir/mbps" ; : >"$bench_dir/ips" ; : >"$bench_dir/cpu" ; : >"$bench_dir/rss" ; : >"$bench_dir/mcpu"
  echo "$tree: $files files, $(awk -v b="$bytes" 'BEGIN{printf "%.0f", b/1e6}') MB"
  printf '  %-6s %8s %10s %12s %12s %14s %10s\n' run "s" "MB/s" "images/s" "CPU s/GB" "mock CPU s/GB" "RSS MiB"
  for i in $(seq "$runs"); do
    rm -f "$bench_dir"/bench-state.db* "$bench_dir/results.jsonl"  # STATE=1: each run starts empty
    mock_before=$(mock_cpu_ticks)
    XIMILAR_API_TOKEN=$(cat "$bench_dir/token") /usr/bin/time -f '%e %U %S %M' -o "$bench_dir/time" \
      "$ximup" upload "$dir" --endpoint tagging --api-base "https://127.0.0.1:$port/" --cacert "$bench_dir/cert.pem" \
      --results "$bench_dir/results.jsonl" "${state_args[@]}" --log-level warn "${ximup_args[@]}" 2>"$bench_dir/ximup.err" || {
      echo "ximup failed:"; cat "$bench_dir/ximup.err"; exit 1; }
    mock_after=$(mock_cpu_ticks)
    read -r elapsed user sys rss_kb <"$bench_dir/time"
    awk -v b="$bytes" -v e="$elapsed" 'BEGIN {print b/1e6/e}' >>"$bench_dir/mbps"
    awk -v f="$files" -v e="$elapsed" 'BEGIN {print f/e}' >>"$bench_dir/ips"
    awk -v b="$bytes" -v u="$user" -v s="$sys" 'BEGIN {print (u+s)/(b/1e9)}' >>"$bench_dir/cpu"
    awk -v r="$rss_kb" 'BEGIN {print r/1024}' >>"$bench_dir/rss"
    awk -v b="$bytes" -v t=$((mock_after - mock_before)) -v hz="$ticks_per_s" 'BEGIN {print t/hz/(b/1e9)}' >>"$bench_dir/mcpu"
    printf '  %-6s %8.2f %10.0f %12.0f %12.2f %14.2f %10.1f\n' "$i" "$elapsed" "$(tail -1 "$bench_dir/mbps")" \
      "$(tail -1 "$bench_dir/ips")" "$(tail -1 "$bench_dir/cpu")" "$(tail -1 "$bench_dir/mcpu")" "$(tail -1 "$bench_dir/rss")"
  done
  printf '  %-6s %8s %10.0f %12.0f %12.2f %14.2f %10.1f\n' median "" "$(median <"$bench_dir/mbps")" \
    "$(median <"$bench_dir/ips")" "$(median <"$bench_dir/cpu")" "$(median <"$bench_dir/mcpu")" "$(median <"$bench_dir/rss")"
done
echo "(median of $runs runs; targets: >= 500 MB/s on the big tree, peak RSS < 96 MiB on both)"
