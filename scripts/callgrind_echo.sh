#!/usr/bin/env bash
# Instructions per echo message, counted by callgrind: what a change to the per-message path
# costs, free of the noise of a shared machine (wall-clock figures are scripts/bench_echo.sh's).
#
#   scripts/callgrind_echo.sh [--build-dir DIR] [--conns N] [--size BYTES] [SERVER...]
#
# SERVER: echo_stream, echo_protocol (examples/), or NAME=PATH for any echo server taking the
# port as its only argument; default: echo_stream echo_protocol. Each runs under
# `valgrind --tool=callgrind` twice, serving bench/echo_load -n N1 and -n N2 round trips per
# connection; the difference of the two totals over the difference of the message counts is
# the server's user-space instructions per message, with start-up, connection set-up and exit
# cancelled out. The environment passes through (EDDY_BACKEND=io_uring, say).
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
dir=build/release conns=100 size=64 n1=200 n2=600 servers=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) dir=$2; shift ;;
    --conns) conns=$2; shift ;;
    --size) size=$2; shift ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "callgrind_echo.sh: unknown option $1" >&2; exit 2 ;;
    *) servers+=("$1") ;;
    esac
    shift
done
[ ${#servers[@]} -gt 0 ] || servers=(echo_stream echo_protocol)
command -v valgrind >/dev/null || { echo "callgrind_echo.sh: valgrind is not installed" >&2; exit 1; }
load=$dir/bench/echo_load
[ -x "$load" ] || { echo "callgrind_echo.sh: $load is missing (-DEDDY_BUILD_BENCH=ON)" >&2; exit 1; }
work=$(mktemp -d /tmp/eddy-callgrind.XXXXXX)
trap 'rm -rf "$work"' EXIT
port=$((28000 + RANDOM % 2000))

# run PATH COUNT: total instructions (Ir) of one server run serving COUNT round trips per
# connection.
run() {
    local path=$1 count=$2 pid i out=$work/cg.out log=$work/server.log
    port=$((port + 1))
    : >"$log"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$path" "$port" >"$log" 2>&1 &
    pid=$!
    for ((i = 0; i < 500; i++)); do
        grep -q "Server listening" "$log" && break
        sleep 0.05
    done
    if ! "$load" -p "$port" -c "$conns" -s "$size" -n "$count" >"$work/load.out"; then
        echo "callgrind_echo.sh: echo_load failed against $path:" >&2
        cat "$work/load.out" "$log" >&2
        kill -KILL "$pid" 2>/dev/null
        return 1
    fi
    kill -TERM "$pid"
    # Valgrind holds a signal back while the program sleeps in a system call it does not
    # know may block (io_uring_enter): a connection wakes the server so the signal lands.
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
        sleep 0.1
    done
    wait "$pid"
    sed -nE 's/^summary: ([0-9]+).*/\1/p' "$out"
}

printf '%-16s %10s %8s %6s %14s\n' server backend conns bytes "Ir per msg"
for s in "${servers[@]}"; do
    case "$s" in
    *=*) name=${s%%=*} path=${s#*=} ;;
    *) name=$s path=$dir/examples/$s ;;
    esac
    a=$(run "$path" $n1) || exit 1
    b=$(run "$path" $n2) || exit 1
    printf '%-16s %10s %8d %6d %14.0f\n' "$name" "${EDDY_BACKEND:-default}" "$conns" "$size" \
        "$(echo "($b - $a) / (($n2 - $n1) * $conns)" | bc -l)"
done
