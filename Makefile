# The two set-up commands are `make demo` and `make test`. Each installs any missing Debian
# build dependency first (scripts/deps.sh: needs root, runs apt-get only if something is
# missing), then builds with CMake under build/.
#
#   make test    release and ASan+UBSan builds, whole suite twice; last line "N passed, N failed"
#   make demo    release build, the example programs, then the benchmarks (QUICK=1: shorter)
#   make build   release build only (build/release)
#   make ci      what CI runs (.ci/run): test + ucontext, aarch64/qemu, TSan, install checks
#   make fuzz    fuzz the HTTP parser with libFuzzer (clang) for FUZZ_TIME seconds (60)
#   make soak    http_hello under wrk for SOAK_TIME seconds (600), RSS and descriptors sampled
#   make faults  the full syscall fault sweep in the ASan build (build/asan): every call site
#                the scenarios reach, failed once with each plausible errno at its first and
#                its last call, the stream conformance suite under faults too; then the
#                sweep's regression tests (make test runs the bounded sweep)
#   make clean   remove build/
QUICK ?=
JOBS ?= 2
FUZZ_TIME ?= 60
SOAK_TIME ?= 600
export QUICK JOBS

.PHONY: all build test demo ci fuzz soak faults clean

all: build

build:
	@bash scripts/deps.sh build
	@cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build/release -j$(JOBS)

test:
	@bash scripts/test.sh release asan

demo:
	@bash scripts/demo.sh

ci:
	@bash .ci/run

fuzz:
	@bash scripts/fuzz.sh $(FUZZ_TIME)

soak:
	@bash scripts/soak_http.sh $(SOAK_TIME)

faults:
	@bash scripts/deps.sh build sanitize
	@cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DEDDY_SANITIZE=address,undefined -DEDDY_FAULTS=ON >/dev/null
	@cmake --build build/asan -j$(JOBS) --target test_fault_sweep test_fault_regress
	@EDDY_FAULT_SWEEP=full EDDY_TEST_TIMEOUT=3 build/asan/tests/test_fault_sweep
	@EDDY_TEST_TIMEOUT=3 build/asan/tests/test_fault_regress

clean:
	rm -rf build
