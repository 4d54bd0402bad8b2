--[[
  write-batch.lua: applies one speed-layer batch to the real-time view in one round trip, atomically
  (speed-layer/view.ts writeBatch builds the arguments; layout in lib/contract/views.ts and docs/CONTRACT.md, Redis).
  Called by its SHA1 digest (EVALSHA); the caller falls back to EVAL on NOSCRIPT. The script spells
  no field name: the values come encoded by lib/contract/codecs/ (latest.ts: the latest hash's
  `<vital>`, `<vital>:status`, `<vital>:ts`, the patient-wide fields and `glucoseRecent`; series.ts;
  alerts.ts: each subject's open alert under `<subject>` and its pending persistence runs under
  `<subject>:pending`, and the stream's one field `event`, written below; updates.ts). The alert
  states and pending runs are written with the readings that decided them, in this one call, so a
  replay after a crash starts from exactly the state the events were decided with.

  KEYS: for each patient p (0-based), four keys:
          KEYS[4p+1] latest hash, KEYS[4p+2] series sorted set, KEYS[4p+3] device-state hash,
          KEYS[4p+4] alert-state hash;
        then KEYS[#KEYS-2] the patients sorted set, KEYS[#KEYS-1] the alerts stream and KEYS[#KEYS]
        the view's epoch key.
  ARGV: [1] the updates channel, [2] the alert stream's approximate max length, [3] the patient count N,
        [4] the epoch the batch was computed against,
        then for each patient, in KEYS order:
          nLatest, (field, value) x nLatest       -- HSET latest
          nEntries, (score, member) x nEntries     -- ZADD series
          trimBelow                                -- ZREMRANGEBYSCORE series -inf trimBelow ('' = none)
          nDevices, (field, value) x nDevices      -- HSET device state
          nAlertSet, (field, value) x nAlertSet    -- HSET open alerts and pending runs
          nAlertDel, field x nAlertDel             -- HDEL open alerts and pending runs
          update                                   -- PUBLISH updates ('' = none)
        then nEvents, (event, update) x nEvents    -- XADD alerts MAXLEN ~, PUBLISH updates
        then nPatients, (score, id) x nPatients    -- ZADD patients GT
  Returns: N, or -1 without writing anything when the epoch key no longer holds ARGV[4]: Redis was
  wiped (or rebuilt by another instance) after the batch read its state, and writing it would put
  half a view into an empty Redis (the caller rebuilds and processes the batch again).
  Every write is idempotent (hash fields overwritten, series members pure functions of the reading,
  ZADD GT), so running the same batch twice leaves the same view.
]]
local epoch = redis.call('GET', KEYS[#KEYS])
if epoch ~= ARGV[4] then return -1 end

local i = 5
local function take()
  local v = ARGV[i]
  i = i + 1
  return v
end

-- Lua's unpack has a stack limit: send long argument lists in slices.
local SLICE = 2000
local function callWith(cmd, key, prefix, args)
  local n = #args
  local from = 1
  while from <= n do
    local to = math.min(n, from + SLICE - 1)
    if prefix ~= nil then
      redis.call(cmd, key, prefix, unpack(args, from, to))
    else
      redis.call(cmd, key, unpack(args, from, to))
    end
    from = to + 1
  end
end

local function takeList(count)
  local args = {}
  for j = 1, count do args[j] = take() end
  return args
end

local channel = ARGV[1]
local maxlen = ARGV[2]
local n = tonumber(ARGV[3])
for p = 0, n - 1 do
  local latest, series, devices, alerts = KEYS[4 * p + 1], KEYS[4 * p + 2], KEYS[4 * p + 3], KEYS[4 * p + 4]
  local c = tonumber(take())
  if c > 0 then callWith('HSET', latest, nil, takeList(2 * c)) end
  c = tonumber(take())
  if c > 0 then callWith('ZADD', series, nil, takeList(2 * c)) end
  local trim = take()
  if trim ~= '' then redis.call('ZREMRANGEBYSCORE', series, '-inf', trim) end
  c = tonumber(take())
  if c > 0 then callWith('HSET', devices, nil, takeList(2 * c)) end
  c = tonumber(take())
  if c > 0 then callWith('HSET', alerts, nil, takeList(2 * c)) end
  c = tonumber(take())
  if c > 0 then callWith('HDEL', alerts, nil, takeList(c)) end
  local update = take()
  if update ~= '' then redis.call('PUBLISH', channel, update) end
end
local e = tonumber(take())
for _ = 1, e do
  local event = take()
  local update = take()
  redis.call('XADD', KEYS[#KEYS - 1], 'MAXLEN', '~', maxlen, '*', 'event', event)
  redis.call('PUBLISH', channel, update)
end
local np = tonumber(take())
if np > 0 then callWith('ZADD', KEYS[#KEYS - 2], 'GT', takeList(2 * np)) end
return n
