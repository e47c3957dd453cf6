# The two commands of the README: `make demo` and `make test`. Also `make bench`.
JOBS ?= $(shell nproc)
# Debian's interpreter, not a wrapper script: a shell wrapper (pyenv's shims) pipes between
# processes, which ustack's pipes cannot cross (docs/preload.md, fork).
PYTHON ?= /usr/bin/python3
PRESETS_TEST ?= release asan tsan

.PHONY: all deps demo test bench lint build-% test-% clean format

all: build-release

deps:
	@scripts/install-deps.sh

build-%: deps
	@cmake --preset $* >/dev/null
	@cmake --build --preset $* -j $(JOBS)

# Runs every suite in the release build and under ASan+UBSan and TSan.
test: deps
	@for p in $(PRESETS_TEST); do \
	  echo "=== $$p: build"; \
	  cmake --preset $$p >/dev/null && cmake --build --preset $$p -j $(JOBS) || exit 1; \
	  echo "=== $$p: test"; \
	  ctest --preset $$p -j $(JOBS) --timeout 600 || exit 1; \
	done
	@$(MAKE) --no-print-directory lint
	@echo "=== all suites passed in: $(PRESETS_TEST), and clang-tidy is clean"

test-%: build-%
	ctest --preset $* -j $(JOBS) --timeout 600

# The benchmark table, then the simulation (an epoll server and 200 client tasks on virtual time,
# one request's wake-up chain, a Perfetto trace), then ustack-demo's traced wake-ups on threads,
# then an unmodified Python asyncio program under ustack-run (docs/preload.md).
demo: build-release
	@build/release/bench/ustack-bench --quick
	@echo
	@build/release/ustack-sim-demo --trace build/ustack-sim-trace.json
	@echo
	@build/release/ustack-demo
	@echo
	@echo "=== ustack-run --stats -- $(PYTHON) examples/preload_demo.py (an unmodified program)"
	@build/release/ustack-run --stats -- $(PYTHON) examples/preload_demo.py

bench: build-release
	@build/release/bench/ustack-bench $(BENCH_ARGS)

# clang-tidy over every source file of the library and tools (.clang-tidy: warnings are errors).
lint: build-release
	@echo "=== clang-tidy"
	@ls src/*/*.cc src/*/*/*.cc tools/*.cc | xargs -P $(JOBS) -n 4 clang-tidy -p build/release --quiet \
	  > build/clang-tidy.log 2>&1; rc=$$?; grep -E "(error|warning):" build/clang-tidy.log; \
	  exit $$rc

format:
	@clang-format -i $$(git ls-files '*.cc' '*.hpp' '*.h')

clean:
	rm -rf build
