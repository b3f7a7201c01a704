#!/bin/sh
# Installs everything Remora needs to build and test on Debian 12 (bookworm).
# Idempotent: packages already present are left as they are. Must run as root.
set -eu

packages="
build-essential cmake pkg-config
libuv1-dev node-llhttp libnghttp2-dev
libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev
libcmocka-dev libyaml-dev libsqlite3-dev libssl-dev libcjson-dev sqlite3
clang libclang-rt-14-dev
curl ca-certificates
wrk nginx-light nghttp2-client valgrind
prometheus
"

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (apt-get needs it)" >&2
    exit 1
fi

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $missing
    # The metrics test runs its own prometheus (and promtool). The packaged service, when the
    # install just started it, would hold port 9090, daprd's default --metrics-port.
    case " $missing " in
    *" prometheus "*)
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            systemctl disable --now prometheus.service >/dev/null 2>&1 || true
        elif [ -x /etc/init.d/prometheus ]; then
            /etc/init.d/prometheus stop >/dev/null 2>&1 || true
        fi
        ;;
    esac
fi

# The integration tests drive daprd from Node.js (node:test and raw sockets).
if ! command -v node >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends nodejs npm
fi
