# The two commands in the README: `make run` and `make test`. Both install what is missing first.

CARGO ?= cargo
# Extra arguments for `tollgate serve`, e.g. make run ARGS="--admin-listen 127.0.0.1:9401"
ARGS ?=

.PHONY: run test deps deps-lint lint build bench

run: deps
	$(CARGO) run --release -p tollgate -- serve $(ARGS)

test: deps-lint lint
	$(CARGO) test --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: deps
	bench/gateway.sh

build: deps
	$(CARGO) build --release -p tollgate

deps:
	@scripts/deps.sh

deps-lint:
	@scripts/deps.sh --lint
