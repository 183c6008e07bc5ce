-- wrk script for bench/run.sh: POST /v1/indicia, a fresh Idempotency-Key per
-- request, the customers' keys (STAMP_KEYS, comma-separated) taken in turn;
-- IDEM_KEYS=random (the default) starts each Idempotency-Key with 64 random bits, as
-- a client's UUIDv4 keys fall at random in the store's index of keys;
-- IDEM_KEYS=counter sends "bench-THREAD-COUNTER-TIME", the keys of the bench before
-- session 24, which fall near each other in that index (docs/performance.md);
-- CARD=1: each purchase pays by card (the sandbox gateway) instead of the balance;
-- RATE=N: all connections together ask for N purchases a second, on a schedule
-- (WRK_THREADS=T, default 2: wrk's -t): each thread sends its next request when it
-- is due, whatever the last answer's latency, for the latency at a given rate rather
-- than at the most the server can do. (A pause after each answer instead, as before
-- session 19, asked for less than meant wherever answers took long.)
-- REFUSE=1: every request's body has a member no purchase has ("refuse"), so stampd
-- checks its key, parses and checks the body and answers 400 unknown_field, with no
-- fingerprint, no store and no job dispatched (run.sh's ceiling: what that part of a
-- purchase alone costs the machine).
local counter = 0
local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   keys = {}
   for k in string.gmatch(os.getenv("STAMP_KEYS") or os.getenv("STAMP_KEY") or "", "[^,]+") do
      table.insert(keys, k)
   end
   local pay = ""
   if os.getenv("CARD") == "1" then
      pay = ',"payment":{"method":"card","card":{"number":"4242424242424242","exp_month":12,' ..
            '"exp_year":2031,"cvc":"123","zip":"94107"}}'
   end
   -- REFUSE=1: the same body with a member no purchase has, refused at the body's
   -- check (run.sh's ceiling).
   local extra = os.getenv("REFUSE") == "1" and ',"refuse":true' or ""
   body = '{"mail_class":"first_class_letter","weight_oz":1,"from_zip":"94107","to_zip":"10001"' ..
          pay .. extra .. '}'
   created, failed = 0, 0
   counter_keys = os.getenv("IDEM_KEYS") == "counter"
   -- Each thread of each wrk run its own sequence: LuaJIT seeds every state alike.
   math.randomseed(os.time() * 7919 + tid * 104729 + math.floor(os.clock() * 1000000))
   codes = {}
end

local rate = tonumber(os.getenv("RATE") or "")
if rate and rate > 0 then
   local ffi = require("ffi")
   ffi.cdef [[
      typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
      int clock_gettime(int clock, bench_timespec *ts);
   ]]
   local ts = ffi.new("bench_timespec")
   local step = (tonumber(os.getenv("WRK_THREADS") or "") or 2) * 1000 / rate
   local due

   local function now_ms()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
   end

   -- This thread's next request is due one step after its last; more than a second
   -- behind (the server stalled), the schedule starts again from now.
   function delay()
      local now = now_ms()
      if not due or due < now - 1000 then
         due = now
      end
      local wait = due - now
      due = due + step
      return math.max(0, math.floor(wait)) -- wrk takes it as an unsigned number
   end
end

-- Unique within a run and across runs (thread, counter, second); the random
-- prefix decides where the key falls in the index.
function idem_key()
   if counter_keys then
      return "bench-" .. tid .. "-" .. counter .. "-" .. os.time()
   end
   return string.format("%04x%04x%04x%04x-%d-%d-%d", math.random(0, 0xffff),
                        math.random(0, 0xffff), math.random(0, 0xffff), math.random(0, 0xffff),
                        tid, counter, os.time())
end

function request()
   counter = counter + 1
   local headers = {
      ["Authorization"] = "Bearer " .. keys[(counter + tid) % #keys + 1],
      ["Idempotency-Key"] = idem_key(),
      ["Content-Type"] = "application/json",
   }
   return wrk.format("POST", "/v1/indicia", headers, body)
end

function response(status, headers, body)
   if status == 201 then
      created = created + 1
   else
      failed = failed + 1
      local code = string.match(body or "", '"code"%s*:%s*"([^"]+)"') or tostring(status)
      codes[code] = (codes[code] or 0) + 1
   end
end

function done(summary, latency, requests)
   local c, f = 0, 0
   for _, t in ipairs(threads) do
      c = c + t:get("created")
      f = f + t:get("failed")
   end
   io.write(string.format("created %d, refused %d\n", c, f))
   local all, parts = {}, {}
   for _, t in ipairs(threads) do
      for k, v in pairs(t:get("codes") or {}) do all[k] = (all[k] or 0) + v end
   end
   for k, v in pairs(all) do table.insert(parts, k .. " " .. v) end
   if #parts > 0 then io.write("refusals: " .. table.concat(parts, ", ") .. "\n") end
   io.write(string.format("latency p50 %.1f ms, p99 %.1f ms\n",
      latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
