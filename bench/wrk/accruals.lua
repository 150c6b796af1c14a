-- POST /v1/accruals with a unique transaction id per request, spread over MEMBERS members.
local counter = 0
thread_id = 0  -- set per thread by setup(); a global so thread:set reaches it
local members = tonumber(os.getenv("BENCH_MEMBERS") or "1000")
local token = os.getenv("BENCH_TOKEN")
local occurred_at = os.getenv("BENCH_OCCURRED_AT")
local run = os.getenv("BENCH_RUN") or "r"
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local member = (counter * 7919 + thread_id) % members
  local body = string.format(
    '{"transaction_id":"%s-%d-%d","member_id":"bm%d","amount":"12.34","currency":"EUR","occurred_at":"%s"}',
    run, thread_id, counter, member, occurred_at)
  return wrk.format("POST", "/v1/accruals",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

-- BENCH_DELAY_MS > 0: each connection pauses that long between requests (a steady rate).
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return pause
  end
end
