-- GET /v1/members/{id}/balance over MEMBERS members.
local counter = 0
local members = tonumber(os.getenv("BENCH_MEMBERS") or "1000")
local token = os.getenv("BENCH_TOKEN")

function request()
  counter = counter + 1
  return wrk.format("GET", string.format("/v1/members/bm%d/balance", counter % members),
    {["Authorization"] = "Bearer " .. token})
end
