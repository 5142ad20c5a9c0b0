#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and the demo need.
# Idempotent: when everything is present it only runs dpkg-query and exits.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config clang clang-tidy clang-format
  libclang-rt-14-dev
  # libraries
  libboost1.81-dev libboost-url1.81-dev libssl-dev libsimdjson-dev libspdlog-dev
  libfmt-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
  # base64 on ARM64: cross compiler and qemu-user for the NEON self-check
  g++-aarch64-linux-gnu qemu-user
  # tools used by the demo, tests and benchmarks
  openssl python3 procps time
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
