#!/usr/bin/env bash
# Instructions per operation, eddy against its anchor, counted by callgrind: a figure that does
# not depend on the machine's load (wall-clock ratios from scripts/bench.sh need a quiet
# machine). Each variant runs alone (--only=NAME) at two sizes, N and 2N; the per-operation
# count is (I(2N) - I(N)) / N, which cancels start-up and set-up (file creation, thread
# start). Under valgrind threads run one at a time, so how work batches up differs from a real
# run: the median over --reps runs is shown.
#
#   scripts/bench_icount.sh [--reps N] [--n N] [--build-dir DIR] [--no-build] [BENCH...]
#
#   BENCH     tsq (call_ts / post_ts against uv_async + a mutex queue) and pool (pool round trip
#             and 64-task throughput against uv_queue_work, 4 KiB preads against uv_fs_read);
#             default: both
#   --reps N  runs per size (default 3)
#   --n N     the smaller size (default: 100000 items for tsq; 25600 operations for pool, of
#             which the one-at-a-time variants run a quarter)
#
# Needs valgrind (Debian package valgrind; not in the demo's package list). Takes ~4 min.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

reps=3 n= dir=build/release build=1 benches=()
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=$2; shift ;;
    --reps=*) reps=${1#*=} ;;
    --n) n=$2; shift ;;
    --n=*) n=${1#*=} ;;
    --build-dir) dir=$2; shift ;;
    --build-dir=*) dir=${1#*=} ;;
    --no-build) build=0 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    tsq | pool) benches+=("$1") ;;
    *) echo "bench_icount.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ ${#benches[@]} -gt 0 ] || benches=(tsq pool)
command -v valgrind >/dev/null || { echo "bench_icount.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

if [ $build = 1 ]; then
    mkdir -p "$dir"
    if ! { cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DEDDY_BUILD_BENCH=ON &&
        cmake --build "$dir" -j"${JOBS:-2}" --target bench_tsq bench_pool; } >"$dir/bench-build.log" 2>&1; then
        tail -n 30 "$dir/bench-build.log"
        exit 1
    fi
fi

tmp=$(mktemp -d /tmp/eddy-icount.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# count BIN VARIANT N: total instructions of one run.
count() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$dir/bench/$1" --only="$2" \
        --n="$3" --rounds=1 >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err"
}

# per_op BIN VARIANT N [DIV]: median over reps of (I(2N) - I(N)) / (N / DIV) (DIV: the
# benchmark runs N / DIV operations for --n=N).
per_op() {
    local vals=() a b
    for ((r = 0; r < reps; r++)); do
        a=$(count "$1" "$2" "$3") && b=$(count "$1" "$2" $((2 * $3))) || return 1
        vals+=("$(awk -v a="$a" -v b="$b" -v n="$3" -v d="${4:-1}" 'BEGIN { printf "%.1f", (b - a) / (n / d) }')")
    done
    printf '%s\n' "${vals[@]}" | sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

row() { # row WHAT BIN EDDY ANCHOR ANCHOR_NAME N [DIV]
    local e a
    e=$(per_op "$2" "$3" "$6" "${7:-1}") && a=$(per_op "$2" "$4" "$6" "${7:-1}") || { echo "$1: failed" >&2; status=1; return; }
    printf '%-40s %9s %9s  %-22s %6.2f\n' "$1" "$e" "$a" "$5" "$(awk -v e="$e" -v a="$a" 'BEGIN { print e / a }')"
}

status=0
printf '%-40s %9s %9s  %-22s %6s\n' "instructions per operation" "eddy" "anchor" "(anchor)" "ratio"
for b in "${benches[@]}"; do
    case $b in
    tsq)
        row "thread calls: post_ts" bench_tsq post uv "uv_async + mutex" "${n:-100000}"
        row "thread calls: call_ts (eddy nodes)" bench_tsq call uv "uv_async + mutex" "${n:-100000}"
        ;;
    pool)
        row "pool: round trip, one task" bench_pool eddy_roundtrip uv_roundtrip "uv_queue_work" "${n:-25600}" 4
        row "pool: 64 tasks submitting" bench_pool eddy_jobs64 uv_jobs64 "uv_queue_work" "${n:-25600}"
        row "pread 4 KiB, one at a time" bench_pool eddy_pread1 uv_pread1 "uv_fs_read" "${n:-25600}" 4
        row "pread 4 KiB, 64 in flight" bench_pool eddy_pread64 uv_pread64 "uv_fs_read" "${n:-25600}"
        ;;
    esac
done
echo "ratio = eddy / anchor instructions per operation: lower is better (goal: <= 1)."
exit $status
