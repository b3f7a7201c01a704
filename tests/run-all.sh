#!/bin/sh
# Builds Remora twice and runs every test in each build:
#   1. build/        RelWithDebInfo, -Wall -Wextra -Werror
#   2. build-asan/   the same with AddressSanitizer + UndefinedBehaviorSanitizer
# Unit tests (cmocka) and integration tests (real daprd processes over real sockets) run
# under ctest in both. Exits non-zero when any build step or test fails.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run_build() {
    dir=$1; shift
    echo "== configure $dir ($*)"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
    echo "== build $dir"
    cmake --build "$dir" -j "$jobs"
    echo "== test $dir"
    (cd "$dir" && ctest --output-on-failure --timeout 300 -j 2)
}

run_build build -DREMORA_SANITIZE=OFF
run_build build-asan -DREMORA_SANITIZE=ON
echo "== all tests passed (plain and sanitizer builds)"
