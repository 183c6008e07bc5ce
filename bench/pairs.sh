#!/bin/sh
# Two stampd builds compared on one machine (docs/performance.md, issue 15):
# bench/run.sh for build A and build B in ABBA order, ROUNDS times (A B B A,
# A B B A, ...), so a machine whose speed drifts over minutes weighs on both
# alike. Runs in one fixed order (A B, A B, ...) can all lean one way: session
# 21 measured +15.7 % that way, and nothing in ABBA order.
#
#   bench/pairs.sh A B [ROUNDS] [SECONDS] [CONNECTIONS] [PROCESSORS]
#
# A and B are stampd binaries (copy each build out of build/release first); ROUNDS
# defaults to 2 (eight runs), SECONDS to 10. Everything else is bench/run.sh's environment
# (DB=sqlite or DB=postgres - one of them, CARD=1, BALANCE_CONNECTIONS=N, ...; HALF=0 and
# CEILING=0 are set unless given, RUNS=1 always). It prints one line a run (purchases/s,
# the writers' and the machine's CPU a purchase and, with CARD=1, the balance run and the
# ratio; with HALF=1, the half-rate run's p99, its share over 10 ms inside stampd, the
# SQLite holds' mean), then each build's means. Each run's whole output is kept in
# $PAIRS_DIR (default a new directory under /tmp). With CARD=1 the card run goes first in
# each round's A B and the balance run first in its B A (run.sh's BALANCE_FIRST), so each
# build has as many runs of each order.
set -eu

[ $# -ge 2 ] || { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
a=$1
b=$2
rounds=${3:-2}
secs=${4:-10}
conns=${5:-64}
procs=${6:-}
db=${DB:-sqlite}
case $db in sqlite|postgres) ;; *) echo "pairs.sh: DB=sqlite or DB=postgres" >&2; exit 2 ;; esac
for bin in "$a" "$b"; do
    [ -x "$bin" ] || { echo "pairs.sh: $bin is not an executable" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
dir=${PAIRS_DIR:-$(mktemp -d /tmp/stampd-pairs.XXXXXX)}
mkdir -p "$dir"
# One round a run (RUNS=1): the lines read below are a run's first and only round's.
export HALF="${HALF:-0}" CEILING="${CEILING:-0}" DB="$db" RUNS=1

# One run: its line, and its figures appended to $dir/NAME.figures.
run() {
    name=$1 bin=$2 k=$3 first=$4 # not n: the loop's counter
    log="$dir/$name-$k.log"
    BALANCE_FIRST=$first STAMPD=$bin "$here/run.sh" "$secs" "$conns" $procs >"$log" 2>&1 ||
        { echo "pairs.sh: run $name $k failed, see $log" >&2; exit 1; }
    rate=$(grep -E "^$db: [0-9]+ processors" "$log" | head -1 | grep -oE '[0-9]+ purchases/s' | cut -d' ' -f1 || true)
    writer=$(grep -E "^$db: [0-9]+ processors" "$log" | head -1 | grep -oE 'writers [0-9]+' | cut -d' ' -f2 || true)
    machine=$(grep -E "^$db: the machine" "$log" | head -1 | grep -oE '[0-9]+ us' | cut -d' ' -f1 || true)
    bal=$(grep -E "^$db-balance: [0-9]+ processors" "$log" | head -1 | grep -oE '[0-9]+ purchases/s' | cut -d' ' -f1 || true)
    ratio=$(grep -E "^$db: card .* over balance" "$log" | grep -oE '= [0-9.]+' | cut -d' ' -f2 || true)
    # HALF=1: the half-rate run's p99 (wrk) and its share over 10 ms inside stampd.
    p99=$(grep -E "^$db: at half that rate" "$log" | head -1 | grep -oE 'p99 [0-9.]+' | cut -d' ' -f2 || true)
    slow=$(grep -E "^$db: at half the rate, inside" "$log" | head -1 | grep -oE '[0-9.]+ % over 10' | cut -d' ' -f1 || true)
    # SQLite: the checkpointer's holds on the writers at half the rate, their mean.
    hold=$(grep -E "^$db: at half the rate, the checkpointer held" "$log" | head -1 | grep -oE '[0-9.]+ ms on average' | cut -d' ' -f1 || true)
    [ -n "$rate" ] || { echo "pairs.sh: no $db rate in $log" >&2; exit 1; }
    echo "$rate ${writer:-0} ${machine:-0} ${bal:-0} ${ratio:-0} ${p99:-0} ${slow:-0} ${hold:--}" >>"$dir/$name.figures"
    printf '%-2s %2d: %6s purchases/s, writers %3s us, machine %3s us%s%s\n' "$name" "$k" "$rate" \
        "${writer:-?}" "${machine:-?}" "${bal:+, balance $bal/s, card/balance $ratio}" \
        "${p99:+, at half the rate p99 $p99 ms, ${slow:-?} % over 10 ms inside${hold:+, holds $hold ms}}"
}

n=0
while [ "$n" -lt "$rounds" ]; do
    n=$((n + 1))
    run A "$a" "$n" 0
    run B "$b" "$n" 0
    run B "$b" "$((n + rounds))" 1
    run A "$a" "$((n + rounds))" 1
done
for name in A B; do
    awk -v name="$name" '{r += $1; w += $2; m += $3; bl += $4; q += $5; k++}
        $6 > 0 {p += $6; sl += $7; kh++} # the runs with a half-rate figure only
        $8 != "-" {ho += $8; kho++}       # and a hold figure (SQLite; 0 when none)
        END {printf "%s means of %d runs: %.0f purchases/s, writers %.1f us, machine %.1f us", name, k, r / k, w / k, m / k;
             if (bl > 0) printf ", balance %.0f/s, card/balance %.3f", bl / k, q / k;
             if (kh > 0) printf ", at half the rate p99 %.1f ms, %.2f %% over 10 ms inside", p / kh, sl / kh;
             if (kho > 0) printf ", holds %.1f ms", ho / kho; printf "\n"}' "$dir/$name.figures"
done
echo "A = $a, B = $b; logs in $dir"
