#!/usr/bin/env bash
# Throughput under server latency and under a server rate limit (issue 4): ximup against
# ximup-mock over TLS on loopback, small images so that bandwidth and CPU do not matter.
#
# 1. ximup-mock --latency-ms 300: every answer takes 300 ms. With C connections and B records per
#    request the best possible throughput is C x B / 0.3 s (8 x 10 / 0.3 = 267 images/s). The tree
#    has a whole number of rounds (C x B x ROUNDS images), so the ideal run time is ROUNDS x 0.3 s;
#    what a run takes beyond that is fixed cost: process start, scan, TLS set-up of C connections,
#    the first round trip starting late and the last one ending alone. Printed: images/s of the
#    whole run and its share of C x B / latency; and, to separate the fixed cost from the steady
#    state, the marginal throughput between a run of ROUNDS and one of SHORT_ROUNDS rounds:
#    (ROUNDS - SHORT_ROUNDS) x C x B / (t_long - t_short), as a share of the ideal (target >= 90%).
# 2. ximup-mock --rate-limit 20 (a token bucket: burst 20, 20 per second; 429 with Retry-After: 1
#    beyond it), default (adaptive) client: the requests the mock accepted per second of run, as a
#    share of what the bucket allows in that time, (burst + 20 x seconds) / seconds; the steady-state
#    rate, accepted requests per second between 25% and 75% of the expected run time (polled from the
#    mock's /stats while the run goes, so start-up and the bucket's initial burst are left out), as a
#    share of the limit (target >= 95%); and the share of all responses that were 429 (target <= 5%).
#
#   bench/faults.sh                       # RUNS=3, 8 connections, 25 rounds, 20 s at the rate limit
#   RUNS=5 CONNECTIONS=4 ROUNDS=40 RATE_SECONDS=30 bench/faults.sh
#   BUILD_DIR=build bench/faults.sh       # use an existing build tree instead of building build-release
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
connections=${CONNECTIONS:-8}
batch=10
latency_ms=${LATENCY_MS:-300}
rounds=${ROUNDS:-25}
short_rounds=${SHORT_ROUNDS:-5}
rate_limit=${RATE_LIMIT:-20}
rate_seconds=${RATE_SECONDS:-20}

source bench/build-binaries.sh

