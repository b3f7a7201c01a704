#!/bin/sh
# Builds daprd (Release) and runs it in the foreground with a demo app id, serving the Dapr
# HTTP API on 127.0.0.1:3500 and [::1]:3500. Try:  curl -i localhost:3500/v1.0/healthz
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DREMORA_TESTS=OFF
cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)" --target daprd
echo "daprd is starting: curl -i localhost:3500/v1.0/healthz  (Ctrl-C stops it)"
exec ./build-release/cmd/daprd/daprd --app-id demo --app-port 50001 "$@"
