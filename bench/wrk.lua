-- wrk.lua: one request shape per wrk run, for both servers in bench/compare.sh.
-- Environment: WRK_METHOD (default GET), WRK_BODY (JSON, optional), WRK_AUTH (the whole
-- Authorization header value, optional: "Bearer <token>" for EmoteChat, the bare token for
-- PocketBase), and optionally WRK_PATH with an "{id}" in it and WRK_IDS "FIRST:LAST": each
-- request then goes to WRK_PATH with a random id from that range in place of "{id}".
-- done() prints one line "WRKJSON {...}" that compare.py parses.
wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local auth = os.getenv("WRK_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

local template = os.getenv("WRK_PATH")
local first, last = string.match(os.getenv("WRK_IDS") or "", "^(%d+):(%d+)$")
if template ~= nil and template ~= "" and first ~= nil then
  first, last = tonumber(first), tonumber(last)
  function setup(thread)
    thread:set("seed", math.random(1, 1000000))
  end
  function init(args)
    math.randomseed(seed or os.time())
  end
  function request()
    local path = string.gsub(template, "{id}", tostring(math.random(first, last)))
    return wrk.format(nil, path)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'WRKJSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,' ..
    '"errors":%d,"non2xx":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    e.connect + e.read + e.write + e.timeout, e.status))
end
