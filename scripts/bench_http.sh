#!/usr/bin/env bash
# The HTTP benchmark: examples/http_hello (eddy_http_serve) against nginx (one worker), h2o
# (one thread) and Go's net/http (GOMAXPROCS=1), each answering GET / with "Hello, World!\n"
# as text/plain, under wrk with one thread and 100, then 1,000 keep-alive connections.
#
#   scripts/bench_http.sh [--quick] [--rounds N] [--duration S] [--conns "100 1000"]
#                         [--servers "eddy nginx h2o go"] [--build-dir DIR] [--no-build]
#                         [--raw FILE] [--port-base N]
#   scripts/bench_http.sh --table FILE
#
#   --quick      1 round of 2 s runs (~30 s in all)
#   --rounds N   rounds (default 3); a round runs every server once per connection count, in an
#                order rotated from round to round, so servers alternate and each ratio pairs
#                runs made seconds apart (interleaved)
#   --duration S seconds wrk measures each run (default 10; 2 with --quick), after a 1 s warm-up
#   --raw FILE   also keep one line per run in FILE: "conns server round reqs secs cpu_ns bytes
#                other_pct"
#   --table FILE print the table from a FILE kept with --raw, without running anything
#
# The server runs pinned to CPU 0 (taskset -c 0), wrk to CPU 1. Figures per server: requests/s
# (wrk's count over its window), server CPU per request (the server's threads' CPU time from
# /proc/PID/task/*/schedstat over the same window, divided by the requests), bytes per
# response (wrk's read volume / requests: the header sets differ a little: nginx adds
# Server and Connection, h2o Server, Go and eddy neither), and other% (every other program's
# CPU use during the window, of 200% on two CPUs: a disturbed run is marked with '*'). Ratios
# are eddy / nginx, the median over rounds of each round's ratio. Goal (issue 11): requests/s
# >= 1.2x nginx at CPU per request <= nginx's, ahead of h2o. Debian packages: wrk, nginx-light,
# h2o, golang-go (BENCH_DEB_PACKAGES in scripts/bench.sh).
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

quick=0 rounds= dur= dir=build/release build=1 raw= port=28100 table=
conns_list="100 1000" servers="eddy nginx h2o go"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    --rounds=*) rounds=${1#*=} ;;
    --duration) dur=$2; shift ;;
    --duration=*) dur=${1#*=} ;;
    --conns) conns_list=$2; shift ;;
    --conns=*) conns_list=${1#*=} ;;
    --servers) servers=$2; shift ;;
    --servers=*) servers=${1#*=} ;;
    --build-dir) dir=$2; shift ;;
    --build-dir=*) dir=${1#*=} ;;
    --no-build) build=0 ;;
    --raw) raw=$2; shift ;;
    --raw=*) raw=${1#*=} ;;
    --port-base) port=$2; shift ;;
    --port-base=*) port=${1#*=} ;;
    --table) table=$2; shift ;;
    --table=*) table=${1#*=} ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench_http.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ $quick = 1 ]; then : "${rounds:=1}" "${dur:=2}"; else : "${rounds:=3}" "${dur:=10}"; fi

# ---- the table (also from a --raw file) --------------------------------------------------
print_table() {
    awk -v quick="$quick" '
    function med(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        c = $1; s = $2; r = $3; rps = $4 / $5; cpu = $4 ? $6 / $4 : 0; b = $4 ? $7 / $4 : 0
        key = c SUBSEP s
        n[key]++; RPS[key, n[key]] = rps; CPU[key, n[key]] = cpu; B[key, n[key]] = b
        if ($8 > 25) dist[key]++
        R[c, s, r] = rps; C[c, s, r] = cpu
        if (!(c in seen_c)) { seen_c[c] = 1; cs[++nc] = c }
        if (!(s in seen_s)) { seen_s[s] = 1; ss[++ns] = s }
        if (r > maxr) maxr = r
    }
    function mkey(c, s, what,   i, a, k) {
        k = 0
        for (i = 1; i <= n[c, s]; i++) a[++k] = (what == "rps" ? RPS[c, s, i] : what == "cpu" ? CPU[c, s, i] : B[c, s, i])
        return k ? med(a, k) : -1
    }
    function mratio(c, s, what,   r, a, k) {
        k = 0
        for (r = 1; r <= maxr; r++)
            if (((c, s, r) in R) && ((c, "nginx", r) in R) && R[c, "nginx", r] > 0 && C[c, "nginx", r] > 0)
                a[++k] = what == "rps" ? R[c, s, r] / R[c, "nginx", r] : C[c, s, r] / C[c, "nginx", r]
        return k ? med(a, k) : -1
    }
    END {
        printf "\n%-6s %-6s %12s %12s %9s %9s %9s\n", "conns", "server", "requests/s", "CPU us/req", "B/resp", "x nginx", "CPU x ng"
        for (i = 1; i <= nc; i++) {
            c = cs[i]
            for (j = 1; j <= ns; j++) {
                s = ss[j]
                if (!((c, s) in n)) continue
                rr = mratio(c, s, "rps"); cr = mratio(c, s, "cpu")
                printf "%-6s %-6s %12.0f %12.2f %9.0f %9s %9s%s\n", c, s, mkey(c, s, "rps"), mkey(c, s, "cpu") / 1000,
                    mkey(c, s, "b"), rr < 0 ? "-" : sprintf("%.2f", rr), cr < 0 ? "-" : sprintf("%.2f", cr),
                    dist[c, s] ? sprintf("   (%d disturbed run%s)", dist[c, s], dist[c, s] > 1 ? "s" : "") : ""
            }
        }
        printf "\nmedians over %d round(s)%s; x nginx: requests/s ratio; CPU x ng: CPU per request ratio\n", maxr, quick ? " (--quick)" : ""
        printf "(both the median of per-round ratios). Goal: eddy >= 1.20x nginx requests/s at CPU x ng <= 1.00,\n"
        printf "and ahead of h2o. A run is disturbed when other programs used more than 25%% CPU during it.\n"
    }' "$1"
}
if [ -n "$table" ]; then
    print_table "$table"
    exit 0
fi

# ---- tools and builds --------------------------------------------------------------------
missing=()
for t in wrk taskset; do command -v $t >/dev/null || missing+=($t); done
for s in $servers; do
    case $s in
    nginx) command -v nginx >/dev/null || missing+=(nginx) ;;
    h2o) command -v h2o >/dev/null || missing+=(h2o) ;;
    go) command -v go >/dev/null || missing+=(go) ;;
    esac
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench_http.sh: missing: ${missing[*]} (scripts/deps.sh bench installs them)" >&2
    exit 1
