#!/usr/bin/env bash
# The echo benchmark: eddy's echo servers (examples/echo_stream, coroutine style, and
# examples/echo_protocol, callback style), on each I/O backend, against three anchors written in
# bench/: echo_epoll (hand-written level-triggered epoll, no runtime at all), echo_uring
# (hand-written io_uring on liburing) and echo_uv (libuv), and four Python ones
# (bench/echo_asyncio.py: asyncio and uvloop, each with the streams and the protocol API).
# Load from bench/echo_load: strict ping-pong on many connections.
#
#   scripts/bench_echo.sh [--quick] [--rounds N] [--build-dir DIR] [--no-build] [--raw FILE]
#                         [--eddy "NAMES"] [--backends "NAMES"] [--anchors "NAMES"]
#                         [--no-python] [--py-default-malloc] [--port-base N]
#   scripts/bench_echo.sh --table FILE [--eddy "NAMES"]
#
#   --quick      1 round, shorter runs (~50 s with every server, ~20 s of it the Python anchors)
#   --rounds N   rounds per message size (default 5; 1 with --quick); a round runs every
#                server once, in an order rotated from round to round, so eddy and each anchor
#                alternate and the per-round ratios pair runs made seconds apart
#   --build-dir  build tree (default build/release); the echo targets are built in it
#                unless --no-build
#   --raw FILE   also keep every key=value line of every run in FILE ("case server key value round")
#   --eddy NAMES the servers in eddy's column (default "echo_stream echo_protocol"); e.g.
#                --eddy echo_uv puts the libuv anchor there, to check the harness itself
#   --backends   eddy's I/O backends to run each eddy server on (default "epoll io_uring";
#                io_uring is left out, with a message, where it cannot run). A server on a
#                backend is named SERVER@BACKEND (echo_stream@io_uring) and runs with
#                EDDY_BACKEND=BACKEND; plain SERVER is SERVER@epoll. eddy on epoll is compared
#                with echo_epoll and echo_uv, eddy on io_uring with echo_uring and with itself
#                on epoll
#   --anchors    the anchors to run (default "echo_epoll echo_uring echo_uv py_asyncio_streams
#                py_asyncio_protocol py_uvloop_streams py_uvloop_protocol"; echo_uring where
#                it is built). py_LOOP_API is `python3 bench/echo_asyncio.py --loop LOOP --api
#                API`, the Python anchors (python3, and python3-uvloop for the uvloop ones;
#                skipped with a message where missing; $PYTHON: another interpreter). They are much slower per message, so
#                at 10,000 connections only py_uvloop_protocol runs (and py_uvloop_streams,
#                not with --quick). Compared with them: eddy's server CPU per message, total
#                against py_uvloop_protocol's, user time against py_uvloop_streams'
#   --no-python  leave the Python anchors out (saves ~20 s of --quick, ~3.5 min of a full run)
#   --py-default-malloc  run the Python anchors with glibc malloc's default thresholds (by
#                default the script raises them: see server_cmd below)
#   --port-base  first TCP port (default 27100); every run gets a fresh one
#   --table FILE print the tables from a FILE kept with --raw, without running anything
#   --scaling    instead: one loop per core (R4). Each eddy server (--eddy) runs once with
#                --workers 1 (on CPU 1) and once with --workers 2 --pin (on CPUs 0 and 1) per
#                round, 100 connections x 64 B, both with --work K, a CPU-heavier handler (K
#                rounds of a checksum over each message, ~25 us of CPU at the default 300) so
#                that the server, not the load generator, is the bottleneck: on two CPUs the
#                load (on CPU 0) shares a CPU with worker 0, and needs ~3 us per message of
#                its own. Shown: msgs/s, server CPU per message, each worker's share of the
#                server's CPU (/proc/PID/task), and the median per-round ratio 2 workers / 1.
#   --work K     the handler's checksum rounds for --scaling (default 300; 0: plain echo)
#
# Each server runs pinned to CPU 0 (taskset -c 0), the load to CPU 1. Cases: 100 connections
# with 64 B, 1 KiB and 16 KiB messages, then 10,000 connections with 64 B messages for the
# server's memory per connection. Before each run (not with --quick) the script waits up to
# 10 s for other programs to leave the CPUs, and a run they disturbed anyway (echo_load's
# other_cpu_pct above 25%) is made again once; medians and ratios use undisturbed rounds only.
# echo_load samples the server's /proc/PID/stat (utime, stime) at the start and the end of its
# measured window, and /proc/PID/status VmRSS before the first connection and at the end of
# the window; docs/benchmarks.md describes the figures.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

quick=0 rounds= dir=build/release build=1 raw= eddy="echo_stream echo_protocol" port=27100 table=
scaling=0 work=300 python=1 pydefmalloc=0
anchors="echo_epoll echo_uring echo_uv py_asyncio_streams py_asyncio_protocol py_uvloop_streams py_uvloop_protocol"
backends="epoll io_uring"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    --rounds=*) rounds=${1#*=} ;;
    --build-dir) dir=$2; shift ;;
    --build-dir=*) dir=${1#*=} ;;
    --no-build) build=0 ;;
    --raw) raw=$2; shift ;;
    --raw=*) raw=${1#*=} ;;
    --eddy) eddy=$2; shift ;;
    --eddy=*) eddy=${1#*=} ;;
    --backends) backends=$2; shift ;;
    --backends=*) backends=${1#*=} ;;
    --anchors) anchors=$2; shift ;;
    --anchors=*) anchors=${1#*=} ;;
    --no-python) python=0 ;;
    --py-default-malloc) pydefmalloc=1 ;;
    --port-base) port=$2; shift ;;
    --port-base=*) port=${1#*=} ;;
    --table) table=$2; shift ;;
    --table=*) table=${1#*=} ;;
    --scaling) scaling=1 ;;
    --work) work=$2; shift ;;
    --work=*) work=${1#*=} ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench_echo.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
# A run during which other programs used more than $disturbed % of the CPUs (of 200% on two)
# is made again, up to $retries times; --quick keeps to its time budget instead.
# Before each run the script also waits up to $quiet_wait s for the machine to calm down.
disturbed=25 reran=0 waits=0
if [ $quick = 1 ]; then
    : "${rounds:=1}"; warm=0.2 dur=0.8 big_rounds=1 big_warm=0.2 big_dur=0.5 retries=0 quiet_wait=0
else
    : "${rounds:=5}"; warm=0.5 dur=2 big_rounds=2 big_warm=1 big_dur=2 retries=1 quiet_wait=10
fi
sizes=(64 1024 16384)
big_conns=10000

# Where each server lives in the build tree; the two eddy ones come from examples/. A name
# SERVER@BACKEND is SERVER run with EDDY_BACKEND=BACKEND. The Python anchors py_LOOP_API are
# bench/echo_asyncio.py in the source tree, run by $PYTHON if set, else by Debian's python3
# (where python3-uvloop installs uvloop; a python3 of one's own earlier in PATH may lack it).
path_of() {
    case "${1%@*}" in
    echo_stream | echo_protocol) echo "$dir/examples/${1%@*}" ;;
    py_*) echo "$top/bench/echo_asyncio.py" ;;
    *) echo "$dir/bench/${1%@*}" ;;
    esac
}
backend_of() { case "$1" in *@*) echo "${1#*@}" ;; *) echo epoll ;; esac; }
py=${PYTHON:-/usr/bin/python3}
[ -n "${PYTHON:-}" ] || [ -x "$py" ] || py=python3
# server_cmd SERVER: the command line that starts SERVER, without its PORT, in cmd[].
# The Python anchors run with glibc malloc tuned (env execs in place, so $! stays the server's
# PID; not with --py-default-malloc): every read makes a new bytes object, asyncio's from a
# 256 KiB recv buffer, and with the default thresholds those come from mmap and go back with
# munmap, or free() trims the top of the heap that the next malloc takes again: 2-8 page
# faults per message, which made the CPU time per message 5-7 times as high (asyncio at 64 B
# and 16 KiB, uvloop protocol at 16 KiB; 0 faults and ~10-15 us per message with these).
# The anchors are measured at their best, as echo_uv is libuv at its best.
pymalloc=(env MALLOC_MMAP_THRESHOLD_=4194304 MALLOC_TRIM_THRESHOLD_=67108864)
[ $pydefmalloc = 1 ] && pymalloc=()
server_cmd() {
    case "$1" in
    py_*) local la=${1#py_}
        cmd=("${pymalloc[@]}" "$py" "$(path_of "$1")" --loop "${la%%_*}" --api "${la#*_}") ;;
    *) cmd=("$(path_of "$1")") ;;
    esac
}
# Whether SERVER runs at 10,000 connections too: every C server; of the Python anchors only
# uvloop's (the goal's anchor, py_uvloop_protocol, and py_uvloop_streams but not with --quick).
# The asyncio ones would take ~10 s per run to connect and to exit, and add nothing the uvloop
# ones do not show: Python's memory per connection is the protocol object or the task.
runs_big() {
    case "$1" in
    py_uvloop_protocol) return 0 ;;
    py_uvloop_streams) [ $quick = 0 ] ;;
    py_*) return 1 ;;
    esac
}
[ $python = 1 ] || anchors=$(printf '%s\n' $anchors | grep -v '^py_' | tr '\n' ' ')
# The Python anchors need python3, the uvloop ones python3-uvloop too: say once what is missing.
pyok=1 uvok=1
if [ -z "$table" ] && [ "$scaling" = 0 ] && case " $anchors " in *" py_"*) true ;; *) false ;; esac; then
    if ! "$py" -c 'import asyncio' 2>/dev/null; then
        pyok=0 uvok=0
        echo "== skipping the Python anchors: no python3 (Debian: python3, python3-uvloop)"
    elif ! "$py" -c 'import uvloop' 2>/dev/null; then
        uvok=0
        echo "== skipping the uvloop anchors: $py cannot import uvloop (Debian: python3-uvloop)"
    fi
fi

[ -n "$table" ] && build=0
if [ $build = 1 ]; then
    targets=(echo_load echo_epoll echo_uv)
    for e in echo_stream echo_protocol taskgroup; do
        [ -f "examples/$e.c" ] && targets+=("example_$e")
    done
    mkdir -p "$dir"
    echo "== building the echo benchmark in $dir (log: $dir/bench-echo-build.log)"
    # echo_uring exists where liburing does. (Not `cmake ... | grep -q`: under pipefail, grep
    # leaving early can fail the pipe with SIGPIPE, which left echo_uring unbuilt.)
    if ! { cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DEDDY_BUILD_BENCH=ON &&
        { [[ $(cmake --build "$dir" --target help 2>/dev/null) != *echo_uring* ]] || targets+=(echo_uring); } &&
        cmake --build "$dir" -j"${JOBS:-2}" --target "${targets[@]}"; } >"$dir/bench-echo-build.log" 2>&1; then
        tail -n 30 "$dir/bench-echo-build.log"
        echo "bench_echo.sh: build failed (see $dir/bench-echo-build.log)" >&2
        exit 1
    fi
fi
load=$dir/bench/echo_load
for b in "$load" "$(path_of echo_epoll)" "$(path_of echo_uv)"; do
    [ -n "$table" ] || [ -x "$b" ] ||
        { echo "bench_echo.sh: $b is missing (build with -DEDDY_BUILD_BENCH=ON)" >&2; exit 1; }
done
# With --table, a server "exists" when the file has results for it.
has() {
    if [ -n "$table" ]; then awk -v s="$1" '$2 == s { f = 1; exit } END { exit !f }' "$table"
    else
        case "$1" in
        py_uvloop_*) [ $uvok = 1 ] && [ -f "$(path_of "$1")" ] ;;
        py_*) [ $pyok = 1 ] && [ -f "$(path_of "$1")" ] ;;
        *) [ -x "$(path_of "$1")" ] ;;
        esac
    fi
}

