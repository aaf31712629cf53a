#!/usr/bin/env bash
# Gateway benchmark: on this machine, over loopback, one run measures
#   1. the fixed-response upstream on its own (the baseline),
#   2. the gateway's allowed path (many keys, cost 1) in front of it, batched and strict,
#   3. the gateway's 402 path (a tenant without credits),
# and prints requests/s, p50/p99 latency, server CPU µs per request, peak RSS, and the
# ratios to the baseline. The servers are pinned to CPU 0 and wrk to CPU 1.
#
#   bench/gateway.sh                 # 10 s per run, 50 connections, 100,000 keys
#   DURATION=30 CONNS=50 bench/gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
KEYS=${KEYS:-100000}
ACTIVE=${ACTIVE:-1000}  # keys the load generator rotates through
UPSTREAM_PORT=${UPSTREAM_PORT:-19000}
GATEWAY_PORT=${GATEWAY_PORT:-19402}

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y wrk; fi
fi
cargo build --release -q -p tollgate --bin tollgate
cargo build --release -q -p tollgate-gateway --example fixed_upstream

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
bin=${TOLLGATE_BIN:-target/release/tollgate}
tg() { "$bin" --data-dir "$work/data" "$@"; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_mb() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# --- the upstream ---------------------------------------------------------------
taskset -c 0 target/release/examples/fixed_upstream "127.0.0.1:$UPSTREAM_PORT" >"$work/upstream.log" &
upstream_pid=$!
pids+=("$upstream_pid")

# --- seed: ACTIVE tenants with known keys (imported), more keys up to KEYS -------
mkdir -p "$work/data"
tg plan create --name Bench --credits 1000000000000000 --features bench >/dev/null
python3 - "$work" "$ACTIVE" <<'PY'
import sys, secrets
work, active = sys.argv[1], int(sys.argv[2])
with open(f"{work}/tenants.jsonl", "w") as t, open(f"{work}/keys.txt", "w") as k:
    for i in range(active):
        key = "tg_live_" + secrets.token_urlsafe(30).replace("-", "a").replace("_", "b")[:40]
        t.write(f'{{"slug":"t{i}","name":"Tenant {i}","plan":"bench","key":"{key}"}}\n')
        k.write(key + "\n")
PY
tg import "$work/tenants.jsonl" >/dev/null
tg plan create --name Broke >/dev/null
tg tenant create --name broke --plan broke >/dev/null
broke_key=$(tg key issue --tenant broke --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
python3 - "$work/data/tollgate.db" "$KEYS" "$ACTIVE" <<'PY'
import sys, sqlite3, secrets, hashlib
db, total, active = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
con = sqlite3.connect(db)
now = "2026-01-01T00:00:00+00:00"
rows = []
for i in range(max(0, total - active - 1)):
    secret = secrets.token_hex(24)
    rows.append((1, f"tg_live_x{i:07d}", hashlib.sha256(secret.encode()).hexdigest(), "filler", "[]", now))
con.executemany("INSERT INTO api_keys (tenant_id, prefix, secret_hash, name, scopes, created_at) VALUES (?,?,?,?,?,?)", rows)
con.commit()
PY
tg route create --path /v1 --upstream "http://127.0.0.1:$UPSTREAM_PORT" --cost 1 --feature bench >/dev/null

cat >"$work/keys.lua" <<LUA
local keys = {}
for line in io.lines("$work/keys.txt") do keys[#keys + 1] = line end
local i = math.random(#keys)
request = function()
  i = i % #keys + 1
  return wrk.format("GET", "/v1/bench", { ["Authorization"] = "Bearer " .. keys[i] })
end
LUA
cat >"$work/broke.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $broke_key"
wrk.path = "/v1/bench"
LUA

# --- the gateway ------------------------------------------------------------------
start_ns=$(date +%s%N)
taskset -c 0 "$bin" --data-dir "$work/data" serve --admin-listen 127.0.0.1:0 --gateway-listen "127.0.0.1:$GATEWAY_PORT" \
  >"$work/serve.log" 2>&1 &
gateway_pid=$!
pids+=("$gateway_pid")
until grep -q "gateway listening" "$work/serve.log"; do
  kill -0 "$gateway_pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.01
done
startup_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
loaded=$(grep -o "Loaded .*" "$work/serve.log")

# run NAME URL SCRIPT: prints one result line and stores rps in RPS[NAME]
declare -A RPS
run() {
  local name=$1 url=$2 script=$3
  local g0 u0 g1 u1 out rps p50 p99 reqs
  g0=$(cpu_ticks "$gateway_pid"); u0=$(cpu_ticks "$upstream_pid")
  if [ "${PROFILE:-}" = "$name" ]; then
    # PROFILE="gateway 402" bench/gateway.sh: a flat CPU profile of the gateway during that run.
    perf record -q -e cpu-clock -F 4000 ${PERF_FLAGS:-} -p "$gateway_pid" -o "${PERF_DATA:-perf.data}" -- sleep "$DURATION" 2>/dev/null &
  fi
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$script" "$url")
  g1=$(cpu_ticks "$gateway_pid"); u1=$(cpu_ticks "$upstream_pid")
  rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  local ticks_hz; ticks_hz=$(getconf CLK_TCK)
  local gw_us up_us
  gw_us=$(awk -v d=$((g1 - g0)) -v n="$reqs" -v hz="$ticks_hz" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
  up_us=$(awk -v d=$((u1 - u0)) -v n="$reqs" -v hz="$ticks_hz" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
  RPS[$name]=$rps
  printf "%-26s %9s req/s  p50 %8s  p99 %8s  gateway %6s µs/req  upstream %5s µs/req  non-2xx %s\n" \
    "$name" "$rps" "$p50" "$p99" "$gw_us" "$up_us" "$non2xx"
}

empty=$work/empty.lua; : >"$empty"
echo "Tollgate gateway benchmark: ${DURATION}s per run, $CONNS connections, wrk on CPU 1, servers on CPU 0"
echo "$loaded; gateway ready ${startup_ms} ms after launch"
run "upstream direct" "http://127.0.0.1:$UPSTREAM_PORT/v1/bench" "$empty"
run "gateway allowed (batched)" "http://127.0.0.1:$GATEWAY_PORT" "$work/keys.lua"
run "gateway 402" "http://127.0.0.1:$GATEWAY_PORT" "$work/broke.lua"
tg settings set --durability strict >/dev/null
run "gateway allowed (strict)" "http://127.0.0.1:$GATEWAY_PORT" "$work/keys.lua"
tg settings set --durability batched >/dev/null
echo "gateway peak RSS: $(peak_rss_mb "$gateway_pid") MB with $KEYS keys"
awk -v a="${RPS[gateway allowed (batched)]}" -v d="${RPS[upstream direct]}" -v s="${RPS[gateway allowed (strict)]}" -v f="${RPS[gateway 402]}" 'BEGIN {
  printf "ratios: allowed/direct %.2f   strict/batched %.2f   allowed vs nginx+Lua (21,000 req/s) %.2f   402 vs 80,000 req/s %.2f\n", a / d, s / a, a / 21000, f / 80000
}'
kill -TERM "$gateway_pid"; wait "$gateway_pid" || true
tg verify >/dev/null && echo "verify after the runs: ok (balance == sum(ledger) for every tenant)"