fi
if [ $build = 1 ]; then
    mkdir -p "$dir"
    echo "== building http_hello in $dir (log: $dir/bench-http-build.log)"
    if ! { cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build "$dir" -j"${JOBS:-2}" --target example_http_hello; } >"$dir/bench-http-build.log" 2>&1; then
        tail -n 20 "$dir/bench-http-build.log"
        exit 1
    fi
fi
mkdir -p "$dir/bench"
if [[ " $servers " == *" go "* ]] && { [ ! -x "$dir/bench/hello_go" ] || [ bench/http/hello_go.go -nt "$dir/bench/hello_go" ]; }; then
    echo "== building bench/http/hello_go.go"
    if ! (export GOCACHE="$top/$dir/go-cache" GOPATH="$top/$dir/go" GOFLAGS=-mod=mod GO111MODULE=off
        go build -o "$dir/bench/hello_go" bench/http/hello_go.go) >"$dir/bench-go-build.log" 2>&1; then
        cat "$dir/bench-go-build.log"
        exit 1
    fi
fi
[ -x "$dir/examples/http_hello" ] || { echo "bench_http.sh: $dir/examples/http_hello is missing" >&2; exit 1; }

# wrk at 1,000 connections needs descriptors: take the hard limit, raise it as root.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 8192 ]; then ulimit -Hn 8192 2>/dev/null || true; fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d /tmp/eddy-bench-http.XXXXXX)
chmod 755 "$tmp" # h2o started as root runs as nobody and writes its log here
out=$tmp/raw
: >"$out"
srv=
cleanup() {
    [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# Start server $1 on port $2 pinned to CPU 0; sets srv to its PID (the server's own: taskset
# execs it in place).
start_server() {
    local s=$1 p=$2
    case $s in
    eddy) taskset -c 0 "$dir/examples/http_hello" "$p" >"$tmp/$s.log" 2>&1 & ;;
    nginx)
        mkdir -p "$tmp/nginx"
        sed -e "s|@TMP@|$tmp/nginx|g" -e "s|@PORT@|$p|g" bench/http/nginx.conf.in >"$tmp/nginx/nginx.conf"
        taskset -c 0 nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" >"$tmp/$s.log" 2>&1 & ;;
    h2o)
        sed -e "s|@TMP@|$tmp|g" -e "s|@PORT@|$p|g" bench/http/h2o.conf.in >"$tmp/h2o.conf"
        : >"$tmp/h2o-error.log"
        chmod 666 "$tmp/h2o-error.log"
        taskset -c 0 h2o -c "$tmp/h2o.conf" >"$tmp/$s.log" 2>&1 & ;;
    go) GOMAXPROCS=1 taskset -c 0 "$dir/bench/hello_go" "$p" >"$tmp/$s.log" 2>&1 & ;;
    esac
    srv=$!
    local i
    for i in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$p/" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench_http.sh: $s did not start:" >&2
    cat "$tmp/$s.log" >&2
    return 1
}

