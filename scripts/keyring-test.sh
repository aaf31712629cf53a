#!/usr/bin/env bash
# The desktop's keyring test against a real Secret Service: a private D-Bus session with
# gnome-keyring unlocked by a throwaway password (nothing touches the user's own keyring).
set -euo pipefail
cd "$(dirname "$0")/.."
exec dbus-run-session -- bash -c '
  export XDG_DATA_HOME=$(mktemp -d)  # a fresh keyring directory, removed with the session
  echo -n tollgate-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  cargo test -p tollgate-desktop --test keyring -- --ignored
'
