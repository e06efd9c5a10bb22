#!/usr/bin/env bash
# Build and run the test suite in one or more configurations, then print ONE closing line,
# "N passed, N failed", summed over every configuration (counted in ctest tests: one per
# test binary). Exits non-zero if anything failed, a build included.
#
#   scripts/test.sh [config...]        default: release asan
#
#   release    build/release   -O2 (CMAKE_BUILD_TYPE=Release), every test
#   asan       build/asan      AddressSanitizer + UndefinedBehaviorSanitizer, every test
#   ucontext   build/ucontext  the ucontext context-switch fallback, runtime tests but the heavy one
#   aarch64    build/aarch64   cross-built for aarch64, core tests under qemu-aarch64 (no heavy)
#   tsan       build/tsan      ThreadSanitizer, the tests that start OS threads (label threads)
#   seed1 seed2 seed3
#              build/release   every test but the heavy ones with EDDY_SCHED_SEED=1, 2, 3: the
#                              ready queue permuted, so no test leans on an order nobody
#                              promised (tests of the FIFO order itself pin it: .fifo)
#   nocares    build/nocares   without c-ares (-DEDDY_WITH_CARES=OFF: the /etc/hosts-only
#              resolver), the tests of the resolver and of what resolves names
#   nossl      build/nossl     without OpenSSL (-DEDDY_WITH_OPENSSL=OFF: every eddy_tls_* call
#              -ENOTSUP), the TLS tests and what would use TLS; and without zlib
#              (-DEDDY_WITH_ZLIB=OFF: the HTTP client neither asks for nor decodes gzip)
#   clang      build/clang     clang with -fcf-protection=full, every test but the heavy ones,
#                              plus a check that the library's objects link IBT-marked and not
#                              SHSTK-marked (x86-64)
#   install    installs build/release into a scratch prefix and builds README.md's example
#              against it (pkg-config, find_package(eddy) with eddy::eddy and with
#              eddy::eddy_static, and -static), eddy/test.h's example against the test
#              library (pkg-config eddy-test, eddy::eddy_test), and a C++ program
#              (tests/cxx_consumer.cpp) with g++ -std=c++17 -Wall -Wextra -Werror
#
# Every test case runs once per I/O backend that can run on the machine (epoll, io_uring);
# EDDY_TEST_BACKENDS=epoll,io_uring requires both (a backend it names that cannot run fails
# the test binary), which .ci/run sets.
#
# Environment: CTEST_ARGS (extra ctest arguments, e.g. "-R test_core_sleep"), EDDY_SUMMARY_FILE
# (append "config passed failed build_s test_s" per configuration, for .ci/run), JOBS (2).
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
jobs=${JOBS:-2}
[ $# -gt 0 ] || set -- release asan

total_pass=0
total_fail=0

# config -> build dir, cmake arguments, ctest selection, deps group, test time multiplier
setup() {
    dir=build/$1
    sel=()
    deps=(build)
    tmult=1
    cenv=()
    case "$1" in
    release)
        # The benchmarks are make demo's (scripts/bench.sh): not built here, so the test run
        # needs none of their anchors' packages.
        cargs=(-DCMAKE_BUILD_TYPE=Release -DEDDY_BUILD_BENCH=OFF)
        ;;
    asan)
        cargs=(-DCMAKE_BUILD_TYPE=Debug -DEDDY_SANITIZE=address,undefined)
        deps+=(sanitize)
        tmult=3
        ;;
    ucontext)
        cargs=(-DCMAKE_BUILD_TYPE=Release -DEDDY_UCONTEXT=ON)
        # Not the heavy 1M-task test: it checks memory per task, the same with either switch,
        # and with a syscall per ucontext switch it took 266 of the step's 270 s of tests.
        sel=(-L '^runtime$' -LE '^heavy$')
        ;;
    aarch64)
        cargs=(-DCMAKE_BUILD_TYPE=Release -DEDDY_BUILD_EXAMPLES=OFF
            -DCMAKE_TOOLCHAIN_FILE="$top/cmake/toolchain-aarch64.cmake")
        sel=(-L '^runtime$' -LE '^heavy$')
        deps+=(cross)
        tmult=5
        # qemu-user does not emulate everything a test may rely on (it ignores madvise and
        # RLIMIT_AS, for one): tests that need such kernel behaviour skip on this variable.
        # qemu-user has no io_uring (io_uring_setup is ENOSYS there): epoll only, said
        # explicitly, so a CI that requires both backends (.ci/run) still runs this step.
        cenv=(EDDY_TEST_EMULATOR=qemu-aarch64 EDDY_TEST_BACKENDS=epoll)
        ;;
    nossl)
        cargs=(-DCMAKE_BUILD_TYPE=Release -DEDDY_WITH_OPENSSL=OFF -DEDDY_WITH_ZLIB=OFF -DEDDY_BUILD_BENCH=OFF)
        sel=(-R 'tls|http|stream_conformance|examples|error')
        ;;
    tsan)
        cargs=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDDY_SANITIZE=thread)
        sel=(-L '^threads$')
        # Races inside libraries eddy links (OpenSSL 3.0), each explained in the file.
        cenv=(TSAN_OPTIONS="suppressions=$top/tests/tsan.supp")
        deps+=(sanitize)
        tmult=4
        ;;
    seed[0-9]*)
        # The release tree as `make test` built it; only the environment differs. The heavy
        # test (1M tasks) is left out: it measures memory, not orders, and takes a minute.
        dir=build/release
        cargs=(-DCMAKE_BUILD_TYPE=Release -DEDDY_BUILD_BENCH=OFF)
        sel=(-LE '^heavy$')
        cenv=(EDDY_SCHED_SEED="${1#seed}")
        ;;
    clang)
        cargs=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang
            -DCMAKE_C_FLAGS=-fcf-protection=full -DCMAKE_ASM_FLAGS=-fcf-protection=full)
        sel=(-LE '^heavy$')
        deps+=(clang)
        ;;
    nocares)
        cargs=(-DCMAKE_BUILD_TYPE=Release -DEDDY_WITH_CARES=OFF -DEDDY_BUILD_BENCH=OFF)
        sel=(-R 'dns|connect|clamd|examples|cloexec|error')
        ;;
    *)
        echo "test.sh: unknown configuration '$1'" >&2
        return 1
        ;;
    esac
}

