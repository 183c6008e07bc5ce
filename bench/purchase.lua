-- wrk script: POST /v1/indicia with a fresh Idempotency-Key per request.
-- The key comes from the environment (STAMP_KEY) via bench/run.sh.
local counter = 0
local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   key = os.getenv("STAMP_KEY")
   body = '{"mail_class":"first_class_letter","weight_oz":1,"from_zip":"94107","to_zip":"10001"}'
   created, failed = 0, 0
end

function request()
   counter = counter + 1
   local headers = {
      ["Authorization"] = "Bearer " .. key,
      ["Idempotency-Key"] = "bench-" .. tid .. "-" .. counter .. "-" .. os.time(),
      ["Content-Type"] = "application/json",
   }
   return wrk.format("POST", "/v1/indicia", headers, body)
end

function response(status, headers, body)
   if status == 201 then created = created + 1 else failed = failed + 1 end
end

function done(summary, latency, requests)
   local c, f = 0, 0
   for _, t in ipairs(threads) do
      c = c + t:get("created")
      f = f + t:get("failed")
   end
   io.write(string.format("created %d, refused %d\n", c, f))
   io.write(string.format("latency p50 %.1f ms, p99 %.1f ms\n",
      latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
