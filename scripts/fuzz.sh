#!/usr/bin/env bash
# Fuzz the HTTP/1.1 parser (src/http/parse.c) with libFuzzer for a bounded time.
#
#   scripts/fuzz.sh [SECONDS]       default 60 (or $FUZZ_TIME); `make fuzz` runs this
#
# Builds build/fuzz/fuzz_http_parse with clang -fsanitize=fuzzer,address,undefined from
# tests/fuzz/fuzz_http_parse.c and parse.c alone (the parser needs nothing else), then runs it
# for SECONDS on a scratch copy of the seed corpus tests/fuzz/corpus/http_parse (the committed
# seeds stay as they are; new inputs the fuzzer finds stay in build/fuzz/corpus, which later
# runs start from). A crash, a sanitizer report or a failed property check stops it: the
# input is saved as build/fuzz/crash-* and the script exits non-zero. Debian packages: clang,
# libfuzzer-14-dev, libclang-rt-14-dev (scripts/deps.sh fuzz).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
secs=${1:-${FUZZ_TIME:-60}}
case "$secs" in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a number" >&2; exit 2 ;; esac

bash scripts/deps.sh fuzz
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cc" ]; then
    echo "fuzz.sh: clang is missing (install: apt-get install clang libfuzzer-14-dev)" >&2
    exit 1
fi

out=build/fuzz
mkdir -p "$out/corpus"
echo "== building $out/fuzz_http_parse with $($cc --version | head -n 1)"
"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -D_GNU_SOURCE -Iinclude -Isrc -Wall -Wextra -Werror \
    tests/fuzz/fuzz_http_parse.c src/http/parse.c -o "$out/fuzz_http_parse"

cp -n tests/fuzz/corpus/http_parse/* "$out/corpus/" 2>/dev/null || true
echo "== fuzzing for $secs s (corpus: $(ls "$out/corpus" | wc -l) inputs)"
log=$out/fuzz.log
set +e
(cd "$out" && ./fuzz_http_parse -max_total_time="$secs" -max_len=8192 -timeout=10 \
    -print_final_stats=1 corpus) >"$log" 2>&1
rc=$?
set -e
grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' "$log" || true
if [ $rc -ne 0 ]; then
    tail -n 40 "$log"
    echo "== fuzz: FAILED (exit $rc); the input is in $out/crash-* (log: $log)"
    exit 1
fi
echo "== fuzz: no failure in $secs s ($(ls "$out/corpus" | wc -l) inputs in the corpus)"
