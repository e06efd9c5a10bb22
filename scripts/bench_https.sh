#!/usr/bin/env bash
# The HTTPS benchmark: examples/https_hello (eddy_http_serve with TLS in its accept hook)
# against nginx with TLS (one worker, bench/http/nginx_tls.conf.in), both answering GET / with
# "Hello, World!\n" and using the same certificate (ECDSA P-256, made here with openssl), under
# wrk (one thread, 100 connections):
#   keep-alive    requests/s over 100 kept TLS connections
#   new conns     requests/s with "Connection: close": every request a new TCP connection and a
#                 new TLS handshake (wrk makes full handshakes), so new TLS connections/s
#
#   scripts/bench_https.sh [--quick] [--rounds N] [--duration S] [--conns N] [--build-dir DIR]
#                          [--no-build] [--raw FILE] [--port-base N]
#
#   --quick      1 round of 2 s runs (~20 s in all)
#   --rounds N   rounds (default 3), each running every server and mode once, the servers'
#                order rotated from round to round
#   --duration S seconds wrk measures each run (default 10; 2 with --quick) after a 1 s warm-up
#   --raw FILE   also keep one line per run: "mode server round reqs secs cpu_ns"
#
# The server runs pinned to CPU 0, wrk to CPU 1. Figures: requests/s, the server's CPU per
# request (its threads' CPU from /proc/PID/task/*/schedstat over the window), and eddy / nginx
# (median over rounds of each round's ratio). Goal (issue 11): >= 1.0x nginx in both modes.
# Debian packages: wrk, nginx-light, openssl (BENCH_DEB_PACKAGES in scripts/bench.sh).
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

quick=0 rounds= dur= dir=build/release build=1 raw= port=28400 conns=100
. scripts/bench_lib.sh
bench_opt() {
    case "$1" in
    --conns) conns=$2; bench_nshift=2 ;;
    --conns=*) conns=${1#*=} ;;
    *) return 1 ;;
    esac
}
bench_parse "$@"

missing=()
for t in wrk nginx openssl taskset curl; do command -v $t >/dev/null || missing+=($t); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench_https.sh: missing: ${missing[*]} (scripts/deps.sh bench installs them)" >&2
    exit 1
fi
if [ $build = 1 ]; then
    mkdir -p "$dir"
    echo "== building https_hello in $dir (log: $dir/bench-https-build.log)"
    if ! { cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build "$dir" -j"${JOBS:-2}" --target example_https_hello; } >"$dir/bench-https-build.log" 2>&1; then
        tail -n 20 "$dir/bench-https-build.log"
        exit 1
    fi
fi
[ -x "$dir/examples/https_hello" ] || { echo "bench_https.sh: $dir/examples/https_hello is missing" >&2; exit 1; }

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 8192 ]; then ulimit -Hn 8192 2>/dev/null || true; fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d /tmp/eddy-bench-https.XXXXXX)
out=$tmp/raw
: >"$out"
srv=
cleanup() {
    [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >"$tmp/openssl.log" 2>&1; then
    cat "$tmp/openssl.log" >&2
    exit 1
fi

start_server() {
    local s=$1 p=$2
    case $s in
    eddy) taskset -c 0 "$dir/examples/https_hello" "$tmp/cert.pem" "$tmp/key.pem" "$p" >"$tmp/$s.log" 2>&1 & ;;
    nginx)
        mkdir -p "$tmp/nginx"
        sed -e "s|@TMP@|$tmp/nginx|g" -e "s|@PORT@|$p|g" -e "s|@CERT@|$tmp/cert.pem|g" \
            -e "s|@KEY@|$tmp/key.pem|g" bench/http/nginx_tls.conf.in >"$tmp/nginx/nginx.conf"
        taskset -c 0 nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" >"$tmp/$s.log" 2>&1 & ;;
    esac
    srv=$!
    bench_wait_url "https://127.0.0.1:$p/" -k && return 0
    echo "bench_https.sh: $s did not start:" >&2
    cat "$tmp/$s.log" >&2
    return 1
}

