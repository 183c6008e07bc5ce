#!/bin/sh
# Installs the Debian packages stampd needs, only those that are missing.
#   scripts/deps.sh run    build + run dependencies (make run)
#   scripts/deps.sh test   also what the test suite needs (make test)
#   scripts/deps.sh fuzz   also clang and libFuzzer (make fuzz only)
# As root it uses apt-get; otherwise it prints the exact apt-get line to run.
set -eu

mode=${1:-run}
pkgs="build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev \
libssl-dev libcurl4-openssl-dev openssl ca-certificates libzint-dev libcairo2-dev libfontconfig-dev fonts-dejavu-core \
libpq-dev libargon2-dev libgnutls28-dev libp11-kit-dev libdmtx-dev libjpeg-dev libpoppler-glib-dev libsystemd-dev scdoc"
if [ "$mode" = test ]; then
    # python3-jsonschema: live answers checked against docs/openapi.yaml (openapi_check.py).
    pkgs="$pkgs libcmocka-dev python3 python3-jsonschema clang-format zxing-cpp-tools dmtx-utils poppler-utils librsvg2-bin postgresql softhsm2"
    # test_deb.py builds the .deb; test_install.py checks the unit with systemd-analyze.
    pkgs="$pkgs dpkg-dev debhelper systemd"
    # The web UI's browser tests: Debian's chromium driven by npm's playwright-core.
    # A node and npm installed otherwise (NodeSource, nvm) are used as they are.
    pkgs="$pkgs chromium"
    command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
fi
# deps-fuzz: clang and its libFuzzer runtime, for make fuzz only (make test
# replays the fuzz corpora with gcc and needs neither).
deps_fuzz="clang libclang-rt-14-dev"
[ "$mode" = fuzz ] && pkgs="$pkgs $deps_fuzz"

top=$(cd "$(dirname "$0")/.." && pwd)

# playwright-core, pinned by tests/e2e/package-lock.json; it drives
# /usr/bin/chromium and downloads no browser of its own. @redocly/cli, the
# linter of docs/openapi.yaml (CTest docs/openapi-lint), likewise.
e2e_modules() {
    [ "$mode" = test ] || return 0
    [ -d "$top/tests/e2e/node_modules/playwright-core" ] &&
        [ -d "$top/tests/e2e/node_modules/@redocly/cli" ] && return 0
    echo "deps: npm ci in tests/e2e" >&2
    (cd "$top/tests/e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null)
}

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    e2e_modules
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends $missing >/dev/null; then
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends $missing >/dev/null
    fi
    e2e_modules
else
    echo "deps: missing packages; run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi
