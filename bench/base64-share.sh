#!/usr/bin/env bash
# The share of ximup's CPU time that base64 takes during an upload, with the scalar encoder
# ("before") and with the one the CPU selects ("after"): perf samples of the ximup process while
# it uploads a tree of JPEGs to ximup-mock --discard over TLS on loopback.
#   bench/base64-share.sh                  # builds build-release; 24 JPEGs of ~4 MB; RUNS=3
#   TREE=/data/jpegs BUILD_DIR=build RUNS=5 bench/base64-share.sh
#   VARIANTS="scalar avx2 avx512" bench/base64-share.sh   # default: scalar and the CPU's best
# Needs perf (linux-perf; installed here when missing) and a kernel that allows sampling.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
source bench/build-binaries.sh
command -v perf >/dev/null || apt-get install -y -qq --no-install-recommends linux-perf >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/ximup-b64share.XXXXXX")
mock_pid=""
cleanup() {
  [[ -n "$mock_pid" ]] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

tree=${TREE:-}
if [[ -z "$tree" ]]; then
  tree="$work/tree"
  python3 tools/gen_images.py "$tree" --count 24 --size-kib 4096 --seed 7 >/dev/null
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -keyout "$work/key.pem" \
  -out "$work/cert.pem" -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
openssl rand -hex 16 >"$work/token"
"$mock" --listen 127.0.0.1:0 --port-file "$work/port" --token-file "$work/token" \
  --cert "$work/cert.pem" --key "$work/key.pem" --discard >"$work/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.05; done
port=$(cat "$work/port")

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tree: $tree ($(du -sh "$tree" | cut -f1)); ximup-mock --discard over TLS; $runs runs per variant"
best=$(XIMUP_SIMD='' "$ximup" version | sed -n 's/^base64: //p')
read -r -a variants <<<"${VARIANTS:-scalar $best}"
for variant in "${variants[@]}"; do
  shares=()
  for i in $(seq "$runs"); do
    XIMUP_SIMD=$variant XIMILAR_API_TOKEN=$(cat "$work/token") perf record -q -o "$work/perf.data" \
      "$ximup" upload "$tree" --no-state --results /dev/null --quiet -e tagging \
      --api-base "https://127.0.0.1:$port/" --cacert "$work/cert.pem" >/dev/null 2>&1
    share=$(perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
      awk '/ximup::base64::/ {gsub("%", "", $1); s += $1} END {printf "%.2f", s}')
    shares+=("$share")
    echo "  $variant run $i: base64 ${share}% of ximup's CPU samples"
  done
  median=$(printf '%s\n' "${shares[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
  echo "$variant: median ${median}% of ximup's CPU time in base64"
done
