#!/usr/bin/env bash
# The admin API against its own OpenAPI document: schemathesis (installed into
# target/schemathesis by `scripts/deps.sh --test`) sends generated valid and invalid
# inputs to every command of a real `tollgate serve` on a fresh data directory and fails
# on any 5xx, an undocumented status or content type, or an answer that does not match
# its schema. Bounded: SCHEMATHESIS_EXAMPLES inputs per command (default 30), seed 1.
#   TOLLGATE_BIN      the binary to run (default target/debug/tollgate)
#   SCHEMATHESIS_ARGS more options, e.g. "--include-path-regex credits" or "--phases fuzzing"
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${TOLLGATE_BIN:-target/debug/tollgate}"
schemathesis=target/schemathesis/bin/schemathesis
examples="${SCHEMATHESIS_EXAMPLES:-30}"
[ -x "$bin" ] || { echo "error: $bin is missing; run cargo build -p tollgate" >&2; exit 1; }
[ -x "$schemathesis" ] || { echo "error: $schemathesis is missing; run scripts/deps.sh --test" >&2; exit 1; }

data=$(mktemp -d -t tollgate-schemathesis-XXXXXX)
report=artifacts/schemathesis
pid=
stop() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap stop EXIT

TOLLGATE_LOG=warn "$bin" --data-dir "$data" serve --admin-listen 127.0.0.1:0 --gateway-listen 127.0.0.1:0 \
  >"$data/serve.log" 2>&1 &
pid=$!
# The server publishes its address in serve.json once it listens (30 s at most).
for _ in $(seq 300); do
  [ -s "$data/serve.json" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "error: tollgate serve exited:" >&2; cat "$data/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$data/serve.json" ] || { echo "error: tollgate serve did not start within 30 s" >&2; cat "$data/serve.log" >&2; exit 1; }
url=$(sed -n 's/.*"admin_url": *"\([^"]*\)".*/\1/p' "$data/serve.json")
token=$(cat "$data/admin-token")

mkdir -p "$report"
report=$(cd "$report" && pwd)
status=0
# A hard deadline over the bounded run (about 20 s here), so a hang fails instead of waiting.
# Run from target/schemathesis: schemathesis keeps a crash cache in its working directory.
(cd target/schemathesis && exec timeout 300 bin/schemathesis run "$url/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" --seed 1 --workers 2 --request-timeout 10 ${SCHEMATHESIS_ARGS:-} \
  --generation-database none --no-color --output-truncate true \
  --report junit --report-junit-path "$report/junit.xml") || status=$?
if [ "$status" -ne 0 ]; then
  echo "schemathesis found problems (exit $status); the server's log:" >&2
  tail -n 50 "$data/serve.log" >&2
fi
exit "$status"
