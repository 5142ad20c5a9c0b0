#!/usr/bin/env bash
# Resize throughput (issue 7, docs/resize.md): a tree of 12-megapixel JPEGs resized to 600 px (shorter
# side) with 2 threads, four ways, each in its own process:
#   shrink  ximup::shrink_image, the shipped path (ximup's scaled JPEG decoder at 1/4 or 1/8 and its
#           Lanczos-3; libjpeg encodes, or libvips rotates, converts colour and encodes when the
#           file has an orientation or a colour profile)
#   vipsreduce the same with libvips's reduce instead of ours (resize_options::resample = false)
#   turbojpeg ximup::shrink_image with TurboJPEG decoding and libvips's reduce (sessions 4-7's path)
#   libvips ximup::shrink_image with libvips's own JPEG loader (resize_options::turbojpeg = false)
#   full    libvips decoding every pixel, then vips_resize and the same encode (no shrink-on-load)
#   turbo   TurboJPEG directly: DCT-scaled decode, an area filter, encode (JPEG only, no EXIF/ICC)
# Prints the machine, the command, and per mode the medians of RUNS runs: images/s and MB/s of input
# (wall clock), CPU-ms per image and what that gives on THREADS idle cores, bytes in/out, saved.
#
# With PAIRS=N it then runs N more pairs of processes, shrink and turbojpeg alternating (each one run),
# and prints the median of the per-pair CPU ratios: on a shared machine a paired ratio is steadier
# than two medians taken minutes apart.
#
# Usage: bench/resize.sh            env: RUNS (5), THREADS (2), TARGET (600), IMAGES (24), PAIRS (0),
#   MODES (which paths, default "shrink vipsreduce turbojpeg libvips full turbo"),
#   PROGRESSIVE=1 (the same JPEGs made progressive without loss, in <tree>-progressive),
#   RESIZE_TREE (where the JPEGs are generated once; default <build dir>/resize-tree),
#   XIMUP_BENCH_BUILD (build dir, default build-bench, Release), RESIZE_BENCH_BIN (use this binary, no build)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${XIMUP_BENCH_BUILD:-$root/build-bench}
runs=${RUNS:-5}
threads=${THREADS:-2}
target=${TARGET:-600}
images=${IMAGES:-24}
tree=${RESIZE_TREE:-$build/resize-tree}

if [[ -n ${RESIZE_BENCH_BIN:-} ]]; then
  bin=$RESIZE_BENCH_BIN
else
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXIMUP_BUILD_TESTS=OFF >/dev/null
  ninja -C "$build" -j2 resize_bench >&2
  bin=$build/bench/resize_bench
fi

have=0
# (find fails on a tree not generated yet; with pipefail that would end the script silently)
[[ -d $tree ]] && have=$(find "$tree" -maxdepth 1 -name '*.jpg' | wc -l)
if ((have < images)); then
  echo "generating $images JPEGs of 4000x3000 in $tree (once)" >&2
  rm -rf "$tree"
  "$bin" generate "$tree" "$images" 4000 3000
fi

if [[ ${PROGRESSIVE:-0} == 1 ]]; then
  if [[ ! -d $tree-progressive ]] || (($(find "$tree-progressive" -maxdepth 1 -name '*.jpg' | wc -l) < images)); then
    rm -rf "$tree-progressive"
    "$bin" progressive "$tree" "$tree-progressive"
  fi
  tree=$tree-progressive
fi

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: RUNS=$runs THREADS=$threads TARGET=$target IMAGES=$images PROGRESSIVE=${PROGRESSIVE:-0} bench/resize.sh"
echo "binary:  $bin ($(basename "$(dirname "$(dirname "$bin")")"))"

pairs=${PAIRS:-0}
results=$(mktemp)
paired=$(mktemp)
trap 'rm -f "$results" "$paired"' EXIT
for mode in ${MODES:-shrink vipsreduce turbojpeg libvips full turbo}; do
  echo "running $mode ($runs runs)..." >&2
  "$bin" run "$tree" "$mode" --threads "$threads" --runs "$runs" --target "$target" >>"$results"
