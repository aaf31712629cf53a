-- Tollgate's job in its simplest form: the key from X-API-Key looked up in the shared
-- dict, 401 for an unknown key, a JSON 402 when the balance is below the cost, otherwise
-- an atomic decrement (undone if a concurrent request got there first) and proxy_pass.
local COST = 1
local balances = ngx.shared.balances

local function problem(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/problem+json"
  ngx.header["Content-Length"] = #body
  ngx.print(body)
  return ngx.exit(status)
end

local key = ngx.var.http_x_api_key
local balance = key and balances:get(key)
if not balance then
  return problem(401, '{"type":"https://tollgate.dev/problems/invalid-api-key","title":"Invalid API key",'
    .. '"status":401,"code":"INVALID_API_KEY","request_id":"' .. ngx.var.request_id .. '"}')
end
if balance >= COST then
  local left = balances:incr(key, -COST)
  if left and left >= 0 then return end
  if left then balances:incr(key, COST) end
  balance = left and left + COST or 0
end
return problem(402, string.format('{"type":"https://tollgate.dev/problems/insufficient-credits",'
  .. '"title":"Insufficient credits","status":402,"code":"INSUFFICIENT_CREDITS",'
  .. '"detail":"This call costs %d credits and the balance is %d.","balance":%d,"cost":%d,"request_id":"%s"}',
  COST, balance, balance, COST, ngx.var.request_id))