# One measured run: mode $1 (keepalive or newconn), server $2, round $3.
run_one() {
    local m=$1 s=$2 r=$3 p=$port
    port=$((port + 1))
    start_server "$s" "$p" || return 1
    local hdr=()
    [ "$m" = newconn ] && hdr=(-H "Connection: close")
    taskset -c 1 wrk -t1 -c"$conns" -d1s "${hdr[@]}" "https://127.0.0.1:$p/" >/dev/null 2>&1 # warm-up
    local c0 c1 res
    c0=$(bench_cpu_ns "$srv")
    res=$(taskset -c 1 wrk -t1 -c"$conns" -d"${dur}s" "${hdr[@]}" "https://127.0.0.1:$p/" 2>&1)
    c1=$(bench_cpu_ns "$srv")
    bench_stop_server
    local reqs secs errs
    bench_wrk_summary "$res"
    if [ -z "$reqs" ] || [ -n "$errs" ] || [ "$reqs" = 0 ]; then
        echo "bench_https.sh: $s ($m): wrk failed or got errors:" >&2
        echo "$res" >&2
        return 1
    fi
    echo "$m $s $r $reqs $secs $((c1 - c0))" >>"$out"
    printf "   %-9s %-6s %9.0f req/s  %7.2f us CPU/req\n" "$m" "$s" \
        "$(awk -v n="$reqs" -v s="$secs" 'BEGIN { print n / s }')" \
        "$(awk -v n="$reqs" -v c=$((c1 - c0)) 'BEGIN { print c / n / 1000 }')"
}

print_table() {
    awk '
    function med(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { m = $1; s = $2; r = $3; R[m, s, r] = $4 / $5; C[m, s, r] = $4 ? $6 / $4 : 0; if (r > maxr) maxr = r }
    function md(arr, m, s,   r, a, k) { k = 0; for (r = 1; r <= maxr; r++) if ((m, s, r) in arr) a[++k] = arr[m, s, r]; return k ? med(a, k) : -1 }
    function ratio(arr, m,   r, a, k) { k = 0; for (r = 1; r <= maxr; r++) if (((m, "eddy", r) in arr) && ((m, "nginx", r) in arr) && arr[m, "nginx", r] > 0) a[++k] = arr[m, "eddy", r] / arr[m, "nginx", r]; return k ? med(a, k) : -1 }
    END {
        printf "\n%-10s %-6s %12s %12s %9s %9s\n", "mode", "server", "requests/s", "CPU us/req", "x nginx", "CPU x ng"
        split("keepalive newconn", modes, " ")
        for (i = 1; i <= 2; i++) for (j = 1; j <= 2; j++) {
            m = modes[i]; s = j == 1 ? "eddy" : "nginx"
            if (md(R, m, s) < 0) continue
            printf "%-10s %-6s %12.0f %12.2f %9s %9s\n", m, s, md(R, m, s), md(C, m, s) / 1000,
                s == "eddy" ? sprintf("%.2f", ratio(R, m)) : "", s == "eddy" ? sprintf("%.2f", ratio(C, m)) : ""
        }
        printf "\nmedians over %d round(s); keepalive: requests/s over kept TLS connections; newconn: every\n", maxr
        printf "request on a new connection (a full TLS handshake), so TLS connections/s. Goal: eddy >= 1.0x nginx.\n"
    }' "$1"
}

status=0
start=$(date +%s)
echo "== HTTPS benchmark: https_hello and nginx x {keepalive, newconn} x $rounds round(s), ${dur} s each, $conns connections; server on CPU 0, wrk on CPU 1"
srvs=(eddy nginx)
for ((r = 1; r <= rounds; r++)); do
    for m in keepalive newconn; do
        for ((k = 0; k < 2; k++)); do
            run_one "$m" "${srvs[$(((k + r - 1) % 2))]}" "$r" || status=1
        done
    done
done
[ -n "$raw" ] && cp "$out" "$raw"
print_table "$out"
echo "== HTTPS benchmark took $(($(date +%s) - start)) s"
exit $status
