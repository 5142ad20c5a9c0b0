#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and the demo need.
# Idempotent: when everything is present it only runs dpkg-query (and a file test) and exits.
#   scripts/setup.sh                    everything (build, tests, sanitizers, NEON, fuzzing, demo)
#   scripts/setup.sh --build-only       only what a Release build of ximup and ximup-mock needs
#                                       (used by docker/Dockerfile's build stage)
#   scripts/setup.sh --container-tools  only podman, runc, debootstrap... (scripts/container-smoke.sh)
set -euo pipefail

mode=all
case "${1:-}" in
  "") ;;
  --build-only) mode=build ;;
  --container-tools) mode=container ;;
  *) echo "usage: scripts/setup.sh [--build-only|--container-tools]" >&2; exit 2 ;;
esac

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config clang clang-tidy clang-format
  libclang-rt-14-dev
  # libraries
  libboost1.81-dev libboost-url1.81-dev libssl-dev libsimdjson-dev libspdlog-dev
  libfmt-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
  # --resize: libvips (shrink-on-load, orientation, colour, resize, encode); TurboJPEG (plain JPEGs);
  # libjpeg's own API (the direct encoder; the tests write restart markers with it)
  libvips-dev libturbojpeg0-dev libjpeg62-turbo-dev
  # base64 on ARM64: cross compiler and qemu-user for the NEON self-check
  g++-aarch64-linux-gnu qemu-user
  # tools used by the demo, tests and benchmarks
  openssl python3 procps time python3-yaml shellcheck
)

# Not needed to build the binaries: compilers for the other checks, test and benchmark
# frameworks, ccache, and the tools of the demo and tests. --build-only installs the rest of the
# list, so a library added above reaches the container build too.
not_for_build=(
  ccache clang clang-tidy clang-format libclang-rt-14-dev libgtest-dev libgmock-dev
  libbenchmark-dev g++-aarch64-linux-gnu qemu-user openssl python3 procps time python3-yaml shellcheck
)
# Only for scripts/container-smoke.sh (never installed by the default run).
container_packages=(
  podman runc debootstrap uidmap ca-certificates
)

case "$mode" in
  build)
    selected=()
    for p in "${packages[@]}"; do
      skip=0
      for q in "${not_for_build[@]}"; do [[ "$p" == "$q" ]] && skip=1 && break; done
      ((skip)) || selected+=("$p")
    done
    packages=("${selected[@]}")
    ;;
  container) packages=("${container_packages[@]}") ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Full setup only: the schema validators of tests/manifests (npm packages pinned by
# tools/manifest-schema/package-lock.json), with the machine's Node.js; skipped when installed.
if [[ "$mode" == all ]]; then
  schema_dir="$(cd "$(dirname "$0")/.." && pwd)/tools/manifest-schema"
  stamp="$schema_dir/node_modules/.package-lock.json"
  if [[ ! -f "$stamp" || "$schema_dir/package-lock.json" -nt "$stamp" ]]; then
    if command -v npm >/dev/null; then
      echo "setup: npm ci in tools/manifest-schema (kubernetes-models, dclint)" >&2
      (cd "$schema_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
        echo "setup: npm ci failed: tests/manifests will run without schema validation" >&2
    else
      echo "setup: no npm: tests/manifests will run without schema validation" >&2
    fi
  fi
fi
