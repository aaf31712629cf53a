#!/usr/bin/env bash
# Desktop figures, on the X display in $DISPLAY (make bench-desktop runs it under Xvfb):
#   - start-up: launch to the dashboard's first paint (the app prints a line when the page
#     reports its first render), next to the headless `tollgate serve` from launch to its
#     "listening" line, both timed from outside the same way (50 ms polling);
#   - idle memory: resident memory of the app plus its webview processes after the window
#     has sat on the live monitor, next to `tollgate serve` alone.
# Each is measured RUNS times (default 3) on a fresh data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
IDLE=${IDLE:-10}
app=${TOLLGATE_DESKTOP_BIN:-target/release/tollgate-desktop}
serve=${TOLLGATE_BIN:-target/release/tollgate}
[ -n "${DISPLAY:-}" ] || { echo "error: no DISPLAY; run: scripts/with-xvfb.sh bench/desktop.sh" >&2; exit 1; }
[ -x "$serve" ] || cargo build --release -q -p tollgate

work=$(mktemp -d)
running=""  # the process under test, if any
cleanup() { [ -n "$running" ] && kill "$running" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

now_ms() { date +%s%3N; }
# Memory (MiB) of a process and all its descendants: resident (Rss, shared libraries counted
# in every process) and proportional (Pss, shared pages split between their users).
tree_mem() { # pid Rss|Pss
  local total=0 p kib
  for p in $(descendants "$1"); do
    kib=$(awk -v k="$2:" '$1 == k {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    total=$((total + ${kib:-0}))
  done
  echo $((total / 1024))
}
descendants() { echo "$1"; for c in $(pgrep -P "$1"); do descendants "$c"; done; }
wait_for_line() { # file pattern timeout_s
  for _ in $(seq $(($3 * 20))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "error: '$2' not in $1 within $3 s:" >&2; cat "$1" >&2; return 1
}

# Launches a command (env and arguments as given) in the background, times it until its log
# shows PATTERN, lets it idle, reads its memory, stops it with SIGTERM and checks that it
# stopped cleanly. Sets `took` (ms) and `mem` ("Rss/Pss" MiB).
measure() { # log pattern timeout_s command...
  local log=$1 pattern=$2 timeout=$3 start pid
  shift 3
  start=$(now_ms)
  "$@" >"$log" 2>&1 &
  pid=$!; running=$pid
  wait_for_line "$log" "$pattern" "$timeout"
  took=$(( $(now_ms) - start ))
  sleep "$IDLE"
  mem="$(tree_mem "$pid" Rss)/$(tree_mem "$pid" Pss)"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; running=""
  grep -q "stopped cleanly" "$log" || { echo "error: the process logging to $log did not stop cleanly:" >&2; cat "$log" >&2; exit 1; }
}

printf '%-4s %-20s %-12s %-34s %-18s\n' run "desktop first paint" "serve ready" "desktop idle, app+webview: Rss/Pss" "serve idle Rss/Pss"
for run in $(seq "$RUNS"); do
  data="$work/desktop-$run"; mkdir -p "$data" "$work/serve-$run"
  measure "$work/app-$run.log" "first paint after" 60 \
    env TOLLGATE_DATA_DIR="$data" TOLLGATE_ADMIN_LISTEN=127.0.0.1:0 TOLLGATE_GATEWAY_LISTEN=127.0.0.1:0 \
    XDG_CONFIG_HOME="$data/config" TOLLGATE_LOG=warn "$app"
  paint=$took desktop_mem=$mem
  measure "$work/serve-$run.log" "gateway listening" 30 \
    env TOLLGATE_LOG=warn "$serve" --data-dir "$work/serve-$run" serve --admin-listen 127.0.0.1:0 --gateway-listen 127.0.0.1:0
  printf '%-4s %-20s %-12s %-34s %-18s\n' "$run" "${paint} ms" "${took} ms" "${desktop_mem} MiB" "${mem} MiB"
done
echo "(desktop idle = tollgate-desktop + WebKitWebProcess + WebKitNetworkProcess, after ${IDLE} s on the live monitor)"
