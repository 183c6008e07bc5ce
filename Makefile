# stampd - the two commands a new user needs:
#   make run    install missing packages, build, start stampd with demo data
#   make test   install what the tests need, build with -Werror and with
#               ASan+UBSan, run every test under CTest
#   make install    build (PREFIX=/usr/local) and install: stampd, stamp, their
#               man pages, /etc/stampd/stampd.conf (kept if present), the
#               systemd unit (docs/operations.md, "Installing")
# Other targets: build, clean, format, fuzz (FUZZ_SECONDS=60 per target:
# the libFuzzer targets of tests/fuzz with clang, in build/fuzz), bench (the
# purchase benchmark on SQLite and PostgreSQL with its references:
# bench/run.sh, docs/performance.md; BENCH_ARGS="SECONDS CONNECTIONS").

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE := build/release
CHECK := build/check
FUZZ := build/fuzz
FUZZ_SECONDS ?= 60
PREFIX ?= /usr/local

.PHONY: all run test build install deps deps-test deps-fuzz fuzz clean format bench

all: build

deps:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

build: deps
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTAMPD_TESTS=OFF \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(RELEASE) -j $(JOBS)

# DESTDIR=/some/root make install stages it instead.
install: build
	cmake --install $(RELEASE)

run: build
	@scripts/run-demo.sh $(RELEASE)

test: deps-test
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTAMPD_WERROR=ON -DSTAMPD_TESTS=OFF >/dev/null
	cmake --build $(RELEASE) -j $(JOBS)
	cmake -S . -B $(CHECK) -DCMAKE_BUILD_TYPE=Debug -DSTAMPD_WERROR=ON -DSTAMPD_SANITIZE=ON >/dev/null
	cmake --build $(CHECK) -j $(JOBS)
	cd $(CHECK) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

bench: deps-test
	bench/run.sh $(BENCH_ARGS)

deps-fuzz:
	@scripts/deps.sh fuzz

# Runs every target for FUZZ_SECONDS, adding new inputs to tests/fuzz/corpus.
fuzz: deps-fuzz
	cmake -S . -B $(FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DSTAMPD_FUZZ=ON -DSTAMPD_TESTS=OFF >/dev/null
	cmake --build $(FUZZ) -j $(JOBS) --target fuzz_targets
	tests/fuzz/run.sh $(FUZZ) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
