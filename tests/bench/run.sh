#!/bin/sh
# Remora's performance benchmark in one command: a Release build of daprd and the benchmark
# programs in build-bench/, then run.mjs (see its header for the method). Arguments go to
# run.mjs: --rounds N --duration S --latency-duration S --soak S --quick --out FILE --only ...
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build="$repo/build-bench"

missing=""
for tool in wrk nginx h2load taskset node cmake; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
        missing="$missing $tool"
    fi
done
if [ -n "$missing" ]; then
    echo "bench: missing tools:$missing" >&2
    echo "bench: install them with deploy/install-deps.sh (as root)" >&2
    exit 1
fi

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target daprd http_echo grpc_echo loadgen >&2

if [ ! -d "$repo/tests/integration/node_modules" ]; then
    (cd "$repo/tests/integration" && npm ci --no-audit --no-fund)
fi

exec node "$here/run.mjs" --build "$build" "$@"
