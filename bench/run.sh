#!/bin/sh
# The purchase benchmark (docs/performance.md, issue 15): in one invocation the
# references and stampd's durable purchases on SQLite and on PostgreSQL, with
# many customers over many connections, and the ratio of each to its goal.
# Over 1000 CONNECTIONS the server's --connection-limit is raised to match (the
# open-files limit, `ulimit -n`, must allow it).
#
#   bench/run.sh [SECONDS] [CONNECTIONS] [PROCESSORS]     (or: make bench)
#
# For each database (DB=sqlite, DB=postgres, or both, the default):
#   * the reference: `openssl speed -multi NPROC ecdsap256` (signatures/s) for
#     SQLite, `pgbench -N -c 8` on the same cluster for PostgreSQL;
#   * a fresh vendor (release build): PROCESSORS processors (default 1 on SQLite,
#     2 on PostgreSQL), CUSTOMERS customers (default 32) with their own keys;
#   * wrk with CONNECTIONS connections (default 64), each request a first-class
#     letter with a new Idempotency-Key, the customers taken in turn; the keys
#     begin with 64 random bits, as clients' UUIDv4 keys do (IDEM_KEYS=counter:
#     "bench-THREAD-COUNTER-TIME", the keys before session 24, which fall near
#     each other in the store's index of keys and flatter its writes);
#   * purchases/s, p50/p99, refusals, the resident size of stampd (sampled every
#     second: at the start of the load, at its end, the largest), the books
#     (every PSD balanced, `stampd ledger check`), and purchases/s over the goal.
# Every purchase is durable before it is answered: SQLite synchronous=FULL;
# PostgreSQL with fsync on (a throwaway cluster, scripts/pg-test.sh).
#
# Environment: DB=sqlite|postgres|both, CUSTOMERS=N, THREADS=N (server worker
# threads, default 4 as `stampd serve`'s: 16 on 2 cores woke a thread per
# request and cost more CPU a purchase), PKCS11=1 (the PSD keys in a SoftHSM2 token),
# CARD=1 (purchases pay by card through the sandbox gateway) with
# GATEWAY_LATENCY=MS (default 200: every card call sleeps that long, as a
# network round trip would; and the same load paying from the balance on a
# fresh vendor, BALANCE_CONNECTIONS=N connections if set, and the card rate
# over the balance rate, goal 0.8; the two runs take turns going first from round
# to round, the card run in the first round unless BALANCE_FIRST=1), HOOK=1 (every
# customer has a webhook endpoint subscribed to every event, answered 200 by a
# local receiver on the same cores) or HOOK=closed (the endpoint on a closed port:
# every event written and tried, no receiver), HALF=0 (skip the second run at half the rate, which
# prints the latency there), CEILING=0 (skip, on SQLite without CARD or HISTORY, the
# run of the same load with every request refused at its body's check - a member no
# purchase has - that prints what HTTP, the key and the body's checks alone cost the
# machine, and the most purchases/s it could sell with a signature added, whatever the
# store costs: the ceiling() below), KEEP=1 (keep the scratch directory),
# STAMPD=PATH (run that stampd binary instead of building build/release, e.g.
# an older build to compare with), HISTORY=N (with DB=sqlite or DB=postgres:
# the run on an empty store, then the same run on a store filled with N
# indicia of history by bench/history_fill.py, and the ratio of the two; goal
# 0.9; HISTORY_RUNS=K alternates K pairs of runs and compares the means; each run also
# prints what the operators' polled reads cost there, GET /v1/admin/stats?days=366 and GET
# /v1/admin/servers, the server idle),
# RUNS=K (default 1: without HISTORY, the reference and the load - with CARD=1 the card
# and the balance run, each on a fresh vendor - K times in turn, each pair printed, then
# the means and their ratio: one machine shared by wrk, stampd and the database moves
# 10-15 % between runs),
# PAGES=N (SQLite: before each run, the pages N purchases write, by table and
# index: bench/wal_pages.py), PG_STATEMENTS=1 (PostgreSQL: the cluster loads
# pg_stat_statements, and each run prints its statements by server time, with
# calls and microseconds a purchase, and plans a call and their microseconds a purchase -
# the statements of trigger functions too, marked "nested", whose time is also their
# statement's (track = all, track_planning: a query planned at every call shows ~1 plan a
# call; schema v46); its own cost is in every figure of that run),
# PG_OPTS="-c NAME=VALUE ..." (PostgreSQL: more server options, e.g. auto_explain's, whose
# log is the cluster's DIR/pg/log while it runs; not with PG_STATEMENTS=1, whose
# shared_preload_libraries it would replace).
# Each run also prints the kB stampd wrote to disk (SQLite) or the kB of WAL
# the cluster wrote (PostgreSQL), and the CPU time stampd used, all threads
# and its writers' (threads named stampd-writer), per purchase (written(),
# cpu_ticks() and writer_ticks() below): figures the others' load moves little;
# and the whole machine's CPU a purchase (machine_ticks(): wrk, the kernel, the
# database included), with the purchases/s the cores could give at that cost; and how
# much of the load each writer thread spent on a core and waiting for one (writer_sched()).
# Needs what `make test` installs plus wrk; installs what is missing as root.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
case ${IDEM_KEYS:-random} in random|counter) ;; *)
    echo "bench: IDEM_KEYS=random (the default) or IDEM_KEYS=counter" >&2; exit 2 ;; esac
