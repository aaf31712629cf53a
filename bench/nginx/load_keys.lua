-- Loads the tenants file Tollgate imports (JSON lines with "key" and "credits") into the
-- shared dict: key -> balance. A key without credits starts at zero.
return function(path)
  local balances = ngx.shared.balances
  local n = 0
  for line in io.lines(path) do
    local key = line:match('"key":"([^"]+)"')
    if key then
      local ok, err = balances:set(key, tonumber(line:match('"credits":(%d+)')) or 0)
      if not ok then error("lua_shared_dict balances: " .. err) end
      n = n + 1
    end
  end
  ngx.log(ngx.NOTICE, "loaded ", n, " keys from ", path)
end
