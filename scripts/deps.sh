#!/usr/bin/env bash
# Installs what `make run` and `make test` need and is missing. Rust itself is assumed.
# Debian packages are installed with apt-get as root, or through sudo otherwise.
#   scripts/deps.sh          build tools and Node.js (for `make run`)
#   scripts/deps.sh --test   also rustfmt/clippy checks, chromium, nginx (a TLS upstream in the
#                            tests), curl and h2load (HTTPS clients), promtool (Debian's
#                            prometheus), PostgreSQL (its schema's test), and schemathesis
#                            and the openai client library from PyPI in venvs under target/
#                            (for `make test`)
#   scripts/deps.sh --desktop  also webkit2gtk and friends for the desktop app, Xvfb and
#                              WebKitWebDriver for its tests, gnome-keyring and a D-Bus session
#                              (the keyring test), and tauri-driver (cargo install)
set -euo pipefail
mode="${1:-}"

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed. Install Rust (https://rustup.rs) and run make again." >&2
  exit 1
fi
if [ "$mode" = "--test" ]; then
  for component in fmt clippy; do
    if ! cargo "$component" --version >/dev/null 2>&1; then
      echo "error: cargo $component is missing; install it with: rustup component add ${component/fmt/rustfmt}" >&2
      exit 1
    fi
  done
  # The browser tests drive Debian's chromium (playwright-core never downloads one).
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  # The https:// upstream tests run Debian's nginx as the TLS server; the HTTPS gateway's
  # tests drive it with curl (HTTP/1.1 and HTTP/2) and h2load.
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
  command -v curl >/dev/null 2>&1 || need_apt+=(curl)
  command -v h2load >/dev/null 2>&1 || need_apt+=(nghttp2-client)
  # The metrics test checks the scraped text with Prometheus's own promtool.
  command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
  # The PostgreSQL schema's test starts Debian's PostgreSQL server in a temporary directory.
  compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need_apt+=(postgresql)
  # The API conformance test runs schemathesis from a Python venv.
  command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
fi

if [ "$mode" = "--desktop" ]; then
  # Tauri's build prerequisites on Debian (the ayatana indicator is the tray), then what the
  # desktop tests use: a virtual X server, screenshots, and WebKit's WebDriver.
  for pkg in libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev libssl-dev \
             libxdo-dev file xvfb xauth imagemagick xdotool webkit2gtk-driver gnome-keyring dbus-daemon; do
    # Installed, not merely known (a removed package keeps its config files and a status).
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || need_apt+=("$pkg")
  done
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt_get=(apt-get)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    apt_get=(sudo apt-get)
  else
    echo "error: these Debian packages are missing: ${need_apt[*]}" >&2
    echo "       run as root or with sudo: apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
  echo "Installing ${need_apt[*]} ..."
  for attempt in 1 2 3; do
    # Another apt run may hold the lock for a while: wait and retry.
    if "${apt_get[@]}" update -qq && DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends "${need_apt[@]}"; then
      break
    fi
    [ "$attempt" -eq 3 ] && { echo "error: apt-get failed three times" >&2; exit 1; }
    sleep 10
  done
fi

# The dashboard's build tools need Node.js 20.19 or newer.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "error: Node.js $(node --version) is too old for the dashboard's build (Vite needs 20.19+)." >&2
  echo "       install a newer Node.js (e.g. from nodesource.com) and run make again." >&2
  exit 1
fi

# venv_package DIR PACKAGE VERSION CHECK: PACKAGE==VERSION from PyPI in the venv DIR under
# target/, unless CHECK (a command run with the venv's bin first on PATH) prints VERSION.
venv_package() {
  local venv dir=$1 package=$2 want=$3 check=$4
  venv="$(cd "$(dirname "$0")/.." && pwd)/target/$dir"
  if [ "$(PATH="$venv/bin:$PATH" sh -c "$check" 2>/dev/null)" != "$want" ]; then
    echo "Installing $package $want into $venv ..."
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$package==$want"
  fi
}

if [ "$mode" = "--test" ]; then
  # schemathesis (make api-conformance), pinned so its flags stay what scripts/schemathesis.sh uses.
  venv_package schemathesis schemathesis 4.32.5 "schemathesis --version | sed 's/.* version //'"
  # The official OpenAI client library, the customer's client in the metered-route test
  # (crates/tollgate/tests/it/openai_client.rs).
  venv_package pyclients openai 2.8.1 "python -c 'import openai; print(openai.__version__)'"
fi

# The x402 test kit (crates/tollgate/tests/clients/x402): the official x402 client libraries,
# viem (the test wallet) and mppx (the draft Payment scheme's client), from its lock file.
if [ "$mode" = "--test" ]; then
  kit="$(cd "$(dirname "$0")/.." && pwd)/crates/tollgate/tests/clients/x402"
  if [ ! -f "$kit/node_modules/.package-lock.json" ] || [ "$kit/package-lock.json" -nt "$kit/node_modules/.package-lock.json" ]; then
    echo "Installing the x402 test kit's npm packages ..."
    (cd "$kit" && npm ci --no-audit --no-fund)
  fi
fi

# tauri-driver bridges WebDriver clients to WebKitWebDriver for the desktop tests.
if [ "$mode" = "--desktop" ] && ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver" ]; then
  echo "Installing tauri-driver (cargo install, about 30 s) ..."
  cargo install tauri-driver --locked --version '^2.1' --quiet
fi
