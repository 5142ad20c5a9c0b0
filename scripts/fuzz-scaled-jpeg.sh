#!/usr/bin/env bash
# Builds the scaled JPEG decoder's libFuzzer target with clang (AddressSanitizer +
# UndefinedBehaviorSanitizer) and fuzzes it, starting from small JPEGs libjpeg writes (every chroma
# subsampling, greyscale, restart markers, progressive).
# Usage: scripts/fuzz-scaled-jpeg.sh [seconds]    (default 60; build dir: $XIMUP_FUZZ_BUILD or build-fuzz,
# shared with scripts/fuzz-base64.sh: run them one after the other, not at once)
set -euo pipefail

seconds=${1:-60}
# shellcheck source=scripts/fuzz-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/fuzz-build.sh" scaled_jpeg_fuzz

corpus=$build/scaled-jpeg-corpus
mkdir -p "$corpus"
echo "fuzz-scaled-jpeg: ${seconds}s on $(nproc) core(s), corpus $corpus" >&2
XIMUP_FUZZ_SEEDS=$corpus "$build/tests/fuzz/scaled_jpeg_fuzz" -max_total_time="$seconds" -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$build/" "$corpus"
