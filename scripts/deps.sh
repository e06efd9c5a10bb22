#!/usr/bin/env bash
# Install what a build needs, from Debian's packages, only if it is missing.
#
#   scripts/deps.sh [group...]      groups: build (default), fuzz, sanitize, cross,
#                                   install-check, clang (the clang CI build), docs (make docs:
#                                   Doxygen), bench (the list BENCH_DEB_PACKAGES in
#                                   scripts/bench.sh)
#
# A package counts as present when `dpkg -s` says it is installed. `apt-get update` runs only
# when something is missing, and only once. Installing needs root (as on CI and on a fresh
# machine); otherwise the missing packages are listed with the command to install them and the
# script goes on, so a developer with their own toolchain is not stopped.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

pkgs_for() {
    case "$1" in
    build)
        # g++: the C++ check of the public headers (test_cxx_headers)
        echo gcc g++ libc6-dev make cmake pkgconf
        # Optional parts of the library are built when their headers exist; install the -dev
        # package of each one the build files mention, so every part is built and tested.
        grep -rqsE 'liburing|uring\.h' "$here/CMakeLists.txt" "$here/src" && echo liburing-dev
        # (openssl: the TLS tests start `openssl s_server` and `s_client` as peers.)
        grep -rqsE 'OpenSSL|openssl/' "$here/CMakeLists.txt" "$here/src" && echo libssl-dev openssl
        grep -rqsE 'c-ares|libcares|ares\.h' "$here/CMakeLists.txt" "$here/src" && echo libc-ares-dev
        # GLib: only for examples/glib_embed.c (eddy driven by a GLib main loop) and its test.
        grep -qsE 'glib-2\.0' "$here/CMakeLists.txt" && echo libglib2.0-dev
        grep -rqsE 'ZLIB|zlib\.h' "$here/CMakeLists.txt" "$here/src" && echo zlib1g-dev
        # Real peers the tests start: dnsmasq, the DNS server of tests/test_dns_system.c;
        # curl, the HTTP client of tests/test_http_curl.c and test_http_examples.c (and of
        # https_hello in test_http_client_examples.c); Python's h11, the second HTTP parser of
        # tests/test_http_h11.c; nginx, the server of the HTTP client's tests
        # (tests/test_http_client_nginx.c, tests/test_http_client_examples.c).
        echo dnsmasq-base curl python3 python3-h11 nginx-light
        true
        ;;
    fuzz) echo clang libfuzzer-14-dev libclang-rt-14-dev ;; # scripts/fuzz.sh
    sanitize) echo libasan8 libubsan1 libtsan2 util-linux ;;  # util-linux: setarch
    cross) echo gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user ;;
    install-check) echo pkgconf cmake g++ ;;
    clang) echo clang ;;
    docs) echo doxygen ;;
    bench)
        # The benchmarks' owner keeps their package list in their script; read it, not a copy.
        [ -f "$here/scripts/bench.sh" ] &&
            sed -nE 's/^BENCH_DEB_PACKAGES="([^"]*)".*/\1/p' "$here/scripts/bench.sh"
        true
        ;;
    esac
}

# Captured, not piped into grep -q: under pipefail, grep quitting early makes dpkg die of
# SIGPIPE on a long description, and the package would look missing.
installed() {
    local st
    st=$(dpkg -s "$1" 2>/dev/null) || return 1
    [[ $st == *$'\nStatus: install ok installed'* ]]
}

[ $# -gt 0 ] || set -- build
want=()
for g in "$@"; do
    case "$g" in build | fuzz | sanitize | cross | install-check | clang | docs | bench) ;;
    *) echo "deps.sh: unknown group '$g'" >&2; exit 2 ;;
    esac
    for p in $(pkgs_for "$g"); do want+=("$p"); done
done

missing=()
for p in "${want[@]}"; do
    installed "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}" >&2
    echo "deps.sh: install them with: sudo apt-get install ${missing[*]}" >&2
    exit 0
fi

echo "deps.sh: installing ${missing[*]}"
log=$(mktemp /tmp/eddy-apt.XXXXXX)
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
    </dev/null >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "deps.sh: apt-get failed (full log: $log)" >&2
    exit 1
fi
rm -f "$log"
