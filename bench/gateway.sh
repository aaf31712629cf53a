#!/usr/bin/env bash
# Gateway benchmark: on this machine, over loopback, one run measures Tollgate against
# references started by this same script, targets alternating within each repetition:
#   - the fixed-response upstream on its own,
#   - nginx `proxy_pass` in front of it (no checks),
#   - nginx + Lua doing the same work as the gateway: key lookup, balance check, atomic
#     debit (a shared dict), and a JSON 402 for a key without credits,
#   - Tollgate's allowed path (many keys, cost 1), batched and strict, and its 402 path,
# and prints requests/s, p50/p99, server CPU µs per request, peak RSS, and the ratios of
# the medians (Tollgate / nginx+Lua, Tollgate / nginx). Servers on CPU 0, wrk on CPU 1.
#
#   bench/gateway.sh                 # 3 × 10 s per target, 50 connections, 100,000 keys
#   REPS=5 DURATION=30 CONNS=50 bench/gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
REPS=${REPS:-3}
CONNS=${CONNS:-50}
KEYS=${KEYS:-100000}
ACTIVE=${ACTIVE:-1000}  # keys the load generator rotates through
UPSTREAM_PORT=${UPSTREAM_PORT:-19000}
GATEWAY_PORT=${GATEWAY_PORT:-19402}
NGINX_PORT=${NGINX_PORT:-19500}     # nginx + Lua; nginx proxy_pass on NGINX_PORT + 1

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || need+=(libnginx-mod-http-lua)
if [ ${#need[@]} -gt 0 ]; then
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The package starts a system nginx on port 80; the benchmark runs its own.
  "${sudo[@]}" systemctl stop nginx 2>/dev/null || "${sudo[@]}" service nginx stop 2>/dev/null || true
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
mkdir -m 700 "$work/data"
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

# --- the references: nginx, and nginx + Lua with the same keys ----------------------
mkdir -p "$work/nginx"
{
  echo "local b = ngx.shared.balances"
  while read -r k; do echo "b:set(\"$k\", 1000000000000)"; done <"$work/keys.txt"
  echo "b:set(\"$broke_key\", 0)"
} >"$work/nginx/seed.lua"
cat >"$work/nginx/nginx.conf" <<NGINX
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
master_process off; daemon off; worker_processes 1;
error_log $work/nginx/error.log warn; pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  lua_shared_dict balances 64m;
  init_by_lua_file $work/nginx/seed.lua;
  upstream up { server 127.0.0.1:$UPSTREAM_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$((NGINX_PORT + 1));
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      access_by_lua_block {
        local auth = ngx.var.http_authorization
        local key = auth and auth:sub(8)
        local b = ngx.shared.balances
        local balance = key and b:get(key)
        if not balance then
          ngx.status = 401
          ngx.header["Content-Type"] = "application/problem+json"
          ngx.say('{"type":"https://tollgate.dev/problems/invalid-api-key","status":401,"code":"INVALID_API_KEY"}')
          return ngx.exit(401)
        end
        if balance < 1 then
          ngx.status = 402
          ngx.header["Content-Type"] = "application/problem+json"
          ngx.say('{"type":"https://tollgate.dev/problems/insufficient-credits","title":"Insufficient credits","status":402,"code":"INSUFFICIENT_CREDITS","balance":' .. balance .. ',"cost":1}')
          return ngx.exit(402)
        end
        b:incr(key, -1)
      }
      proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
}
NGINX
taskset -c 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
pids+=("$nginx_pid")
until curl -s -o /dev/null "http://127.0.0.1:$((NGINX_PORT + 1))/"; do
  kill -0 "$nginx_pid" 2>/dev/null || { cat "$work/nginx/error.log"; exit 1; }
  sleep 0.01
done

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

# run NAME URL SCRIPT PID: prints one result line and appends rps to RPS[NAME]; PID is
# the server whose CPU time is counted (the gateway, nginx, or none for the upstream).
declare -A RPS
run() {
  local name=$1 url=$2 script=$3 pid=$4
  local s0 u0 s1 u1 out rps p50 p99 reqs
  s0=$(cpu_ticks "$pid"); u0=$(cpu_ticks "$upstream_pid")
  if [ "${PROFILE:-}" = "$name" ]; then
    # PROFILE="gateway 402" bench/gateway.sh: a flat CPU profile of the gateway during that run.
    perf record -q -e cpu-clock -F 4000 ${PERF_FLAGS:-} -p "$pid" -o "${PERF_DATA:-perf.data}" -- sleep "$DURATION" 2>/dev/null &
  fi
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$script" "$url")
  s1=$(cpu_ticks "$pid"); u1=$(cpu_ticks "$upstream_pid")
  rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  local ticks_hz; ticks_hz=$(getconf CLK_TCK)
  local sv_us up_us
  sv_us=$(awk -v d=$((s1 - s0)) -v n="$reqs" -v hz="$ticks_hz" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
  up_us=$(awk -v d=$((u1 - u0)) -v n="$reqs" -v hz="$ticks_hz" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
  RPS[$name]="${RPS[$name]:-} $rps"
  printf "%-26s %9s req/s  p50 %8s  p99 %8s  server %6s µs/req  upstream %5s µs/req  non-2xx %s\n" \
    "$name" "$rps" "$p50" "$p99" "$sv_us" "$up_us" "$non2xx"
}

median() { tr ' ' '\n' <<<"${RPS[$1]}" | grep . | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

empty=$work/empty.lua; : >"$empty"
gw=http://127.0.0.1:$GATEWAY_PORT
lua=http://127.0.0.1:$NGINX_PORT
echo "Gateway benchmark: $REPS × ${DURATION}s per target, alternating, $CONNS connections, wrk on CPU 1, servers on CPU 0"
echo "$loaded; gateway ready ${startup_ms} ms after launch"
for rep in $(seq 1 "$REPS"); do
  echo "-- repetition $rep"
  run "upstream direct" "http://127.0.0.1:$UPSTREAM_PORT/v1/bench" "$empty" "$upstream_pid"
  run "nginx proxy_pass" "http://127.0.0.1:$((NGINX_PORT + 1))" "$empty" "$nginx_pid"
  run "nginx+Lua allowed" "$lua" "$work/keys.lua" "$nginx_pid"
  run "gateway allowed (batched)" "$gw" "$work/keys.lua" "$gateway_pid"
  run "nginx+Lua 402" "$lua" "$work/broke.lua" "$nginx_pid"
  run "gateway 402" "$gw" "$work/broke.lua" "$gateway_pid"
  tg settings set --durability strict >/dev/null
  run "gateway allowed (strict)" "$gw" "$work/keys.lua" "$gateway_pid"
  tg settings set --durability batched >/dev/null
done
echo "gateway peak RSS: $(peak_rss_mb "$gateway_pid") MB with $KEYS keys; nginx peak RSS: $(peak_rss_mb "$nginx_pid") MB"
echo "medians (req/s): nginx $(median "nginx proxy_pass")  nginx+Lua $(median "nginx+Lua allowed")  gateway $(median "gateway allowed (batched)")  strict $(median "gateway allowed (strict)")  nginx+Lua 402 $(median "nginx+Lua 402")  gateway 402 $(median "gateway 402")"
awk -v g="$(median "gateway allowed (batched)")" -v l="$(median "nginx+Lua allowed")" -v n="$(median "nginx proxy_pass")" \
    -v s="$(median "gateway allowed (strict)")" -v g4="$(median "gateway 402")" -v l4="$(median "nginx+Lua 402")" 'BEGIN {
  printf "ratios (same run, medians): allowed vs nginx+Lua %.2f   allowed vs nginx %.2f   402 vs nginx+Lua 402 %.2f   strict/batched %.2f\n", g / l, g / n, g4 / l4, s / g
}'
kill -TERM "$gateway_pid"; wait "$gateway_pid" || true
tg verify >/dev/null && echo "verify after the runs: ok (balance == sum(ledger) for every tenant)"
