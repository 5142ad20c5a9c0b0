#!/usr/bin/env bash
# Two builds of the scaled JPEG decoder compared (docs/resize.md): their decode_bench binaries run in
# turns on one pinned core, each taking the fastest of its rounds; prints each pair, both sides'
# fastest, the median of the per-pair ratios A/B (above 1: B is faster) and whether both decoded the
# same pixels. For changes of a few percent on a shared machine, where whole-photo CPU time moves more.
#
#   bench/decode-pairs.sh OLD_DECODE_BENCH NEW_DECODE_BENCH
#   env: PAIRS (6), ROUNDS (8), SHRINK (4), FILES (6), CPU (the last core),
#        RESIZE_TREE (the JPEGs; default build-bench/resize-tree, made by bench/resize.sh)
# A build of an older commit: git worktree add /tmp/old <commit> && cmake -S /tmp/old -B /tmp/old/b
#   -G Ninja -DCMAKE_BUILD_TYPE=Release -DXIMUP_BUILD_TESTS=OFF && ninja -C /tmp/old/b decode_bench
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -ne 2 ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
pairs=${PAIRS:-6}
tree=${RESIZE_TREE:-build-bench/resize-tree}
cpu=${CPU:-$(($(nproc) - 1))}
args=(--shrink "${SHRINK:-4}" --rounds "${ROUNDS:-8}" --files "${FILES:-6}")
if ! compgen -G "$tree/*.jpg" >/dev/null; then
  echo "decode-pairs: no JPEGs in $tree (bench/resize.sh generates them)" >&2
  exit 1
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: PAIRS=$pairs ROUNDS=${ROUNDS:-8} SHRINK=${SHRINK:-4} FILES=${FILES:-6} bench/decode-pairs.sh $1 $2"
for i in $(seq "$pairs"); do
  a=$(taskset -c "$cpu" "$1" "$tree" "${args[@]}")
  b=$(taskset -c "$cpu" "$2" "$tree" "${args[@]}")
  echo "pair $i: A ${a} | B ${b}"
done | tee /dev/stderr | python3 -c '
import re, statistics, sys
a, b, hashes = [], [], set()
for line in sys.stdin:
    sides = re.findall(r"min_ms_per_file=([0-9.]+).*?pixels_hash=([0-9a-f]+)", line)
    if len(sides) != 2:
        continue
    a.append(float(sides[0][0])); b.append(float(sides[1][0]))
    hashes.update(h for _, h in sides)
print("A fastest %.3f ms per file, B fastest %.3f; per-pair A/B median %.3f (%.3f-%.3f); %s" % (
    min(a), min(b), statistics.median(x / y for x, y in zip(a, b)),
    min(x / y for x, y in zip(a, b)), max(x / y for x, y in zip(a, b)),
    "same pixels" if len(hashes) == 1 else "DIFFERENT PIXELS"))
'
