#!/usr/bin/env bash
# Configures and builds one build tree.
# Usage: scripts/build.sh DIR [cmake args...] [-- ninja targets...]   (no targets: everything)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
cmake_args=()
while (($#)) && [[ $1 != "--" ]]; do
  cmake_args+=("$1")
  shift
done
(($#)) && shift
cmake -S . -B "$dir" -G Ninja "${cmake_args[@]}" >/dev/null
ninja -C "$dir" -j"$(nproc)" "$@"
