#!/usr/bin/env bash
# The HTTP client benchmark: requests/s of a client fetching GET / ("Hello, World!\n") from
# nginx (one worker) over keep-alive connections with 10 concurrent requests, for eddy's client
# (bench/bench_http_client.c: 10 tasks, one eddy_http_client with 10 connections), Python's
# aiohttp (bench/http/client_aiohttp.py: 10 asyncio tasks, one ClientSession with a 10-connection
# connector; also on uvloop when python3-uvloop is there) and curl --parallel (--parallel-max
# 10, a fixed count of URLs, timed).
#
#   scripts/bench_http_client.sh [--quick] [--rounds N] [--duration S] [--clients "eddy aiohttp ..."]
#                                [--build-dir DIR] [--no-build] [--raw FILE] [--port N]
#
#   --quick      1 round of 2 s runs (~15 s in all)
#   --rounds N   rounds (default 3); each runs every client once, in an order rotated from round
#                to round (interleaved: each ratio pairs runs made seconds apart)
#   --duration S seconds per run (default 10; 2 with --quick) after a 0.5 s warm-up; curl gets
#                a URL count sized from the previous eddy run to take about as long
#   --raw FILE   also keep one line per run: "client round requests seconds cpu_us_per_req"
#
# nginx runs pinned to CPU 0 (taskset -c 0), the client to CPU 1. Figures: requests/s (the
# client's count over its own window), client CPU per request (user + system, from the
# client's own getrusage; curl: from /proc), and the ratio eddy / anchor (median over rounds of
# each round's ratio). Goal (issue 11): eddy >= 5x aiohttp. Debian packages: nginx-light, curl,
# python3-aiohttp (BENCH_DEB_PACKAGES in scripts/bench.sh).
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

quick=0 rounds= dur= dir=build/release build=1 raw= port=28300 clients="eddy aiohttp aiohttp-uvloop curl"
. scripts/bench_lib.sh
bench_opt() {
    case "$1" in
    --clients) clients=$2; bench_nshift=2 ;;
    --clients=*) clients=${1#*=} ;;
    *) return 1 ;;
    esac
}
bench_parse "$@"

py=/usr/bin/python3
[ -x $py ] || py=python3
missing=()
for t in nginx curl taskset; do command -v $t >/dev/null || missing+=($t); done
$py -c 'import aiohttp' 2>/dev/null || missing+=(python3-aiohttp)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench_http_client.sh: missing: ${missing[*]} (scripts/deps.sh bench installs them)" >&2
    exit 1
