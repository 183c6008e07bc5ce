#!/bin/sh
# Purchase throughput benchmark: a fresh SQLite database, the release build
# of stampd, and wrk on loopback posting purchases with unique idempotency
# keys. Prints wrk's summary and checks the books afterwards.
#   bench/run.sh [SECONDS] [CONNECTIONS] [PROCESSORS]
#   PKCS11=1 bench/run.sh ...   the same with the PSD keys in a SoftHSM2 token
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
conns=${2:-64}
procs=${3:-2}

command -v wrk >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y wrk >/dev/null; } || {
    echo "bench: needs wrk: sudo apt-get install wrk" >&2; exit 1; }
make -C "$top" build >/dev/null
bin="$top/build/release/stampd"
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT

# PKCS11=1: the PSD keys in a throwaway SoftHSM2 token instead of key files.
crypto=""
if [ "${PKCS11:-0}" = 1 ]; then
    mkdir "$dir/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$dir" >"$dir/softhsm2.conf"
    export SOFTHSM2_CONF="$dir/softhsm2.conf"
    softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
    crypto="pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=bench"
fi
STAMPD_CRYPTO_PIN=1234 "$bin" init --db "sqlite:$dir/b.db" --license PV1000001 --psds 4 \
    --deposit 100000000 ${crypto:+--crypto "$crypto"} >/dev/null
key=$("$bin" customer create --db "sqlite:$dir/b.db" --email bench@example.com --balance 10000000 | sed -n 's/^STAMP_KEY=//p')
op=$("$bin" operator create --db "sqlite:$dir/b.db" --email ops@example.com | sed -n 's/^STAMP_OPERATOR_KEY=//p')
# wrk opens all its connections from one address: lift the per-address limit.
STAMPD_CRYPTO_PIN=1234 "$bin" serve --db "sqlite:$dir/b.db" --listen 127.0.0.1:0 --processors "$procs" --threads ${THREADS:-16} \
    --per-address-limit 0 2>"$dir/log" &
pid=$!
for _ in $(seq 50); do grep -q listening "$dir/log" && break; sleep 0.1; done
url=$(sed -n 's/.*listening on //p' "$dir/log")

echo "bench: $secs s, $conns connections, $procs processors, $(nproc) cores, SQLite synchronous=FULL, keys: ${crypto:-files}"
STAMP_KEY=$key wrk -t2 -c"$conns" -d"${secs}s" -s "$top/bench/purchase.lua" "$url"

curl -s "$url/v1/psds" -H "Authorization: Bearer $op" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ok = all(p["ascending_mills"] + p["descending_mills"] == p["control_total_mills"] for p in d["psds"])
print("books: %d pieces, every PSD balanced: %s" % (sum(p["piece_count"] for p in d["psds"]), ok))
sys.exit(0 if ok else 1)'
