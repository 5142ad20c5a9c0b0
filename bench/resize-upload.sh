#!/usr/bin/env bash
# Resize end to end (issue 7, docs/resize.md): `ximup upload TREE --endpoint tagging --resize 600
# --no-state` against `ximup-mock --discard` over TLS on loopback, client and server on this machine.
# The tree is bench/resize.sh's (24 generated 4000x3000 JPEGs, made once) hard-linked COPIES times.
# Prints per run and as medians: seconds, images/s (start-up, TLS and upload included), ximup's CPU
# seconds (user+sys) and CPU-ms per image, peak RSS, minor page faults.
#
# With OLD_BUILD=DIR (a Release build tree of another commit, e.g. a git worktree's), each run of
# this build is paired with one of DIR's binaries and resize module, alternating, and the per-pair
# median ratio of CPU seconds (old / new) is printed too.
#
# Usage: bench/resize-upload.sh   env: RUNS (3), COPIES (4), TARGET (600), XIMUP_ARGS (more flags),
#   BUILD_DIR (as bench/upload.sh: default build-release, Release), OLD_BUILD, BENCH_DIR (/tmp/ximup-bench),
#   RESIZE_TREE (default build-bench/resize-tree), MOCK_THREADS (1)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
copies=${COPIES:-4}
target=${TARGET:-600}
bench_dir=${BENCH_DIR:-/tmp/ximup-bench}
mock_threads=${MOCK_THREADS:-1}
read -r -a ximup_args <<<"${XIMUP_ARGS:-}"
tree=${RESIZE_TREE:-$PWD/build-bench/resize-tree}
trees=""  # bench/upload-setup.sh makes no upload trees here: only the certificate, token and mock

source bench/build-binaries.sh
[[ -n "${NO_BUILD:-}" ]] || ninja -C "$build" ximup_resize_vips >/dev/null
if (($(find "$tree" -maxdepth 1 -name '*.jpg' 2>/dev/null | wc -l) < 24)); then
  echo "generating the 12 MP JPEGs in $tree (once)" >&2
  cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DXIMUP_BUILD_TESTS=OFF >/dev/null
  ninja -C build-bench resize_bench >/dev/null
  rm -rf "$tree"
  build-bench/bench/resize_bench generate "$tree" 24 4000 3000
fi
copied=$bench_dir/resize-x$copies
if (($(find "$copied" -maxdepth 1 -name '*.jpg' 2>/dev/null | wc -l) != 24 * copies)); then
  rm -rf "$copied"
  mkdir -p "$copied"
  for k in $(seq "$copies"); do
    for f in "$tree"/*.jpg; do
      ln -f "$f" "$copied/c${k}_$(basename "$f")" 2>/dev/null || cp "$f" "$copied/c${k}_$(basename "$f")"
    done
  done
fi
source bench/upload-setup.sh
files=$((24 * copies))
cat "$copied"/* >/dev/null  # warm the page cache

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "command: ximup upload TREE --endpoint tagging --api-base https://127.0.0.1:PORT/ --cacert cert.pem --no-state --resize $target ${ximup_args[*]} (ximup-mock --discard --threads $mock_threads); $files files of 12 MP"

run_one() {  # build-dir -> "seconds cpu-seconds rss-kib faults"
  XIMILAR_API_TOKEN=$(cat "$bench_dir/token") XIMUP_RESIZE_MODULE="$1/src/cli/ximup-resize.so" \
    /usr/bin/time -f '%e %U %S %M %R' -o "$bench_dir/time" \
    "$1/src/cli/ximup" upload "$copied" --endpoint tagging --api-base "https://127.0.0.1:$port/" \
    --cacert "$bench_dir/cert.pem" --no-state --results "$bench_dir/results.jsonl" --log-level warn \
    --resize "$target" "${ximup_args[@]}" 2>"$bench_dir/ximup.err" || {
    echo "ximup ($1) failed:"
    cat "$bench_dir/ximup.err"
    exit 1
  }
  awk '{printf "%s %.2f %s %s\n", $1, $2 + $3, $4, $5}' "$bench_dir/time"
}
row() {  # label seconds cpu rss faults
  awk -v l="$1" -v s="$2" -v c="$3" -v r="$4" -v f="$5" -v n="$files" \
    'BEGIN {printf "  %-8s %7.2f %9.1f %8.2f %11.1f %9.1f %9d\n", l, s, n / s, c, c * 1000 / n, r / 1024, f}'
}
printf '  %-8s %7s %9s %8s %11s %9s %9s\n' run s images/s "CPU s" "CPU-ms/img" "RSS MiB" faults
: >"$bench_dir/new" ; : >"$bench_dir/old"
for i in $(seq "$runs"); do
  run_one "$build" >"$bench_dir/one"
  read -r s c r f <"$bench_dir/one"
  echo "$s $c $r $f" >>"$bench_dir/new"
  row "$i" "$s" "$c" "$r" "$f"
  if [[ -n "${OLD_BUILD:-}" ]]; then
    run_one "$(cd "$OLD_BUILD" && pwd)" >"$bench_dir/one"
    read -r s c r f <"$bench_dir/one"
    echo "$s $c $r $f" >>"$bench_dir/old"
    row "$i old" "$s" "$c" "$r" "$f"
  fi
done
col() { awk -v k="$1" '{print $k}' "$2" | median; }
row median "$(col 1 "$bench_dir/new")" "$(col 2 "$bench_dir/new")" "$(col 3 "$bench_dir/new")" "$(col 4 "$bench_dir/new")"
if [[ -n "${OLD_BUILD:-}" ]]; then
  row "old med" "$(col 1 "$bench_dir/old")" "$(col 2 "$bench_dir/old")" "$(col 3 "$bench_dir/old")" "$(col 4 "$bench_dir/old")"
  echo "CPU per run, old / new, median of $runs pairs: $(paste "$bench_dir/old" "$bench_dir/new" | awk '{print $2 / $6}' | median)"
fi