case ${BALANCE_FIRST:-0} in 0|1) ;; *)
    echo "bench: BALANCE_FIRST=0 (the default) or BALANCE_FIRST=1" >&2; exit 2 ;; esac
secs=${1:-10}
conns=${2:-64}
procs_arg=${3:-}
db_sel=${DB:-both}
customers=${CUSTOMERS:-32}
cores=$(nproc)

need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null && return 0
    if [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null && return 0
    fi
    echo "bench: needs $1: sudo apt-get install $2" >&2
    exit 1
}
need wrk wrk
need openssl openssl
need curl curl
need python3 python3
case $db_sel in
sqlite | postgres | both) ;;
*) echo "bench: DB is sqlite, postgres or both" >&2; exit 2 ;;
esac
if [ "$db_sel" != sqlite ]; then
    need pgbench postgresql-contrib
    need psql postgresql-client
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need /usr/lib/postgresql/15/bin/initdb postgresql
fi
history=${HISTORY:-0}
if [ "$history" != 0 ] && [ "$db_sel" = both ]; then
    echo "bench: HISTORY=N needs DB=sqlite or DB=postgres" >&2
    exit 2
fi
if [ -n "${STAMPD:-}" ]; then
    bin=$STAMPD
else
    make -C "$top" build >/dev/null
    bin="$top/build/release/stampd"
fi
dir=$(mktemp -d /tmp/stampd-bench.XXXXXX)
chmod 755 "$dir"
pid=""
sampler=""
cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
    [ -n "${rx:-}" ] && kill "$rx" 2>/dev/null
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
    [ -d "$dir/pg" ] && sh "$top/scripts/pg-test.sh" stop "$dir/pg" >/dev/null 2>&1
    if [ "${KEEP:-0}" = 1 ]; then echo "bench: kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT INT TERM

# PKCS11=1: the PSD keys in a throwaway SoftHSM2 token instead of key files.
crypto=""
if [ "${PKCS11:-0}" = 1 ]; then
    need softhsm2-util softhsm2
    mkdir "$dir/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$dir" >"$dir/softhsm2.conf"
    export SOFTHSM2_CONF="$dir/softhsm2.conf"
    softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
    crypto="pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=bench"
fi
export STAMPD_CRYPTO_PIN=1234
card=${CARD:-0}
latency=""
[ "$card" = 1 ] && latency=${GATEWAY_LATENCY:-200}

# A vendor on DSN with $customers customers; their keys (comma-separated) in $dir/keys
# and its operator's in $op, both kept under LABEL for vendor() to take back.
provision() { # provision DSN LABEL
    dsn=$1
    "$bin" init --db "$dsn" --license PV1000001 --psds 4 --deposit 100000000 --gateway sandbox \
        --keys-dir "$dir/keys-$2" ${crypto:+--crypto "$crypto"} >/dev/null 2>&1
    op=$("$bin" operator create --db "$dsn" --email ops@example.com 2>/dev/null |
        sed -n 's/^STAMP_OPERATOR_KEY=//p')
    : >"$dir/keys"
    i=1
    while [ "$i" -le "$customers" ]; do
        k=$("$bin" customer create --db "$dsn" --email "c$i@example.com" --balance 100000 2>/dev/null |
            sed -n 's/^STAMP_KEY=//p')
        printf '%s%s' "$( [ "$i" -gt 1 ] && echo ,)" "$k" >>"$dir/keys"
        i=$((i + 1))
    done
    cp "$dir/keys" "$dir/keys.$2"
    echo "$op" >"$dir/op.$2"
}

# The vendor provision() kept under LABEL: its customers' keys in $dir/keys, its operator's
# in $op (the next load's).
vendor() { # vendor LABEL
    cp "$dir/keys.$1" "$dir/keys"
    op=$(cat "$dir/op.$1")
}

# Resident size of process $1 in kB, every second, into $2.
sample_rss() {
    while kill -0 "$1" 2>/dev/null; do
        sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" >>"$2" 2>/dev/null || true
        sleep 1
    done
}

