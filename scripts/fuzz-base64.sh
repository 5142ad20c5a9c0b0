#!/usr/bin/env bash
# Builds the base64 libFuzzer target with clang (AddressSanitizer + UndefinedBehaviorSanitizer,
# coverage on the encoders) and fuzzes every variant this CPU supports.
# Usage: scripts/fuzz-base64.sh [seconds]    (default 60; build dir: $XIMUP_FUZZ_BUILD or build-fuzz)
# Needs tests/CMakeLists.txt to hold add_subdirectory(fuzz).
set -euo pipefail

seconds=${1:-60}
# shellcheck source=scripts/fuzz-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/fuzz-build.sh" base64_fuzz

corpus=$build/base64-corpus
mkdir -p "$corpus"
# Seeds: the RFC 4648 vectors and a few block-sized inputs around the SIMD loop bounds.
printf 'f' >"$corpus/rfc-1"
printf 'foobar' >"$corpus/rfc-6"
for n in 27 28 47 48 63 64 95 96 100 111 112; do
  head -c "$n" /dev/zero | tr '\0' '\377' >"$corpus/ones-$n"
done

echo "fuzz-base64: ${seconds}s on $(nproc) core(s), corpus $corpus" >&2
"$build/tests/fuzz/base64_fuzz" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$build/" "$corpus"
