# What the benchmark scripts that start servers share (sourced, not run): the options they all
# take, stopping a server, its CPU time, waiting for a URL to answer, and reading wrk's
# summary. Used by scripts/bench_http_client.sh and scripts/bench_https.sh.
#
# Options (bench_parse): --quick (1 round of 2 s), --rounds N (default 3), --duration S
# (default 10), --build-dir DIR, --no-build, --raw FILE, --port N (or --port-base N), -h.
# A script's own options go to its function bench_opt "$@", which returns 0 when it took
# $1 and sets bench_nshift to the arguments it used.

bench_parse() {
    while [ $# -gt 0 ]; do
        bench_nshift=1
        case "$1" in
        --quick) quick=1 ;;
        --rounds) rounds=$2; bench_nshift=2 ;;
        --rounds=*) rounds=${1#*=} ;;
        --duration) dur=$2; bench_nshift=2 ;;
        --duration=*) dur=${1#*=} ;;
        --build-dir) dir=$2; bench_nshift=2 ;;
        --build-dir=*) dir=${1#*=} ;;
        --no-build) build=0 ;;
        --raw) raw=$2; bench_nshift=2 ;;
        --raw=*) raw=${1#*=} ;;
        --port | --port-base) port=$2; bench_nshift=2 ;;
        --port=* | --port-base=*) port=${1#*=} ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
        *) if ! declare -F bench_opt >/dev/null || ! bench_opt "$@"; then
               echo "$(basename "$0"): unknown option $1" >&2
               exit 2
           fi ;;
        esac
        shift "$bench_nshift"
    done
    if [ "$quick" = 1 ]; then : "${rounds:=1}" "${dur:=2}"; else : "${rounds:=3}" "${dur:=10}"; fi
}

# Stop the server whose PID is in srv (SIGTERM, then SIGKILL after 5 s); srv is emptied.
bench_stop_server() {
    [ -n "$srv" ] || return 0
    kill -TERM "$srv" 2>/dev/null
    local i
    for i in $(seq 100); do kill -0 "$srv" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    srv=
}

# CPU time of every thread of process $1, in ns.
bench_cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# Wait (at most 5 s) until URL $1 answers curl (more curl options may follow). A server
# starting has no event to wait for: it is polled.
bench_wait_url() {
    local i
    for i in $(seq 100); do
        curl -s -o /dev/null "${@:2}" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# From wrk's output $1: reqs (requests), secs (the window, s), errs (non-2xx/3xx; empty if
# none). reqs is empty when wrk failed.
bench_wrk_summary() {
    reqs=$(sed -nE 's/^ *([0-9]+) requests in ([0-9.]+)(m?s),.*/\1/p' <<<"$1")
    secs=$(sed -nE 's/^ *[0-9]+ requests in ([0-9.]+)(m?s),.*/\1 \2/p' <<<"$1" | awk '{ print $2 == "ms" ? $1 / 1000 : $1 }')
    errs=$(sed -nE 's/.*Non-2xx or 3xx responses: ([0-9]+).*/\1/p' <<<"$1")
}
