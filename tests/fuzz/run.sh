#!/bin/sh
# run.sh - make fuzz: run every libFuzzer target of BUILD_DIR (built with
# STAMPD_FUZZ=ON, see CMakeLists.txt) for SECONDS each, one after the other,
# on its corpus tests/fuzz/corpus/<target>. New inputs that reach new code
# are added to that directory (commit the ones worth keeping); a corpus
# that grows past FUZZ_CORPUS_MAX files (default 200) is minimised with
# -merge=1 (hand-made seeds, any name but a SHA-1, are always kept). Crashes are written to BUILD_DIR/crashes/<target>-crash-...,
# logs to BUILD_DIR/logs/<target>.log.
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# Prints executions and new corpus files per target; exits 1 if any target
# found a crash, a leak, a timeout or a failed property.
set -eu

build=${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
secs=${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
top=$(cd "$(dirname "$0")/../.." && pwd)
# fontconfig's lifelong caches are not leaks (tests/fuzz/lsan.supp).
export LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
max=${FUZZ_CORPUS_MAX:-200}
mkdir -p "$build/logs" "$build/crashes"

if [ $# -eq 0 ]; then
    for b in "$build"/fuzz_*; do
        [ -x "$b" ] && set -- "$@" "$(basename "$b" | sed 's/^fuzz_//')"
    done
fi
[ $# -gt 0 ] || { echo "run.sh: no fuzz targets in $build" >&2; exit 1; }

# minimise TARGET CORPUS LOG - keep the inputs -merge=1 picks out of the ones
# libFuzzer added (named by their SHA-1), and every hand-made seed (any other
# name) as it is.
minimise() {
    tmp=$(mktemp -d)
    "$build/fuzz_$1" -merge=1 "$tmp" "$2" >>"$3" 2>&1
    for f in "$2"/*; do
        n=$(basename "$f")
        if printf '%s' "$n" | grep -Eq '^[0-9a-f]{40}$'; then
            rm -f "$f"
        else
            rm -f "$tmp/$(sha1sum <"$f" | cut -c1-40)"
        fi
    done
    for f in "$tmp"/*; do
        [ -e "$f" ] && mv "$f" "$2"/
    done
    rmdir "$tmp"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=""
printf '%-15s %12s %8s %8s  %s\n' target executions corpus new result
for t in "$@"; do
    corpus="$top/tests/fuzz/corpus/$t"
    log="$build/logs/$t.log"
    before=$(ls "$corpus" | wc -l)
    if "$build/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/crashes/$t-" "$corpus" >"$log" 2>&1; then
        result=ok
    else
        result="FOUND (see $log)"
        failed="$failed $t"
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    after=$(ls "$corpus" | wc -l)
    if [ "$after" -gt "$max" ]; then
        minimise "$t" "$corpus" "$log"
        after=$(ls "$corpus" | wc -l)
    fi
    printf '%-15s %12s %8s %+8d  %s\n' "$t" "${execs:-?}" "$after" "$((after - before))" "$result"
done
if [ -n "$failed" ]; then
    echo "run.sh: findings in:$failed" >&2
    exit 1
fi
