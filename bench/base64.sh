#!/usr/bin/env bash
# Builds bench/base64_bench (Release) and prints the base64 speed table: GB/s (10^9 bytes of
# input per second), the median of the repetitions, per encoder and input size.
# Usage: bench/base64.sh [repetitions]   (default 9; build dir: $XIMUP_BENCH_BUILD or build-bench)
# The raw Google Benchmark JSON is kept in <build dir>/base64_bench.json.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${XIMUP_BENCH_BUILD:-$root/build-bench}
repetitions=${1:-9}

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXIMUP_BUILD_TESTS=OFF >/dev/null
ninja -C "$build" -j2 base64_bench >&2

json=$build/base64_bench.json
"$build/bench/base64_bench" --benchmark_repetitions="$repetitions" --benchmark_min_time=0.2 \
  --benchmark_report_aggregates_only=true --benchmark_format=json --benchmark_out="$json" \
  --benchmark_out_format=json >/dev/null

python3 - "$json" "$repetitions" <<'PY'
import json, sys

report = json.load(open(sys.argv[1]))
medians = {}
for b in report["benchmarks"]:
    if b.get("aggregate_name") == "median":
        impl, size = b["run_name"].split("/")
        medians.setdefault(impl, {})[int(size)] = b["bytes_per_second"] / 1e9

order = ["scalar", "ssse3", "avx2", "avx512", "neon", "encode", "openssl", "memcpy"]
impls = [i for i in order if i in medians]
sizes = sorted({s for m in medians.values() for s in m})
label = {1 << 10: "1 KiB", 16 << 10: "16 KiB", 64 << 10: "64 KiB", 256 << 10: "256 KiB", 1 << 20: "1 MiB",
         8 << 20: "8 MiB"}
ctx = report["context"]
print(f"base64 encoding, GB/s of input, median of {sys.argv[2]} repetitions "
      f"(encode() dispatches to {ctx.get('base64_active_variant', '?')})")
header = ["input"] + [("encode()" if i == "encode" else "memcpy(out)" if i == "memcpy" else
                       "OpenSSL" if i == "openssl" else i) for i in impls]
print("| " + " | ".join(header) + " |")
print("|" + "|".join(["---"] + ["---:"] * len(impls)) + "|")
for s in sizes:
    row = [label.get(s, str(s))] + [f"{medians[i][s]:.2f}" if s in medians[i] else "" for i in impls]
    print("| " + " | ".join(row) + " |")
PY
