#!/bin/sh
# Signatures per second: the OpenSSL file module against the PKCS#11 module on
# a throwaway SoftHSM2 token, each with 1 thread and with THREADS threads
# (default: the number of cores). Release build; needs softhsm2.
#   bench/sign.sh [SECONDS] [THREADS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-5}
threads=${2:-$(nproc)}
lib=/usr/lib/softhsm/libsofthsm2.so

[ -e "$lib" ] || { echo "bench: needs softhsm2: sudo apt-get install softhsm2" >&2; exit 1; }
cmake -S "$top" -B "$top/build/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTAMPD_TESTS=OFF >/dev/null
cmake --build "$top/build/release" --target bench_sign -j2 >/dev/null
bin="$top/build/release/bench_sign"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

mkdir "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$dir" >"$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null

echo "bench: $secs s per run, $(nproc) cores"
for t in 1 "$threads"; do
    "$bin" "openssl:$dir/keys" "$secs" "$t"
    STAMPD_CRYPTO_PIN=1234 "$bin" "pkcs11:module=$lib;token=bench" "$secs" "$t"
done
