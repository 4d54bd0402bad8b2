--[[
  write-shard.lua: applies one view shard's part of a speed-layer batch in one call, atomically
  (speed-layer/view.ts writeBatch builds the arguments; layout in lib/contract/views.ts and
  docs/CONTRACT.md, Redis). Every key it names carries the shard's hash tag (`{v<n>}`), so on a
  Redis Cluster the call stays in one slot; write-global.lua writes the keys that are not per
  patient. Called by its SHA1 digest (EVALSHA); the caller falls back to EVAL on NOSCRIPT. The script
  spells no field name: the values come encoded by lib/contract/codecs/ (latest.ts, series.ts,
  alerts.ts). The alert states and pending runs are written with the readings that decided them, in
  this one call, so a replay after a crash starts from exactly the state the events were decided with.

  KEYS: [1] the shard's copy of the view's epoch, then for each patient p (0-based), four keys:
          KEYS[4p+2] latest hash, KEYS[4p+3] series sorted set, KEYS[4p+4] device-state hash,
          KEYS[4p+5] alert-state hash.
  ARGV: [1] the epoch the batch was computed against, [2] the patient count N,
        then for each patient, in KEYS order:
          nLatest, (field, value) x nLatest       -- HSET latest
          nEntries, (score, member) x nEntries     -- ZADD series
          trimBelow                                -- ZREMRANGEBYSCORE series -inf trimBelow ('' = none)
          nDevices, (field, value) x nDevices      -- HSET device state
          nAlertSet, (field, value) x nAlertSet    -- HSET open alerts and pending runs
          nAlertDel, field x nAlertDel             -- HDEL open alerts and pending runs
  Returns: N, or -1 without writing anything when the shard's epoch key does not hold ARGV[1]: the
  shard was wiped (Redis, or on a cluster its master, restarted empty) or rebuilt under another
  epoch after the batch read its state, and writing would put half a view into an empty shard.
  Every write is idempotent (hash fields overwritten, series members pure functions of the reading),
  so running the same batch twice leaves the same view.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end

local i = 3
local function take()
  local v = ARGV[i]
  i = i + 1
  return v
end

-- Lua's unpack has a stack limit: send long argument lists in slices.
local SLICE = 2000
local function callWith(cmd, key, args)
  local n = #args
  local from = 1
  while from <= n do
    local to = math.min(n, from + SLICE - 1)
    redis.call(cmd, key, unpack(args, from, to))
    from = to + 1
  end
end

local function takeList(count)
  local args = {}
  for j = 1, count do args[j] = take() end
  return args
end

local n = tonumber(ARGV[2])
for p = 0, n - 1 do
  local latest, series, devices, alerts = KEYS[4 * p + 2], KEYS[4 * p + 3], KEYS[4 * p + 4], KEYS[4 * p + 5]
  local c = tonumber(take())
  if c > 0 then callWith('HSET', latest, takeList(2 * c)) end
  c = tonumber(take())
  if c > 0 then callWith('ZADD', series, takeList(2 * c)) end
  local trim = take()
  if trim ~= '' then redis.call('ZREMRANGEBYSCORE', series, '-inf', trim) end
  c = tonumber(take())
  if c > 0 then callWith('HSET', devices, takeList(2 * c)) end
  c = tonumber(take())
  if c > 0 then callWith('HSET', alerts, takeList(2 * c)) end
  c = tonumber(take())
  if c > 0 then callWith('HDEL', alerts, takeList(c)) end
end
return n
