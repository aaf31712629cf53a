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

printf '%-4s %-20s %-12s %-34s %-18s\n' run "desktop first paint" "serve ready" "desktop idle, app+webview: Rss/Pss" "serve idle Rss/Pss"
for run in $(seq "$RUNS"); do
  data="$work/desktop-$run"; mkdir -p "$data"
  start=$(now_ms)
  TOLLGATE_DATA_DIR="$data" TOLLGATE_ADMIN_LISTEN=127.0.0.1:0 TOLLGATE_GATEWAY_LISTEN=127.0.0.1:0 \
    XDG_CONFIG_HOME="$data/config" TOLLGATE_LOG=warn "$app" >"$work/app-$run.log" 2>&1 &
  app_pid=$!; running=$app_pid
  wait_for_line "$work/app-$run.log" "first paint after" 60
  paint=$(( $(now_ms) - start ))
  sleep "$IDLE"
  desktop_rss="$(tree_mem "$app_pid" Rss)/$(tree_mem "$app_pid" Pss)"
  kill -TERM "$app_pid"; wait "$app_pid" 2>/dev/null || true; running=""
  grep -q "stopped cleanly" "$work/app-$run.log" || { echo "error: the app did not stop cleanly:" >&2; cat "$work/app-$run.log" >&2; exit 1; }

  sdata="$work/serve-$run"; mkdir -p "$sdata"
  start=$(now_ms)
  TOLLGATE_LOG=warn "$serve" --data-dir "$sdata" serve --admin-listen 127.0.0.1:0 --gateway-listen 127.0.0.1:0 >"$work/serve-$run.log" 2>&1 &
  serve_pid=$!; running=$serve_pid
  wait_for_line "$work/serve-$run.log" "gateway listening" 30
  ready=$(( $(now_ms) - start ))
  sleep "$IDLE"
  serve_rss="$(tree_mem "$serve_pid" Rss)/$(tree_mem "$serve_pid" Pss)"
  kill -TERM "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; running=""

  printf '%-4s %-20s %-12s %-34s %-18s\n' "$run" "${paint} ms" "${ready} ms" "${desktop_rss} MiB" "${serve_rss} MiB"
done
echo "(desktop idle = tollgate-desktop + WebKitWebProcess + WebKitNetworkProcess, after ${IDLE} s on the live monitor)"