done
for ((i = 1; i <= pairs; i++)); do
  echo "pair $i of $pairs..." >&2
  for mode in shrink turbojpeg; do
    "$bin" run "$tree" "$mode" --threads "$threads" --runs 1 --target "$target" 2>/dev/null >>"$paired"
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$results" "$threads" "$paired" <<'PY'
import statistics
import sys

rows = {}
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split())
    rows[kv["mode"]] = kv
threads = int(sys.argv[2])
first = next(iter(rows.values()))
print(f"\n{first['images']} JPEGs, {int(first['in_bytes']) / 1e6:.1f} MB, {threads} threads, "
      f"median of {first['runs']} runs")
if int(rows.get("shrink", {}).get("turbojpeg_fallbacks_per_run", 0)):
    print(f"(the shipped path gave {rows['shrink']['turbojpeg_fallbacks_per_run']} of them to TurboJPEG: "
          "progressive files, or scales scaled_jpeg does not do)")
print("| path | images/s | MB/s of input | CPU-ms/image | images/s on %d idle cores | MB out | saved | extra peak RSS |" % threads)
print("|---|---:|---:|---:|---:|---:|---:|---:|")
label = {"shrink": "shrink-on-load (ximup: scaled_jpeg decode, our Lanczos-3, libjpeg encodes)",
         "vipsreduce": "shrink-on-load, scaled_jpeg decode, libvips's reduce",
         "turbojpeg": "shrink-on-load, TurboJPEG decode, libvips's reduce (sessions 4-7)",
         "libvips": "shrink-on-load, libvips's JPEG loader", "full": "full decode, libvips",
         "turbo": "TurboJPEG direct (decode, area filter, encode)"}
for mode in ("shrink", "vipsreduce", "turbojpeg", "libvips", "full", "turbo"):
    r = rows.get(mode)
    if not r:
        continue
    cpu = float(r["median_cpu_ms_per_image"])
    print(f"| {label[mode]} | {float(r['median_images_per_s']):.1f} | {float(r['median_input_mb_per_s']):.1f} | "
          f"{cpu:.1f} | {threads * 1000 / cpu:.1f} | {int(r['out_bytes']) / 1e6:.2f} | "
          f"{float(r['saved_pct']):.1f}% | {float(r['extra_peak_rss_mib']):.0f} MiB |")
if "shrink" in rows and "full" in rows:
    s, f = rows["shrink"], rows["full"]
    print(f"\nshrink-on-load vs full decode: {float(s['median_images_per_s']) / float(f['median_images_per_s']):.2f}x "
          f"images/s, {float(f['median_cpu_ms_per_image']) / float(s['median_cpu_ms_per_image']):.2f}x less CPU per image")
# CPU-per-image ratios: (faster path, slower path, what the line says)
for fast, slow, what in (("shrink", "turbojpeg", "shipped vs sessions 4-7 (TurboJPEG, libvips's reduce)"),
                         ("shrink", "vipsreduce", "our Lanczos-3 vs libvips's reduce"),
                         ("turbojpeg", "libvips", "TurboJPEG decode vs libvips's loader in ximup"),
                         ("turbo", "shrink", "TurboJPEG direct vs ximup")):
    if fast in rows and slow in rows:
        ratio = float(rows[slow]["median_cpu_ms_per_image"]) / float(rows[fast]["median_cpu_ms_per_image"])
        print(f"{what}: {ratio:.2f}x less CPU per image")
pairs = [dict(f.split("=", 1) for f in line.split()) for line in open(sys.argv[3])]
ratios = [float(b["median_cpu_ms_per_image"]) / float(a["median_cpu_ms_per_image"])
          for a, b in zip(pairs[0::2], pairs[1::2])]
if ratios:
    print(f"paired (shrink then turbojpeg, {len(ratios)} pairs): sessions 4-7 path / shipped path CPU per "
          f"image: median {statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x")
PY
