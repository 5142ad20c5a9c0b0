#!/usr/bin/env bash
# Two builds of the resize module compared on whole photos (docs/resize.md): build-bench's
# resize_bench runs bench/resize.sh's tree once per side in turns, one thread pinned to one core,
# with the module swapped by XIMUP_RESIZE_MODULE; each side's figure is the fastest of its RUNS runs
# (CPU-ms per image). Prints each pair, both sides' fastest and the median of the per-pair ratios A/B
# (above 1: B needs less CPU). Steadier than two-thread medians on a shared machine.
#
#   bench/module-pairs.sh OLD_MODULE.so NEW_MODULE.so    (e.g. a copy of build-bench/src/cli/ximup-resize.so)
#   env: PAIRS (7), RUNS (3), TARGET (600), CPU (the last core), RESIZE_TREE (build-bench/resize-tree),
#        RESIZE_BENCH_BIN (default build-bench/bench/resize_bench)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -ne 2 ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
a=$(realpath "$1")
b=$(realpath "$2")
pairs=${PAIRS:-7}
runs=${RUNS:-3}
target=${TARGET:-600}
tree=${RESIZE_TREE:-build-bench/resize-tree}
bin=${RESIZE_BENCH_BIN:-build-bench/bench/resize_bench}
cpu=${CPU:-$(($(nproc) - 1))}
[[ -x $bin ]] || { echo "module-pairs: no $bin (bench/resize.sh builds it)" >&2; exit 1; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: PAIRS=$pairs RUNS=$runs TARGET=$target bench/module-pairs.sh $1 $2"
fastest() {  # CPU-ms per image of the fastest run with module $1
  XIMUP_RESIZE_MODULE=$1 taskset -c "$cpu" "$bin" run "$tree" shrink --threads 1 --runs "$runs" \
    --target "$target" 2>&1 >/dev/null | sed -n 's/.*, \([0-9.]*\) CPU-ms.*/\1/p' | sort -n | head -1
}
for i in $(seq "$pairs"); do
  echo "pair $i: A $(fastest "$a") B $(fastest "$b")"
done | tee /dev/stderr | python3 -c '
import statistics, sys
a, b = [], []
for line in sys.stdin:
    w = line.split()
    if len(w) == 6 and w[2] == "A" and w[4] == "B":
        a.append(float(w[3])); b.append(float(w[5]))
r = [x / y for x, y in zip(a, b)]
print("A fastest %.1f CPU-ms per image, B fastest %.1f; per-pair A/B median %.3f (%.3f-%.3f)" % (
    min(a), min(b), statistics.median(r), min(r), max(r)))
'
