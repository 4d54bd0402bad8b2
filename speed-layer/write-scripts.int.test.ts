/**
 * write-shard.lua and write-global.lua against a real Redis: the flat latest hash they write is the
 * layout the codec reads (written out literally here); a server that lost its script cache (SCRIPT
 * FLUSH, as a restart or a failover does) still gets the next batch, the scripts sent again after
 * NOSCRIPT; a shard or the view without the batch's epoch refuses the write; and a load beside
 * another connection's writes reads each patient as one whole write left it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Producer } from '@platformatic/kafka'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { pollUntil } from '../lib/backoff.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import { redisKeys, viewShard, type RedisKeys } from '../lib/contract/keys.ts'
import { decodeLatest } from '../lib/contract/codecs/latest.ts'
import { encodePending } from '../lib/contract/codecs/alerts.ts'
import { createLogger } from '../lib/log.ts'
import { connectRedis, isCluster, type RedisClient } from '../lib/redis.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { applyReadings, emptyPatient, type PatientRuntime } from './patients.ts'
import { DEFAULT_SPEED_OPTIONS, start } from './index.ts'
import { WRITE_GLOBAL_SCRIPT, WRITE_SHARD_SCRIPT, batchCalls, epochKey, loadPatients, setShardEpochs, writeBatch, type PatientChange } from './view.ts'
import type { AlertEvent } from '../lib/contract/views.ts'

const T = 1_763_805_600_000
const options = { seriesWindowMs: 900_000, alertStreamMaxLen: 10_000, news2FreshnessMs: DEFAULT_SPEED_OPTIONS.news2FreshnessMs }

function reading(patientId: string, seq: number, ts: number, vitals: Reading['vitals']): Reading {
  return { v: 1, patientId, deviceId: `dev-${patientId}`, ts, seq, vitals }
}

function changeOf(runtime: PatientRuntime, readings: Reading[]): PatientChange {
  const accepted = readings.map((reading) => ({ reading, noSignal: [], arrivedAt: reading.ts }))
  return { runtime, outcome: applyReadings(runtime, accepted, DEFAULT_SPEED_OPTIONS) }
}

/**
 * Whether the batch scripts are cached where the patient's batch ran them: on a Redis Cluster, the
 * server of the patient's view shard (write-shard.lua) and the one of the `{view}` slot (write-global.lua).
 */
async function scriptCached(redis: RedisClient, keys: RedisKeys, patientId: string): Promise<boolean> {
  const cachedOn = async (key: string, sha1: string) => {
    const server = isCluster(redis) ? await redis.getNodeClientForKey(key) : redis
    return (await server.scriptExists([sha1]))[0] === 1
  }
  return (await cachedOn(keys.latest(patientId), WRITE_SHARD_SCRIPT.sha1)) && (await cachedOn(keys.viewEpoch, WRITE_GLOBAL_SCRIPT.sha1))
}

/** A batch's calls built and sent, as the speed layer's processor does. */
function writeWith(redis: RedisClient, keys: RedisKeys) {
  return (changes: PatientChange[], events: AlertEvent[], epoch: string) => writeBatch(redis, keys, batchCalls(keys, changes, events, options, epoch), epoch)
}

/** The view's epoch, globally and in every shard, as the speed layer's rebuild sets it. */
async function setEpoch(redis: RedisClient, keys: RedisKeys, epoch: string): Promise<void> {
  await redis.set(epochKey(keys), epoch)
  await setShardEpochs(redis, keys, epoch)
}

