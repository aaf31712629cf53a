#!/usr/bin/env bash
# Runs a command on a private virtual X display (1280x800, no TCP), so desktop tests never
# open windows on the developer's screen and run the same on a headless CI machine.
#   scripts/with-xvfb.sh npm run e2e:desktop
set -euo pipefail
command -v Xvfb >/dev/null || { echo "error: Xvfb is missing; run scripts/deps.sh --desktop" >&2; exit 1; }
display=99
while [ -e "/tmp/.X${display}-lock" ] || [ -e "/tmp/.X11-unix/X${display}" ]; do display=$((display + 1)); done
Xvfb ":${display}" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill "$xvfb" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [ -e "/tmp/.X11-unix/X${display}" ] && break
  kill -0 "$xvfb" 2>/dev/null || { echo "error: Xvfb :${display} did not start" >&2; exit 1; }
  sleep 0.05
done
DISPLAY=":${display}" "$@"
