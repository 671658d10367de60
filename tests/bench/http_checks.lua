-- wrk script of bench_http.py: POSTs JSON bodies (one per line of a file) in turn, on
-- keep-alive connections, and prints the run's figures as one JSON line.
-- wrk -t1 -c16 -d10s -s http_checks.lua URL -- BODIES_FILE TOKEN PATH

local requests = {}
local next_index = 1

function init(args)
  local headers = {["Content-Type"] = "application/json"}
  if args[2] ~= "" then
    headers["Authorization"] = "Token " .. args[2]
  end
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("POST", args[3], headers, line)
  end
  next_index = math.random(#requests)  -- each thread starts elsewhere in the list
end

function request()
  local req = requests[next_index]
  next_index = next_index % #requests + 1
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
