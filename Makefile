# The two set-up commands are `make demo` and `make test`. Each installs any missing Debian
# build dependency first (scripts/deps.sh: needs root, runs apt-get only if something is
# missing), then builds with CMake under build/. `make help` lists every target: it prints the
# "## " text after each target below, so the list cannot go stale.
QUICK ?=
JOBS ?= 2
FUZZ_TIME ?= 60
SOAK_TIME ?= 600
export QUICK JOBS

.PHONY: all help build test demo bench docs ci fuzz soak faults clean

all: build

help: ## list the targets
	@echo "usage: make TARGET [QUICK=1] [JOBS=N]"
	@echo
	@sed -n 's/^\([a-z][a-z-]*\):.*## \(.*\)/\1|\2/p' $(MAKEFILE_LIST) | \
		awk -F'|' '{ printf "  %-8s %s\n", $$1, $$2 }'
	@echo
	@echo "  QUICK=1   shorter benchmarks (demo, bench); JOBS=N   parallel build jobs (2)"
	@echo "  FUZZ_TIME=S, SOAK_TIME=S   how long fuzz (60) and soak (600) run"

build: ## release build only (build/release)
	@bash scripts/deps.sh build
	@cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build/release -j$(JOBS)

test: ## release and ASan+UBSan builds, whole suite twice; last line "N passed, N failed"
	@bash scripts/test.sh release asan

demo: ## release build, the example programs, then the benchmarks (QUICK=1: shorter)
	@bash scripts/demo.sh

bench: ## the benchmarks alone, each against its anchor (scripts/bench.sh; QUICK=1: shorter)
	@bash scripts/deps.sh build bench
	@bash scripts/bench.sh $(if $(QUICK),--quick)

docs: ## the API reference from the headers (Doxygen): build/docs/html/index.html
	@bash scripts/deps.sh docs
	@doxygen docs/Doxyfile
	@echo "API reference: build/docs/html/index.html (the guide: docs/guide/README.md)"

ci: ## what CI runs (.ci/run): test, seeds, ucontext, aarch64, TSan, ..., docs, demo, fuzz
	@bash .ci/run

fuzz: ## fuzz the HTTP parser with libFuzzer (clang) for FUZZ_TIME seconds (60)
	@bash scripts/fuzz.sh $(FUZZ_TIME)

soak: ## http_hello under wrk for SOAK_TIME seconds (600), RSS and descriptors sampled
	@bash scripts/soak_http.sh $(SOAK_TIME)

faults: ## the full syscall fault sweep in the ASan build (make test runs the bounded one)
	@bash scripts/deps.sh build sanitize
	@cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DEDDY_SANITIZE=address,undefined -DEDDY_FAULTS=ON >/dev/null
	@cmake --build build/asan -j$(JOBS) --target test_fault_sweep test_fault_regress
	@EDDY_FAULT_SWEEP=full EDDY_TEST_TIMEOUT=3 build/asan/tests/test_fault_sweep
	@EDDY_TEST_TIMEOUT=3 build/asan/tests/test_fault_regress

clean: ## remove build/
	rm -rf build
