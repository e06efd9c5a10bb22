#!/usr/bin/env bash
# Run eddy's benchmarks (bench/) and print each figure next to its anchor, measured in the
# same run, with the ratio.
#
#   scripts/bench.sh [--quick] [--reps N] [--cpu N] [--build-dir DIR] [--no-build] [--raw FILE]
#                    [--no-echo] [--no-python]
#
#   --quick      fewer rounds and smaller N (CI-like smoke run, ~15 s)
#   --reps N     run every benchmark binary N times (default 3; 1 with --quick), interleaved
#                (switch spawn timers tsq pool sleepers process, switch ...); the table shows the
#                median over the N runs of each binary's own median over its rounds
#   --cpu N      CPU the single-threaded benchmarks are pinned to (default 1; 0 if only one)
#   --build-dir  build tree (default build/release, as `make demo`); configured with
#                -DEDDY_BUILD_BENCH=ON and the bench targets built unless --no-build
#   --raw FILE   also keep every key=value line of every run in FILE
#   --no-echo    skip the echo benchmark (below)
#   --no-python  run the echo benchmark without its Python (asyncio, uvloop) anchors
#
# Each binary alternates eddy and its anchors round by round (A B A B ...) inside one process,
# pinned with taskset; bench_tsq pins its loop thread and producer thread to two different
# CPUs itself; bench_pool (thread pool and file reads against libuv's pool, the same number of
# workers each) runs on CPUs 0 and 1. docs/benchmarks.md says what each figure means.
# Instruction counts under callgrind, which do not depend on the machine's load:
# scripts/bench_icount.sh. Then scripts/bench_echo.sh runs the echo benchmark (eddy's echo
# servers against epoll, io_uring, libuv, asyncio and uvloop echo servers; ~12 min, ~70 s with
# --quick), with the same --quick, --build-dir, --no-build and --raw (as FILE.echo), and its
# --scaling run (one worker against two; ~1 min, ~6 s with --quick; FILE.scaling), then scripts/bench_http.sh
# (http_hello against nginx, h2o and Go's net/http under wrk; ~5 min, ~40 s with --quick),
# likewise (--raw as FILE.http), then scripts/bench_http_client.sh (eddy's HTTP client against
# aiohttp and curl --parallel, fetching from nginx; ~2 min, ~15 s with --quick; --raw as
# FILE.client) and scripts/bench_https.sh (https_hello against nginx with TLS under wrk,
# keep-alive and new connections; ~2.5 min, ~20 s with --quick; FILE.https).

# Debian packages the benchmarks need (the anchors and the C++ compiler for Boost.Context;
# util-linux gives taskset). The Makefile's dependency step installs these.
BENCH_DEB_PACKAGES="libuv1-dev libev-dev libboost-context-dev g++ cmake util-linux wrk nginx-light h2o golang-go curl python3-aiohttp python3-uvloop openssl python3"

set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