# CPU time (user + system, clock ticks) process $1 has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The same for its processors' writer threads (named stampd-writer): the one
# serial part of a purchase, so its time a purchase bounds purchases/s.
writer_ticks() { thread_ticks "$1" stampd-writer; }
# The same for its HTTP worker threads (named MHD-worker): the front's share of a
# purchase (authentication, the body's checks, the job, the answer's JSON).
front_ticks() { thread_ticks "$1" MHD-worker; }
# thread_ticks PID NAME: the CPU ticks of process PID's threads named NAME.
thread_ticks() {
    t=0
    for d in /proc/"$1"/task/*; do
        [ "$(cat "$d/comm" 2>/dev/null)" = "$2" ] &&
            t=$((t + $(awk '{print $14 + $15}' "$d/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
# writer_sched PID: the nanoseconds its threads named stampd-writer spent on a core and
# runnable but waiting for one (/proc/PID/task/TID/schedstat), and how many there are: a
# writer on a core most of the load, or waiting for one, is what binds (issue 15, session 18).
writer_sched() {
    r=0 w=0 n=0
    for d in /proc/"$1"/task/*; do
        [ "$(cat "$d/comm" 2>/dev/null)" = stampd-writer ] || continue
        read -r a b _ 2>/dev/null <"$d/schedstat" || continue
        r=$((r + a)) w=$((w + b)) n=$((n + 1))
    done
    echo "$r $w $n"
}
# The machine's busy CPU ticks so far, all cores and processes (wrk, the kernel, the
# database, stampd): over a run on an otherwise idle machine, what a purchase costs in
# all, so that cores / that = the most purchases/s the machine could do at that cost.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }
# The CPU ticks of the bench's PostgreSQL cluster: every process of its postmaster
# (the backends serving stampd, the WAL writer, the checkpointer); 0 without one.
pg_ticks() {
    pm=$(head -1 "$dir/pg/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
    awk -v pm="$pm" '$4 == pm {t += $14 + $15} END {print t + 0}' /proc/[0-9]*/stat 2>/dev/null
}

# HOOK=1|closed: a webhook endpoint for every customer, subscribed to every event.
hooks() {
    hook_url=http://127.0.0.1:9/hooks
    if [ "$HOOK" = 1 ] && [ -z "${rx:-}" ]; then
        python3 -c '
import http.server
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
        for _ in $(seq 50); do [ -s "$dir/rx.port" ] && break; sleep 0.1; done
    fi
    [ "$HOOK" = 1 ] && hook_url="http://127.0.0.1:$(cat "$dir/rx.port")/hooks"
    for k in $(tr , ' ' <"$dir/keys"); do
        curl -sf "$1/v1/webhooks" -H "Authorization: Bearer $k" \
            -d "{\"url\": \"$hook_url\", \"enabled_events\": [\"*\"]}" >/dev/null
    done
}

# The bytes written so far into $wb: by stampd (pid $2) on SQLite (/proc/PID/io
# write_bytes: WAL frames and checkpoints), the cluster's WAL position on
# PostgreSQL (full-page images included).
written() {
    case $1 in
    postgres*) wb=$(psql -X -At -d "$1" -c "SELECT (pg_current_wal_lsn() - '0/0')::bigint") ;;
    *) wb=$(sed -n 's/^write_bytes: //p' "/proc/$2/io") ;;
    esac
}

# serve DSN PROCESSORS LABEL: stampd serving DSN on a free port ($url), its pid in $pid,
# its log $dir/log-LABEL; returns once it answers /healthz.
serve() {
    dsn=$1 nproc=$2 label=$3
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    url="http://127.0.0.1:$port"
    # wrk opens all its connections from one address: lift the per-address limit.
    # --log-level warning: no access line per purchase (a proxy's job in production).
    # Only over 1000 connections: an older binary (STAMPD=) has no --connection-limit.
    "$bin" serve --db "$dsn" --listen "127.0.0.1:$port" --processors "$nproc" \
        --threads "${THREADS:-4}" --per-address-limit 0 --log-level warning \
        $([ "$conns" -gt 1000 ] && echo --connection-limit $((conns + 64))) \
        ${crypto:+--crypto "$crypto"} ${latency:+--gateway-latency "$latency"} \
        ${PAYMENT_THREADS:+--payment-threads "$PAYMENT_THREADS"} \
        ${HOOK:+--webhook-allow-private} 2>"$dir/log-$label" &
    pid=$!
    for _ in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz" 2>/dev/null)" = 200 ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$dir/log-$label" >&2; exit 1; }
        sleep 0.1
    done
}

