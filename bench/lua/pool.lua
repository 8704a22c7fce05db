-- wrk script for grants that spend a single-use value per request (scenario 6): authorization
-- codes, refresh tokens. Each request takes one value from the pool; with POOL_NEXT set, the
-- value of that JSON field in each answer (the rotated refresh token) goes back into the pool.
-- wrk calls response() before it asks request() for that connection's next request, so with at
-- least as many values as connections, every value is sent exactly once.
-- When the pool runs dry the thread stops, and the rate is computed over the time until then.
-- env: TOKENS_FILE (one value a line), POOL_BODY (form body before the url-encoded value),
--      POOL_NEXT (optional JSON field to recycle), HEADERS, LABEL (see request.lua).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "request.lua")  -- headers from HEADERS and the JSON done() reporter
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } kt_timespec;
  int clock_gettime(int clk_id, kt_timespec *tp);
]]
local ts = ffi.new("kt_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local threads = {}
setup = function(thread)
  threads[#threads + 1] = thread
end

local pool, prefix, recycle = {}, os.getenv("POOL_BODY") or "", os.getenv("POOL_NEXT")
local started
dry_after_us = nil  -- read by done() through thread:get
dry_answers = 0     -- error answers to the requests sent after that (not counted)

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
  started = started or now_us()
  local value = table.remove(pool)
  if not value then
    dry_after_us = dry_after_us or (now_us() - started)
    wrk.thread:stop()
    value = "pool-ran-dry"
  end
  return wrk.format(nil, nil, nil, prefix .. urlencode(value))
end

response = function(status, headers, body)
  if dry_after_us and status >= 400 then
    dry_answers = dry_answers + 1
  end
  if recycle and body then
    local value = body:match('"' .. recycle .. '"%s*:%s*"([^"]+)"')
    if value then
      pool[#pool + 1] = value
    end
  end
end

local report = done
done = function(summary, latency, requests)
  local dry = threads[1] and threads[1]:get("dry_after_us")
  if dry then
    -- Count only the time and the answers before the pool ran dry.
    local extra = threads[1]:get("dry_answers") or 0
    summary.duration = dry
    summary.requests = math.max(0, summary.requests - extra)
    summary.errors.status = math.max(0, summary.errors.status - extra)
    io.write(string.format("POOL ran dry after %.2f s\n", dry / 1e6))
  end
  report(summary, latency, requests)
end
