# Sourced by scripts/fuzz-*.sh: configures the libFuzzer build (clang, AddressSanitizer +
# UndefinedBehaviorSanitizer, -DXIMUP_FUZZ=ON) in $XIMUP_FUZZ_BUILD or build-fuzz and builds the
# target named in $1. Sets `root` and `build`. One build directory for every target: run the fuzz
# scripts one after the other, not at once.
# shellcheck shell=bash
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${XIMUP_FUZZ_BUILD:-$root/build-fuzz}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DXIMUP_FUZZ=ON -DXIMUP_SANITIZE="address;undefined" -DXIMUP_BUILD_BENCH=OFF >/dev/null
ninja -C "$build" -j2 "$1"