work=$(mktemp -d /tmp/ximup-faults.XXXXXX)
mock_pid=
cleanup() {
  if [[ -n "$mock_pid" ]]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

latency_images=$((connections * batch * rounds))
short_images=$((connections * batch * short_rounds))
rate_images=$((rate_limit * rate_seconds * batch))  # enough for rate_seconds at the limit
python3 tools/gen_images.py "$work/latency" --count "$latency_images" --seed 21 >/dev/null
python3 tools/gen_images.py "$work/short" --count "$short_images" --seed 23 >/dev/null
python3 tools/gen_images.py "$work/rate" --count "$rate_images" --seed 22 >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -keyout "$work/key.pem" \
  -out "$work/cert.pem" -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
openssl rand -hex 16 >"$work/token"

start_mock() {  # extra mock options...
  rm -f "$work/port"
  "$mock" --listen 127.0.0.1:0 --cert "$work/cert.pem" --key "$work/key.pem" --token-file "$work/token" \
    --port-file "$work/port" "$@" >"$work/mock.log" 2>&1 &
  mock_pid=$!
  for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
  port=$(cat "$work/port")
}
stop_mock() {
  kill "$mock_pid" 2>/dev/null || true
  wait "$mock_pid" 2>/dev/null || true
  mock_pid=
}
stats() {  # the mock's counters as JSON
  curl -sf --cacert "$work/cert.pem" "https://127.0.0.1:$port/stats"
}
# Difference of two /stats snapshots: "ok_requests rate_limited other_responses".
stats_delta() {
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def status(s, code): return s["responses_by_status"].get(str(code), 0)
ok = status(b, 200) - status(a, 200)
limited = status(b, 429) - status(a, 429)
total = sum(b["responses_by_status"].values()) - sum(a["responses_by_status"].values())
print(ok, limited, total - ok - limited)
PY
}
ok_count() { stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["responses_by_status"].get("200", 0))'; }
upload() {  # tree, extra ximup options...; sets elapsed
  local tree=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  XIMILAR_API_TOKEN=$(cat "$work/token") "$ximup" upload "$tree" --endpoint tagging \
    --api-base "https://127.0.0.1:$port/" --cacert "$work/cert.pem" --results "$work/results.jsonl" --no-state \
    --connections "$connections" --log-level warn "$@" 2>"$work/ximup.err" || {
    echo "ximup failed:"; cat "$work/ximup.err"; exit 1; }
  t1=$(date +%s.%N)
  elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine); $(date -u +%Y-%m-%dT%H:%MZ)"

# --- 1. latency ---------------------------------------------------------------------------------
ideal_ips=$(awk -v c="$connections" -v b="$batch" -v l="$latency_ms" 'BEGIN {print c * b / (l / 1000)}')
ideal_s=$(awk -v r="$rounds" -v l="$latency_ms" 'BEGIN {print r * l / 1000}')
echo
echo "1. ximup-mock --latency-ms $latency_ms; $latency_images images of ~0.1 KiB = $rounds rounds of $connections connections x $batch ($short_images = $short_rounds rounds for the marginal figure)"
echo "   command: ximup upload TREE --endpoint tagging --connections $connections --no-state (defaults otherwise)"
echo "   ideal: $connections x $batch / $(awk -v l="$latency_ms" 'BEGIN {print l / 1000}') s = $(printf '%.0f' "$ideal_ips") images/s ($ideal_s s)"
start_mock --latency-ms "$latency_ms" --threads 2
: >"$work/lat_ips"; : >"$work/lat_eff"; : >"$work/marg_ips"; : >"$work/marg_eff"
for i in $(seq "$runs"); do
  upload "$work/short"
  short_elapsed=$elapsed
  upload "$work/latency"
  ips=$(awk -v n="$latency_images" -v e="$elapsed" 'BEGIN {print n / e}')
  eff=$(awk -v x="$ips" -v i="$ideal_ips" 'BEGIN {print 100 * x / i}')
  marg=$(awk -v n=$((latency_images - short_images)) -v a="$short_elapsed" -v b="$elapsed" 'BEGIN {print n / (b - a)}')
  meff=$(awk -v x="$marg" -v i="$ideal_ips" 'BEGIN {print 100 * x / i}')
  echo "$ips" >>"$work/lat_ips"; echo "$eff" >>"$work/lat_eff"; echo "$marg" >>"$work/marg_ips"; echo "$meff" >>"$work/marg_eff"
  printf '   run %d: %6.2f s (%d rounds, ideal %s s): %6.1f images/s, %5.1f%% of ideal; %5.2f s (%d rounds); marginal %6.1f images/s, %5.1f%%\n' \
    "$i" "$elapsed" "$rounds" "$ideal_s" "$ips" "$eff" "$short_elapsed" "$short_rounds" "$marg" "$meff"
done
stop_mock
printf '   median: whole run %.1f images/s = %.1f%% of %s images/s; steady state (marginal) %.1f images/s = %.1f%% (target >= 90%%)\n' \
  "$(median <"$work/lat_ips")" "$(median <"$work/lat_eff")" "$(printf '%.0f' "$ideal_ips")" \
  "$(median <"$work/marg_ips")" "$(median <"$work/marg_eff")"

# --- 2. rate limit ------------------------------------------------------------------------------
echo
echo "2. ximup-mock --rate-limit $rate_limit (burst $rate_limit, $rate_limit/s, 429 + Retry-After: 1 beyond); $rate_images images of ~0.1 KiB"
echo "   command: ximup upload TREE --endpoint tagging --connections $connections --no-state (adaptive flow control, the default)"
: >"$work/rate_eff"; : >"$work/rate_429"; : >"$work/rate_rps"; : >"$work/steady"
window_start=$(awk -v s="$rate_seconds" 'BEGIN {print s / 4}')
window=$(awk -v s="$rate_seconds" 'BEGIN {print s / 2}')
for i in $(seq "$runs"); do
  start_mock --rate-limit "$rate_limit" --threads 2  # a fresh, full bucket per run
  before=$(stats)
  ( sleep "$window_start"; ok_count >"$work/ok_a"; sleep "$window"; ok_count >"$work/ok_b" ) &
  poller=$!
  upload "$work/rate"
  wait "$poller"
  after=$(stats)
  steady=$(awk -v a="$(cat "$work/ok_a")" -v b="$(cat "$work/ok_b")" -v w="$window" 'BEGIN {print (b - a) / w}')
  echo "$steady" >>"$work/steady"
  stop_mock
  read -r ok limited other < <(stats_delta "$before" "$after")
  rps=$(awk -v o="$ok" -v e="$elapsed" 'BEGIN {print o / e}')
  eff=$(awk -v o="$ok" -v e="$elapsed" -v r="$rate_limit" 'BEGIN {print 100 * o / (r + r * e)}')
  share=$(awk -v o="$ok" -v l="$limited" -v x="$other" 'BEGIN {print 100 * l / (o + l + x)}')
  echo "$rps" >>"$work/rate_rps"; echo "$eff" >>"$work/rate_eff"; echo "$share" >>"$work/rate_429"
  printf '   run %d: %6.2f s  %4d accepted  %4d x 429  %d other  %5.2f req/s = %5.1f%% of what the bucket allows; steady state %5.2f req/s = %5.1f%% of %s; %4.1f%% 429\n' \
    "$i" "$elapsed" "$ok" "$limited" "$other" "$rps" "$eff" "$steady" "$(awk -v x="$steady" -v r="$rate_limit" 'BEGIN {print 100 * x / r}')" "$rate_limit" "$share"
done
printf '   median: whole run %.2f requests/s = %.1f%% of what the bucket allows; steady state %.2f requests/s = %.1f%% of the limit (target >= 95%%); %.1f%% of responses 429 (target <= 5%%)\n' \
  "$(median <"$work/rate_rps")" "$(median <"$work/rate_eff")" "$(median <"$work/steady")" \
  "$(awk -v x="$(median <"$work/steady")" -v r="$rate_limit" 'BEGIN {print 100 * x / r}')" "$(median <"$work/rate_429")"
echo
echo "(median of $runs runs; shared machine: wall times include other load)"
