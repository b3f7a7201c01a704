#!/bin/sh
# Remora's performance benchmark in one command: a Release build of daprd and the benchmark
# programs in build-bench/, then run.mjs (see its header for the method). Arguments go to
# run.mjs: --rounds N --duration S --latency-duration S --soak S --quick --out FILE --only ...
# --exporters otlp|zipkin|otlp,zipkin (the observability chain's trace exporters; otlp alone
# by default).
#
# With --callgrind-obs as the first argument it runs callgrind_obs.mjs instead (observability's
# cost in instructions per request, sidecars under valgrind); the other arguments go to it:
# --requests N --warmup N --rate R --settle S --top N --inclusive fn,... --out FILE
# --exporters otlp|zipkin|otlp,zipkin.
set -eu

mode=bench
if [ "${1:-}" = "--callgrind-obs" ]; then
    mode=callgrind
    shift
fi

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build="$repo/build-bench"

missing=""
tools="wrk nginx h2load taskset node cmake"
if [ "$mode" = callgrind ]; then
    tools="nginx taskset node cmake valgrind callgrind_control callgrind_annotate"
fi
for tool in $tools; do
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

if [ "$mode" = callgrind ]; then
    exec node "$here/callgrind_obs.mjs" --build "$build" "$@"
fi

if [ ! -d "$repo/tests/integration/node_modules" ]; then
    (cd "$repo/tests/integration" && npm ci --no-audit --no-fund)
fi

exec node "$here/run.mjs" --build "$build" "$@"
