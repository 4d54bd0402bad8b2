--[[
  write-global.lua: the part of a speed-layer batch that is not per patient, in one call sent just
  before the shards' (write-shard.lua; speed-layer/view.ts writeBatch builds the arguments and says
  why this order): the alert events, the patients' newest event times, and the batch's `readings` updates
  (one, or a few for a batch too large for one message). Its keys share no hash tag with the
  shards', so on a Redis Cluster it is a call of its own.

  KEYS: [1] the view's epoch key, [2] the patients sorted set, [3] the alerts stream.
  ARGV: [1] the epoch the batch was computed against, [2] the updates channel, [3] the alert
        stream's approximate max length,
        then nUpdates, update x nUpdates           -- PUBLISH updates: the batch's `readings` updates
        then nEvents, (event, update) x nEvents    -- XADD alerts MAXLEN ~, PUBLISH updates
        then nPatients, (score, id) x nPatients    -- ZADD patients GT
  Returns: the number of events, or -1 without writing anything when the epoch key no longer holds
  ARGV[1] (Redis wiped, or the view rebuilt under another epoch, after the batch read its state).
  Idempotent but for the stream (a replay appends an event again, with its id: consumers key on it).
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end

local channel = ARGV[2]
local maxlen = ARGV[3]
local i = 4
local u = tonumber(ARGV[i])
for k = 1, u do redis.call('PUBLISH', channel, ARGV[i + k]) end
i = i + u + 1
local e = tonumber(ARGV[i])
for k = 1, e do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'event', ARGV[i + 2 * k - 1])
  redis.call('PUBLISH', channel, ARGV[i + 2 * k])
end
i = i + 2 * e + 1
local np = tonumber(ARGV[i])
-- Lua's unpack has a stack limit: long lists go in slices.
local SLICE = 2000
local from = i + 1
local last = i + 2 * np
while from <= last do
  local to = math.min(last, from + SLICE - 1)
  redis.call('ZADD', KEYS[2], 'GT', unpack(ARGV, from, to))
  from = to + 1
end
return e
