#!/usr/bin/env bash
# The test command (README, second command; .ci/run calls it): installs what is missing, builds,
# and runs every test through ctest: unit and integration tests in a normal build, then the same
# tests under AddressSanitizer + UndefinedBehaviorSanitizer, then the pipeline and network tests
# under ThreadSanitizer. `scripts/test.sh --quick` runs only the first pass.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

scripts/setup.sh
jobs=$(nproc)

echo "== build (RelWithDebInfo) =="
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== tests =="
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600

if ((quick)); then exit 0; fi

echo "== build and tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DXIMUP_SANITIZE="address;undefined" -DXIMUP_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 900

echo "== build and pipeline tests under ThreadSanitizer =="
scripts/build.sh build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXIMUP_SANITIZE=thread -DXIMUP_BUILD_BENCH=OFF
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" --timeout 900 -L 'integration|pipeline'
