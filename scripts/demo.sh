#!/usr/bin/env bash
# `make demo`: build the release tree (with the benchmarks), run the example programs and
# show what they print, then run the benchmarks (scripts/bench.sh) which print their results
# next to their anchors. QUICK=1 passes --quick to the benchmarks.
#
# The examples run on eddy's virtual clock (EDDY_CLOCK=virtual): their sleeps take no real
# time, so the demo is quick while the output and the order of events stay what the real clock
# gives.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
dir=build/release
examples=(hello_sleep switch_foobar fetch_gather nursery taskgroup countdown)

bench=OFF
if [ -f scripts/bench.sh ]; then
    bash scripts/deps.sh build bench || exit 1
    bench=ON
else
    bash scripts/deps.sh build || exit 1
fi
echo "== building $dir (Release, benchmarks $bench; log: $dir/build.log)"
mkdir -p "$dir"
build() {
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DEDDY_BUILD_BENCH="$1" &&
        cmake --build "$dir" -j"${JOBS:-2}"
}
if ! build $bench >"$dir/build.log" 2>&1; then
    # Show the examples even when the benchmarks cannot build (their anchors' packages
    # missing, say); the benchmark step below then reports the failure.
    if [ $bench = ON ] && build OFF >>"$dir/build.log" 2>&1; then
        echo "== the benchmarks did not build (see $dir/build.log); going on with the examples"
    else
        tail -n 40 "$dir/build.log"
        echo "== build failed (full log: $dir/build.log)"
        exit 1
    fi
fi

status=0
# run NAME [ARGS...] [--expect-fail]: show the command and its output, indented.
run() {
    local expect=0 args=() rc
    for a in "$@"; do
        if [ "$a" = --expect-fail ]; then expect=1; else args+=("$a"); fi
    done
    echo
    echo "\$ EDDY_CLOCK=virtual examples/${args[*]}"
    EDDY_CLOCK=virtual timeout 60 "$dir/examples/${args[0]}" "${args[@]:1}" 2>&1 </dev/null | sed 's/^/    /'
    rc=${PIPESTATUS[0]}
    if [ $expect = 1 ]; then
        if [ $rc -eq 0 ]; then
            echo "    (expected a failure exit status, got 0)"
            status=1
        else
            echo "    (exit status $rc, as expected: the error came out of the nursery)"
        fi
    elif [ $rc -ne 0 ]; then
        echo "    (exit status $rc)"
        status=1
    fi
}

echo
echo "== examples"
ran=0
for ex in "${examples[@]}"; do
    [ -x "$dir/examples/$ex" ] || continue
    run "$ex"
    ran=$((ran + 1))
    if [ "$ex" = nursery ]; then
        run nursery --fail B --expect-fail
    fi
done
[ $ran -gt 0 ] || echo "(no example programs are built yet)"

# clamd_scan needs a server: fake_clamd on a free loopback port, on the real clock (the two
# programs talk over a socket; scanning takes milliseconds).
clamd_demo() {
    local tmp pid port rc
    tmp=$(mktemp -d)
    "$dir/examples/fake_clamd" 0 >"$tmp/server.out" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 200); do
        grep -q '^Server listening at ' "$tmp/server.out" && break
        sleep 0.05
    done
    port=$(sed -n 's/^Server listening at 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/server.out")
    echo
    echo "\$ examples/fake_clamd 0 &"
    sed 's/^/    /' "$tmp/server.out"
    if [ -z "$port" ]; then
        echo "    (fake_clamd did not start)"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -rf "$tmp"
        status=1
        return
    fi
    printf 'Hello, clamd.\n' >"$tmp/clean.txt"
    printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >"$tmp/eicar.com"
    for f in clean.txt:0 eicar.com:1; do
        echo
        echo "\$ examples/clamd_scan ${f%:*} 127.0.0.1 $port"
        (cd "$tmp" && timeout 60 "$top/$dir/examples/clamd_scan" "${f%:*}" 127.0.0.1 "$port") 2>&1 </dev/null |
            sed 's/^/    /'
        rc=${PIPESTATUS[0]}
        if [ "$rc" -ne "${f#*:}" ]; then
            echo "    (exit status $rc, expected ${f#*:})"
            status=1
        else
            echo "    (exit status $rc)"
        fi
    done
    kill -INT "$pid"
    for _ in $(seq 200); do # bounded: a server that does not stop is killed after 10 s
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    wait "$pid"
    rc=$?
    echo
    echo "\$ kill -INT %1   # fake_clamd stops: exit status $rc"
    [ $rc -eq 0 ] || status=1
    rm -rf "$tmp"
}
if [ -x "$dir/examples/fake_clamd" ] && [ -x "$dir/examples/clamd_scan" ]; then
    clamd_demo
    examples+=(fake_clamd clamd_scan)
