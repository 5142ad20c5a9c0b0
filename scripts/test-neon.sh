#!/usr/bin/env bash
# Cross-builds ximup_base64 for ARM64 with Debian's aarch64 toolchain (through src/base64's own
# CMakeLists.txt, via tests/neon/CMakeLists.txt) and runs the NEON self-check under qemu-user,
# once with the automatic choice and once with XIMUP_SIMD=scalar.
# Needs: g++-aarch64-linux-gnu qemu-user (scripts/setup.sh). Build dir: $XIMUP_NEON_BUILD or build-neon.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${XIMUP_NEON_BUILD:-$root/build-neon}

for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  if ! command -v "$tool" >/dev/null; then
    echo "test-neon: $tool not found; install g++-aarch64-linux-gnu and qemu-user" >&2
    exit 2
  fi
done

cmake -S "$root/tests/neon" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
  -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ >/dev/null
ninja -C "$build" -j2 neon_selfcheck

# The ARM64 library must hold the NEON encoder and no x86-64 one.
symbols=$(aarch64-linux-gnu-nm -C "$build/base64/libximup_base64.a")
if ! grep -q 'encode_neon' <<<"$symbols" || grep -qE 'encode_(ssse3|avx2|avx512)' <<<"$symbols"; then
  echo "test-neon: libximup_base64.a for ARM64 has the wrong encoders" >&2
  exit 1
fi

echo "test-neon: automatic choice" >&2
qemu-aarch64 "$build/neon_selfcheck"
echo "test-neon: XIMUP_SIMD=scalar" >&2
XIMUP_SIMD=scalar qemu-aarch64 "$build/neon_selfcheck"
