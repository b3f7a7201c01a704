#!/bin/sh
# The demo: builds daprd (Release) and starts, on loopback,
#   - the example "orders" app (examples/orders/app.mjs, HTTP on 3000),
#   - its sidecar "orders"   (HTTP API on 3501, app channel to 3000, metrics on 9091),
#   - a caller's sidecar "frontend" (HTTP API on 3500, metrics on 9090),
# then prints the curl line that invokes the app through both sidecars:
#   curl → frontend's daprd :3500 → internal gRPC API → orders' daprd → the app.
# The sidecars find each other through the default SQLite name resolution (~/.dapr/nr.db).
# Ctrl-C (or SIGTERM) stops everything.
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DREMORA_TESTS=OFF
cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)" --target daprd
DAPRD=./build-release/cmd/daprd/daprd

pids=""
stop() {
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill $pids 2>/dev/null
    wait 2>/dev/null
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

node examples/orders/app.mjs 3000 &
pids="$pids $!"
"$DAPRD" --app-id orders --dapr-http-port 3501 --dapr-internal-grpc-port 50012 \
    --metrics-port 9091 --app-protocol http --app-port 3000 &
pids="$pids $!"
"$DAPRD" --app-id frontend --dapr-http-port 3500 --dapr-internal-grpc-port 50011 \
    --metrics-port 9090 --app-protocol http --app-port 3001 &
pids="$pids $!"

# wait until the caller's sidecar reaches the app
i=0
until curl -fs -o /dev/null localhost:3500/v1.0/invoke/orders/method/list; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "demo: the sidecars did not come up" >&2; exit 1; }
    sleep 0.1
done

cat <<MSG

Remora is running: sidecar "frontend" on :3500, sidecar "orders" on :3501, the orders app on :3000.
Invoke the app through both sidecars:

  curl -i -X POST localhost:3500/v1.0/invoke/orders/method/new -H 'Content-Type: application/json' -d '{"item":"tea"}'
  curl -s localhost:3500/v1.0/invoke/orders/method/list
  curl -i localhost:3500/v1.0/healthz
  curl -s localhost:9090/metrics      # Prometheus metrics of "frontend" (:9091 for "orders")

Ctrl-C stops the demo.
MSG
wait
