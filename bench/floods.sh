# Storage, memory and start-up, sourced by bench/gateway.sh after its throughput runs (it
# uses that script's servers, keys and bookkeeping):
#   - a FLOOD-second 402 flood at full speed over the zero-balance keys, and a keyless flood
#     with 8 KB random paths (bench/wrk/keyless.lua), each on a freshly started gateway with
#     every key loaded: peak RSS (VmHWM), and the CPU the process still uses in the first
#     and the second second after wrk ends (idle: the flood left no backlog behind);
#   - the request history behind the start-up time: the throughput runs and the floods
#     answered some (served and denied); real load through the real gateway (allowed path)
#     tops it up to HISTORY requests (default 10 million), so the database holds exactly what
#     answering them writes (ledger, counters, denials, request log) and passes `verify`;
#   - ready: launch until the gateway answers, median of 3 starts on that database.
FLOOD_MODE=${FLOOD_MODE:-pinned}
FLOOD_CONNS=${FLOOD_CONNS:-200}

ms_of_ticks() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", t * 1000 / hz}'; }

# flood NAME SCRIPT KEYS EXPECT
flood() {
  local name=$1 script=$2 keys=$3 expect=$4 wrk=(wrk -t2) out=$work/flood-$2.txt
  [ "$FLOOD_MODE" = pinned ] && wrk=(taskset -c 1 wrk -t1)
  start_gateway "$FLOOD_MODE"
  local rss_before db_before c0 c1 c2
  rss_before=$(awk '/VmRSS/ {print $2 / 1024}' "/proc/$gateway_pid/status")
  db_before=$(results dbsize "$data")
  echo "-- $name: ${FLOOD} s, $FLOOD_CONNS connections, gateway RSS ${rss_before} MB before"
  BENCH_STATUSES=1 BENCH_KEYS="$keys" "${wrk[@]}" -c"$FLOOD_CONNS" -d"${FLOOD}s" --latency -s "bench/wrk/$script" \
    "http://127.0.0.1:$GATEWAY_PORT" >"$out"
  c0=$(cpu_ticks "$gateway_pid"); sleep 1; c1=$(cpu_ticks "$gateway_pid"); sleep 1; c2=$(cpu_ticks "$gateway_pid")
  local hwm; hwm=$(awk '/VmHWM/ {print $2 / 1024}' "/proc/$gateway_pid/status")
  local line; line=$(results run "$out" mode="$FLOOD_MODE" conns="$FLOOD_CONNS" rep=0 target="$name" expect="$expect") \
    || { cat "$out" >&2; exit 1; }
  stop "$gateway_pid"
  denied=$((denied + $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$line")))
  local db_after; db_after=$(results dbsize "$data")
  extra "$(python3 - "$line" "$db_before" "$db_after" <<PY
import json, sys
r, before, after = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(json.dumps({"kind": "flood", "name": "$name", "seconds": $FLOOD, "rps": r["rps"], "requests": r["requests"],
  "statuses": r["statuses"], "rss_before_mb": $rss_before, "peak_rss_mb": $hwm,
  "cpu_ms_first_second": $(ms_of_ticks $((c1 - c0))), "cpu_ms_second_1_to_2": $(ms_of_ticks $((c2 - c1))),
  "db_growth_bytes": after["files"] - before["files"]}))
PY
)"
  echo "   $(tail -1 "$work/extra.jsonl")"
}

start_upstream "$FLOOD_MODE"
flood "402 flood" keys.lua "$work/zero.txt" 402
flood "keyless flood, 8 KB paths" keyless.lua "$work/zero.txt" 4xx
stop "$upstream_pid"

# --- history: real traffic through the real gateway, up to HISTORY served requests ------
if [ $((served + denied)) -lt "$HISTORY" ]; then
  echo "-- history: $served requests served and $denied denied so far; serving $((HISTORY - served - denied)) more (allowed path, free mode)"
  start_upstream free
  start_gateway free
  rate=30000
  while [ $((served + denied)) -lt "$HISTORY" ]; do
    chunk=$(( (HISTORY - served - denied) / rate + 1 )); [ "$chunk" -gt 60 ] && chunk=60
    BENCH_KEYS=$work/funded.txt wrk -t2 -c200 -d"${chunk}s" -s bench/wrk/keys.lua "http://127.0.0.1:$GATEWAY_PORT" >"$work/history.txt"
    line=$(results run "$work/history.txt" target=history expect=2xx) || { cat "$work/history.txt" >&2; exit 1; }
    n=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$line")
    rate=$(( n / chunk + 1 )); served=$((served + n))
    echo "   $served served ($rate req/s)"
  done
  stop "$gateway_pid"; stop "$upstream_pid"
fi

# --- ready: launch until the gateway answers ---------------------------------------------
samples=()
for i in 1 2 3; do
  start_gateway free
  samples+=("$ready_ms")
  loaded=$(grep -o 'Loaded .*' "$work/serve.log" || true)
  stop "$gateway_pid"
done
verify_start=$(date +%s%N)
tg verify >/dev/null || true
verify_s=$(awk -v ns=$(( $(date +%s%N) - verify_start )) 'BEGIN {printf "%.2f", ns / 1e9}')
median_ms=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n 2p)
extra "{\"kind\": \"ready\", \"mode\": \"free\", \"keys\": $KEYS, \"tenants\": $TENANTS, \"history_requests\": $((served + denied)), \"served\": $served, \"denied\": $denied, \"ms\": $median_ms, \"samples\": 3, \"all_ms\": [$(IFS=,; echo "${samples[*]}")], \"db_mb\": $(du -sm "$data" | cut -f1), \"verify_s\": $verify_s}"
echo "-- ready: ${samples[*]} ms after launch ($loaded; $served requests served and $denied denied before); verify ${verify_s} s"
extra "{\"kind\": \"others\", \"files\": $(results dbsize "$data" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["others"]))')}"
