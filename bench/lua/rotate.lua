-- wrk script for the refresh-token rotation hook (scenario 6b).
-- Each request spends one refresh token; each answer's new refresh_token goes back in the pool,
-- so with at least as many seed tokens as connections every token is sent exactly once.
-- env: TOKENS_FILE (one refresh token a line), HEADERS (Authorization etc.), LABEL.
-- wrk calls response() before it asks request() for that connection's next request.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "request.lua")  -- headers from HEADERS and the shared done() reporter
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local pool = {}

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

init = function(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    if line ~= "" then
      pool[#pool + 1] = line
    end
  end
end

request = function()
  -- An empty pool means earlier answers carried no new token: send a spent one, counted as an error.
  local token = table.remove(pool) or "pool-exhausted"
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. urlencode(token))
end

response = function(status, headers, body)
  local token = body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    pool[#pool + 1] = token
  end
end
