# The two commands in the README: `make run` and `make test`. Both install what is missing first.

CARGO ?= cargo
# Extra arguments for `tollgate serve`, e.g. make serve ARGS="--admin-listen 127.0.0.1:9401"
ARGS ?=
# npm's stamp of a complete install: reinstall when the lock file is newer.
UI_MODULES := ui/node_modules/.package-lock.json
# The desktop app builds only where webkit2gtk's development files are installed
# (scripts/deps.sh --desktop); without them the headless parts still build and test.
DESKTOP := $(shell pkg-config --exists webkit2gtk-4.1 gtk+-3.0 2>/dev/null && echo yes)
CRATES := $(if $(DESKTOP),--workspace,--workspace --exclude tollgate-desktop)
# The binaries, built together so both see one feature set and share their dependencies.
BINS := -p tollgate $(if $(DESKTOP),-p tollgate-desktop)
# The desktop end-to-end test also needs Xvfb, ImageMagick, WebKitWebDriver and tauri-driver
# (and a Secret Service, which scripts/with-keyring.sh starts from gnome-keyring).
DESKTOP_E2E := $(if $(DESKTOP),$(shell command -v Xvfb >/dev/null && command -v import >/dev/null && command -v WebKitWebDriver >/dev/null && { command -v tauri-driver >/dev/null || [ -x "$${CARGO_HOME:-$$HOME/.cargo}/bin/tauri-driver" ]; } && echo yes))
# A display to open the window on.
DISPLAY_PRESENT := $(if $(DISPLAY)$(WAYLAND_DISPLAY),yes)

.PHONY: run serve test deps deps-test deps-desktop lint ui ui-test api-conformance e2e e2e-desktop build bundle bench bench-desktop types

# The desktop app where there is a display; otherwise the same dashboard from `tollgate serve`.
ifeq ($(DISPLAY_PRESENT),yes)
run: deps deps-desktop ui
	$(CARGO) build --release -p tollgate -p tollgate-desktop
	target/release/tollgate-desktop
else
run:
	@echo "make run: no display (DISPLAY and WAYLAND_DISPLAY are unset), so no desktop window;"
	@echo "          running the headless server instead: open the dashboard URL it prints below."
	@$(MAKE) --no-print-directory serve
endif

# The headless server with the dashboard in a browser.
serve: deps ui
	$(CARGO) run --release -p tollgate -- serve $(ARGS)

test: deps-test lint ui-test
	$(CARGO) test $(CRATES)
	# The benchmark's bookkeeping (what it refuses, how it measures growth and ratios).
	python3 -m unittest discover -s bench -t bench -p 'test_*.py'
	# The core's suite again, every world on a PostgreSQL server of its own.
	TOLLGATE_TEST_ENGINE=postgres $(CARGO) test -p tollgate-core --test it
	$(MAKE) api-conformance
	$(MAKE) e2e
	$(MAKE) e2e-desktop

lint: ui
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(CRATES) --all-targets -- -D warnings
	cd ui && npm run check
	@[ -n "$(DESKTOP)" ] || echo "lint: skipped src-tauri (webkit2gtk-4.1 missing; scripts/deps.sh --desktop installs it)"

# The dashboard, built into ui/dist (served by `tollgate serve`, embedded in the desktop app).
ui: $(UI_MODULES)
	cd ui && npm run build

$(UI_MODULES): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
	@touch $@

# Unit tests of the dashboard's logic (Vitest).
ui-test: $(UI_MODULES)
	cd ui && npm test

# The admin API against its own OpenAPI document: schemathesis (PyPI, in target/schemathesis)
# sends 30 generated inputs per command to a real `tollgate serve` and fails on any 5xx or an
# answer whose status, content type or body its schema does not describe (about 20 s).
api-conformance: deps-test
	$(CARGO) build $(BINS)
	scripts/schemathesis.sh

# Browser tests: a real `tollgate serve` (debug build), a real upstream, Debian's chromium.
e2e: ui
	$(CARGO) build $(BINS)
	cd ui && npm run e2e

# The real desktop app on a private Xvfb display, through tauri-driver and WebKitWebDriver.
e2e-desktop: ui
ifeq ($(DESKTOP_E2E),yes)
	$(CARGO) build $(BINS)
	cd ui && ../scripts/with-keyring.sh ../scripts/with-xvfb.sh npm run e2e:desktop
	scripts/with-keyring.sh $(CARGO) test -p tollgate-desktop --test keyring -- --ignored
else
	@echo "e2e-desktop: skipped, webkit2gtk-4.1 or a test tool (Xvfb, ImageMagick, WebKitWebDriver, tauri-driver) is missing; scripts/deps.sh --desktop installs them"
endif

build: deps ui
	$(CARGO) build --release -p tollgate

# A .deb of the desktop app (with the `tollgate` CLI and the dashboard for `tollgate serve`),
# built by the npm Tauri CLI into target/release/bundle/deb/. The CLI is fetched by npx, not
# kept in ui/package.json: the registry mirror lacks some of its per-platform packages, which
# would break `npm ci` on the lock file.
TAURI_CLI := @tauri-apps/cli@2.12.5
bundle: deps deps-desktop ui
	$(CARGO) build --release -p tollgate -p tollgate-desktop
	npx --yes $(TAURI_CLI) build --bundles deb

# Tollgate against nginx and nginx + Lua started by the same run, pinned and free, 50 and 200
# connections, then floods, memory and start-up (bench/floods.sh), then HTTPS with HTTP/1.1
# and HTTP/2 beside nginx (bench/https.sh, 4 minutes); about 25 minutes, release
# build. Results and the issue's targets in artifacts/bench/. REPS, DURATION, FLOOD, MODES and
# CONNS (in the environment or on the command line) override the defaults, e.g.
# make bench REPS=1 DURATION=2 FLOOD=5 for a smoke run.
bench: deps
	bench/gateway.sh
	bench/https.sh
	$(CARGO) test --release -p tollgate-core --test it postgres::bench_cluster -- --ignored --nocapture
	$(CARGO) test --release -p tollgate --test it cluster::bench_three_nodes -- --ignored --nocapture

# Start-up to first paint and idle memory of the desktop app (release build, Xvfb).
bench-desktop: deps deps-desktop ui
	$(CARGO) build --release -p tollgate -p tollgate-desktop
	scripts/with-xvfb.sh bench/desktop.sh

# Regenerates ui/src/lib/backend/types.gen.ts from the Rust types (a test fails when stale).
types:
	TOLLGATE_WRITE_TYPES=1 $(CARGO) test -p tollgate --lib admin::typescript

deps:
	@scripts/deps.sh

deps-test:
	@scripts/deps.sh --test

deps-desktop:
	@scripts/deps.sh --desktop