# Each eddy server on each backend that runs here (the taskgroup example names the backend
# that actually ran: one the kernel refuses falls back to epoll).
runs_here() {
    [ "$1" = epoll ] && return 0
    [ -n "$table" ] && return 0
    [ "$(EDDY_CLOCK=virtual "$dir/examples/taskgroup" --backend "$1" 2>/dev/null | head -n 1)" = "backend: $1" ]
}
named=()
for b in $backends; do
    if ! runs_here "$b"; then
        echo "== skipping eddy on $b: it cannot run here (falls back to epoll)"
        continue
    fi
    for s in $eddy; do
        case "$s" in
        echo_stream | echo_protocol) [ "$b" = epoll ] && named+=("$s") || named+=("$s@$b") ;;
        *) [ "$b" = epoll ] && named+=("$s") ;; # an anchor put in eddy's column (--eddy echo_uv)
        esac
    done
done
subjects=()
for s in "${named[@]}"; do
    if has "$s"; then
        subjects+=("$s")
    elif [ -n "$table" ]; then
        echo "== no results for $s in $table"
    else
        echo "== skipping $s: $(path_of "$s") is not built (no examples/$s.c in this tree yet?)"
    fi
done
servers=("${subjects[@]}")
for a in $anchors; do
    case "$a" in
    py_asyncio_streams | py_asyncio_protocol | py_uvloop_streams | py_uvloop_protocol) ;;
    py_*) echo "bench_echo.sh: unknown anchor $a (py_LOOP_API: LOOP asyncio or uvloop, API streams or protocol)" >&2; exit 2 ;;
    esac
    if ! has "$a"; then
        case "$a" in
        py_*) ;; # said above
        echo_uring) ;; # built only where liburing is
        *) [ "$scaling" = 1 ] || { [ -n "$table" ] && echo "== no results for $a in $table" || echo "== skipping $a: $(path_of "$a") is not built"; } ;;
        esac
        continue
    fi
    case " ${servers[*]} " in *" $a "*) ;; *) servers+=("$a") ;; esac
done

ncpu=$(nproc 2>/dev/null || echo 1)
if [ "$ncpu" -ge 2 ]; then
    scpu=0 lcpu=1
else
    scpu=0 lcpu=0
    echo "== only one CPU: server and load share CPU 0 (the figures will say little)"
fi
# A command prefix rather than a function: a function run with & is a forked shell, and $!
# must be the server's own PID (taskset and stdbuf exec it in place) for /proc/PID and kill.
pin_s=() pin_l=()
command -v taskset >/dev/null && pin_s=(taskset -c "$scpu") pin_l=(taskset -c "$lcpu")
# Servers that print with stdio to a pipe or file would hold their "listening" line in a
# buffer: ask for line buffering (stdbuf works for dynamically linked programs).
linebuf=()
command -v stdbuf >/dev/null && linebuf=(stdbuf -oL)
# 10,000 connections need 10,000 descriptors in the server too; eddy's examples need not know.
# (Raising the hard limit needs root; without it the soft one goes as high as it may.)
hard=$(ulimit -Hn)
[ "$hard" != unlimited ] && [ "$hard" -lt $((big_conns + 100)) ] && ulimit -Hn $((big_conns + 100)) 2>/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null

out=$(mktemp /tmp/eddy-bench-echo.XXXXXX)
log=$(mktemp /tmp/eddy-bench-echo-server.XXXXXX)
srv=
cleanup() {
    [ -n "$srv" ] && kill -KILL "$srv" 2>/dev/null
    rm -f "$out" "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
status=0

# run_once SERVER CONNS SIZE WARM DUR ROUND: one server process, one load run against it;
# echo_load's output is left in $res.
run_once() {
    local name=$1 conns=$2 size=$3 w=$4 d=$5 r=$6 rc i try vflag=() cmd grace=150
    res=
    server_cmd "$name"
    # The Python servers at 10,000 connections take a second or two to see every connection
    # end and to cancel their tasks (not measured): give them 10 s rather than 3 to exit.
    case "$name" in py_*) grace=500 ;; esac
    # A port some other program holds (another engineer's run, say) is skipped, not fatal.
    for ((try = 0; try < 10; try++)); do
        port=$((port + 1))
        : >"$log" # here, not in the child: the wait below must not see the last server's line
        EDDY_BACKEND=$(backend_of "$name") "${pin_s[@]}" "${linebuf[@]}" "${cmd[@]}" "$port" >>"$log" 2>&1 &
        srv=$!
        for ((i = 0; i < 250; i++)); do
            grep -q "Server listening" "$log" && break
            kill -0 "$srv" 2>/dev/null || break
            sleep 0.02
        done
        grep -q "Server listening" "$log" && break
        grep -qi "in use" "$log" || break
        wait "$srv" 2>/dev/null
    done
    if ! grep -q "Server listening" "$log"; then
        echo "bench_echo.sh: $name $port did not say \"Server listening\" within 5 s:" >&2
        sed 's/^/    /' "$log" >&2
        kill -KILL "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; srv=
        status=1
        return
    fi
    # Every server's echoes are checked byte for byte in the first round; later rounds skip the
    # check to keep the load generator's own cost down (both sides of a ratio alike).
    [ "$r" = 1 ] && vflag=(-V)
    res=$("${pin_l[@]}" "$load" -p "$port" -c "$conns" -s "$size" -w "$w" -d "$d" -P "$srv" "${vflag[@]}")
    rc=$?
    kill -TERM "$srv" 2>/dev/null
    for ((i = 0; i < grace; i++)); do
        kill -0 "$srv" 2>/dev/null || break
        # A zombie still answers kill -0; wait below reaps it.
        [ "$(awk '{print $3}' "/proc/$srv/stat" 2>/dev/null)" = Z ] && break
        sleep 0.02
    done
    if kill -0 "$srv" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$srv/stat" 2>/dev/null)" != Z ]; then
        echo "bench_echo.sh: $name did not exit within $((grace / 50)) s of SIGTERM; killed" >&2
        kill -KILL "$srv" 2>/dev/null
        status=1
    fi
    wait "$srv" 2>/dev/null
    srv=
    if [ $rc -ne 0 ]; then
        echo "bench_echo.sh: echo_load against $name ($conns x $size B) exit status $rc:" >&2
        printf '%s\n' "$res" | grep -E '^(errors|verify_errors|conns_alive)=' | sed 's/^/    /' >&2
        status=1
    fi
}

