#!/usr/bin/env bash
# Soak test of the HTTP server (`make soak`, not CI): examples/http_hello under wrk for a long
# time, its memory and descriptors sampled, to show they stay flat.
#
#   scripts/soak_http.sh [SECONDS] [--build-dir DIR] [--no-build]     (default 600)
#
# Load: wrk -t1 -c100 keep-alive for the whole time, plus a second wrk with 20 connections
# sending "Connection: close" (every request a new connection: accept, serve, close) so that
# per-connection resources churn too. The server runs on CPU 0, the loads on CPU 1. Every 10 s
# a line: elapsed, the server's RSS (VmRSS) and descriptor count. At the end: RSS after the
# first minute (warm), at the end and the highest; descriptors during the load and after it
# (they must come back to the count before it). It exits non-zero if the RSS grew by more than
# 10% + 1 MiB after the first minute, or descriptors did not come back.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
secs=600 dir=build/release build=1
while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) dir=$2; shift ;;
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    [0-9]*) secs=$1 ;;
    *) echo "soak_http.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for t in wrk taskset curl; do
    command -v $t >/dev/null || { echo "soak_http.sh: $t is missing" >&2; exit 1; }
done
if [ $build = 1 ]; then
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build "$dir" -j"${JOBS:-2}" --target example_http_hello >/dev/null || exit 1
fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
port=28900
taskset -c 0 "$dir/examples/http_hello" $port >/dev/null &
srv=$!
loads=()
trap 'kill "${loads[@]}" "$srv" 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
rss() { awk '/^VmRSS/ { print $2 }' /proc/"$srv"/status; }
fds() { ls /proc/"$srv"/fd | wc -l; }
fd0=$(fds)
echo "== soak: http_hello (pid $srv) for $secs s; descriptors before the load: $fd0"
taskset -c 1 wrk -t1 -c100 -d"${secs}s" "http://127.0.0.1:$port/" >/tmp/soak-wrk1.$$ 2>&1 &
loads+=($!)
taskset -c 1 wrk -t1 -c20 -d"${secs}s" -H 'Connection: close' "http://127.0.0.1:$port/" >/tmp/soak-wrk2.$$ 2>&1 &
loads+=($!)
warm= max=0 fdmax=0
printf "%8s %10s %6s\n" seconds "RSS KiB" fds
for ((t = 10; t <= secs; t += 10)); do
    sleep 10
    r=$(rss) f=$(fds)
    printf "%8d %10d %6d\n" $t "$r" "$f"
    [ $t -ge 60 ] && [ -z "$warm" ] && warm=$r
    [ "$r" -gt $max ] && max=$r
    [ "$f" -gt $fdmax ] && fdmax=$f
done
wait "${loads[@]}" 2>/dev/null
loads=()
sleep 2
end=$(rss) fd1=$(fds)
[ -n "$warm" ] || warm=$end
echo "== wrk keep-alive: $(grep -E 'requests in' /tmp/soak-wrk1.$$ | xargs)"
echo "== wrk closing:    $(grep -E 'requests in' /tmp/soak-wrk2.$$ | xargs)"
rm -f /tmp/soak-wrk1.$$ /tmp/soak-wrk2.$$
echo "== RSS KiB: after 60 s $warm, at the end $end, highest $max; descriptors: before $fd0, highest $fdmax, after $fd1"
status=0
if [ "$end" -gt $((warm + warm / 10 + 1024)) ]; then
    echo "== soak: RSS grew by more than 10% + 1 MiB after the first minute"
    status=1
fi
if [ "$fd1" -ne "$fd0" ]; then
    echo "== soak: descriptors did not come back ($fd0 before, $fd1 after)"
    status=1
fi
[ $status = 0 ] && echo "== soak: flat"
exit $status
