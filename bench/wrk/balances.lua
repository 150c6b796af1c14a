-- GET /v1/members/{id}/balance over MEMBERS members.
local counter = 0
local members = tonumber(os.getenv("BENCH_MEMBERS") or "1000")
local token = os.getenv("BENCH_TOKEN")

function request()
  counter = counter + 1
  return wrk.format("GET", string.format("/v1/members/bm%d/balance", counter % members),
    {["Authorization"] = "Bearer " .. token})
end

-- BENCH_DELAY_MS > 0: each connection pauses that long between requests (a steady rate).
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return pause
  end
end
