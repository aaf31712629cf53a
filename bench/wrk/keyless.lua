-- The keyless flood: no key, 8 KB random paths (half under the priced route /v1/, half
-- under no route), from a pool of distinct paths per thread, formatted once. Counts the
-- statuses.
local SIZE, POOL = 8192, 512
local paths, i = {}, 0
statuses = {}
dofile(os.getenv("BENCH_DIR") .. "/wrk/statuses.lua")

function init()
  math.randomseed(os.time() + (id or 0) * 1000003)
  local alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_"
  for p = 1, POOL do
    local prefix = (p % 2 == 0) and "/v1/" or "/x/"
    local chars = {}
    for c = 1, SIZE - #prefix do
      local n = math.random(#alphabet)
      chars[c] = alphabet:sub(n, n)
    end
    paths[p] = wrk.format("GET", prefix .. table.concat(chars))
  end
end

function request()
  i = i % POOL + 1
  return paths[i]
end
