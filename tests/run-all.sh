#!/bin/sh
# Builds Remora twice and runs every test in each build:
#   1. build/        RelWithDebInfo, -Wall -Wextra -Werror
#   2. build-asan/   the same with AddressSanitizer + UndefinedBehaviorSanitizer
# Unit tests (cmocka), the fuzz seed replays and integration tests (real daprd processes over
# real sockets) run under ctest in both; then the codec fuzzer runs for a bounded time.
# Exits non-zero when any build step or test fails.
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

# The integration tests' peers (Dapr JS SDK, gRPC for Node, upstream protos) from npm,
# exactly as pinned in package-lock.json.
echo "== npm ci (tests/integration)"
(cd tests/integration && npm ci --no-audit --no-fund)

run_build build -DREMORA_SANITIZE=OFF
run_build build-asan -DREMORA_SANITIZE=ON

# Coverage-guided fuzzing of the HTTP codec (libFuzzer + ASan + UBSan), bounded in time,
# starting from the committed seed corpus. A crash, leak or sanitizer report fails the run.
echo "== fuzz the HTTP codec for ${REMORA_FUZZ_SECONDS:-60} s"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREMORA_FUZZ=ON -DREMORA_SANITIZE=ON
cmake --build build-fuzz -j "$jobs" --target fuzz_http_codec
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/http_codec/* "$work/"
./build-fuzz/tests/fuzz/fuzz_http_codec -max_total_time="${REMORA_FUZZ_SECONDS:-60}" -max_len=4096 \
    -print_final_stats=1 "$work"
echo "== all tests passed (plain and sanitizer builds, fuzzing)"