describe('the batch scripts', () => {
  let env: TestEnv
  let redis: RedisClient
  let keys: RedisKeys
  let write: ReturnType<typeof writeWith>

  beforeEach(async () => {
    env = await createTestEnv()
    redis = await connectRedis(env.config)
    keys = redisKeys(env.config.redisPrefix)
    write = writeWith(redis, keys)
  })
  afterEach(async () => {
    redis.destroy()
    await env.cleanup()
  })

  it('writes the latest hash field by field as the codec decodes it, and the next batch after SCRIPT FLUSH', async () => {
    await setEpoch(redis, keys, 'epoch-1')
    const p = emptyPatient('p-lua')
    // A heart rate of 75 a second before: the 112 is not the vital's first value, so it is not judged on its own.
    const firstBatch = [reading('p-lua', 0, T - 1_000, { heartRate: 75 }), reading('p-lua', 1, T, { heartRate: 112, spo2: 96 })]
    expect(await write([changeOf(p, firstBatch)], [], 'epoch-1')).toBe(true)
    const first = {
      status: 'WARNING',
      ts: '1763805600000',
      news2: '2',
      news2Risk: '',
      news2Complete: '0',
      news2Counted: 'spo2,heartRate',
      news2Missing: 'respRate,onOxygen,systolic,consciousness,temperature',
      news2Old: '',
      news2Scale: '1',
      news2Scores: '{"spo2":0,"heartRate":2}',
      onOxygen: '',
      'onOxygen:ts': '',
      consciousness: '',
      'consciousness:ts': '',
      'glucoseTrend:rate': '',
      'glucoseTrend:arrow': '',
      'glucoseTrend:ts': '',
      risk: '',
      'risk:ts': '',
      riskModel: '',
      riskTop: '',
      riskRecent: '',
      heartRate: '112',
      'heartRate:status': 'WARNING',
      'heartRate:ts': '1763805600000',
      spo2: '96',
      'spo2:status': 'NORMAL',
      'spo2:ts': '1763805600000',
      glucoseRecent: '[]',
    }
    expect(await redis.hGetAll(keys.latest('p-lua'))).toEqual(first)
    // HR 112 is out of NORMAL for the first second: no alert yet, its pending run written with the reading.
    const run = { outSince: T, criticalSince: null, inSince: null, belowCriticalSince: null }
    expect(await redis.hGetAll(keys.alertState('p-lua'))).toEqual({ 'heartRate:pending': encodePending(run) })
    expect(await scriptCached(redis, keys, 'p-lua')).toBe(true)

    await redis.scriptFlush()
    expect(await scriptCached(redis, keys, 'p-lua')).toBe(false)
    expect(await write([changeOf(p, [reading('p-lua', 2, T + 1_000, { heartRate: 75 })])], [], 'epoch-1')).toBe(true)
    const second = {
      ...first,
      status: 'NORMAL',
      news2: '0',
      news2Scores: '{"spo2":0,"heartRate":0}',
      ts: '1763805601000',
      heartRate: '75',
      'heartRate:status': 'NORMAL',
      'heartRate:ts': '1763805601000',
    }
    expect(await redis.hGetAll(keys.latest('p-lua'))).toEqual(second)
    // Back in NORMAL: a WARNING run ends at its first value back, and its pending field is deleted in the same call.
    expect(await redis.hGetAll(keys.alertState('p-lua'))).toEqual({})
    expect(decodeLatest('p-lua', second)).toMatchObject({
      patientId: 'p-lua',
      ts: T + 1_000,
      status: 'NORMAL',
      news2: { score: 0, risk: null, complete: false, counted: ['spo2', 'heartRate'] },
      vitals: { heartRate: { value: 75, status: 'NORMAL', ts: T + 1_000 }, spo2: { value: 96, status: 'NORMAL', ts: T } },
    })
    expect(await redis.zCard(keys.series('p-lua'))).toBe(3)
    expect(await scriptCached(redis, keys, 'p-lua')).toBe(true)
  })

  it('writes nothing against an epoch Redis no longer holds, with or without the script cached', async () => {
    await setEpoch(redis, keys, 'epoch-2')
    await redis.scriptFlush()
    const p = emptyPatient('p-fenced')
    expect(await write([changeOf(p, [reading('p-fenced', 1, T, { heartRate: 70 })])], [], 'epoch-1')).toBe(false)
    expect(await write([changeOf(p, [reading('p-fenced', 2, T + 1, { heartRate: 70 })])], [], 'epoch-1')).toBe(false)
    expect(await redis.exists([keys.latest('p-fenced'), keys.series('p-fenced'), keys.patients])).toBe(0)
    // Refused by shards holding another epoch than the batch's: that epoch is kept (another instance rebuilt the view under it).
    expect(await redis.get(epochKey(keys))).toBe('epoch-2')
  })

  it('refuses a shard that lost its copy of the epoch, and drops the epoch so that the whole view is rebuilt', async () => {
    await setEpoch(redis, keys, 'epoch-1')
    const lost = emptyPatient('p-lost')
    const kept = emptyPatient('p-kept-0')
    for (let k = 1; viewShard(kept.patientId) === viewShard(lost.patientId); k++) kept.patientId = `p-kept-${k}`
    // The shard of p-lost restarted empty (a cluster master), the rest of the view did not.
    await redis.del(keys.shardEpoch(viewShard(lost.patientId)))
    const changes = [changeOf(lost, [reading('p-lost', 1, T, { heartRate: 70 })]), changeOf(kept, [reading(kept.patientId, 1, T, { heartRate: 70 })])]
    expect(await write(changes, [], 'epoch-1')).toBe(false)
    expect(await redis.exists(keys.latest('p-lost'))).toBe(0)
    expect(await redis.get(epochKey(keys))).toBeNull()
  })

  it('announces and indexes a batch before storing it: a shard that holds the batch means the global call landed', async () => {
    await setEpoch(redis, keys, 'epoch-1')
    const p = emptyPatient('p-order')
    // The shard refuses (its master restarted empty): the global call, sent first, has landed.
    await redis.del(keys.shardEpoch(viewShard(p.patientId)))
    expect(await write([changeOf(p, [reading('p-order', 1, T, { heartRate: 70 })])], [], 'epoch-1')).toBe(false)
    expect(await redis.zScore(keys.patients, 'p-order')).toBe(T)
    expect(await redis.exists(keys.latest('p-order'))).toBe(0)
    // The replay, from the state Redis holds (none for this patient): the reading is new again, written in full.
    await setEpoch(redis, keys, 'epoch-2')
    const again = emptyPatient('p-order')
    const calls = batchCalls(keys, [changeOf(again, [reading('p-order', 1, T, { heartRate: 70 })])], [], options, 'epoch-2')
    expect(calls.shards).toHaveLength(1)
    expect(await writeBatch(redis, keys, calls, 'epoch-2')).toBe(true)
    expect(await redis.hGet(keys.latest('p-order'), 'heartRate')).toBe('70')
  })

  it("reads each patient's hashes as one write left them while another connection writes", async () => {
    // Another instance's batch landing in the middle of a patient's load (device state after the
    // write, latest hash before it) would make the loader skip readings as duplicates whose effect
    // it never saw. Every round here moves each patient's device seq and latest time together.
    await setEpoch(redis, keys, 'epoch-1')
    const other = await connectRedis(env.config)
    const ids = Array.from({ length: 400 }, (_, k) => `p-torn-${k}`)
    const patients = ids.map((id) => emptyPatient(id))
    const rounds = 60
    let torn = 0
    let loads = 0
    let done = false
    try {
      const writer = (async () => {
        for (let r = 1; r <= rounds; r++) {
          const changes = patients.map((p) => changeOf(p, [reading(p.patientId, r, T + r * 1_000, { heartRate: 70 + (r % 5) })]))
          expect(await writeBatch(other, keys, batchCalls(keys, changes, [], options, 'epoch-1'), 'epoch-1')).toBe(true)
        }
        done = true
      })()
      while (!done) {
        const loaded = await loadPatients(redis, keys, ids, new Set(ids))
        loads++
        for (const p of loaded.loaded.values()) {
          const seq = p.devices.get(`dev-${p.patientId}`)?.seq ?? 0
          if (p.ts !== (seq === 0 ? 0 : T + seq * 1_000)) torn++
        }
      }
      await writer
    } finally {
      other.destroy()
    }
    expect(loads).toBeGreaterThan(5)
    expect(torn).toBe(0)
  })

  it('lands the speed layer batch that follows a SCRIPT FLUSH', async () => {
    const producer = new Producer({ ...kafkaBaseOptions(env.config, 'test-producer'), idempotent: true, acks: -1 })
    const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr })
    const layer = await start({ ...env.config, speed: { ...DEFAULT_SPEED_OPTIONS, housekeepingIntervalMs: 300 } }, { log })
    const send = (r: Reading) =>
      producer.send({ messages: [{ topic: env.topics.readings, key: Buffer.from(r.patientId), value: Buffer.from(JSON.stringify(r)) }] })
    const latestTs = async () => (await redis.hGet(keys.latest('p-flush'), 'ts')) ?? null
    try {
      const now = Date.now()
      await send(reading('p-flush', 1, now - 2_000, { heartRate: 72 }))
      await pollUntil(async () => (await latestTs()) === String(now - 2_000), { timeoutMs: 30_000, what: 'the first batch in Redis' })
      await redis.scriptFlush()
      await send(reading('p-flush', 2, now - 1_000, { heartRate: 131 }))
      await pollUntil(async () => (await latestTs()) === String(now - 1_000), { timeoutMs: 30_000, what: 'the batch after SCRIPT FLUSH in Redis' })
      expect(await redis.hGet(keys.latest('p-flush'), 'heartRate:status')).toBe('CRITICAL_HIGH')
      expect(await redis.zCard(keys.series('p-flush'))).toBe(2)
    } finally {
      await layer.stop()
      await producer.close()
    }
  })
})