fi
if ! $py -c 'import uvloop' 2>/dev/null; then clients=${clients//aiohttp-uvloop/}; fi
if [ $build = 1 ]; then
    mkdir -p "$dir"
    echo "== building bench_http_client in $dir (log: $dir/bench-http-client-build.log)"
    if ! { cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DEDDY_BUILD_BENCH=ON >/dev/null &&
        cmake --build "$dir" -j"${JOBS:-2}" --target bench_http_client; } >"$dir/bench-http-client-build.log" 2>&1; then
        tail -n 20 "$dir/bench-http-client-build.log"
        exit 1
    fi
fi
[ -x "$dir/bench/bench_http_client" ] || { echo "bench_http_client.sh: $dir/bench/bench_http_client is missing" >&2; exit 1; }

tmp=$(mktemp -d /tmp/eddy-bench-client.XXXXXX)
out=$tmp/raw
: >"$out"
srv=
cleanup() {
    [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# nginx answering GET / with "Hello, World!\n" (the HTTP benchmark's configuration), CPU 0.
mkdir -p "$tmp/nginx"
sed -e "s|@TMP@|$tmp/nginx|g" -e "s|@PORT@|$port|g" bench/http/nginx.conf.in >"$tmp/nginx/nginx.conf"
taskset -c 0 nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" >"$tmp/nginx.log" 2>&1 &
srv=$!
url="http://127.0.0.1:$port/"
bench_wait_url "$url" || { echo "bench_http_client.sh: nginx did not start:" >&2; cat "$tmp/nginx.log" >&2; exit 1; }

kv() { sed -nE "s/^$1=(.*)/\1/p" <<<"$2"; }
last_eddy_rps=20000

# One measured run of client $1 in round $2: appends "client round requests seconds cpu_us".
run_one() {
    local c=$1 r=$2 res rc
    case $c in
    eddy) res=$(taskset -c 1 "$dir/bench/bench_http_client" --duration "$dur" "$url" 2>&1); rc=$? ;;
    aiohttp) res=$(taskset -c 1 $py bench/http/client_aiohttp.py --duration "$dur" "$url" 2>&1); rc=$? ;;
    aiohttp-uvloop) res=$(taskset -c 1 $py bench/http/client_aiohttp.py --uvloop --duration "$dur" "$url" 2>&1); rc=$? ;;
    curl)
        # a fixed number of URLs (curl has no duration): about as many as eddy did in $dur s
        local n t0 t1
        n=$(awk -v r="$last_eddy_rps" -v d="$dur" 'BEGIN { n = int(r * d / 4); if (n < 2000) n = 2000; print n }')
        taskset -c 0 curl -s -o /dev/null "$url" # warm-up of nginx's side, not measured
        t0=$(date +%s.%N)
        taskset -c 1 curl -s --no-progress-meter --parallel --parallel-max 10 "$url?[1-$n]" >/dev/null 2>"$tmp/curl.err" &
        local pid=$!
        wait $pid
        rc=$?
        t1=$(date +%s.%N)
        res=$(printf 'requests=%s\nseconds=%s\n' "$n" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
        ;;
    esac
    if [ $rc -ne 0 ]; then
        echo "bench_http_client.sh: $c failed:" >&2
        echo "$res" >&2
        return 1
    fi
    local reqs secs cpu
    reqs=$(kv requests "$res")
    secs=$(kv seconds "$res")
    cpu=$(kv cpu_us_per_req "$res")
    [ -n "$cpu" ] || cpu=-
    [ "$c" = eddy ] && last_eddy_rps=$(kv rps "$res")
    echo "$c $r $reqs $secs $cpu" >>"$out"
    printf "   %-15s %9.0f req/s  %s us CPU/req\n" "$c" "$(awk -v n="$reqs" -v s="$secs" 'BEGIN { print n / s }')" "$cpu"
}

print_table() {
    awk '
    function med(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { c = $1; r = $2; R[c, r] = $3 / $4; if ($5 != "-") C[c, r] = $5; if (!(c in seen)) { seen[c] = 1; cs[++nc] = c } if (r > maxr) maxr = r }
    function m(c, arr,   r, a, k) { k = 0; for (r = 1; r <= maxr; r++) if ((c, r) in arr) a[++k] = arr[c, r]; return k ? med(a, k) : -1 }
    function ratio(c,   r, a, k) { k = 0; for (r = 1; r <= maxr; r++) if (((c, r) in R) && (("eddy", r) in R) && R[c, r] > 0) a[++k] = R["eddy", r] / R[c, r]; return k ? med(a, k) : -1 }
    END {
        printf "\n%-16s %12s %12s %12s\n", "client", "requests/s", "CPU us/req", "eddy x it"
        for (i = 1; i <= nc; i++) {
            c = cs[i]; cp = m(c, C); rt = ratio(c)
            printf "%-16s %12.0f %12s %12s\n", c, m(c, R), cp < 0 ? "-" : sprintf("%.2f", cp), c == "eddy" ? "" : sprintf("%.2f", rt)
        }
        printf "\nmedians over %d round(s); 10 concurrent requests over keep-alive to nginx (1 worker, CPU 0),\n", maxr
        printf "client on CPU 1. Goal: eddy >= 5x aiohttp.\n"
    }' "$1"
}

read -r -a cl <<<"$clients"
status=0
start=$(date +%s)
echo "== HTTP client benchmark: ${#cl[@]} clients x $rounds round(s), ${dur} s each; nginx on CPU 0, client on CPU 1"
for ((r = 1; r <= rounds; r++)); do
    for ((k = 0; k < ${#cl[@]}; k++)); do
        run_one "${cl[$(((k + r - 1) % ${#cl[@]}))]}" "$r" || status=1
    done
done
[ -n "$raw" ] && cp "$out" "$raw"
print_table "$out"
echo "== HTTP client benchmark took $(($(date +%s) - start)) s"
exit $status
