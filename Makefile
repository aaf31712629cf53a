# The two commands in the README: `make run` and `make test`. Both install what is missing first.

CARGO ?= cargo
# Extra arguments for `tollgate serve`, e.g. make run ARGS="--admin-listen 127.0.0.1:9401"
ARGS ?=
# npm's stamp of a complete install: reinstall when the lock file is newer.
UI_MODULES := ui/node_modules/.package-lock.json

.PHONY: run test deps deps-test lint ui ui-test e2e build bench types

run: deps ui
	$(CARGO) run --release -p tollgate -- serve $(ARGS)

test: deps-test lint ui-test
	$(CARGO) test --workspace
	$(MAKE) e2e

lint: $(UI_MODULES)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd ui && npm run check

# The dashboard, built into ui/dist (served by `tollgate serve`).
ui: $(UI_MODULES)
	cd ui && npm run build

$(UI_MODULES): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
	@touch $@

# Unit tests of the dashboard's logic (Vitest).
ui-test: $(UI_MODULES)
	cd ui && npm test

# Browser tests: a real `tollgate serve` (debug build), a real upstream, Debian's chromium.
e2e: ui
	$(CARGO) build -p tollgate
	cd ui && npm run e2e

bench: deps
	bench/gateway.sh

build: deps ui
	$(CARGO) build --release -p tollgate

# Regenerates ui/src/lib/backend/types.gen.ts from the Rust types (a test fails when stale).
types:
	TOLLGATE_WRITE_TYPES=1 $(CARGO) test -p tollgate --lib admin::typescript

deps:
	@scripts/deps.sh

deps-test:
	@scripts/deps.sh --test