# One run: serve on DSN with N processors, wrk, the books. Prints one result line
# and sets $rate (purchases/s).
load() {
    dsn=$1 nproc=$2 label=$3
    serve "$dsn" "$nproc" "$label"
    [ -n "${HOOK:-}" ] && hooks "$url"
    case $dsn in
    sqlite:*) [ -n "${PAGES:-}" ] &&
        python3 "$top/bench/wal_pages.py" "${dsn#sqlite:}" "$url" "$(cat "$dir/keys")" "$PAGES" |
        sed "s/^/$label: /" ;;
    esac
    : >"$dir/rss-$label"
    written "$dsn" "$pid"
    wb0=$wb
    sample_rss "$pid" "$dir/rss-$label" &
    sampler=$!
    cpu0=$(cpu_ticks "$pid") wr0=$(writer_ticks "$pid") fr0=$(front_ticks "$pid") pg0=$(pg_ticks)
    # date +%s%N: GNU date (the bench is Linux's: /proc is read throughout).
    mc0=$(machine_ticks) ws0=$(writer_sched "$pid") ns0=$(date +%s%N)
    pgss=""
    case $dsn in postgres*) [ "${PG_STATEMENTS:-0}" = 1 ] && pgss=1 &&
        psql -X -At -d "$dsn" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
            -c "SELECT pg_stat_statements_reset()" >/dev/null ;; esac
    STAMP_KEYS=$(cat "$dir/keys") CARD=$card wrk -t2 -c"$conns" -d"${secs}s" \
        -s "$top/bench/purchase.lua" "$url" >"$dir/wrk-$label" 2>&1 || true
    cpu1=$(cpu_ticks "$pid") wr1=$(writer_ticks "$pid") fr1=$(front_ticks "$pid") pg1=$(pg_ticks)
    mc1=$(machine_ticks) ws1=$(writer_sched "$pid") ns1=$(date +%s%N)
    # toplevel from PostgreSQL 14 on; fields apart by a tab (the texts' spaces are folded).
    nested="''"
    [ -n "$pgss" ] && [ "$(psql -X -At -d "$dsn" -c "SHOW server_version_num")" -ge 140000 ] &&
        nested="CASE WHEN toplevel THEN '' ELSE 'nested ' END"
    [ -n "$pgss" ] && psql -X -At -F "$(printf '\t')" -d "$dsn" -c "SELECT calls, total_exec_time + total_plan_time, \
        plans, total_plan_time, $nested || \
        regexp_replace(left(query, 90), '\\s+', ' ', 'g') FROM pg_stat_statements \
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
        ORDER BY total_exec_time + total_plan_time DESC LIMIT 20" >"$dir/pgss-$label"
    written "$dsn" "$pid"
    wb1=$wb
    # The latency at half the rate just measured (issue 15: p99 <= 10 ms there):
    # the requests sent on a schedule of half that rate (purchase.lua's RATE).
    half=$(sed -n 's/^created \([0-9]*\).*/\1/p' "$dir/wrk-$label")
    half=$(( ${half:-0} / (2 * secs) ))
    rm -f "$dir/wrk-half-$label" # a round's own, never an earlier round's
    if [ "${HALF:-1}" = 1 ] && [ "$half" -gt 0 ]; then
        # The server's own view too (its purchase histogram before and after): wrk runs on
        # the same cores, and its latency includes its own waits for one. (A second first,
        # for the purchases the full-rate run left in flight.)
        sleep 1
        curl -s "$url/metrics" -H "Authorization: Bearer $op" >"$dir/metrics0-$label" || true
        STAMP_KEYS=$(cat "$dir/keys") CARD=$card RATE=$half WRK_THREADS=2 \
            wrk -t2 -c"$conns" -d"${secs}s" -s "$top/bench/purchase.lua" "$url" \
            >"$dir/wrk-half-$label" 2>&1 || true
        curl -s "$url/metrics" -H "Authorization: Bearer $op" >"$dir/metrics1-$label" || true
    fi
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    sampler=""
    # HISTORY=N: what the operators' polled reads cost on this store, the server idle - the
    # charts of a year (the web UI asks every 10 s) and the servers' last hour; the best of 3.
    ops=""
    if [ "$history" != 0 ]; then
        ops=$(for path in "/v1/admin/stats?days=366" /v1/admin/servers; do
            for _ in 1 2 3; do
                curl -s -o /dev/null -w '%{time_total}\n' "$url$path" -H "Authorization: Bearer $op"
            done | sort -n | head -n 1
        done | awk '{ printf "%s%.1f ms", (NR > 1 ? ", GET /v1/admin/servers " : "GET /v1/admin/stats?days=366 "), $1 * 1000 }')
    fi
    books=$(curl -s "$url/v1/psds" -H "Authorization: Bearer $op" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ok = all(p["ascending_mills"] + p["descending_mills"] == p["control_total_mills"] for p in d["psds"])
print("%d pieces, PSDs %s" % (sum(p["piece_count"] for p in d["psds"]), "balanced" if ok else "NOT BALANCED"))')
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
    if "$bin" ledger check --db "$dsn" >"$dir/ledger-$label" 2>&1; then
        books="$books, ledger check ok"
    else
        books="$books, LEDGER CHECK FAILED (see $dir/ledger-$label)"
        KEEP=1
    fi
    python3 - "$dir/wrk-$label" "$dir/rss-$label" $((cpu1 - cpu0)) "$(getconf CLK_TCK)" $((wr1 - wr0)) "$((wb1 - wb0))" $((fr1 - fr0)) <<'EOF' >"$dir/result-$label"
import re, sys
w = open(sys.argv[1]).read()
rss = [int(x) for x in open(sys.argv[2]).read().split() if x.strip().isdigit()]
def num(pat, default="0"):
    m = re.search(pat, w)
    return m.group(1) if m else default
created = int(num(r"created (\d+)"))
refused = int(num(r"refused (\d+)"))
# wrk prints the duration as 10.02s, or 1.00m from a minute on.
m = re.search(r"requests in ([0-9.]+)(ms|s|m|h)", w)
secs = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)] if m else 1.0
# stampd's CPU time (all its threads) over the pieces: a figure that does not move with load.
cpu_us = int(sys.argv[3]) * 1e6 / int(sys.argv[4]) / created if created else 0
wr_us = int(sys.argv[5]) * 1e6 / int(sys.argv[4]) / created if created else 0
fr_us = int(sys.argv[7]) * 1e6 / int(sys.argv[4]) / created if created else 0
print("%.0f %s %s %d %d %d %d %.0f %.0f %d %.1f %.0f" % (created / secs, num(r"p50 ([0-9.]+) ms"), num(r"p99 ([0-9.]+) ms"),
      refused, rss[1] if len(rss) > 1 else (rss[0] if rss else 0), rss[-1] if rss else 0,
      max(rss) if rss else 0, cpu_us, wr_us, rss[min(11, len(rss) - 1)] if rss else 0,
      int(sys.argv[6]) / 1024 / max(created, 1), fr_us))
