# `make run` starts a node on the embedded defaults; `make test` runs every test.
# Both install what is missing first (tools/setup.sh).
#
# RocksDB's C++ takes 12-14 minutes to build on 2 cores and is rebuilt for
# every cargo profile and again under clippy; ccache makes the repeats cheap.
export CC := ccache gcc
export CXX := ccache g++
export CCACHE_DIR ?= $(HOME)/.cache/ccache
CARGO ?= cargo

.PHONY: setup build run test lint ci bench deb clean

setup:
	@bash tools/setup.sh

build: setup
	$(CARGO) build --release --workspace

run: build
	./target/release/tessera serve $(ARGS)

test: setup
	$(CARGO) test --workspace --all-targets -- --test-threads=2

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

ci: test lint

# The side-by-side with redis-server; rewrites the generated parts of BENCHMARKS.md.
bench:
	bash bench/compare.sh $(ARGS)

# The Debian package (target/debian/tessera_<version>_<arch>.deb).
deb: setup
	$(CARGO) deb -p tessera

clean:
	$(CARGO) clean