fi
# The HTTP client programs need a server: http_hello on a free loopback port (real clock).
http_demo() {
    local tmp pid port rc u
    tmp=$(mktemp -d)
    "$dir/examples/http_hello" 0 >"$tmp/server.out" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 200); do
        grep -q 'listening on port' "$tmp/server.out" && break
        sleep 0.05
    done
    port=$(sed -n 's/^http_hello: listening on port \([0-9]*\)$/\1/p' "$tmp/server.out")
    echo
    echo "\$ examples/http_hello 0 &"
    sed 's/^/    /' "$tmp/server.out"
    if [ -z "$port" ]; then
        echo "    (http_hello did not start)"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -rf "$tmp"
        status=1
        return
    fi
    u=http://127.0.0.1:$port
    for args in "http_get $u/:0" "http_get $u/nope:1" "retry_connect 127.0.0.1 $port:0" \
        "fetch_many --limit 2 $u/ $u/ $u/a $u/ $u/ $u/:0"; do
        echo
        echo "\$ examples/${args%:*}"
        # shellcheck disable=SC2086 # the arguments are words
        timeout 60 "$dir/examples/"${args%:*} 2>&1 </dev/null | sed 's/^/    /'
        rc=${PIPESTATUS[0]}
        echo "    (exit status $rc)"
        [ "$rc" -eq "${args##*:}" ] || status=1
    done
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    echo
    echo "\$ kill -INT %1   # http_hello stops: exit status $rc"
    [ $rc -eq 0 ] || status=1
    rm -rf "$tmp"
}
if [ -x "$dir/examples/http_hello" ] && [ -x "$dir/examples/http_get" ] && [ -x "$dir/examples/fetch_many" ]; then
    http_demo
    examples+=(http_hello http_get fetch_many retry_connect)
fi
# run_with_timeout and sigwatch start real children and wait for real signals: real clock.
process_demo() {
    local rwt="$dir/examples/run_with_timeout" tmp pid rc
    echo
    echo "\$ examples/run_with_timeout 5 sh -c 'echo hello from the child; exit 3'"
    timeout 60 "$rwt" 5 sh -c 'echo hello from the child; exit 3' 2>&1 </dev/null | sed 's/^/    /'
    rc=${PIPESTATUS[0]}
    echo "    (exit status $rc: the command's own)"
    [ "$rc" -eq 3 ] || status=1
    echo
    echo "\$ examples/run_with_timeout --grace 0.5 0.3 sh -c \"trap '' TERM; exec sleep 10\""
    timeout 60 "$rwt" --grace 0.5 0.3 sh -c "trap '' TERM; exec sleep 10" 2>&1 </dev/null | sed 's/^/    /'
    rc=${PIPESTATUS[0]}
    echo "    (exit status $rc: timed out; SIGTERM was ignored, SIGKILL came 0.5 s later)"
    [ "$rc" -eq 124 ] || status=1
    tmp=$(mktemp)
    "$dir/examples/sigwatch" >"$tmp" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 200); do # until its receiver is open: the signals are blocked
        grep -qE '^SigBlk:.*[1-9a-f]' "/proc/$pid/status" 2>/dev/null && break
        sleep 0.02
    done
    echo
    echo "\$ examples/sigwatch &   # then: kill -HUP, kill -USR1, kill -TERM"
    for sig in HUP USR1 TERM; do
        kill -"$sig" "$pid"
        sleep 0.1 # one line each: signals sent at once would be coalesced
    done
    wait "$pid"
    rc=$?
    sed 's/^/    /' "$tmp"
    echo "    (exit status $rc)"
    [ "$rc" -eq 0 ] || status=1
    rm -f "$tmp"
}
if [ -x "$dir/examples/run_with_timeout" ] && [ -x "$dir/examples/sigwatch" ]; then
    process_demo
    examples+=(run_with_timeout sigwatch)
fi
# The thread pool and files (issue 9): to_thread_demo's sleeps happen on worker threads, so it
# runs on the real clock (about 1 s); tail_follow follows a scratch file through an append, a
# truncation and a rotation, each made once the previous one has been printed.
sys_demo() {
    local tmp pid rc
    if [ -x "$dir/examples/to_thread_demo" ]; then
        echo
        echo "\$ examples/to_thread_demo   # real clock"
        timeout 60 "$dir/examples/to_thread_demo" 2>&1 </dev/null | sed 's/^/    /'
        rc=${PIPESTATUS[0]}
        [ "$rc" -eq 0 ] || { echo "    (exit status $rc)"; status=1; }
        examples+=(to_thread_demo)
    fi
    [ -x "$dir/examples/tail_follow" ] || return
    examples+=(tail_follow)
    tmp=$(mktemp -d)
    printf 'one\ntwo\n' >"$tmp/log"
    "$dir/examples/tail_follow" "$tmp/log" >"$tmp/out" 2>&1 </dev/null &
    pid=$!
    # wait_for TEXT: until tail_follow has printed it (bounded: 10 s).
    wait_for() {
        for _ in $(seq 200); do
            grep -qF -- "$1" "$tmp/out" && return 0
            sleep 0.05
        done
        echo "    (tail_follow did not print '$1')"
        status=1
        return 1
    }
    echo
    echo "\$ examples/tail_follow log &   # then: append, truncate, rotate"
    wait_for two && printf 'three\n' >>"$tmp/log" && wait_for three &&
        printf '4\n' >"$tmp/log" && wait_for truncated && wait_for 4 &&
        mv "$tmp/log" "$tmp/log.1" && printf 'five\n' >"$tmp/log" && wait_for five
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    sed -e "s|$tmp/||g" -e 's/^/    /' "$tmp/out"
    echo "    (stopped with SIGTERM: exit status $rc)"
    [ $rc -eq 0 ] || status=1
    rm -rf "$tmp"
}
sys_demo
others=()
for f in "$dir"/examples/*; do
    [ -x "$f" ] || continue
    n=$(basename "$f")
    case " ${examples[*]} " in *" $n "*) ;; *) others+=("$n") ;; esac
done
if [ ${#others[@]} -gt 0 ]; then
    echo
    echo "Also built (servers and clients, not run here): ${others[*]} — see examples/."
fi

echo
echo "== benchmarks"
if [ -f scripts/bench.sh ]; then
    bargs=()
    [ "${QUICK:-}" = 1 ] && bargs+=(--quick)
    bash scripts/bench.sh "${bargs[@]}" || status=1
else
    echo "(scripts/bench.sh is not there yet: no benchmarks to run)"
fi
exit $status
