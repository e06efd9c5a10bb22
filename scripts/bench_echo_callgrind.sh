#!/usr/bin/env bash
# Instructions per echoed message of an echo server, counted by callgrind: a figure that does
# not depend on how busy the machine is (wall-clock echo figures do: scripts/bench_echo.sh),
# for comparing two builds of the same server, e.g. before and after a change to the I/O path.
#
#   scripts/bench_echo_callgrind.sh [--build-dir DIR] [--server NAME] [--conns N] [--msgs N]
#                                   [--size BYTES] [--port N]
#
#   --build-dir  build tree holding examples/NAME (default build/release; not built here)
#   --server     echo_stream (default) or echo_protocol
#   --conns      connections doing strict ping-pong at once (default 100)
#   --msgs       round trips per connection counted (default 200; as many again warm up)
#   --size       message size in bytes (default 64)
#   --port       TCP port (default 27900)
#   --out FILE   keep the measured window's callgrind dump in FILE (for callgrind_annotate)
#
# The server runs under valgrind --tool=callgrind; a python3 driver opens
# the connections, runs the warm-up round trips, then zeroes the counters (callgrind_control
# -z), runs exactly conns x msgs round trips and dumps the counters (callgrind_control -d).
# The result is the dumped Ir (instructions executed in user space, the kernel's share of the
# syscalls not included) divided by the number of round trips: "instr_per_msg=N". Run it on two
# build trees and compare; on one machine the figure repeats to within a fraction of a percent.
# Needs valgrind (callgrind, callgrind_control) and python3.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

dir=build/release server=echo_stream conns=100 msgs=200 size=64 port=27900 out=
while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) dir=$2; shift ;;
    --server) server=$2; shift ;;
    --conns) conns=$2; shift ;;
    --msgs) msgs=$2; shift ;;
    --size) size=$2; shift ;;
    --port) port=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench_echo_callgrind.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
case "$dir" in /*) ;; *) dir=$top/$dir ;; esac
bin=$dir/examples/$server
[ -x "$bin" ] || { echo "bench_echo_callgrind.sh: no $bin (build the examples first)" >&2; exit 2; }
for t in valgrind callgrind_control python3; do
    command -v $t >/dev/null || { echo "bench_echo_callgrind.sh: $t is missing" >&2; exit 2; }
done

work=$(mktemp -d)
srv=
cleanup() {
    [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" \
    "$bin" "$port" >"$work/server.out" 2>"$work/valgrind.err" &
srv=$!

python3 - "$port" "$conns" "$msgs" "$size" "$srv" <<'EOF'
import selectors, socket, subprocess, sys, time
port, conns, msgs, size, pid = (int(a) for a in sys.argv[1:])

def connect():
    for _ in range(600):  # the server starts slowly under valgrind
        try:
            return socket.create_connection(("127.0.0.1", port))
        except OSError:
            time.sleep(0.1)
    sys.exit("bench_echo_callgrind.sh: the server never accepted a connection")

socks = [connect() for _ in range(conns)]
for s in socks:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
msg = bytes(range(256)) * (size // 256 + 1)
msg = msg[:size]

def rounds(n):
    """n strict ping-pong round trips on every connection, all connections at once."""
    sel = selectors.DefaultSelector()
    left = {s: n for s in socks}
    got = {s: 0 for s in socks}
    for s in socks:
        s.sendall(msg)
        sel.register(s, selectors.EVENT_READ)
    while sel.get_map():
        for key, _ in sel.select():
            s = key.fileobj
            data = s.recv(size - got[s])
            if not data:
                sys.exit("bench_echo_callgrind.sh: the server closed a connection")
            got[s] += len(data)
            if got[s] < size:
                continue
            got[s] = 0
            left[s] -= 1
            if left[s]:
                s.sendall(msg)
            else:
                sel.unregister(s)
    sel.close()

def control(flag):
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)

rounds(msgs)        # warm-up: connections accepted, tasks and buffers in place
control("-z")
rounds(msgs)
control("-d")
for s in socks:
    s.close()
EOF

# The dump callgrind_control -d asked for is cg.PID.1 (the final one, at exit, is cg.PID). Its
# "summary:" line is the Ir total of the measured window.
dump=$(ls "$work"/cg.*.1 2>/dev/null | head -n 1 || true)
[ -n "$dump" ] || { echo "bench_echo_callgrind.sh: no callgrind dump" >&2; cat "$work/valgrind.err" >&2; exit 1; }
ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dump")
[ -n "$out" ] && cp "$dump" "$out"
total=$((conns * msgs))
echo "server=$server conns=$conns size=$size round_trips=$total"
echo "ir=$ir"
awk -v ir="$ir" -v n="$total" 'BEGIN { printf "instr_per_msg=%.1f\n", ir / n }'
