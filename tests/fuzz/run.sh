#!/bin/sh
# run.sh - make fuzz: run every libFuzzer target of BUILD_DIR (built with
# STAMPD_FUZZ=ON, see CMakeLists.txt) for SECONDS each, one after the other,
# on its corpus tests/fuzz/corpus/<target>. New inputs that reach new code
# are added to that directory (commit the ones worth keeping); a corpus
# that grows past FUZZ_CORPUS_MAX files (default 200) is minimised with
# -merge=1. Crashes are written to BUILD_DIR/crashes/<target>-crash-...,
# logs to BUILD_DIR/logs/<target>.log.
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# Prints executions and new corpus files per target; exits 1 if any target
# found a crash, a leak, a timeout or a failed property.
set -eu

build=${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
secs=${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
top=$(cd "$(dirname "$0")/../.." && pwd)
max=${FUZZ_CORPUS_MAX:-200}
mkdir -p "$build/logs" "$build/crashes"

if [ $# -eq 0 ]; then
    for b in "$build"/fuzz_*; do
        [ -x "$b" ] && set -- "$@" "$(basename "$b" | sed 's/^fuzz_//')"
    done
fi
[ $# -gt 0 ] || { echo "run.sh: no fuzz targets in $build" >&2; exit 1; }

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
        tmp=$(mktemp -d)
        "$build/fuzz_$t" -merge=1 "$tmp" "$corpus" >>"$log" 2>&1
        rm -f "$corpus"/*
        mv "$tmp"/* "$corpus"/
        rmdir "$tmp"
        after=$(ls "$corpus" | wc -l)
    fi
    printf '%-15s %12s %8s %8s  %s\n' "$t" "${execs:-?}" "$after" "+$((after - before))" "$result"
done
if [ -n "$failed" ]; then
    echo "run.sh: findings in:$failed" >&2
    exit 1
fi
