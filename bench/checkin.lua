-- wrk script: each request checks in as a random enrolled agent.
-- CREDENTIALS names a file of agent credentials, one a line.
local credentials = {}
for line in io.lines(os.getenv("CREDENTIALS")) do
  credentials[#credentials + 1] = line
end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

request = function()
  local credential = credentials[math.random(#credentials)]
  local body = '{"clock":"' .. os.date("!%Y-%m-%dT%H:%M:%SZ") .. '"}'
  local headers = {
    ["Authorization"] = "Bearer " .. credential,
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/api/agent/v1/check-in", headers, body)
end
