#!/usr/bin/env bash
# The test command (README, second command; .ci/run calls it): installs what is missing, builds,
# and runs every test through ctest. One build runs all unit and integration tests under
# AddressSanitizer + UndefinedBehaviorSanitizer (a plain build of the same tests would only repeat
# them more slowly to compile: the sanitizers find what a plain run finds and more); then the
# base64 NEON (qemu) and fuzz checks; then a second build runs the pipeline, network and process
# tests under ThreadSanitizer. clang-format, shellcheck and clang-tidy (scripts/lint.sh) run too.
#   scripts/test.sh           everything above (CI)
#   scripts/test.sh --quick   a plain RelWithDebInfo build and its tests, for quick local runs
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

# Unit tests in parallel; integration tests two at a time: they are real processes that mostly
# wait on each other, and every one is written for a loaded, shared machine.
run_ctest() {  # build-dir [extra ctest args]
  local dir=$1
  shift
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 900 -L unit "$@"
  ctest --test-dir "$dir" --output-on-failure -j2 --timeout 900 -L integration "$@"
}
phase() { echo "== $* ($(date -u +%H:%M:%S), ${SECONDS}s) =="; }

if ((quick)); then
  phase "build (RelWithDebInfo)"
  scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
  phase "tests"
  run_ctest build
  exit 0
fi

phase "clang-format, shellcheck"
scripts/lint.sh --format
scripts/lint.sh --shell

# The benchmarks are built here too, so they keep compiling; none of them runs in CI.
phase "build under AddressSanitizer + UndefinedBehaviorSanitizer"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DXIMUP_SANITIZE="address;undefined" -DXIMUP_BUILD_BENCH=ON
# clang-tidy runs beside the tests: the integration tests mostly wait on processes and timers and
# leave CPU free; clang-tidy takes the rest and both cores once the tests are done.
phase "unit and integration tests under AddressSanitizer + UndefinedBehaviorSanitizer; clang-tidy over src/"
LINT_JOBS=2 setsid -w scripts/lint.sh --tidy build-asan >build-asan/clang-tidy.log 2>&1 &
tidy_pid=$!  # its own process group: a failing test stops clang-tidy and its children too
trap 'kill -- "-$tidy_pid" 2>/dev/null || true' EXIT
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest build-asan
phase "waiting for clang-tidy"
if ! wait "$tidy_pid"; then
  grep -E 'error:|warning:' build-asan/clang-tidy.log || tail -50 build-asan/clang-tidy.log
  echo "clang-tidy found the problems above (.clang-tidy; full log: build-asan/clang-tidy.log)" >&2
  exit 1
fi
tail -1 build-asan/clang-tidy.log
trap - EXIT

phase "base64: NEON encoder cross-built and run under qemu-aarch64; libFuzzer: base64 and scaled JPEG, 30 s each"
scripts/test-neon.sh
scripts/fuzz-base64.sh 30
scripts/fuzz-scaled-jpeg.sh 30

phase "pipeline, network and process tests under ThreadSanitizer"
# What runs threads: ximup (driven by the integration tests) and the concurrent units. -O1, as
# ThreadSanitizer recommends, compiles faster than -O2; the mock is a test tool and comes from the
# sanitized build above rather than being compiled a third time.
scripts/build.sh build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DXIMUP_SANITIZE=thread -DXIMUP_BUILD_BENCH=OFF -DXIMUP_TEST_MOCK_BIN="$PWD/build-asan/src/mock/ximup-mock" \
  -- ximup upload_test state_test scaleout_test byte_budget_test metrics_server_test
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  run_ctest build-tsan -R '^(Upload|State|ScaleOut|ByteBudget|BufferPool|BoundedQueue|MetricsServer)\.' -E 'CrashLoop'
phase "done"