EOF
    read -r rate p50 p99 refused rss0 rss1 rssmax cpu_us wr_us rss10 kbpp fr_us <"$dir/result-$label"
    printf '%s: %d processors, %d customers, %d connections: %s purchases/s, p50 %s ms, p99 %s ms, refused %s, %s kB %s and %s us of CPU a purchase (writers %s, front %s)\n' \
        "$label" "$nproc" "$customers" "$conns" "$rate" "$p50" "$p99" "$refused" "$kbpp" "$(case $dsn in postgres*) echo of WAL ;; *) echo written ;; esac)" "$cpu_us" "$wr_us" "$fr_us"
    if [ -n "$pgss" ]; then
        created=$(sed -n 's/^created \([0-9]*\).*/\1/p' "$dir/wrk-$label")
        awk -F '\t' -v n="${created:-1}" -v l="$label" '{ printf "%s: %6.2f calls %7.1f us a purchase, %5.2f plans a call (%5.1f us a purchase)  %s\n", l, $1 / n, $2 * 1000 / n, $1 ? $3 / $1 : 0, $4 * 1000 / n, $5 }' "$dir/pgss-$label"
    fi
    printf '%s: resident %d MB at the start of the load, %d MB 10 s in (caches warm), %d MB at its end, %d MB at most; books: %s\n' \
        "$label" $((rss0 / 1024)) $((rss10 / 1024)) $((rss1 / 1024)) $((rssmax / 1024)) "$books"
    [ -n "$ops" ] && echo "$label: the operators' reads, the server idle (best of 3): $ops"
    # Everything on the machine a purchase (wrk included): on an idle machine the
    # ceiling at this cost is cores x 1e6 / this.
    awk -v t=$((mc1 - mc0)) -v hz="$(getconf CLK_TCK)" -v r="$rate" -v s="$secs" -v c="$cores" \
        -v l="$label" 'BEGIN {if (r > 0) printf "%s: the machine %.0f us of CPU a purchase (all processes; %d cores at that cost: %.0f purchases/s)\n", l, t * 1e6 / hz / (r * s), c, c * 1e6 / (t * 1e6 / hz / (r * s))}'
    # Each writer's share of the load's time on a core, and waiting for one.
    awk -v a="$ws0" -v b="$ws1" -v t=$((ns1 - ns0)) -v l="$label" 'BEGIN {split(a, x, " ");
        split(b, y, " "); if (y[3] > 0 && t > 0) printf "%s: the writers (%d): on a core %.0f %%, waiting for one %.0f %% of the load, each\n", l, y[3], (y[1] - x[1]) * 100 / (t * y[3]), (y[2] - x[2]) * 100 / (t * y[3])}'
    case $dsn in postgres*)
        # PostgreSQL's own CPU a purchase: the other half of the cost on a shared machine.
        awk -v t=$((pg1 - pg0)) -v hz="$(getconf CLK_TCK)" -v r="$rate" -v s="$secs" \
            -v l="$label" 'BEGIN {if (r > 0) printf "%s: PostgreSQL %.0f us of CPU a purchase\n", l, t * 1e6 / hz / (r * s)}' ;;
    esac
    [ "$refused" = 0 ] || sed -n 's/^refusals: /  refusals: /p' "$dir/wrk-$label"
    if [ -s "$dir/wrk-half-$label" ]; then
        printf '%s: at half that rate (%s purchases/s asked): %s purchases/s, %s\n' "$label" "$half" \
            "$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$dir/wrk-half-$label")" \
            "$(sed -n 's/^latency //p' "$dir/wrk-half-$label")"
        # stampd_purchase_duration_seconds: request to answer inside stampd.
        cat "$dir/metrics0-$label" "$dir/metrics1-$label" 2>/dev/null | awk -v l="$label" '
            /^# TYPE stampd_purchase_duration_seconds/ {n++}
            /^stampd_purchase_duration_seconds_bucket\{le="0.005"\}/ {f5[n] = $2}
            /^stampd_purchase_duration_seconds_bucket\{le="0.01"\}/ {f10[n] = $2}
            /^stampd_purchase_duration_seconds_count/ {c[n] = $2}
            END {t = c[2] - c[1]; if (n == 2 && t > 0)
                printf "%s: at half the rate, inside stampd: %.2f %% of purchases over 5 ms, %.2f %% over 10 ms\n",
                    l, (t - (f5[2] - f5[1])) * 100 / t, (t - (f10[2] - f10[1])) * 100 / t}'
        # stampd_store_checkpoint_hold_seconds (SQLite): the checkpointer's holds on the
        # writers meanwhile - each one a wait for every purchase in flight.
        cat "$dir/metrics0-$label" "$dir/metrics1-$label" 2>/dev/null | awk -v l="$label" -v s="$secs" '
            /^# TYPE stampd_store_checkpoint_hold_seconds/ {n++}
            /^stampd_store_checkpoint_hold_seconds_bucket\{le="0.01"\}/ {f10[n] = $2}
            /^stampd_store_checkpoint_hold_seconds_sum/ {u[n] = $2}
            /^stampd_store_checkpoint_hold_seconds_count/ {c[n] = $2}
            END {t = c[2] - c[1]; if (n == 2)
                printf "%s: at half the rate, the checkpointer held the writers %d times, %.1f ms on average, %d of them over 10 ms, %.1f %% of the run\n",
                    l, t, (t > 0 ? (u[2] - u[1]) * 1000 / t : 0), t - (f10[2] - f10[1]), (u[2] - u[1]) * 100 / s}'
    fi
}

