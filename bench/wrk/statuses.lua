-- Counts every response's status in each wrk thread and prints the totals when wrk ends,
-- one `status CODE COUNT` line each, so bench/gateway.sh can refuse a run in which any
-- answer was not the one expected. Loaded by the other scripts when BENCH_STATUSES is set.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function response(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function done()
  local total = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses")) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("status %d %d\n", code, n)) end
end
