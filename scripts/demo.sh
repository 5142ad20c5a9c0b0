#!/usr/bin/env bash
# The demo (README, first command): installs what is missing, builds ximup and ximup-mock, starts
# the mock on loopback with a freshly generated self-signed certificate, uploads the sample images
# in examples/images/ over HTTPS, stops the mock, and prints the summary and the results file.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/setup.sh
echo "== building ximup and ximup-mock (Release) =="
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DXIMUP_BUILD_TESTS=OFF -DXIMUP_BUILD_BENCH=OFF >/dev/null
ninja -C build-release ximup ximup-mock

work=$(mktemp -d "${TMPDIR:-/tmp}/ximup-demo.XXXXXX")
mock_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [[ -n "$mock_pid" ]] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "== self-signed certificate for 127.0.0.1 =="
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
# A throwaway token, passed through files and the environment only.
openssl rand -hex 20 >"$work/token"

echo "== starting ximup-mock on 127.0.0.1 =="
build-release/src/mock/ximup-mock --listen 127.0.0.1:0 --cert "$work/cert.pem" --key "$work/key.pem" \
  --token-file "$work/token" --port-file "$work/port" --ledger "$work/ledger.jsonl" >"$work/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
[[ -s "$work/port" ]] || { echo "ximup-mock did not start:"; cat "$work/mock.log"; exit 1; }
port=$(cat "$work/port")

echo "== ximup upload examples/images =="
status=0
XIMILAR_API_TOKEN=$(cat "$work/token") build-release/src/cli/ximup upload "$root/examples/images" \
  --endpoint tagging --api-base "https://127.0.0.1:$port/" --cacert "$work/cert.pem" \
  --results "$work/results.jsonl" || status=$?

kill "$mock_pid" && wait "$mock_pid" 2>/dev/null || true
mock_pid=""
echo
echo "== results ($work/results.jsonl) =="
cat "$work/results.jsonl"
echo
echo "ximup exited with $status (0: every image uploaded)"
exit "$status"
