#!/usr/bin/env bash
# HTTPS benchmark (part of `make bench`): Tollgate's gateway over TLS, HTTP/1.1 and HTTP/2,
# against nginx terminating TLS in front of the same fixed upstream, measured in one run
# with one load generator (h2load, from nghttp2) for every target:
#   tg_h1, nginx_h1         HTTPS, HTTP/1.1, CONNS connections, one request in flight each
#   tg_h2, nginx_h2         HTTPS, HTTP/2, CONNS connections, one stream in flight each
#   tg_h2mux, nginx_h2mux   HTTPS, HTTP/2, CONNS/10 connections, 10 streams in flight each
# Every server runs on CPU 0, h2load on CPU 1 (one thread). Each repetition runs every target
# back to back, its order rotated; it prints req/s, mean latency and server CPU µs per request,
# the medians, the ratios, and writes them to artifacts/bench/. A run with a failed or
# non-2xx request is refused: the script stops and exits 1.
#
#   bench/https.sh                     # 3 × 10 s per target, about 4 minutes
#   REPS=1 DURATION=2 bench/https.sh   # a smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

CONNS=${CONNS:-50}
REPS=${REPS:-3}
DURATION=${DURATION:-10}
UPSTREAM_PORT=${UPSTREAM_PORT:-19700}
GATEWAY_PORT=${GATEWAY_PORT:-19702}
NGINX_PORT=${NGINX_PORT:-19704}
BENCH_PROFILE=${BENCH_PROFILE:-release}

need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v nginx >/dev/null || need+=(nginx-light)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
source bench/prepare.sh

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "work directory kept: $work" || rm -rf "$work"
}
trap cleanup EXIT
for port in "$UPSTREAM_PORT" "$GATEWAY_PORT" "$NGINX_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "error: port $port is in use (another benchmark running?)" >&2; exit 1
  fi
done
# CPU clock ticks (user + system) of a process and its children (nginx's workers).
cpu_ticks() {
  local total=0 q
  for q in "$1" $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$q/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
wait_https() { # URL PID LOG
  until curl -sk -o /dev/null --max-time 1 "$1"; do
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; echo "error: the server stopped (log above)" >&2; exit 1; }
    sleep 0.01
  done
}

# A certificate for 127.0.0.1 from a CA made here; h2load does not verify, curl is told the CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
  -keyout "$work/ca.key" -out "$work/ca.pem" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/req.pem" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$work/ext.cnf"
openssl x509 -req -in "$work/req.pem" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/ext.cnf" -out "$work/cert.pem" 2>/dev/null

taskset -c 0 "$upstream_bin" "127.0.0.1:$UPSTREAM_PORT" 1 >"$work/upstream.log" &
upstream_pid=$!; pids+=("$upstream_pid")

data=$work/data
mkdir -m 700 "$data"
tg() { "$bin" --data-dir "$data" "$@"; }
tg plan create --name Bench --credits 1000000000000 >/dev/null
tg tenant create --name bench --plan bench >/dev/null
secret=$(tg --json key issue --tenant bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
tg route create --path /v1 --upstream "http://127.0.0.1:$UPSTREAM_PORT" --cost 1 >/dev/null
taskset -c 0 "$bin" --data-dir "$data" serve --admin-listen 127.0.0.1:0 --gateway-listen "127.0.0.1:$GATEWAY_PORT" \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" >"$work/serve.log" 2>&1 &
gateway_pid=$!; pids+=("$gateway_pid")
wait_https "https://127.0.0.1:$GATEWAY_PORT/" "$gateway_pid" "$work/serve.log"

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy; fastcgi_temp_path $work/nginx/fcgi;
  uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  upstream up { server 127.0.0.1:$UPSTREAM_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NGINX_PORT ssl http2;
    ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    keepalive_requests 1000000;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
taskset -c 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!; pids+=("$nginx_pid")
wait_https "https://127.0.0.1:$NGINX_PORT/" "$nginx_pid" "$work/nginx/error.log"
proto=$(curl -s --cacert "$work/ca.pem" --http2 -o /dev/null -w '%{http_version}' -H "authorization: Bearer $secret" "https://127.0.0.1:$GATEWAY_PORT/v1/x")
[ "$proto" = 2 ] || { echo "error: the gateway did not speak HTTP/2 (got $proto)" >&2; exit 1; }

: >"$work/runs.jsonl"
run() { # REP TARGET
  local rep=$1 target=$2 port=$GATEWAY_PORT pid=$gateway_pid conns=$CONNS streams=1 h1=() out=$work/$2-$1.txt
  case $target in nginx*) port=$NGINX_PORT; pid=$nginx_pid ;; esac
  case $target in
    *_h1) h1=(--h1) ;;
    *_h2mux) conns=$(( CONNS / 10 > 0 ? CONNS / 10 : 1 )); streams=10 ;;
  esac
  local s0 s1; s0=$(cpu_ticks "$pid")
  taskset -c 1 h2load -t1 "${h1[@]}" -c "$conns" -m "$streams" -D "$DURATION" \
    -H "authorization: Bearer $secret" "https://127.0.0.1:$port/v1/bench" >"$out"
  s1=$(cpu_ticks "$pid")
  python3 - "$out" "$target" "$rep" "$((s1 - s0))" "$(getconf CLK_TCK)" >>"$work/runs.jsonl" <<'PY'
