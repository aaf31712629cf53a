#!/usr/bin/env bash
# Runs a command on a private virtual X display (1280x800, no TCP), so desktop tests never
# open windows on the developer's screen and run the same on a headless CI machine.
#   scripts/with-xvfb.sh npm run e2e:desktop
set -euo pipefail
command -v Xvfb >/dev/null || { echo "error: Xvfb is missing; run scripts/deps.sh --desktop" >&2; exit 1; }
# Xvfb picks a free display itself and writes its number to the descriptor given.
fifo=$(mktemp -u)
mkfifo "$fifo"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$fifo" >/dev/null 2>&1 &
xvfb=$!
trap 'kill "$xvfb" 2>/dev/null || true; rm -f "$fifo"' EXIT
if ! read -r -t 15 display <"$fifo" || [ -z "$display" ]; then
  echo "error: Xvfb did not start" >&2
  exit 1
fi
DISPLAY=":${display}" "$@"
