#!/usr/bin/env bash
# Incremental rerun over a big unchanged tree (issue 5): 100,000 small files are uploaded once to
# ximup-mock (TLS on loopback) with the state store on (the default), then the same command is run
# again RUNS times. Prints per rerun: wall time (target < 5 s), the API requests the mock received
# during it (its /stats counter: must be 0), and the state file's size per file (target well under
# 200 bytes). Medians over the reruns.
#
#   bench/rescan.sh
#   RUNS=5 COUNT=20000 bench/rescan.sh
#   BUILD_DIR=build bench/rescan.sh    # use an existing build tree instead of building build-release
#   BENCH_DIR=/tmp/b bench/rescan.sh   # where the tree is generated and kept between runs
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
count=${COUNT:-100000}
bench_dir=${BENCH_DIR:-/tmp/ximup-bench}

source bench/build-binaries.sh

# The tree is the small tree of bench/upload.sh (same generator arguments), kept between runs.
tree=$bench_dir/rescan-$count
if [[ $count == 100000 ]]; then tree=$bench_dir/small; fi
if [[ ! -f "$tree/.complete" ]]; then
  rm -rf "$tree"
  mkdir -p "$bench_dir"
  python3 tools/gen_images.py "$tree" --count "$count" --size-kib 1 --nested --seed 7 >/dev/null
  touch "$tree/.complete"
fi
files=$(find "$tree" -type f \( -name '*.jpg' -o -name '*.png' \) | wc -l)

work=$(mktemp -d /tmp/ximup-rescan.XXXXXX)
mock_pid=
cleanup() {
  if [[ -n "$mock_pid" ]]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -keyout "$work/key.pem" \
  -out "$work/cert.pem" -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
openssl rand -hex 16 >"$work/token"
"$mock" --listen 127.0.0.1:0 --cert "$work/cert.pem" --key "$work/key.pem" --token-file "$work/token" \
  --port-file "$work/port" --discard --threads 2 >"$work/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
port=$(cat "$work/port")
requests() { curl -sf --cacert "$work/cert.pem" "https://127.0.0.1:$port/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
state=$work/state.sqlite
upload() {  # sets elapsed; the exit code must be 0
  local t0 t1
  t0=$(date +%s.%N)
  XIMILAR_API_TOKEN=$(cat "$work/token") "$ximup" upload "$tree" --endpoint tagging \
    --api-base "https://127.0.0.1:$port/" --cacert "$work/cert.pem" --results "$work/results.jsonl" \
    --state "$state" --log-level warn 2>"$work/ximup.err" || { echo "ximup failed:"; cat "$work/ximup.err"; exit 1; }
  t1=$(date +%s.%N)
  elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
}
state_bytes() {  # the state file and its -wal (if any); the .lock file is a few bytes
  local total=0
  for f in "$state" "$state-wal"; do [[ -f $f ]] && total=$((total + $(stat -c %s "$f"))); done
  echo "$total"
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "tree: $files files of 1 KiB in nested folders ($tree)"
echo "command: ximup upload TREE --endpoint tagging --api-base https://127.0.0.1:PORT/ --cacert cert.pem --state STATE (mock --discard)"
cat "$tree"/*/* >/dev/null 2>&1 || true
r0=$(requests)
upload
r1=$(requests)
printf 'first run: %.2f s, %d requests, state %d bytes = %.1f bytes/file\n' "$elapsed" $((r1 - r0)) "$(state_bytes)" \
  "$(awk -v b="$(state_bytes)" -v f="$files" 'BEGIN {print b / f}')"
: >"$work/wall"; : >"$work/req"; : >"$work/bpf"
for i in $(seq "$runs"); do
  r0=$(requests)
  upload
  r1=$(requests)
  bytes=$(state_bytes)
  bpf=$(awk -v b="$bytes" -v f="$files" 'BEGIN {print b / f}')
  echo "$elapsed" >>"$work/wall"; echo $((r1 - r0)) >>"$work/req"; echo "$bpf" >>"$work/bpf"
  printf 'rerun %d: %.2f s, %d requests, state %d bytes = %.1f bytes/file; %s\n' "$i" "$elapsed" $((r1 - r0)) \
    "$bytes" "$bpf" "$(grep -o '[0-9][0-9]* unchanged since' "$work/ximup.err" | head -1 || true)"
done
printf 'median of %d reruns: %.2f s (target < 5 s), %d requests (must be 0), %.1f bytes/file of state (target well under 200)\n' \
  "$runs" "$(median <"$work/wall")" "$(median <"$work/req")" "$(median <"$work/bpf")"