import json, re, sys
path, target, rep, ticks, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
text = open(path).read()
rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", text).group(1))
req = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", text).group(1)
proto = re.search(r"Application protocol: (\S+)", text).group(1)
done, ok, failed = int(req.group(2)), int(req.group(3)), int(req.group(4)) + int(req.group(5)) + int(req.group(6))
if failed or ok == 0 or int(codes.group(1)) != ok:
    sys.exit(f"REFUSED: {target} rep {rep}: {failed} failed/errored, {codes.group(0)}\n{text}")
unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
m = re.match(r"([\d.]+)(us|ms|s)", mean)
print(json.dumps({"target": target, "rep": rep, "proto": proto, "rps": rps, "requests": done,
                  "mean_ms": float(m.group(1)) * unit[m.group(2)], "cpu_us_per_req": ticks / hz * 1e6 / max(done, 1)}))
PY
  tail -n1 "$work/runs.jsonl" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("  {target:<12} {proto:<9} {rps:>10,.0f} req/s  mean {mean_ms:.2f} ms  server {cpu_us_per_req:.1f} µs/req".format(**r))'
}

targets=(tg_h1 nginx_h1 tg_h2 nginx_h2 tg_h2mux nginx_h2mux)
echo "HTTPS: $CONNS connections, $REPS × ${DURATION} s per target, servers on CPU 0, h2load on CPU 1"
for rep in $(seq 1 "$REPS"); do
  echo "-- repetition $rep/$REPS"
  for i in "${!targets[@]}"; do
    run "$rep" "${targets[$(( (i + rep - 1) % ${#targets[@]} ))]}"
  done
done
kill -TERM "$gateway_pid" && wait "$gateway_pid" 2>/dev/null || true
"$bin" --data-dir "$data" verify >/dev/null || { echo "REFUSED: verify failed after the run" >&2; exit 1; }

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit+changes"
mkdir -p artifacts/bench
report=artifacts/bench/$(date -u +%Y%m%d-%H%M)-https.md
python3 - "$work/runs.jsonl" "$commit" "$CONNS" "$REPS" "$DURATION" "$report" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
commit, conns, reps, duration, path = sys.argv[2:7]
med = lambda t, k: statistics.median(r[k] for r in runs if r["target"] == t)
lines = [f"# HTTPS benchmark, commit {commit}", "",
         f"h2load -t1 on CPU 1, every server on CPU 0, {conns} connections (h2mux: {max(int(conns)//10,1)} connections × 10 streams), "
         f"medians of {reps} × {duration} s, order rotated per repetition.", "",
         "| target | req/s | mean latency | server CPU µs/req |", "|---|---|---|---|"]
for t in ["tg_h1", "nginx_h1", "tg_h2", "nginx_h2", "tg_h2mux", "nginx_h2mux"]:
    lines.append(f"| {t} | {med(t,'rps'):,.0f} | {med(t,'mean_ms'):.2f} ms | {med(t,'cpu_us_per_req'):.1f} |")
lines += ["", "| ratio (medians) | value |", "|---|---|"]
for a, b in [("tg_h2", "tg_h1"), ("tg_h2mux", "tg_h1"), ("tg_h1", "nginx_h1"), ("tg_h2", "nginx_h2"), ("tg_h2mux", "nginx_h2mux")]:
    lines.append(f"| {a} ÷ {b} | {med(a,'rps') / med(b,'rps'):.2f}× |")
text = "\n".join(lines) + "\n"
open(path, "w").write(text)
print(text)
print(f"written to {path}")
PY
