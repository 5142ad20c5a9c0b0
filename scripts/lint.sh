#!/usr/bin/env bash
# Style and static checks (scripts/test.sh runs the format check and clang-tidy in CI).
#   scripts/lint.sh --format          clang-format: fail on any file that is not formatted (.clang-format)
#   scripts/lint.sh --fix             clang-format: rewrite the files in place
#   scripts/lint.sh --shell           shellcheck over every shell script (warnings and errors)
#   scripts/lint.sh --tidy BUILD_DIR  clang-tidy (.clang-tidy) over src/ with BUILD_DIR's compile_commands.json
#                                     (LINT_JOBS: parallel jobs, default the core count)
set -euo pipefail
cd "$(dirname "$0")/.."

sources() {  # every C/C++ file of the project, NUL-separated
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z -- '*.cpp' '*.hpp' '*.h' '*.c'
  else
    find src include tests bench tools -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.c' \) \
      -print0 2>/dev/null
  fi
}

case "${1:-}" in
  --format)
    if ! sources | xargs -0 clang-format --dry-run --Werror; then
      echo "lint: the files above are not formatted; run scripts/lint.sh --fix" >&2
      exit 1
    fi
    echo "lint: clang-format: $(sources | tr -cd '\0' | wc -c) files formatted"
    ;;
  --fix)
    sources | xargs -0 clang-format -i
    ;;
  --shell)
    mapfile -t scripts < <({ git ls-files -- '*.sh' .ci/run 2>/dev/null || find . -name '*.sh'; } | sort -u)
    shellcheck --severity=warning --external-sources "${scripts[@]}"
    echo "lint: shellcheck: ${#scripts[@]} scripts clean"
    ;;
  --tidy)
    build=${2:?usage: scripts/lint.sh --tidy BUILD_DIR}
    [[ -f $build/compile_commands.json ]] || { echo "lint: no $build/compile_commands.json" >&2; exit 2; }
    # Our own translation units; the headers they include are checked through them
    # (HeaderFilterRegex in .clang-tidy). src/asio/lib_asio.cpp only compiles Asio's own sources.
    mapfile -t files < <({ git ls-files -- 'src/*.cpp' 2>/dev/null || find src -name '*.cpp'; } |
      grep -v '^src/asio/lib_asio.cpp$')
    run-clang-tidy -quiet -p "$build" -j "${LINT_JOBS:-$(nproc)}" "${files[@]/#/$PWD/}"
    echo "lint: clang-tidy: ${#files[@]} translation units clean"
    ;;
  *)
    echo "usage: scripts/lint.sh --format | --fix | --shell | --tidy BUILD_DIR" >&2
    exit 2
    ;;
esac
