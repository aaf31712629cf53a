# Sourced by the benchmark scripts: installs the Debian packages named in `need` that are
# missing, and builds the binaries (unless TOLLGATE_BIN names one), setting `bin` and
# `upstream_bin`. Reads BENCH_PROFILE, TOLLGATE_BIN and UPSTREAM_BIN.
if [ ${#need[@]} -gt 0 ]; then
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The nginx package starts a system nginx on port 80; the benchmarks run their own.
  "${sudo[@]}" systemctl stop nginx 2>/dev/null || "${sudo[@]}" service nginx stop 2>/dev/null || true
fi
profile_dir=$([ "$BENCH_PROFILE" = dev ] && echo debug || echo "$BENCH_PROFILE")
if [ -z "${TOLLGATE_BIN:-}" ]; then
  cargo build --profile "$BENCH_PROFILE" -q -p tollgate --bin tollgate
  cargo build --profile "$BENCH_PROFILE" -q -p tollgate-gateway --example fixed_upstream --example proxy_floor
fi
bin=${TOLLGATE_BIN:-target/$profile_dir/tollgate}
upstream_bin=${UPSTREAM_BIN:-target/$profile_dir/examples/fixed_upstream}
floor_bin=${FLOOR_BIN:-target/$profile_dir/examples/proxy_floor}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
