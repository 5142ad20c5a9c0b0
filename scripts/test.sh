#!/usr/bin/env bash
# The test command (README, second command; .ci/run calls it): installs what is missing, builds,
# and runs every test through ctest: unit and integration tests in a normal build, the same tests
# under AddressSanitizer + UndefinedBehaviorSanitizer, the pipeline, network and process tests
# under ThreadSanitizer, and the base64 NEON (qemu) and fuzz checks.
#   scripts/test.sh           everything above
#   scripts/test.sh --quick   only the normal build and its tests
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --tsan) ;;  # kept for old scripts: the ThreadSanitizer pass always runs now
    *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh
jobs=$(nproc)

echo "== build (RelWithDebInfo) =="
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
# Unit tests in parallel; integration tests (real processes, timing) one at a time.
run_ctest() {  # build-dir [extra ctest args]
  local dir=$1
  shift
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 900 -L unit "$@"
  ctest --test-dir "$dir" --output-on-failure --timeout 900 -L integration "$@"
}

echo "== tests =="
run_ctest build

if ((quick)); then exit 0; fi

echo "== build and tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DXIMUP_SANITIZE="address;undefined" -DXIMUP_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest build-asan

echo "== base64: NEON encoder cross-built and run under qemu-aarch64; libFuzzer, 30 s =="
scripts/test-neon.sh
scripts/fuzz-base64.sh 30

echo "== pipeline, network and process tests under ThreadSanitizer =="
# What runs threads: the two binaries (driven by the integration tests) and the concurrent units.
scripts/build.sh build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXIMUP_SANITIZE=thread -DXIMUP_BUILD_BENCH=OFF \
  -- ximup ximup-mock upload_test state_test scaleout_test byte_budget_test metrics_server_test
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  run_ctest build-tsan -R '^(Upload|State|ScaleOut|ByteBudget|BoundedQueue|MetricsServer)\.' -E 'CrashLoop'
