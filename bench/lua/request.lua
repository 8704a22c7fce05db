-- wrk script for Keyturn's benchmark: one fixed request, then one JSON line of results.
-- env: METHOD (default GET), BODY (optional), HEADERS (lines "Name: value", optional),
--      LABEL (tag copied into the JSON line).
-- The done() line follows shared/peers/oidc-provider/post.lua field for field, so the
-- harness (bench/harness/load.py) parses Keyturn's and the peer's runs the same way.
wrk.method = os.getenv("METHOD") or "GET"
local body = os.getenv("BODY")
if body and body ~= "" then
  wrk.body = body
end
for line in (os.getenv("HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write
             + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'JSON {"label":"%s","requests":%d,"duration_s":%.2f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,"non2xx":%d,"sock_errors":%d}\n',
    os.getenv("LABEL") or "", summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, latency.mean / 1000,
    summary.errors.status, errs - summary.errors.status))
end