# Pull "X tests failed out of Y" from a ctest log; sets pass/fail.
count() {
    local line
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1)
    if [ -n "$line" ]; then
        fail=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")
        pass=$(($(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line") - fail))
    else
        pass=0
        fail=0
    fi
}

now() { date +%s; }

run_config() {
    local cfg=$1 t0 t1 t2 log rc
    setup "$cfg" || { total_fail=$((total_fail + 1)); return; }
    echo "== $cfg: ${cargs[*]} (in $dir)"
    bash "$top/scripts/deps.sh" "${deps[@]}" || { total_fail=$((total_fail + 1)); return; }
    t0=$(now)
    mkdir -p "$dir"
    # Configurations that share a tree (the seeds run build/release) keep logs of their own.
    local tag=
    [ "$(basename "$dir")" = "$cfg" ] || tag=-$cfg
    log=$dir/build$tag.log
    # Build only the tests this configuration runs (the whole tree when it runs them all),
    # which keeps the cross and sanitizer steps short on a small machine.
    local targets=() brc=0
    if ! cmake -S . -B "$dir" "${cargs[@]}" >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "== $cfg: CONFIGURE FAILED (full log: $log)"
        total_fail=$((total_fail + 1))
        [ -n "${EDDY_SUMMARY_FILE:-}" ] && echo "$cfg 0 1 $(($(now) - t0)) 0" >>"$EDDY_SUMMARY_FILE"
        return 0
    fi
    if [ ${#sel[@]} -gt 0 ]; then
        # The selected tests' own targets (a test that is a command, not a binary of its own,
        # test_docs_refs, has none); the tests that run programs of the tree (label examples)
        # need the example programs and the docs' programs too, not the rest of the tree.
        local names=() t
        mapfile -t names < <(cd "$dir" && ctest -N "${sel[@]}" | sed -nE 's/^ *Test +#[0-9]+: (.*)$/\1/p')
        targets=(eddy_shared)
        for t in "${names[@]}"; do
            if grep -qs "^$t:" "$dir/Makefile" || grep -qs "^build $t:" "$dir/build.ninja"; then
                targets+=("$t")
            fi
        done
        if (cd "$dir" && ctest -N "${sel[@]}" -L '^examples$') | grep -q 'Total Tests: [1-9]'; then
            mapfile -t -O "${#targets[@]}" targets < <(cmake --build "$dir" --target help |
                grep -oE '\b(example|docprog)_[A-Za-z0-9_]+' | sort -u)
        fi
    fi
    # -k (keep going): one test file that does not compile must not hide every other result;
    # its test then fails in ctest as "Not Run".
    local keep=(-k)
    grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt" && keep=(-k 0)
    if [ ${#targets[@]} -gt 0 ]; then
        cmake --build "$dir" -j"$jobs" --target "${targets[@]}" -- "${keep[@]}" >>"$log" 2>&1 || brc=$?
    else
        cmake --build "$dir" -j"$jobs" -- "${keep[@]}" >>"$log" 2>&1 || brc=$?
    fi
    t1=$(now)
    if [ $brc -ne 0 ]; then
        { grep -E -A4 'error:|undefined reference' "$log" || tail -n 20 "$log"; } | head -n 40
        echo "== $cfg: BUILD FAILED (full log: $log); running what was built"
    fi

    # Tests carry their own limits: ctest's per-binary TIMEOUT and the harness's per-test
    # alarm, which EDDY_TEST_TIMEOUT multiplies for the slow (sanitized, emulated) builds.
    local wrap=() extra=()
    read -r -a extra <<<"${CTEST_ARGS:-}"
    log=$dir/ctest$tag.log
    (cd "$dir" && env EDDY_TEST_TIMEOUT=$tmult "${cenv[@]}" ctest --output-on-failure -j"$jobs" \
        "${sel[@]}" "${extra[@]}") 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    # ThreadSanitizer's fixed shadow layout clashes with a large mmap randomization
    # (vm.mmap_rnd_bits > 28 on newer kernels): rerun without ASLR when it says so.
    if [ "$cfg" = tsan ] && [ $rc -ne 0 ] && grep -q 'unexpected memory mapping' "$log"; then
        echo "== tsan: retrying with ASLR off (setarch -R)"
        wrap=(setarch "$(uname -m)" -R)
        (cd "$dir" && env EDDY_TEST_TIMEOUT=$tmult "${cenv[@]}" "${wrap[@]}" ctest --output-on-failure -j"$jobs" \
            "${sel[@]}" "${extra[@]}") 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
    fi
    t2=$(now)
    count "$log"
    # A failure ctest did not count (a crash of ctest itself, a build error in something that
    # is not a test) still fails the run, once.
    if { [ $rc -ne 0 ] || [ $brc -ne 0 ]; } && [ "$fail" -eq 0 ]; then fail=1; fi
    if [ "$cfg" = clang ] && [ "$(uname -m)" = x86_64 ]; then
        if cet_check "$dir"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
    fi
    echo "== $cfg: $pass passed, $fail failed (build $((t1 - t0)) s, tests $((t2 - t1)) s)"
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    [ -n "${EDDY_SUMMARY_FILE:-}" ] && echo "$cfg $pass $fail $((t1 - t0)) $((t2 - t1))" >>"$EDDY_SUMMARY_FILE"
    return 0
}

# CET marking (src/arch/cet_note.h): the library's objects, linked together as a shared object,
# must say IBT and must not say SHSTK. The objects are the static library's (a glob of the build
# tree also found objects of deleted sources), linked without the C runtime (-nostdlib): on
# Debian 12 neither crti.o nor libc_nonshared.a (pthread_atfork, which eddy calls) carries a
# CET note, and either would unmark any program whatever eddy's objects say.
cet_check() {
    local so props
    so=$(mktemp /tmp/eddy-cet.XXXXXX.so)
    if cc -shared -nostdlib -o "$so" -Wl,--whole-archive "$1"/libeddy.a -Wl,--no-whole-archive &&
        props=$(readelf -n "$so" | sed -n 's/.*x86 feature: //p') &&
        [[ $props == *IBT* && $props != *SHSTK* ]]; then
        echo "ok - clang: objects link IBT-marked, without SHSTK ($props)"
        rm -f "$so"
        return 0
    fi
    echo "not ok - clang: the library's objects should link with the IBT note and without SHSTK (got '${props:-none}')"
    rm -f "$so"
    return 1
}

# The example program of README.md: the C block after the "ci: readme example" marker.
readme_example() {
    awk '/<!-- ci: readme example -->/ {m = 1; next}
         m == 1 && /^```c/ {m = 2; next}
         m == 2 && /^```/ {exit}
         m == 2 {print}' "$top/README.md"
}

# MAJOR.MINOR.PATCH from include/eddy/version.h.
eddy_version() {
    local p v=()
    for p in MAJOR MINOR PATCH; do
        v+=("$(sed -nE "s/^#define EDDY_VERSION_$p ([0-9]+)$/\1/p" "$top/include/eddy/version.h")")
    done
    echo "${v[0]}.${v[1]}.${v[2]}"
}

# One install check: show what failed, count it.
check() {
    local name=$1 log=$2
    shift 2
    if "$@" >>"$log" 2>&1; then
        echo "ok - install: $name"
        pass=$((pass + 1))
    else
        echo "not ok - install: $name (log: $log)"
        tail -n 20 "$log" | sed 's/^/    /'
        fail=$((fail + 1))
    fi
}

# Build, run and check the example's output (it runs on the virtual clock: no real waiting).
run_example() {
    [ -x "$1" ] && EDDY_CLOCK=virtual "$1" | tee /dev/stderr | grep -q 'deadline reached: yes'
}

# The complete test program in include/eddy/test.h's opening comment: from its #include line
# to the closing brace, the comment's " *   " indent removed.
test_h_example() {
    awk '/^ \*   #include <eddy\/test.h>/ {m = 1}
         m {sub(/^ \*/, ""); sub(/^   /, ""); print}
         m && /^}$/ {exit}' "$top/include/eddy/test.h"
}

# A test program's run: every case passed.
# (one test case, run once per I/O backend the machine has: "1 passed" or "2 passed")
run_test_example() {
    [ -x "$1" ] && "$1" | tee /dev/stderr | grep -qE '^[1-9][0-9]* passed, 0 failed$'
}

install_check() {
    local t0 t1 w inst log pc
    t0=$(now)
    pass=0
    fail=0
    echo "== install: cmake --install build/release, then build README.md's and eddy/test.h's examples against it"
    bash "$top/scripts/deps.sh" build install-check || { total_fail=$((total_fail + 1)); return; }
    w=$(mktemp -d /tmp/eddy-install.XXXXXX)
    inst=$w/prefix
    log=$w/log
    mkdir -p "$w/app"
    readme_example >"$w/app/example.c"
    test_h_example >"$w/app/test_example.c"
    if ! [ -s "$w/app/example.c" ] || ! [ -s "$w/app/test_example.c" ]; then
        echo "not ok - install: no example found in README.md or include/eddy/test.h"
        fail=$((fail + 1))
    fi
    if ! [ -f build/release/CMakeCache.txt ]; then
        cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1
    fi
    check "cmake --install" "$log" \
        bash -c "cmake --build build/release -j$jobs && cmake --install build/release --prefix '$inst'"
    pc=$(dirname "$(find "$inst" -name eddy.pc | head -n 1)")
    check "pkg-config --cflags --libs eddy" "$log" bash -c "$(declare -f run_example)
        export PKG_CONFIG_PATH='$pc'
        cc -std=gnu11 -Wall -Wextra -Werror -o '$w/app/by_pkgconfig' '$w/app/example.c' \
            \$(pkg-config --cflags --libs eddy) -Wl,-rpath,\$(pkg-config --variable=libdir eddy) &&
        run_example '$w/app/by_pkgconfig'"
    cat >"$w/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(eddy_consumer C)
find_package(eddy @VERSION@ REQUIRED)
add_executable(by_find_package example.c)
target_link_libraries(by_find_package PRIVATE eddy::eddy)
add_executable(by_find_package_static example.c)
target_link_libraries(by_find_package_static PRIVATE eddy::eddy_static)
add_executable(test_by_find_package test_example.c)
target_link_libraries(test_by_find_package PRIVATE eddy::eddy_test)
CM
    # The version the consumer asks for is the tree's own (include/eddy/version.h).
    sed -i "s/@VERSION@/$(eddy_version)/" "$w/app/CMakeLists.txt"
    check "find_package(eddy) + eddy::eddy" "$log" bash -c "$(declare -f run_example)
        cmake -S '$w/app' -B '$w/app/build' -DCMAKE_PREFIX_PATH='$inst' &&
        cmake --build '$w/app/build' -j$jobs &&
        run_example '$w/app/build/by_find_package'"
    check "find_package(eddy) + eddy::eddy_static" "$log" bash -c "$(declare -f run_example)
        run_example '$w/app/build/by_find_package_static' &&
        ! ldd '$w/app/build/by_find_package_static' | grep -q libeddy"
    # Fully static (docs/install.md): no warning from the link (the example resolves no name,
    # so none of c-ares's NSS-using code is pulled in), and it runs.
    check "cc -static with pkg-config --static" "$log" bash -c "$(declare -f run_example)
        export PKG_CONFIG_PATH='$pc'
        cc -static -std=gnu11 -o '$w/app/fully_static' '$w/app/example.c' \
            \$(pkg-config --static --cflags --libs eddy) 2>'$w/app/static.err' &&
        ! grep -q warning '$w/app/static.err' && run_example '$w/app/fully_static'"
    # eddy/test.h's own example, against the installed test library.
    check "eddy/test.h example + pkg-config eddy-test" "$log" bash -c "$(declare -f run_test_example)
        export PKG_CONFIG_PATH='$pc'
        [ -s '$w/app/test_example.c' ] &&
        cc -std=gnu11 -Wall -Wextra -Werror -o '$w/app/test_by_pkgconfig' '$w/app/test_example.c' \
            \$(pkg-config --cflags --libs eddy-test) -Wl,-rpath,\$(pkg-config --variable=libdir eddy) &&
        run_test_example '$w/app/test_by_pkgconfig'"
    check "eddy/test.h example + eddy::eddy_test" "$log" bash -c "$(declare -f run_test_example)
        run_test_example '$w/app/build/test_by_find_package'"
    # The public headers as C++ (README.md, "C and C++"), against the installed library.
    check "C++ program (g++ -std=c++17) + pkg-config" "$log" bash -c "
        export PKG_CONFIG_PATH='$pc'
        c++ -std=c++17 -Wall -Wextra -Werror -o '$w/app/cxx_consumer' '$top/tests/cxx_consumer.cpp' \
            \$(pkg-config --cflags --libs eddy) -Wl,-rpath,\$(pkg-config --variable=libdir eddy) &&
        EDDY_CLOCK=virtual '$w/app/cxx_consumer' | tee /dev/stderr | grep -q 'cxx consumer: ok'"
    t1=$(now)
    echo "== install: $pass passed, $fail failed ($((t1 - t0)) s)"
    [ "$fail" -eq 0 ] && rm -rf "$w"
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    [ -n "${EDDY_SUMMARY_FILE:-}" ] && echo "install $pass $fail $((t1 - t0)) 0" >>"$EDDY_SUMMARY_FILE"
    return 0
}

for cfg in "$@"; do
    if [ "$cfg" = install ]; then install_check; else run_config "$cfg"; fi
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
