#!/usr/bin/env bash
# Runs a command with a real Secret Service of its own: a private D-Bus session with
# gnome-keyring unlocked by a throwaway password, in a temporary data directory, so tests
# never touch the user's own keyring.
#   scripts/with-keyring.sh cargo test -p tollgate-desktop --test keyring -- --ignored
set -euo pipefail
command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null || {
  echo "error: dbus-run-session or gnome-keyring-daemon is missing; run scripts/deps.sh --desktop" >&2
  exit 1
}
keyrings=$(mktemp -d)
trap 'rm -rf "$keyrings"' EXIT
exec_in_session='
  echo -n tollgate-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  exec "$@"
'
XDG_DATA_HOME=$keyrings dbus-run-session -- bash -c "$exec_in_session" with-keyring "$@"
