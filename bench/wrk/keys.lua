-- GET /v1/bench with X-API-Key rotating over the keys of the file BENCH_KEYS (one a line),
-- each thread starting at its own place. With BENCH_STATUSES set, counts the statuses.
local file = assert(os.getenv("BENCH_KEYS"), "BENCH_KEYS: the keys file")
local keys, i = {}, 0
statuses = {}
if (os.getenv("BENCH_STATUSES") or "") ~= "" then dofile(os.getenv("BENCH_DIR") .. "/wrk/statuses.lua") end

function init()
  for line in io.lines(file) do keys[#keys + 1] = line end
  i = ((id or 0) * 7919) % #keys
end

function request()
  i = i % #keys + 1
  return wrk.format("GET", "/v1/bench", { ["X-API-Key"] = keys[i] })
end
