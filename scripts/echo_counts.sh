#!/usr/bin/env bash
# What an echo server asks of the kernel per message, counted by the kernel's own tracepoints:
# system calls (all, and io_uring_enter / epoll_wait / recvfrom / sendto), io_uring requests
# submitted (SQEs) and completions posted (CQEs), requests io_uring had to park on an internal
# poll (a recv that found the socket empty) and requests it handed to a worker thread. Unlike
# wall-clock figures (scripts/bench_echo.sh) these hardly move when the machine is busy, so
# they compare two builds, or eddy with the hand-written servers, on a shared machine.
# (User-space instructions per message: scripts/callgrind_echo.sh.)
#
#   scripts/echo_counts.sh [--build-dir DIR] [--conns N] [--sizes "BYTES..."] [SERVER...]
#
# SERVER: echo_stream, echo_protocol (examples/, on epoll), SERVER@BACKEND (the same with
# EDDY_BACKEND=BACKEND: echo_stream@io_uring), or an anchor of bench/ (echo_uring, echo_epoll);
# default: echo_stream@epoll echo_stream@io_uring echo_protocol@epoll echo_protocol@io_uring
# echo_uring echo_epoll. Sizes default to "64 16384", connections to 100.
#
# Each server runs twice per size, pinned to CPU 0, serving bench/echo_load -n N1 and then -n
# N2 round trips per connection (load on CPU 1) while `perf stat -p` counts; the difference of
# the two counts over the difference of the message counts is the figure per message, with
# start-up, connection set-up and exit cancelled out. How many completions one io_uring_enter
# reaps depends on how fast the load comes, so enters per message still vary a little from
# run to run; requests and completions per message do not. Needs perf (root, or
# kernel.perf_event_paranoid <= 1 for tracepoints) and a build with -DEDDY_BUILD_BENCH=ON.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
dir=build/release conns=100 sizes="64 16384" n1=1000 n2=5000 servers=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) dir=$2; shift ;;
    --conns) conns=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "echo_counts.sh: unknown option $1" >&2; exit 2 ;;
    *) servers+=("$1") ;;
    esac
    shift
done
[ ${#servers[@]} -gt 0 ] ||
    servers=(echo_stream@epoll echo_stream@io_uring echo_protocol@epoll echo_protocol@io_uring echo_uring echo_epoll)
command -v perf >/dev/null || { echo "echo_counts.sh: perf is not installed (linux-perf)" >&2; exit 1; }
load=$dir/bench/echo_load
[ -x "$load" ] || { echo "echo_counts.sh: $load is missing (-DEDDY_BUILD_BENCH=ON)" >&2; exit 1; }
events=(raw_syscalls:sys_enter syscalls:sys_enter_io_uring_enter syscalls:sys_enter_epoll_wait
        syscalls:sys_enter_recvfrom syscalls:sys_enter_sendto io_uring:io_uring_submit_req
        io_uring:io_uring_complete io_uring:io_uring_poll_arm io_uring:io_uring_queue_async_work)
labels=(syscalls enter epoll_wait recvfrom sendto SQEs CQEs poll_arm async)
perf stat -x, -e "$(IFS=,; echo "${events[*]}")" true >/dev/null 2>&1 ||
    { echo "echo_counts.sh: perf cannot count the tracepoints (root, or perf_event_paranoid <= 1)" >&2; exit 1; }
pin_s=() pin_l=()
command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ] && pin_s=(taskset -c 0) pin_l=(taskset -c 1)
work=$(mktemp -d /tmp/eddy-echo-counts.XXXXXX)
srv= perfpid=
cleanup() {
    [ -n "$perfpid" ] && kill -INT "$perfpid" 2>/dev/null
    [ -n "$srv" ] && kill -KILL "$srv" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
port=$((29000 + RANDOM % 2000))

# run NAME SIZE COUNT: prints the counts of one server run serving COUNT round trips per
# connection, in the order of events.
run() {
    local name=$1 size=$2 count=$3 path backend= i log=$work/server.log
    case "${name%@*}" in
    echo_stream | echo_protocol) path=$dir/examples/${name%@*} ;;
    *) path=$dir/bench/${name%@*} ;;
    esac
    case "$name" in *@*) backend=${name#*@} ;; esac
    [ -x "$path" ] || { echo "echo_counts.sh: $path is missing" >&2; return 1; }
    port=$((port + 1))
    : >"$log"
    if [ -n "$backend" ]; then
        EDDY_BACKEND=$backend EDDY_DEBUG=1 "${pin_s[@]}" stdbuf -oL "$path" "$port" >"$log" 2>&1 &
    else
        "${pin_s[@]}" stdbuf -oL "$path" "$port" >"$log" 2>&1 &
    fi
    srv=$!
    for ((i = 0; i < 200; i++)); do
        grep -q "Server listening" "$log" && break
        sleep 0.05
    done
    if grep -q "using epoll" "$log"; then
        echo "echo_counts.sh: $name fell back to epoll: $(grep 'using epoll' "$log")" >&2
        return 1
    fi
    perf stat -x, -o "$work/perf.out" -e "$(IFS=,; echo "${events[*]}")" -p "$srv" &
    perfpid=$!
    sleep 0.3 # perf attaches
    if ! "${pin_l[@]}" "$load" -p "$port" -c "$conns" -s "$size" -n "$count" >"$work/load.out"; then
        echo "echo_counts.sh: echo_load failed against $name:" >&2
        cat "$work/load.out" "$log" >&2
        return 1
    fi
    kill -INT "$perfpid"
    wait "$perfpid" 2>/dev/null
    perfpid=
    kill -TERM "$srv"
    wait "$srv" 2>/dev/null
    srv=
    local e
    for e in "${events[@]}"; do
        awk -F, -v e="$e" '$3 == e { v = $1 } END { print (v ~ /^[0-9]+$/ ? v : 0) }' "$work/perf.out"
    done
}

printf '%-24s %6s' server bytes
for l in "${labels[@]}"; do printf ' %10s' "$l"; done
printf '   (per message)\n'
for size in $sizes; do
    for s in "${servers[@]}"; do
        a=($(run "$s" "$size" $n1)) || exit 1
        b=($(run "$s" "$size" $n2)) || exit 1
        printf '%-24s %6d' "$s" "$size"
        for ((k = 0; k < ${#events[@]}; k++)); do
            printf ' %10.3f' "$(echo "(${b[k]} - ${a[k]}) / (($n2 - $n1) * $conns)" | bc -l)"
        done
        printf '\n'
    done
done