# CPU ticks (USER_HZ) spent in user, nice and system mode on all CPUs so far.
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat; }

# Before a run, wait (0.3 s at a time, at most $quiet_wait s) until other programs use less
# than $disturbed % of one CPU: between two builds of someone else's, not in the middle of one.
wait_quiet() {
    local b0 b1 t hz waited=0
    hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
    for ((t = 0; t < quiet_wait * 10 / 3; t++)); do
        b0=$(busy_ticks); sleep 0.3; b1=$(busy_ticks)
        [ $(((b1 - b0) * 1000 / (hz * 3))) -le "$disturbed" ] && break
        waited=1
    done
    [ $waited = 1 ] && waits=$((waits + 1))
    return 0
}

# run CASE SERVER CONNS SIZE WARM DUR ROUND: run_once, again if other programs took more than
# $disturbed % of the CPUs during the window (at most $retries times), then store the result.
run() {
    local case=$1 name=$2 a other
    for ((a = 0; ; a++)); do
        [ "$quiet_wait" -gt 0 ] && wait_quiet
        run_once "${@:2}"
        other=$(printf '%s\n' "$res" | sed -n 's/^other_cpu_pct=//p')
        [ -n "$other" ] && [ "$other" -gt "$disturbed" ] && [ $a -lt $retries ] || break
        echo "   ($name, $3 x $4 B, round $7: other programs took ${other}% of the CPUs; run again)"
        reran=$((reran + 1))
    done
    printf '%s\n' "$res" | awk -F= -v c="$case" -v s="$name" -v r="$7" 'NF == 2 { print c, s, $1, $2, r }' >>"$out"
}

# Rotate the server order every round, so no server always runs first or right after another.
order() {
    local r=$1 n=${#servers[@]} k
    for ((k = 0; k < n; k++)); do echo "${servers[$(((k + r) % n))]}"; done
}

# ---- --scaling: one worker against two (R4) ----
# CPU ticks (utime + stime) of each thread of process $1, one "tid ticks" line each.
thread_ticks() {
    local t
    for t in /proc/"$1"/task/*; do
        [ -r "$t/stat" ] || continue
        echo "${t##*/} $(sed 's/.*) //' "$t/stat" | awk '{ print $12 + $13 }')"
    done
}

# run_scale SERVER WORKERS ROUND: one server with --workers WORKERS --work $work, one load
# run; stores echo_load's figures and the workers' CPU shares as "scale/N SERVER key value round".
run_scale() {
    local name=$1 w=$2 r=$3 cpus=1 i res rc t0 t1
    [ "$w" -gt 1 ] && cpus=0-$((w - 1))
    port=$((port + 1))
    : >"$log"
    EDDY_BACKEND=$(backend_of "$name") taskset -c "$cpus" "${linebuf[@]}" "$(path_of "$name")" \
        --workers "$w" --pin --work "$work" "$port" >>"$log" 2>&1 &
    srv=$!
    for ((i = 0; i < 250; i++)); do
        grep -q "Server listening" "$log" && break
        kill -0 "$srv" 2>/dev/null || break
        sleep 0.02
    done
    if ! grep -q "Server listening" "$log"; then
        echo "bench_echo.sh: $name --workers $w did not say \"Server listening\":" >&2
        sed 's/^/    /' "$log" >&2
        kill -KILL "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; srv=
        status=1
        return
    fi
    t0=$(thread_ticks "$srv")
    res=$(taskset -c 0 "$load" -p "$port" -c 100 -s 64 -w "$warm" -d "$dur" -P "$srv")
    rc=$?
    t1=$(thread_ticks "$srv")
    kill -TERM "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    srv=
    if [ $rc -ne 0 ]; then
        echo "bench_echo.sh: echo_load against $name --workers $w: exit status $rc" >&2
        status=1
    fi
    printf '%s\n' "$res" | awk -F= -v c="scale/$w" -v s="$name" -v r="$r" 'NF == 2 { print c, s, $1, $2, r }' >>"$out"
    # Each thread's share of the server's CPU over the run (setup and warm-up included: the
    # shares, not the absolute figures, are what this shows), busiest first.
    awk -v c="scale/$w" -v s="$name" -v r="$r" 'NR == FNR { a[$1] = $2; next }
        { d[$1] = $2 - a[$1]; tot += d[$1] }
        END { n = 0; for (t in d) v[++n] = d[t]
              for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] < x; j--) v[j + 1] = v[j]; v[j + 1] = x }
              sh = ""; for (i = 1; i <= n; i++) sh = sh (i > 1 ? "/" : "") (tot > 0 ? sprintf("%.0f", 100 * v[i] / tot) : "-")
              print c, s, "worker_shares", sh, r }' <(printf '%s\n' "$t0") <(printf '%s\n' "$t1") >>"$out"
}

if [ "$scaling" = 1 ]; then
    if [ "$ncpu" -lt 2 ] || ! command -v taskset >/dev/null; then
        echo "bench_echo.sh --scaling: needs two CPUs and taskset" >&2
        exit 1
    fi
    start=$(date +%s)
    echo "== scaling benchmark (R4): ${subjects[*]} with --workers 1 (CPU 1) and --workers 2 --pin (CPUs 0-1),"
    echo "   load on CPU 0; 100 connections x 64 B, --work $work; $rounds round(s) of ${warm}+${dur} s"
    for ((r = 1; r <= rounds; r++)); do
        for s in "${subjects[@]}"; do
            if [ $((r % 2)) = 1 ]; then ws="1 2"; else ws="2 1"; fi
            for w in $ws; do
                [ "$quiet_wait" -gt 0 ] && wait_quiet
                run_scale "$s" "$w" "$r"
            done
        done
    done
    [ -n "$raw" ] && cp "$out" "$raw"
    awk -v subjects="${subjects[*]}" -v work="$work" -v disturbed="$disturbed" '
    function med(arr, n,   i, j, t) {
        for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
        return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
    }
    { v[$1, $2, $3, $5] = $4; if ($5 > maxr) maxr = $5 }
    function m(c, s, k,   r, n, a) { n = 0; for (r = 1; r <= maxr; r++) if ((c, s, k, r) in v) a[++n] = v[c, s, k, r]; return n ? med(a, n) : -1 }
    function fmt(x) { return x < 0 ? "-" : x >= 100 ? sprintf("%.0f", x) : sprintf("%.2f", x) }
    END {
        ns = split(subjects, S, " ")
        printf "\n%-14s %7s %9s %8s %8s %6s %6s %6s  %s\n", "server", "workers", "msgs/s", "usr us", "sys us", "srv%", "load%", "other%", "CPU share per worker % (last round)"
        for (i = 1; i <= ns; i++) for (w = 1; w <= 2; w++) {
            c = "scale/" w; s = S[i]
            if (m(c, s, "msgs_per_s") < 0) { printf "%-14s %7d (no result)\n", s, w; continue }
            printf "%-14s %7d %9s %8s %8s %6s %6s %6s  %s\n", s, w, fmt(m(c, s, "msgs_per_s")), fmt(m(c, s, "server_user_us_per_msg")),
                fmt(m(c, s, "server_sys_us_per_msg")), fmt(m(c, s, "server_cpu_pct")), fmt(m(c, s, "client_cpu_pct")),
                fmt(m(c, s, "other_cpu_pct")), v[c, s, "worker_shares", maxr]
        }
        printf "\n%-40s %8s %3s   %-12s %s\n", "benchmark", "ratio", "n", "goal", "met?"
        for (i = 1; i <= ns; i++) {
            s = S[i]; n = 0; nc = 0
            for (r = 1; r <= maxr; r++)
                if ((("scale/1", s, "msgs_per_s", r) in v) && (("scale/2", s, "msgs_per_s", r) in v) && v["scale/1", s, "msgs_per_s", r] > 0) {
                    q[++n] = v["scale/2", s, "msgs_per_s", r] / v["scale/1", s, "msgs_per_s", r]
                    if (v["scale/1", s, "other_cpu_pct", r] > disturbed || v["scale/2", s, "other_cpu_pct", r] > disturbed) nc++
                }
            if (!n) { printf "%-40s (missing)\n", "echo 2 workers / 1: " s; continue }
            x = med(q, n)
            printf "%-40s %8.2f %3s   %-12s %s\n", "echo 2 workers / 1: " s, x, n (nc ? "!" : ""), "ratio > 1.0", (x > 1.0 ? "yes" : "no")
        }
        printf "\nmsgs/s with --work %d; usr/sys us: server CPU per message; srv%%: the server process (200%% =\n", work
        printf "two CPUs busy); load%%: echo_load (on CPU 0, beside worker 0 with two workers); other%%:\n"
        printf "every other program. n!: some rounds had other%% > %d: measure again on a quiet machine.\n", disturbed
        printf "The shares show both workers carrying the load (SO_REUSEPORT spreads the connections).\n"
    }' "$out"
    echo "== scaling benchmark took $(($(date +%s) - start)) s"
    exit $status
fi

start=$(date +%s)
big=() # the Python anchors that run at 10,000 connections
for s in "${servers[@]}"; do case "$s" in py_*) runs_big "$s" && big+=("$s") ;; esac; done
if [ -n "$table" ]; then
    cp "$table" "$out" || exit 1
else
echo "== echo benchmark: servers ${servers[*]}"
echo "   server on CPU $scpu, load on CPU $lcpu; 100 connections x (${sizes[*]}) B:"
echo "   $rounds round(s) of ${warm}+${dur} s; $big_conns connections x 64 B:" \
    "$big_rounds round(s) of ${big_warm}+${big_dur} s${big:+ (of the Python anchors ${big[*]} only)}"
for size in "${sizes[@]}"; do
    for ((r = 1; r <= rounds; r++)); do
        for s in $(order "$r"); do run "$size" "$s" 100 "$size" "$warm" "$dur" "$r"; done
    done
done
for ((r = 1; r <= big_rounds; r++)); do
    for s in $(order "$r"); do
        runs_big "$s" && run 10k "$s" "$big_conns" 64 "$big_warm" "$big_dur" "$r"
    done
done
[ -n "$raw" ] && cp "$out" "$raw"
fi

# The kernel's CPU-time accounting, for the bounds of the user-time rows: /proc/PID/stat counts
# in USER_HZ ticks, and with tick-based accounting each timer tick (CONFIG_HZ; 250 on the VM
# these scripts were written on, used where the kernel's config is not readable) charges the
# whole tick to user or system time by where the CPU was.
user_hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
hz=$({ cat "/boot/config-$(uname -r)" 2>/dev/null || zcat /proc/config.gz 2>/dev/null; } | sed -n 's/^CONFIG_HZ=//p')
[ -n "$hz" ] || hz=250

awk -v subjects="${subjects[*]}" -v servers="${servers[*]}" -v sizes="${sizes[*]}" \
    -v rounds="$rounds" -v big_rounds="$big_rounds" -v big_conns="$big_conns" -v quick=$quick \
    -v disturbed=$disturbed -v bigpy="${big[*]}" -v table="$table" -v tick_us=$((1000000 / user_hz)) -v sample_us=$((1000000 / hz)) '
function med(arr, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
    return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
{ v[$1, $2, $3, $5] = $4; if ($5 > maxr) maxr = $5; if ($5 > nr[$1 == "10k"]) nr[$1 == "10k"] = $5
  if ($3 == "server_user_us_per_msg") v[$1, $2, "cpu", $5] += $4
  if ($3 == "server_sys_us_per_msg") v[$1, $2, "cpu", $5] += $4
  if ($3 == "errors") err[$1, $2] += $4 }
# A run is clean when other programs took at most $disturbed % of the CPUs during it (after the
# script ran it again once, a disturbed run still counts as disturbed).
function clean(c, s, r) { return !((c, s, "other_cpu_pct", r) in v) || v[c, s, "other_cpu_pct", r] <= disturbed }
# Median over the clean rounds of one figure (over all rounds if none is clean); -1 when no
# round has it.
function m(c, s, k,   r, n, a, pass) {
    for (pass = 1; pass <= 2; pass++) {
        n = 0
        for (r = 1; r <= maxr; r++) if (((c, s, k, r) in v) && (pass == 2 || clean(c, s, r))) a[++n] = v[c, s, k, r]
        if (n) return med(a, n)
    }
    return -1
}
# Median of the per-round ratio e/a (the two runs of a round were seconds apart) over the
# rounds where both runs were clean, or over all rounds if there is none; nused is set to the
# number of rounds used, negative when they were not clean.
function mratio(c, e, a, k,   r, n, q, pass) {
    for (pass = 1; pass <= 2; pass++) {
        n = 0
        for (r = 1; r <= maxr; r++)
            if (((c, e, k, r) in v) && ((c, a, k, r) in v) && v[c, a, k, r] > 0 && (pass == 2 || (clean(c, e, r) && clean(c, a, r))))
                q[++n] = v[c, e, k, r] / v[c, a, k, r]
        if (n) { nused = pass == 1 ? n : -n; return med(q, n) }
    }
    nused = 0
    return -1
}
# Whether server s was in this run at all (a row against an anchor left out is left out too).
function ran(s) { return index(" " servers " ", " " s " ") > 0 }
function fmt(x) { return x < 0 ? "-" : x >= 100 ? sprintf("%.0f", x) : sprintf("%.2f", x) }
function pct(x) { return x < 0 ? "-" : sprintf("%.0f", x) }
function label(c) { return c == "10k" ? big_conns " x 64 B" : "100 x " (c >= 1024 ? c / 1024 " KiB" : c " B") }
# row(what, case, eddy, anchor, key, unit, op, goal): op ">=", "<=", ">" or "" (no goal).
# Every goal that is not met gets one line of explanation under the table (why[]).
function row(what, c, e, a, k, unit, op, goal,   ev, av, q, met, n, far) {
    if (!ran(e) || !ran(a)) return
    ev = m(c, e, k); av = m(c, a, k)
    if (ev < 0 || av <= 0) { printf "%-33s %s\n", what, "(missing)"; return }
    q = mratio(c, e, a, k)
    met = op == "" ? "" : (op == ">=" && q >= goal) || (op == "<=" && q <= goal) || (op == ">" && q > goal) ? "yes" : "no"
    n = nused > 0 ? nused "" : (0 - nused) "!"
    printf "%-33s %9s %-6s %9s %-10s %6.2f %3s  %-7s %s\n", what, fmt(ev), unit, fmt(av), a, q, n,
        op == "" ? "" : op " " goal, met
    if (met == "no") {
        far = op == "<=" ? sprintf("%.1f%% over", (q / goal - 1) * 100) : sprintf("%.1f%% short", (1 - q / goal) * 100)
        why[++nwhy] = sprintf("%-33s %.3f x %s (goal %s): %s, %s", what, q, a, op " " goal, far,
            nused > 0 ? nused " quiet round(s)" : "noise")
    }
}
# prow(what, case, eddy, anchor, goal): the total CPU per message, eddy <= goal x the anchor,
# in the table against Python (as row(), in its columns).
function prow(what, c, e, a, goal,   ev, av, q, met, n) {
    if (!ran(e) || !ran(a)) return
    ev = m(c, e, "cpu"); av = m(c, a, "cpu")
    if (ev < 0 || av <= 0) { printf "%-36s %-5s %s\n", what, "total", "(missing)"; return }
    q = mratio(c, e, a, "cpu")
    met = q <= goal ? "yes" : "no"
    n = nused > 0 ? nused "" : (0 - nused) "!"
    printf "%-36s %-5s %7s %7s %6.2f %3s  %-7s %s\n", what, "total", fmt(ev), fmt(av), q, n, "<= " goal, met
    if (met == "no")
        why[++nwhy] = sprintf("%-33s %.3f x %s (goal <= %s): %.1f%% over, %s", what " cpu/msg", q, a, goal, (q / goal - 1) * 100,
            nused > 0 ? nused " quiet round(s)" : "noise")
}
# The uncertainty of the user CPU time U (us) of one run. The user time of a server is a few percent of
# its CPU time, and it is not measured but sampled: with tick-based accounting every timer
# tick (sample_us) charges the whole tick to user or system time by where the CPU was, so the
# count of user ticks has a standard deviation of about sqrt(U / sample_us); and /proc/PID/stat
# reads it in whole USER_HZ ticks (tick_us), so each edge of the window truncates. The bound:
# two standard deviations (of U + one sample: a reading of 0 still allows a few ticks) plus
# one tick of reading.
function uerr(u) { return tick_us + 2 * sqrt((u + sample_us) * sample_us) }
# urow(what, case, eddy, anchor, goal): user CPU per message, eddy <= goal x the anchor. As
# row(), the ratio is the median of the per-round ratios; with it, the medians of the ratio at
# the two ends of the uncertainty of both runs (eddy low / anchor high, eddy high / anchor low). The
# goal is met ("yes") only when even the high end is within it, missed ("no") only when even
# the low end is not; otherwise "unsure": the user time was too few ticks to tell (a 0.8 s
# --quick window reads a few ticks of eddy user time, often none).
function urow(what, c, e, a, goal,   k, ev, av, r, n, q, lo, hi, pass, me, ma, ue, ua, de, da, ql, qh, qm, met, nn, hs, far) {
    if (!ran(e) || !ran(a)) return
    k = "server_user_us_per_msg"
    ev = m(c, e, k); av = m(c, a, k)
    if (ev < 0 || av <= 0) { printf "%-36s %-5s %s\n", what, "user", "(missing)"; return }
    for (pass = 1; pass <= 2; pass++) {
        n = 0
        for (r = 1; r <= maxr; r++) {
            if (!(((c, e, k, r) in v) && ((c, a, k, r) in v) && v[c, e, "msgs", r] > 0 && v[c, a, "msgs", r] > 0)) continue
            if (pass == 1 && !(clean(c, e, r) && clean(c, a, r))) continue
            me = v[c, e, "msgs", r]; ma = v[c, a, "msgs", r]
            ue = v[c, e, k, r] * me; ua = v[c, a, k, r] * ma
            if (ua <= 0) continue
            de = uerr(ue); da = uerr(ua)
            n++
            q[n] = (ue / me) / (ua / ma)
            lo[n] = (ue > de ? ue - de : 0) / me / ((ua + da) / ma)
            hi[n] = ua > da ? ((ue + de) / me) / ((ua - da) / ma) : 1e9
        }
        if (n) break
    }
    if (!n) { printf "%-36s %-5s %s\n", what, "user", "(missing)"; return }
    qm = med(q, n); ql = med(lo, n); qh = med(hi, n)
    nn = pass == 1 ? n "" : n "!"
    met = "unsure"
    if (qh <= goal) met = "yes"
    if (ql > goal) met = "no"
    hs = "inf"
    if (qh < 1e9) hs = sprintf("%.2f", qh)
    printf "%-36s %-5s %7s %7s %6.2f %3s  %-7s %-6s [%.2f, %s]\n", what, "user", fmt(ev), fmt(av), qm, nn,
        "<= " goal, met, ql, hs
    if (met == "yes") return
    if (met == "no") far = sprintf("%.1f%% over even at the low end %.2f", (ql / goal - 1) * 100, ql)
    else far = sprintf("too few clock ticks to tell (%.2f to %s)", ql, hs)
    why[++nwhy] = sprintf("%-33s %.3f x %s (goal <= %s): %s, %s", what " usr/msg", qm, a, goal, far, pass == 1 ? n " quiet round(s)" : "noise")
}
END {
    ns = split(servers, S, " "); nsub = split(subjects, E, " "); nz = split(sizes, Z, " ")
    printf "\n%-12s %-20s %8s %7s %7s %7s %7s %5s %5s %6s %6s\n", "echo", "server", "msgs/s", "p50 us", "p99 us", "usr us", "sys us", "srv%", "load%", "other%", "errors"
    printf "%-12s %-20s %8s %7s %7s %7s %7s %5s %5s %6s %6s\n", "", "", "", "", "", "per msg", "per msg", "cpu", "cpu", "cpu", ""
    for (z = 1; z <= nz + 1; z++) {
        c = z <= nz ? Z[z] : "10k"
        for (i = 1; i <= ns; i++) {
            s = S[i]
            if (m(c, s, "msgs_per_s") < 0) { if (c != "10k" || s !~ /^py_/ || (!table && index(" " bigpy " ", " " s " "))) printf "%-12s %-20s (no result)\n", label(c), s; continue }
            printf "%-12s %-20s %8s %7s %7s %7s %7s %5s %5s %6s %6d\n", label(c), s, fmt(m(c, s, "msgs_per_s")),
                fmt(m(c, s, "p50_us")), fmt(m(c, s, "p99_us")), fmt(m(c, s, "server_user_us_per_msg")),
                fmt(m(c, s, "server_sys_us_per_msg")), pct(m(c, s, "server_cpu_pct")), pct(m(c, s, "client_cpu_pct")),
                pct(m(c, s, "other_cpu_pct")), err[c, s]
        }
    }
    printf "\n%-12s %-22s %12s %12s %14s %10s\n", label("10k"), "server", "idle RSS KiB", "RSS KiB", "RSS/conn bytes", "connect s"
    for (i = 1; i <= ns; i++) {
        s = S[i]
        if (m("10k", s, "server_rss_kib") < 0) continue
        printf "%-12s %-22s %12s %12s %14s %10s\n", "", s, fmt(m("10k", s, "server_rss_idle_kib")), fmt(m("10k", s, "server_rss_kib")),
            fmt(m("10k", s, "server_rss_per_conn_bytes")), fmt(m("10k", s, "connect_s"))
    }

    # (No header when --anchors left out all three C anchors: the table would be empty.)
    if (ran("echo_epoll") || ran("echo_uring") || ran("echo_uv")) printf "\n%-33s %9s %-6s %9s %-10s %6s %3s  %-7s %s\n", "echo benchmark", "eddy", "unit", "anchor", "(anchor)", "ratio", "n", "goal", "met?"
    if (ran("echo_epoll") || ran("echo_uring") || ran("echo_uv")) printf "%-33s %9s %-6s %9s %-10s %6s %3s  %-7s %s\n", "--------------", "----", "----", "------", "--------", "-----", "-", "----", "----"
    for (z = 1; z <= nz; z++) {
        c = Z[z]
        for (j = 1; j <= nsub; j++) {
            e = E[j]
            if (e ~ /@io_uring$/) {
                # eddy on io_uring: against the hand-written io_uring server, and itself on epoll.
                t = substr(e, 1, length(e) - 9)
                row(label(c) ": " e, c, e, "echo_uring", "msgs_per_s", "msgs/s", ">=", "1.0")
                row(label(c) ": " e " cpu/msg", c, e, "echo_uring", "cpu", "us", "<=", "1.05")
                if ((" " servers " ") ~ (" " t " ")) {
                    row(label(c) ": " e, c, e, t, "msgs_per_s", "msgs/s", "", "")
                    row(label(c) ": " e " cpu/msg", c, e, t, "cpu", "us", "", "")
                }
                continue
            }
            row(label(c) ": " e, c, e, "echo_epoll", "msgs_per_s", "msgs/s", ">=", "1.0")
            row(label(c) ": " e " cpu/msg", c, e, "echo_epoll", "cpu", "us", "<=", "1.05")
            if (e != "echo_uv") row(label(c) ": " e, c, e, "echo_uv", "msgs_per_s", "msgs/s", ">", "1.0")
        }
        if ((" " servers " ") ~ / echo_uring /) {
            row(label(c) ": echo_uring (anchors)", c, "echo_uring", "echo_epoll", "msgs_per_s", "msgs/s", "", "")
            row(label(c) ": echo_uring cpu/msg", c, "echo_uring", "echo_epoll", "cpu", "us", "", "")
        }
        if (subjects ~ /echo_uv/) continue
        row(label(c) ": echo_uv (anchors)", c, "echo_uv", "echo_epoll", "msgs_per_s", "msgs/s", "", "")
        row(label(c) ": echo_uv cpu/msg", c, "echo_uv", "echo_epoll", "cpu", "us", "", "")
    }
    for (j = 1; j <= nsub; j++) {
        e = E[j]
        if (e ~ /@io_uring$/) {
            t = substr(e, 1, length(e) - 9)
            row(label("10k") ": " e, "10k", e, "echo_uring", "msgs_per_s", "msgs/s", "", "")
            row(label("10k") ": " e " RSS/conn", "10k", e, "echo_uring", "server_rss_per_conn_bytes", "bytes", "", "")
            if ((" " servers " ") ~ (" " t " ")) {
                row(label("10k") ": " e, "10k", e, t, "msgs_per_s", "msgs/s", ">=", "1.0")
                row(label("10k") ": " e " RSS/conn", "10k", e, t, "server_rss_per_conn_bytes", "bytes", "", "")
            }
            continue
        }
        row(label("10k") ": " e, "10k", e, "echo_epoll", "msgs_per_s", "msgs/s", "", "")
        row(label("10k") ": " e " RSS/conn", "10k", e, "echo_epoll", "server_rss_per_conn_bytes", "bytes", "", "")
    }
    if ((" " servers " ") ~ / echo_uring /) {
        row(label("10k") ": echo_uring (anchors)", "10k", "echo_uring", "echo_epoll", "msgs_per_s", "msgs/s", "", "")
        row(label("10k") ": echo_uring RSS/conn", "10k", "echo_uring", "echo_epoll", "server_rss_per_conn_bytes", "bytes", "", "")
    }
    if (subjects !~ /echo_uv/) {
        row(label("10k") ": echo_uv (anchors)", "10k", "echo_uv", "echo_epoll", "msgs_per_s", "msgs/s", "", "")
        row(label("10k") ": echo_uv RSS/conn", "10k", "echo_uv", "echo_epoll", "server_rss_per_conn_bytes", "bytes", "", "")
    }
    # Against the Python anchors (issue goal): server CPU per message, which shows what msgs/s
    # cannot when the load generator is the bottleneck; the kernel share is about the same for
    # every server, so the user share is compared on its own too.
    if (ran("py_uvloop_protocol") || ran("py_uvloop_streams")) {
        printf "\n%-36s %-5s %7s %7s %6s %3s  %-7s %s\n", "against Python: server CPU per msg", "", "eddy", "python", "ratio", "n", "goal", "met?  [bounds]"
        printf "%-36s %-5s %7s %7s %6s %3s  %-7s %s\n", "--------------", "", "us", "us", "-----", "-", "----", "----"
        for (z = 1; z <= nz; z++) {
            c = Z[z]
            for (j = 1; j <= nsub; j++) {
                e = E[j]
                prow(label(c) ": " e, c, e, "py_uvloop_protocol", "1.0")
                urow(label(c) ": " e, c, e, "py_uvloop_streams", "0.5")
            }
        }
    }

    printf "\nratio = eddy / anchor: median of the per-round ratio over the n rounds in which neither run\n"
    printf "was disturbed (other%% <= %d); \"n!\": no such round, the median is over every round: do not\n", disturbed
    printf "trust it. msgs/s: higher is better; cpu/msg = server user+system CPU time per round trip:\n"
    printf "lower is better. Figures: medians over the undisturbed ones of %d round(s)%s (%d for %d\n", nr[0], quick ? " (--quick)" : "", nr[1], big_conns
    printf "connections). usr/sys us per msg, srv%% cpu: the server process over the measured window\n"
    printf "(/proc/PID/stat); load%% cpu: echo_load itself; other%% cpu: every other program on the\n"
    printf "machine in the same window (/proc/stat; of 200%% on 2 CPUs)%s.\n", quick ? "" : "; runs above " disturbed "% were made again once"
    printf "RSS/conn: (VmRSS with all connections open - VmRSS before any) / connections. The goals\n"
    printf "are ratios; figures without one are measured for the record (docs/benchmarks.md).\n"
    if (ran("py_uvloop_streams"))
        printf "Against Python: total CPU against py_uvloop_protocol, user CPU against py_uvloop_streams;\n"
    if (ran("py_uvloop_streams"))
        printf "user time is tick-sampled: [bounds] are the ratio at the ends of both runs%s error\n", "\047"
    if (ran("py_uvloop_streams"))
        printf "(docs/benchmarks.md); \"unsure\": the goal lies within them (measure longer rounds).\n"
    if (nwhy) {
        printf "\nGoals not met (\"noise\": every round was disturbed by other programs, so the\n"
        printf "figure says nothing; otherwise the count of undisturbed rounds behind the median):\n"
        for (i = 1; i <= nwhy; i++) printf "  %s\n", why[i]
        if (quick) printf "With --quick each is one short round: re-measure on a quiet machine first.\n"
    }
}' "$out"
[ -n "$table" ] ||
    echo "== echo benchmark took $(($(date +%s) - start)) s ($reran run(s) made again, $waits waited for other programs to calm down)"
exit $status
