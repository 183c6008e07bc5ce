#!/bin/sh
# Purchase throughput benchmark: a fresh SQLite database, the release build
# of stampd, and wrk on loopback posting purchases with unique idempotency
# keys. Prints wrk's summary and checks the books afterwards.
#   bench/run.sh [SECONDS] [CONNECTIONS] [PROCESSORS]
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

"$bin" init --db "sqlite:$dir/b.db" --license PV1000001 --psds 4 --deposit 100000000 >/dev/null
key=$("$bin" customer create --db "sqlite:$dir/b.db" --email bench@example.com --balance 10000000 | sed -n 's/^STAMP_KEY=//p')
op=$("$bin" operator create --db "sqlite:$dir/b.db" --email ops@example.com | sed -n 's/^STAMP_OPERATOR_KEY=//p')
# wrk opens all its connections from one address: lift the per-address limit.
"$bin" serve --db "sqlite:$dir/b.db" --listen 127.0.0.1:0 --processors "$procs" --threads ${THREADS:-16} \
    --per-address-limit 0 2>"$dir/log" &
pid=$!
for _ in $(seq 50); do grep -q listening "$dir/log" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$dir/log")

echo "bench: $secs s, $conns connections, $procs processors, $(nproc) cores, SQLite synchronous=FULL"
STAMP_KEY=$key wrk -t2 -c"$conns" -d"${secs}s" -s "$top/bench/purchase.lua" "$url"

curl -s "$url/v1/psds" -H "Authorization: Bearer $op" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ok = all(p["ascending_mills"] + p["descending_mills"] == p["control_total_mills"] for p in d["psds"])
print("books: %d pieces, every PSD balanced: %s" % (sum(p["piece_count"] for p in d["psds"]), ok))
sys.exit(0 if ok else 1)'
