#!/bin/sh
# Installs the Debian packages stampd needs, only those that are missing.
#   scripts/deps.sh run    build + run dependencies (make run)
#   scripts/deps.sh test   also what the test suite needs (make test)
# As root it uses apt-get; otherwise it prints the exact apt-get line to run.
set -eu

mode=${1:-run}
pkgs="build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev \
libssl-dev libcurl4-openssl-dev openssl ca-certificates libzint-dev libcairo2-dev libfontconfig-dev fonts-dejavu-core \
libpq-dev libargon2-dev"
if [ "$mode" = test ]; then
    pkgs="$pkgs libcmocka-dev python3 clang-format zxing-cpp-tools dmtx-utils poppler-utils librsvg2-bin postgresql"
fi

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends $missing >/dev/null; then
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends $missing >/dev/null
    fi
else
    echo "deps: missing packages; run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi
