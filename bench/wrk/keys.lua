-- GET /v1/bench (or BENCH_PATH) with X-API-Key rotating over the keys of the file BENCH_KEYS (one a line),
-- each thread starting at its own place. The requests are formatted once, up front, so wrk
-- spends as little as it can per request. With BENCH_STATUSES set, counts the statuses.
local file = assert(os.getenv("BENCH_KEYS"), "BENCH_KEYS: the keys file")
local requests, i = {}, 0
local path = os.getenv("BENCH_PATH") or "/v1/bench"
statuses = {}
if (os.getenv("BENCH_STATUSES") or "") ~= "" then dofile(os.getenv("BENCH_DIR") .. "/wrk/statuses.lua") end

function init()
  for key in io.lines(file) do
    requests[#requests + 1] = wrk.format("GET", path, { ["X-API-Key"] = key })
  end
  i = ((id or 0) * 7919) % #requests
end

function request()
  i = i % #requests + 1
  return requests[i]
end
