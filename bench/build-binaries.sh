# shellcheck shell=bash
# shellcheck disable=SC2034  # $ximup and $mock are for the scripts that source this file
# Sourced by the bench scripts from the repo top: sets $build, $ximup and $mock.
#   BUILD_DIR unset: installs packages and configures a Release tree in build-release;
#   BUILD_DIR=dir: uses that tree as configured; NO_BUILD=1: uses the binaries as they are.
build=${BUILD_DIR:-build-release}
if [[ -z "${BUILD_DIR:-}" ]]; then
  scripts/setup.sh
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXIMUP_BUILD_TESTS=OFF >/dev/null
fi
[[ -n "${NO_BUILD:-}" ]] || ninja -C "$build" ximup ximup-mock >/dev/null
[[ "$build" == /* ]] || build=$PWD/$build
ximup=$build/src/cli/ximup
mock=$build/src/mock/ximup-mock