stop_server() {
    [ -n "$srv" ] || return 0
    kill -TERM "$srv" 2>/dev/null
    local i
    for i in $(seq 100); do kill -0 "$srv" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    srv=
}

# CPU time of every thread of process $1, in ns.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }

# One measured run: server $1, $2 connections, round $3.
run_one() {
    local s=$1 c=$2 r=$3 p=$port
    port=$((port + 1))
    start_server "$s" "$p" || return 1
    taskset -c 1 wrk -t1 -c"$c" -d1s "http://127.0.0.1:$p/" >/dev/null 2>&1 # warm-up
    local c0 t0 c1 t1 res
    c0=$(cpu_ns "$srv")
    t0=$(busy_ticks)
    res=$(taskset -c 1 wrk -t1 -c"$c" -d"${dur}s" "http://127.0.0.1:$p/" 2>&1)
    c1=$(cpu_ns "$srv")
    t1=$(busy_ticks)
    stop_server
    # requests, seconds, bytes from wrk's summary: "N requests in 10.00s, 1.23MB read"
    local reqs secs bytes errs
    reqs=$(sed -nE 's/^ *([0-9]+) requests in ([0-9.]+)(m?s),.*/\1/p' <<<"$res")
    secs=$(sed -nE 's/^ *[0-9]+ requests in ([0-9.]+)(m?s),.*/\1 \2/p' <<<"$res" | awk '{ print $2 == "ms" ? $1 / 1000 : $1 }')
    bytes=$(sed -nE 's/.* requests in [0-9.]+m?s, ([0-9.]+)([KMG]?B) read.*/\1 \2/p' <<<"$res" |
        awk '{ m = $2 == "KB" ? 1024 : $2 == "MB" ? 1048576 : $2 == "GB" ? 1073741824 : 1; printf "%.0f", $1 * m }')
    errs=$(sed -nE 's/.*Non-2xx or 3xx responses: ([0-9]+).*/\1/p' <<<"$res")
    if [ -z "$reqs" ] || [ -n "$errs" ]; then
        echo "bench_http.sh: $s at $c connections: wrk failed or got errors:" >&2
        echo "$res" >&2
        return 1
    fi
    # other programs' CPU during the run, % of both CPUs: all busy time less server and wrk
    # (wrk is not measured: count CPU 1 as its own)
    local hz other
    hz=$(getconf CLK_TCK)
    other=$(awk -v b=$((t1 - t0)) -v hz="$hz" -v srv=$((c1 - c0)) -v secs="$secs" 'BEGIN {
        busy = b / hz; o = busy - srv / 1e9 - secs; if (o < 0) o = 0; printf "%.0f", 100 * o / secs }')
    echo "$c $s $r $reqs $secs $((c1 - c0)) $bytes $other" >>"$out"
    printf "   %-5s %5s conns  %9.0f req/s  %6.2f us CPU/req  other %3s%%\n" "$s" "$c" \
        "$(awk -v n="$reqs" -v s="$secs" 'BEGIN { print n / s }')" \
        "$(awk -v n="$reqs" -v c=$((c1 - c0)) 'BEGIN { print c / n / 1000 }')" "$other"
}

read -r -a srvs <<<"$servers"
status=0
start=$(date +%s)
echo "== HTTP benchmark: ${#srvs[@]} servers x {$conns_list} connections x $rounds round(s), ${dur} s each; server on CPU 0, wrk on CPU 1"
for ((r = 1; r <= rounds; r++)); do
    for c in $conns_list; do
        # rotate the order from round to round
        for ((k = 0; k < ${#srvs[@]}; k++)); do
            s=${srvs[$(((k + r - 1) % ${#srvs[@]}))]}
            run_one "$s" "$c" "$r" || status=1
        done
    done
done
[ -n "$raw" ] && cp "$out" "$raw"
print_table "$out"
echo "== HTTP benchmark took $(($(date +%s) - start)) s"
exit $status
