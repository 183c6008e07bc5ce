#!/bin/sh
# What the sandbox gateway's book costs a card payment: N holds made and
# captured on a sandbox with a journal (fsync each call), then the journal
# replayed; heap and resident size a card, time a card (bench/sandbox_bench.c).
#   bench/sandbox.sh [N]       (default 200000)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-200000}
cmake -S "$top" -B "$top/build/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTAMPD_TESTS=OFF >/dev/null
cmake --build "$top/build/release" --target bench_sandbox -j2 >/dev/null
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$top/build/release/bench_sandbox" "$dir" "$n"