# What the machine allows a purchase's HTTP part alone (issue 15, session 28): the same load
# (wrk, the customers' keys, an Idempotency-Key a request) with one more member in every body
# (purchase.lua's REFUSE=1), so stampd checks the key, parses the body, checks every field and
# answers 400 unknown_field - no fingerprint, no read or write of the store, no job dispatched,
# an answer shorter than a stamp's. A purchase does every step of that (but building the short
# error answer) and more, and needs a signature: cores x 1e6 / SIGNS us of the machine (openssl
# speed's own). So cores x 1e6 / (a refused request's machine CPU + a signature's) bounds
# purchases/s on this machine with wrk on the same cores, whatever the store costs. The
# machine's CPU is all of it: run on an otherwise idle machine, or the bound comes out lower
# than it is.
ceiling() { # ceiling DSN SIGNS
    provision "$1" ceiling
    serve "$1" "${procs_arg:-1}" ceiling
    mc0=$(machine_ticks) c0=$(cpu_ticks "$pid")
    STAMP_KEYS=$(cat "$dir/keys") REFUSE=1 wrk -t2 -c"$conns" -d"${secs}s" \
        -s "$top/bench/purchase.lua" "$url" >"$dir/wrk-ceiling" 2>&1 || true
    mc1=$(machine_ticks) c1=$(cpu_ticks "$pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
    python3 - "$dir/wrk-ceiling" $((mc1 - mc0)) $((c1 - c0)) "$(getconf CLK_TCK)" "$cores" "$2" <<'EOF'
import re, sys
w = open(sys.argv[1]).read()
m = re.search(r"created (\d+), refused (\d+)", w)
u = re.search(r"unknown_field (\d+)", w)
t = re.search(r"requests in ([0-9.]+)(ms|s|m|h)", w)
n = int(u.group(1)) if u else 0
secs = float(t.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[t.group(2)] if t else 1.0
mc, cpu, hz, cores, signs = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
# Every answer must be that refusal: a 401 or a 5xx costs the machine something else.
if n == 0 or signs <= 0 or not m or not t or int(m.group(1)) != 0 or int(m.group(2)) != n:
    print("sqlite-ceiling: not every request was refused unknown_field (see wrk's output)")
    sys.exit(0)
us = mc * 1e6 / hz / n
sign = cores * 1e6 / signs
most = cores * 1e6 / (us + sign)
print("sqlite-ceiling: %.0f requests/s refused at the body's check (HTTP, the key, the body's checks), "
      "stampd %.0f us and the machine %.0f us of CPU each; with a signature (%.1f us of the machine) "
      "a purchase costs at least %.0f us: at most %.0f purchases/s here = %.3f x openssl speed (goal 0.30)"
      % (n / secs, cpu * 1e6 / hz / n, us, sign, us + sign, most, most / signs))
EOF
}

# HISTORY=N: a vendor on EMPTY_DSN and one on HISTORY_DSN filled with N
# indicia of history (bench/history_fill.py), each with its own customers'
# keys, loaded in turn HISTORY_RUNS times (default 1); prints each run, then
# the mean with history over the mean without, and sets $rate to the latter.
history_pair() { # history_pair LABEL EMPTY_DSN HISTORY_DSN PROCESSORS
    hl=$1-history
    provision "$3" "$hl"
    t0=$(date +%s)
    python3 "$top/bench/history_fill.py" "${3#sqlite:}" "$history"
    case $3 in
    sqlite:*) size=", $(($(stat -c %s "${3#sqlite:}") / 1048576)) MB" ;;
    *) size="" ;;
    esac
    echo "$hl: $history indicia filled in $(($(date +%s) - t0)) s$size; $("$bin" ledger check --db "$3" 2>&1 | tail -n 1)"
    provision "$2" "$1"
    sum0=0 sum1=0 r=0
    while [ "$r" -lt "${HISTORY_RUNS:-1}" ]; do
        vendor "$1"
        load "$2" "$4" "$1"
        sum0=$((sum0 + rate))
        vendor "$hl"
        load "$3" "$4" "$hl"
        sum1=$((sum1 + rate))
        r=$((r + 1))
    done
    echo "$hl: $((sum1 / r)) purchases/s with $history indicia stored over $((sum0 / r)) with none = $(ratio "$((sum1 / r))" "$((sum0 / r))") (goal 0.9; the means of $r runs each)"
    rate=$((sum0 / r))
}

# CARD=1: the same load paying from the balance on a fresh vendor (DSN) into
# $balance_rate, keeping $rate (BALANCE_CONNECTIONS sets its connections, default the
# same as the card run's).
balance_run() { # balance_run LABEL DSN PROCESSORS
    card_rate=${rate:-0}
    provision "$2" "$1-balance"
    card=0 latency="" conns_card=$conns conns=${BALANCE_CONNECTIONS:-$conns}
    load "$2" "$3" "$1-balance"
    card=1 latency=${GATEWAY_LATENCY:-200} conns=$conns_card
    balance_rate=$rate
    rate=$card_rate
}

# CARD=1: a round's card run on the card vendor at AT (provisioned as LABEL) and its
# balance run on a fresh vendor, and card purchases/s over balance purchases/s (issue 15's
# goal: >= 0.8 at the gateway latency, with enough connections). The two go in turns: the
# card run first in even rounds, the balance run first in odd ones (BALANCE_FIRST=1 swaps
# the two), so a machine whose speed drifts over minutes weighs on both alike - with the
# card run always first, a machine speeding up favoured the balance run: session 29's
# eight runs ran 195 -> 149 us of the machine a card one after another. Sets $rate to the
# card's.
card_round() { # card_round LABEL AT BALANCE_DSN PROCESSORS ROUND
    if [ $((($5 + ${BALANCE_FIRST:-0}) % 2)) = 1 ]; then
        echo "$1: this round's balance run first"
        balance_run "$1" "$3" "$4"
        vendor "$1" # provision left the balance vendor's
        load "$2" "$4" "$1"
    else
        load "$2" "$4" "$1"
        balance_run "$1" "$3" "$4"
    fi
    echo "$1: card $rate purchases/s over balance $balance_rate = $(ratio "$rate" "$balance_rate") (goal 0.8)"
}

ratio() { python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
# The mean of its arguments (numbers), as an integer when they all are.
mean() { python3 -c "import sys; v = [float(x) for x in sys.argv[1:]]; m = sum(v) / len(v); print('%d' % round(m) if all(x.isdigit() for x in sys.argv[1:]) else '%.1f' % m)" "$@"; }

# Without HISTORY: RUNS rounds of REF_CMD (prints the reference) and the load on LABEL's
# vendor at DSN (with CARD=1 a fresh card vendor and a fresh balance vendor a round:
# NEXT_DSN_CMD prints a new DSN each time; until session 25 the card runs went on on the
# first round's vendor, its pieces and intents growing round by round, against a fresh
# balance vendor each: 14.7, 18.7, 20.0 kB written a card over three rounds);
# REF_CMD sets $ref (the first round's is measured before). Sets $rate and $ref to the
# means, printing them and the rounds when there are several.
rounds() { # rounds LABEL DSN PROCESSORS REF_CMD NEXT_DSN_CMD GOAL_TEXT
    provision "$2" "$1"
    round=0 rates="" refs="" cards="" balances="" at=$2
    while [ "$round" -lt "${RUNS:-1}" ]; do
        [ "$round" -gt 0 ] && eval "$4"
        if [ "$round" -gt 0 ] && [ "$card" = 1 ]; then
            at=$(eval "$5")
            provision "$at" "$1"
        fi
        refs="$refs $ref"
        vendor "$1"
        if [ "$card" = 1 ]; then
            card_round "$1" "$at" "$(eval "$5")" "$3" "$round"
            cards="$cards $rate" balances="$balances $balance_rate"
        else
            load "$at" "$3" "$1"
        fi
        rates="$rates $rate"
        round=$((round + 1))
    done
    rate=$(mean $rates) ref=$(mean $refs)
    if [ "${RUNS:-1}" -gt 1 ]; then
        [ "$card" = 1 ] && echo "$1: card $rate purchases/s over balance $(mean $balances) = $(ratio "$rate" "$(mean $balances)") (goal 0.8; the means of $round pairs: cards$cards, balance$balances)"
        echo "$1: $round runs: $6:$rates; references:$refs (their means below)"
    fi
}

echo "bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$top" describe --always --dirty 2>/dev/null), $cores cores, $secs s per run, idempotency keys: ${IDEM_KEYS:-random}, keys: ${crypto:-files}${latency:+, card payments, gateway latency $latency ms}${HOOK:+, webhooks: $HOOK}"

if [ "$db_sel" != postgres ]; then
    speed() { # the reference into $ref
        ref=$(openssl speed -seconds 3 -multi "$cores" ecdsap256 2>/dev/null |
            awk '/^ *256 bits ecdsa/ {print $(NF-1); exit}')
        echo "reference: openssl speed -multi $cores ecdsap256: $ref signs/s"
    }
    speed
    if [ "$history" = 0 ]; then
        rounds sqlite "sqlite:$dir/b.db" "${procs_arg:-1}" speed \
            'echo "sqlite:$(mktemp -u "$dir/vXXXXXX").db"' "purchases/s"
        signs=$ref
    else
        signs=$ref
        history_pair sqlite "sqlite:$dir/b.db" "sqlite:$dir/h.db" "${procs_arg:-1}"
    fi
    echo "sqlite: $rate purchases/s over $signs signs/s = $(ratio "$rate" "$signs") (goal 0.30)"
    if [ "${CEILING:-1}" = 1 ] && [ "$card" = 0 ] && [ "$history" = 0 ]; then
        ceiling "sqlite:$dir/c.db" "$signs"
    fi
fi

if [ "$db_sel" != sqlite ]; then
    PG_TEST_FSYNC=on PG_TEST_OPTS=$([ "${PG_STATEMENTS:-0}" = 1 ] &&
        echo "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \
            "-c pg_stat_statements.track_planning=on")${PG_OPTS:+ $PG_OPTS} \
        sh "$top/scripts/pg-test.sh" start "$dir/pg" >/dev/null
    base=$(cat "$dir/pg/dsn")
    pgbench -q -i -s 10 "$base" >"$dir/pgbench-init" 2>&1
    bench_pg() { # the reference into $ref
        ref=$(pgbench -N -c 8 -j 2 -T "$secs" "$base" 2>/dev/null |
            sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)
        echo "reference: pgbench -N -c 8 -j 2 -T $secs (fsync on): $ref tps"
    }
    bench_pg
    dsn=$(sh "$top/scripts/pg-test.sh" createdb "$dir/pg/dsn")
    if [ "$history" = 0 ]; then
        rounds postgres "$dsn" "${procs_arg:-2}" bench_pg \
            'sh "$top/scripts/pg-test.sh" createdb "$dir/pg/dsn"' "purchases/s"
        tps=$ref
    else
        history_pair postgres "$dsn" "$(sh "$top/scripts/pg-test.sh" createdb "$dir/pg/dsn")" \
            "${procs_arg:-2}"
    fi
    echo "postgres: $rate purchases/s over $tps tps = $(ratio "$rate" "$tps") (goal 1.5)"
fi