quick=0 reps= cpu=1 dir=build/release build=1 raw= echo=1 nopy=0
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --reps) reps=$2; shift ;;
    --reps=*) reps=${1#*=} ;;
    --cpu) cpu=$2; shift ;;
    --cpu=*) cpu=${1#*=} ;;
    --build-dir) dir=$2; shift ;;
    --build-dir=*) dir=${1#*=} ;;
    --no-build) build=0 ;;
    --no-echo) echo=0 ;;
    --no-python) nopy=1 ;;
    --raw) raw=$2; shift ;;
    --raw=*) raw=${1#*=} ;;
    -h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$reps" ] || reps=$([ $quick = 1 ] && echo 1 || echo 3)
ncpu=$(nproc 2>/dev/null || echo 1)
[ "$ncpu" -gt "$cpu" ] || cpu=0
benches=(bench_switch bench_spawn bench_timers bench_tsq bench_pool bench_sleepers bench_process)

if [ $build = 1 ]; then
    mkdir -p "$dir"
    echo "== building the benchmarks in $dir (log: $dir/bench-build.log)"
    if ! { cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DEDDY_BUILD_BENCH=ON &&
        cmake --build "$dir" -j"${JOBS:-2}" --target "${benches[@]}"; } >"$dir/bench-build.log" 2>&1; then
        tail -n 30 "$dir/bench-build.log"
        echo "bench.sh: build failed (see $dir/bench-build.log; packages: $BENCH_DEB_PACKAGES)" >&2
        exit 1
    fi
fi
for b in "${benches[@]}"; do
    [ -x "$dir/bench/$b" ] || { echo "bench.sh: $dir/bench/$b is missing" >&2; exit 1; }
done

out=$(mktemp /tmp/eddy-bench.XXXXXX)
trap 'rm -f "$out"' EXIT
args=()
[ $quick = 1 ] && args+=(--quick)
pin() { if command -v taskset >/dev/null; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
status=0
start=$(date +%s)
echo "== running: ${#benches[@]} benchmarks x $reps repetitions, pinned to CPU $cpu$([ $quick = 1 ] && echo ', --quick')"
for ((r = 1; r <= reps; r++)); do
    for b in "${benches[@]}"; do
        if [ "$b" = bench_tsq ] || [ "$b" = bench_pool ]; then
            cpus=$([ "$ncpu" -ge 2 ] && echo 0,1 || echo 0)
            res=$(pin "$cpus" "$dir/bench/$b" "${args[@]}")
        else
            res=$(pin "$cpu" "$dir/bench/$b" "${args[@]}")
        fi
        rc=$?
        if [ $rc -ne 0 ]; then
            echo "bench.sh: $b failed (exit status $rc)" >&2
            status=1
            continue
        fi
        # bench=NAME first, then key=value lines: store as "NAME.key value".
        printf '%s\n' "$res" | awk -F= -v rep="$r" '
            $1 == "bench" { name = $2; next }
            NF == 2 { print name "." $1, $2, rep }' >>"$out"
    done
done
[ -n "$raw" ] && cp "$out" "$raw"

# Median over repetitions of every key, then the table. The ratio column is the median over
# repetitions of the per-repetition ratio (both sides ran in the same process, interleaved).
awk -v quick=$quick -v reps="$reps" '
function med(arr, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
    return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
{ val[$1, $3] = $2; seen[$1] = 1; if ($3 > maxrep) maxrep = $3 }
function m(k,   r, n, a) {
    n = 0
    for (r = 1; r <= maxrep; r++) if ((k, r) in val) a[++n] = val[k, r]
    return n ? med(a, n) : -1
}
function mratio(ek, ak,   r, n, a) {
    n = 0
    for (r = 1; r <= maxrep; r++) if (((ek, r) in val) && ((ak, r) in val) && val[ak, r] > 0) a[++n] = val[ek, r] / val[ak, r]
    return n ? med(a, n) : -1
}
function fmt(x) { return x >= 100000 ? sprintf("%.3g", x) : sprintf("%.2f", x) }
# row(what, unit, eddy key, anchor key, anchor name, goal on, op, goal value): the goal is on
# "ratio" or on the "eddy" figure itself, op "<=" or ">="; "" for a figure with no goal. Every
# goal that is not met gets one line of explanation under the table (why[]).
function row(what, unit, ek, ak, aname, gon, op, gv,   e, a, q, x, met, goal, far) {
    e = m(ek); a = m(ak)
    if (e < 0 || a <= 0) { printf "%-27s %s\n", what, "(missing)"; return }
    q = mratio(ek, ak)
    met = ""; goal = ""
    if (op != "") {
        x = gon == "ratio" ? q : e
        met = (op == "<=" && x <= gv) || (op == ">=" && x >= gv) ? "yes" : "no"
        goal = gon " " op " " gv (gon == "eddy" ? " " unit : "")
        if (met == "no") {
            far = op == "<=" ? sprintf("%.1f%% over", (x / gv - 1) * 100) : sprintf("%.1f%% short", (1 - x / gv) * 100)
            why[++nwhy] = sprintf("%-27s %s %s against a goal of %s: %s", what, gon, fmt(x), op " " gv, far)
        }
    }
    printf "%-27s %9s %-7s %9s %-14s %6.2f  %-15s %s\n", what, fmt(e), unit, fmt(a), aname, q, goal, met
}
END {
    printf "\n%-27s %9s %-7s %9s %-14s %6s  %-15s %s\n", "benchmark", "eddy", "unit", "anchor", "(anchor)", "ratio", "goal", "met?"
    printf "%-27s %9s %-7s %9s %-14s %6s  %-15s %s\n", "---------", "----", "----", "------", "--------", "-----", "----", "----"
    row("switch: eddy_yield hand-off", "ns", "switch.eddy_yield_ns", "switch.asm_best_switch_ns", "minimal asm", "ratio", "<=", 2)
    row("switch: eddy_yield hand-off", "ns", "switch.eddy_yield_ns", "switch.boost_fcontext_ns", "jump_fcontext", "", "", "")
    row("switch: raw context switch", "ns", "switch.eddy_raw_switch_ns", "switch.asm_best_switch_ns", "minimal asm", "", "", "")
    row("switch: raw context switch", "ns", "switch.eddy_raw_switch_ns", "switch.boost_fcontext_ns", "jump_fcontext", "", "", "")
    row("spawn+exit, pooled stack", "ns", "spawn.eddy_spawn_ns", "spawn.boost_fiber_spawn_ns", "boost fiber", "eddy", "<=", 150)
    nt = m("sleepers.tasks")
    row(sprintf("%s sleepers: RSS per task", nt >= 1000000 ? nt / 1000000 "M" : nt / 1000 "k"), "KiB", "sleepers.rss_per_task_kib", "sleepers.page_kib", "one page", "eddy", "<=", 4.5)
    row("spawn on fresh stacks", "ns", "sleepers.spawn_ns", "spawn.eddy_spawn_ns", "pooled spawn", "", "", "")
    row("timers: start+stop", "ns", "timers.eddy_start_stop_ns", "timers.libev_start_stop_ns", "libev", "ratio", "<=", 1)
    row("timers: start+stop", "ns", "timers.eddy_start_stop_ns", "timers.libuv_start_stop_ns", "libuv", "", "", "")
    row("thread calls: post_ts", "items/s", "tsq.eddy_post_ts_items_per_s", "tsq.uv_async_mutex_items_per_s", "uv_async+mutex", "ratio", ">=", 1)
    row("thread calls: call_ts", "items/s", "tsq.eddy_call_ts_items_per_s", "tsq.uv_async_mutex_items_per_s", "uv_async+mutex", "ratio", ">=", 1)
    row("thread calls: call_ts", "items/s", "tsq.eddy_call_ts_items_per_s", "tsq.uv_async_mutex_malloc_items_per_s", "same + malloc", "", "", "")
    row("processes: spawn+wait", "procs/s", "process.eddy_spawns_per_s", "process.uv_spawn_spawns_per_s", "uv_spawn", "ratio", ">=", 1)
    row("processes: spawn+wait", "procs/s", "process.eddy_spawns_per_s", "process.asyncio_spawns_per_s", "python asyncio", "", "", "")
    row("processes: SIGCHLD path", "procs/s", "process.eddy_fallback_spawns_per_s", "process.uv_spawn_spawns_per_s", "uv_spawn", "", "", "")
    row("pool: round trip, 1 task", "ops/s", "pool.eddy_roundtrip_per_s", "pool.uv_roundtrip_per_s", "uv_queue_work", "ratio", ">=", 1)
    row("pool: 64 tasks submitting", "ops/s", "pool.eddy_jobs64_per_s", "pool.uv_jobs64_per_s", "uv_queue_work", "ratio", ">=", 1)
    row("pread 4 KiB, 1 in flight", "ops/s", "pool.eddy_pread1_per_s", "pool.uv_pread1_per_s", "uv_fs_read", "ratio", ">=", 1)
    row("pread 4 KiB, 64 in flight", "ops/s", "pool.eddy_pread64_per_s", "pool.uv_pread64_per_s", "uv_fs_read", "ratio", ">=", 1)
    printf "\nratio = eddy / anchor, median over runs of the per-run ratio (items/s, ops/s, procs/s:\n"
    printf "higher is better; ns and KiB: lower is better). Figures: median over %d run(s) of each binary'"'"'s median\n", reps
    printf "over its rounds%s. Sleepers also: %.0f KiB of address space and %.0f B of page\n", quick ? " (--quick)" : "", m("sleepers.vm_per_task_kib"), m("sleepers.pte_per_task_bytes")
    printf "tables per task (not in RSS), teardown %.0f ns per task.\n", m("sleepers.teardown_ns")
    if (nwhy) {
        printf "\nGoals not met (docs/benchmarks.md says what each goal stands for):\n"
        for (i = 1; i <= nwhy; i++) printf "  %s\n", why[i]
        if (quick || reps < 3)
            printf "These come from %s: re-measure on a quiet machine (make bench) first.\n", quick ? "one short run (--quick)" : reps " run(s)"
        else
            printf "Medians of %d runs: a figure off its goal here is a finding, not noise.\n", reps
    }
}' "$out"
echo "== benchmarks took $(($(date +%s) - start)) s"

# The echo benchmark (servers, a load generator, two processes per run) has its own script.
echo
eargs=(--build-dir "$dir")
[ $quick = 1 ] && eargs+=(--quick)
[ $build = 1 ] || eargs+=(--no-build)
[ -n "$raw" ] && eargs+=(--raw "$raw.echo")
[ $nopy = 1 ] && eargs+=(--no-python)
[ $echo = 1 ] || exit $status
bash scripts/bench_echo.sh "${eargs[@]}" || status=1

# One loop per core (R4): each eddy echo server with one worker against two. It needs two
# CPUs (the second worker's); on one there is nothing to show, which is not a failure.
echo
if [ "$(nproc)" -ge 2 ]; then
    sargs=(--scaling --no-build --build-dir "$dir")
    [ $quick = 1 ] && sargs+=(--quick)
    [ -n "$raw" ] && sargs+=(--raw "$raw.scaling")
    bash scripts/bench_echo.sh "${sargs[@]}" || status=1
else
    echo "== scaling benchmark skipped: one CPU (it compares one worker with two)"
fi

# The HTTP benchmark (http_hello against nginx, h2o and Go under wrk) has its own script too.
echo
hargs=(--build-dir "$dir")
[ $quick = 1 ] && hargs+=(--quick)
[ $build = 1 ] || hargs+=(--no-build)
[ -n "$raw" ] && hargs+=(--raw "$raw.http")
bash scripts/bench_http.sh "${hargs[@]}" || status=1

# The HTTP client benchmark (eddy's client against aiohttp and curl, fetching from nginx) and
# the HTTPS benchmark (https_hello against nginx with TLS under wrk) have their own scripts.
echo
cargs=(--build-dir "$dir")
[ $quick = 1 ] && cargs+=(--quick)
[ $build = 1 ] || cargs+=(--no-build)
[ -n "$raw" ] && cargs+=(--raw "$raw.client")
bash scripts/bench_http_client.sh "${cargs[@]}" || status=1
echo
sargs=(--build-dir "$dir")
[ $quick = 1 ] && sargs+=(--quick)
[ $build = 1 ] || sargs+=(--no-build)
[ -n "$raw" ] && sargs+=(--raw "$raw.https")
bash scripts/bench_https.sh "${sargs[@]}" || status=1
exit $status
