#!/bin/sh
# Purchase throughput benchmark: a fresh SQLite database, the release build
# of stampd, and wrk on loopback posting purchases with unique idempotency
# keys. Prints wrk's summary and checks the books afterwards.
#   bench/run.sh [SECONDS] [CONNECTIONS] [PROCESSORS]
#   PKCS11=1 bench/run.sh ...   the same with the PSD keys in a SoftHSM2 token
#   HOOK=1 bench/run.sh ...     the same with a webhook endpoint subscribed to every event
#                               (a local receiver answering 200; docs/performance.md)
#   HOOK=closed bench/run.sh .. the endpoint on a closed port: every event written and tried
#                               once (refused at once), no receiver taking CPU
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
# HOOK=1: the receiver is on loopback, which a release build calls only when allowed.
STAMPD_CRYPTO_PIN=1234 "$bin" serve --db "sqlite:$dir/b.db" --listen 127.0.0.1:0 --processors "$procs" --threads ${THREADS:-16} \
    --per-address-limit 0 ${HOOK:+--webhook-allow-private} 2>"$dir/log" &
pid=$!
for _ in $(seq 50); do grep -q listening "$dir/log" && break; sleep 0.1; done
url=$(sed -n 's/.*listening on //p' "$dir/log")

if [ "${HOOK:-0}" = closed ]; then
    curl -sf "$url/v1/webhooks" -H "Authorization: Bearer $key" \
        -d '{"url": "http://127.0.0.1:9/hooks", "enabled_events": ["*"]}' >/dev/null
fi
if [ "${HOOK:-0}" = 1 ]; then
    python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as a real endpoint
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()' >"$dir/rx.port" &
    rx=$!
    trap 'kill $pid $rx 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
    for _ in $(seq 50); do [ -s "$dir/rx.port" ] && break; sleep 0.1; done
    curl -sf "$url/v1/webhooks" -H "Authorization: Bearer $key" \
        -d "{\"url\": \"http://127.0.0.1:$(cat "$dir/rx.port")/hooks\", \"enabled_events\": [\"*\"]}" >/dev/null
fi

echo "bench: $secs s, $conns connections, $procs processors, $(nproc) cores, SQLite synchronous=FULL, keys: ${crypto:-files}, webhook: ${HOOK:-none}"
STAMP_KEY=$key wrk -t2 -c"$conns" -d"${secs}s" -s "$top/bench/purchase.lua" "$url"

curl -s "$url/v1/psds" -H "Authorization: Bearer $op" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ok = all(p["ascending_mills"] + p["descending_mills"] == p["control_total_mills"] for p in d["psds"])
print("books: %d pieces, every PSD balanced: %s" % (sum(p["piece_count"] for p in d["psds"]), ok))
sys.exit(0 if ok else 1)'
if [ -n "${HOOK:-}" ]; then
    sleep 2
    curl -s "$url/v1/events?limit=1" -H "Authorization: Bearer $key" | python3 -c '
import json, sys
print("webhooks: events recorded:", "yes" if json.load(sys.stdin)["data"] else "NONE")'
fi
