/**
 * What only a Redis Cluster can show (run by the `integration-redis-cluster` project against the
 * test cluster of stack/redis-cluster.ts; vitest.config.ts), beside the view tests that project
 * repeats there: the cluster refuses a transaction across slots (so a view test that sent one
 * would fail there); `vigil init` deletes the prefix's keys on every master and nothing else;
 * `vigil patient set` writes the bands through a URL naming one node, and the batch job reads them
 * back from every master; and a master that restarts empty under a running speed layer (idle, or
 * with a batch on its way to it) has its shards rebuilt from Kafka, the view exactly as before, no
 * alert raised again, and the `updates` channel heard across the cluster.
 */
import { spawn } from 'node:child_process'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Producer, type MessageToProduce } from '@platformatic/kafka'
import { readBandOverrides } from '../batch-layer/band-overrides.ts'
import { parseBandSpec } from '../lib/bands.ts'
import { writePatientBands } from '../lib/band-store.ts'
import { pollUntil } from '../lib/backoff.ts'
import { decodeAlertEntry } from '../lib/contract/codecs/alerts.ts'
import { VIEW_SHARDS, redisKeys, viewShard, type RedisKeys } from '../lib/contract/keys.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import { createLogger } from '../lib/log.ts'
import { connectRedis, isCluster, scanKeys, type RedisClient, type RedisClusterClient } from '../lib/redis.ts'
import { DEFAULT_SPEED_OPTIONS, start, type SpeedLayer } from '../speed-layer/index.ts'
import { REDIS_CLUSTER_PORTS, redisClusterHealthy, restartRedisClusterNodeEmpty } from '../stack/redis-cluster.ts'
import { createTestEnv, type TestEnv } from './support.ts'

type Out = MessageToProduce<Buffer, Buffer, Buffer, Buffer>

const envs: TestEnv[] = []
const clients: RedisClient[] = []

async function testEnv(): Promise<TestEnv> {
  const e = await createTestEnv()
  envs.push(e)
  return e
}

/** A cluster client of the test env (the project points VIGIL_TEST_REDIS_URL at the test cluster). */
async function clusterOf(e: TestEnv): Promise<RedisClusterClient> {
  const redis = await connectRedis(e.config)
  clients.push(redis)
  if (!isCluster(redis)) throw new Error(`${e.config.redisUrl} is not a Redis Cluster: run this file in the integration-redis-cluster project`)
  return redis
}

/** The port of the master serving `key`'s slot. */
async function masterPort(redis: RedisClusterClient, key: string): Promise<number> {
  const slot = Number(await redis.sendCommand(key, true, ['CLUSTER', 'KEYSLOT', key]))
  const shard = redis.slots[slot]
  if (shard === undefined) throw new Error(`no master serves slot ${slot}`)
  return shard.master.port
}

/** Per master port, the keys under `match` it holds. */
async function keysPerMaster(redis: RedisClusterClient, match: string): Promise<Map<number, Set<string>>> {
  const out = new Map<number, Set<string>>()
  for (const master of redis.masters) {
    const server = await redis.nodeClient(master)
    const found = new Set<string>()
    for await (const batch of server.scanIterator({ MATCH: match, COUNT: 1_000 })) for (const k of batch) found.add(k)
    out.set(master.port, found)
  }
  return out
}

/** Runs `vigil` with the env's prefixes against `redisUrl`. */
function vigil(e: TestEnv, redisUrl: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/vigil.js', ...args], {
    env: {
      ...process.env,
      VIGIL_REDIS_URL: redisUrl,
      VIGIL_TOPIC_PREFIX: e.config.topicPrefix,
      VIGIL_REDIS_PREFIX: e.config.redisPrefix,
      VIGIL_DATALAKE_DIR: e.config.datalakeDir,
      VIGIL_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  for (const e of envs.splice(0)) await e.cleanup()
})

describe('the test Redis Cluster', () => {
  it('is a cluster of three masters that refuses a transaction spanning two hash slots', async () => {
    const e = await testEnv()
    const redis = await clusterOf(e)
    const keys = redisKeys(e.config.redisPrefix)
    // Three masters among the stack's six nodes (which three may change with a failover).
    expect(redis.masters.filter((m) => REDIS_CLUSTER_PORTS.includes(m.port))).toHaveLength(3)
    // The patients index and a patient's latest hash: `{view}` and `{v<n>}`, two slots.
    await expect(redis.multi().zAdd(keys.patients, { score: 1, value: 'p-1' }).hSet(keys.latest('p-1'), { ts: '1' }).exec()).rejects.toThrow()
    // One slot: accepted.
    expect(await redis.multi().hSet(keys.latest('p-1'), { ts: '1' }).zAdd(keys.series('p-1'), { score: 1, value: 'x' }).exec()).toEqual([1, 1])
  })
})

describe('vigil init on a Redis Cluster', () => {
  it("deletes the prefix's keys on every master and leaves another prefix's keys alone", async () => {
    const mine = await testEnv()
    const other = await testEnv()
    const redis = await clusterOf(mine)
    const write = async (keys: RedisKeys) => {
      const ids = Array.from({ length: 60 }, (_, i) => `p-${i}`)
      await Promise.all([
        ...ids.map((id) => redis.hSet(keys.latest(id), { ts: '1' })),
        ...ids.map((id) => redis.hSet(keys.bands(id), { spo2: '[]' })),
        redis.zAdd(keys.patients, { score: 1, value: 'p-0' }),
        redis.set(keys.other('speed', 'rebuilt'), 'x'),
      ])
      return 2 * ids.length + 2
    }
    const written = await write(redisKeys(mine.config.redisPrefix))
    const kept = await write(redisKeys(other.config.redisPrefix))
    const before = await keysPerMaster(redis, redisKeys(mine.config.redisPrefix).everything)
    // The prefix's keys are spread over all three masters: a SCAN of one server would miss some.
    expect([...before.values()].map((s) => s.size > 0)).toEqual([true, true, true])

    // A URL naming one node of the cluster: `vigil init` finds the cluster from it.
    const run = await vigil(mine, `redis://127.0.0.1:${REDIS_CLUSTER_PORTS[1]}`, ['init', '--yes'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toContain(`Redis keys deleted under "${mine.config.redisPrefix}": ${written}`)
    const after = await keysPerMaster(redis, redisKeys(mine.config.redisPrefix).everything)
    expect([...after.values()].map((s) => s.size)).toEqual([0, 0, 0])
    const others: string[] = []
    for await (const batch of scanKeys(redis, redisKeys(other.config.redisPrefix).everything)) others.push(...batch)
    expect(new Set(others).size).toBe(kept)
  })
})

describe('vigil patient set on a Redis Cluster', () => {
  it("writes the patient's bands and bumps the bands version through a URL naming one node", async () => {
    const e = await testEnv()
    const redis = await clusterOf(e)
    const keys = redisKeys(e.config.redisPrefix)
    const run = await vigil(e, `redis://127.0.0.1:${REDIS_CLUSTER_PORTS[2]}`, ['patient', 'set', 'p-copd', '--band', 'spo2:news2-scale2', '--reason', 'COPD'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(Object.keys(await redis.hGetAll(keys.bands('p-copd')))).toEqual(['spo2'])
    expect(await redis.get(keys.bandsVersion)).toBe('1')
  })
})

describe('the batch job on a Redis Cluster', () => {
  it("reads every patient's band overrides, from every master", async () => {
    const e = await testEnv()
    const redis = await clusterOf(e)
    const keys = redisKeys(e.config.redisPrefix)
    const ids = Array.from({ length: 30 }, (_, i) => `p-${i}`)
    for (const id of ids) await writePatientBands(redis, keys, id, [parseBandSpec('spo2:news2-scale2')])
    expect(new Set(await Promise.all(ids.map((id) => masterPort(redis, keys.bands(id))))).size).toBe(3)
    const read = await readBandOverrides(redis, keys)
    expect([...read.keys()].sort()).toEqual([...ids].sort())
    expect(Object.keys(read.get('p-7') ?? {})).toEqual(['spo2'])
  })
})

describe('the speed layer on a Redis Cluster', () => {
  let env: TestEnv
  let redis: RedisClusterClient
  let keys: RedisKeys
  let producer: Producer<Buffer, Buffer, Buffer, Buffer>
  let layer: SpeedLayer | undefined
  /** The layer's alert events produced once the view was filled. */
  let producedBefore = 0

  beforeEach(async () => {
    env = await testEnv()
    redis = await clusterOf(env)
    keys = redisKeys(env.config.redisPrefix)
    producer = new Producer({ ...kafkaBaseOptions(env.config, 'test-producer'), idempotent: true, acks: -1 })
  })
  afterEach(async () => {
    await layer?.stop()
    layer = undefined
    await producer.close()
    // The next test needs every slot served again.
    await pollUntil(() => redisClusterHealthy(), { timeoutMs: 30_000, what: 'the Redis Cluster healthy again' })
  })

  const send = (readings: Reading[]) =>
    producer.send({
      messages: readings.map((r): Out => ({ topic: env.topics.readings, key: Buffer.from(r.patientId), value: Buffer.from(JSON.stringify(r)) })),
    })

  /** 48 patients (every view shard gets some), 30 readings each. */
  const patients = Array.from({ length: 48 }, (_, i) => `p-${i}`)

  /** Everything the view holds of the patients. */
  const snapshot = () =>
    Promise.all(
      patients.map(async (id) => ({
        latest: await redis.hGetAll(keys.latest(id)),
        alerts: await redis.hGetAll(keys.alertState(id)),
        devices: await redis.hGetAll(keys.dedup(id)),
        series: await redis.zRangeWithScores(keys.series(id), 0, -1),
      })),
    )
  const complete = async () => (await Promise.all(patients.map((id) => redis.zCard(keys.series(id))))).every((n) => n === 30)
  const streamIds = async () => new Set(((await redis.xRange(keys.alerts, '-', '+')) ?? []).map((e) => decodeAlertEntry(e.message)?.id))

  /**
   * Starts a speed layer (housekeeping every `housekeepingIntervalMs`) and fills the view: every
   * fourth patient's heart rate is 140 for 20 s, one CRITICAL_HIGH each (the device also sends
   * glucose: a CGM, confirmed at once). Each patient's update is heard on `updates` through another
   * cluster client (its own pub/sub connection to one node). Returns the time the readings end at.
   */
  async function fillView(housekeepingIntervalMs: number): Promise<number> {
    const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr })
    layer = await start({ ...env.config, speed: { ...DEFAULT_SPEED_OPTIONS, housekeepingIntervalMs } }, { log })
    const subscriber = await clusterOf(env)
    const heard = new Set<string>()
    await subscriber.subscribe(keys.updates, (message: string) => {
      for (const m of message.matchAll(/"patientId":"([^"]+)"/g)) heard.add(m[1] as string)
    })
    expect(new Set(patients.map(viewShard)).size).toBe(VIEW_SHARDS)
    const now = Date.now()
    await send(
      patients.flatMap((id, p) =>
        Array.from({ length: 30 }, (_, i): Reading => {
          const heartRate = p % 4 === 0 && i < 20 ? 140 : 72
          return { v: 1, patientId: id, deviceId: `dev-${id}`, ts: now - 40_000 + i * 1000, seq: i, vitals: { heartRate, glucose: 110 } }
        }),
      ),
    )
    await pollUntil(complete, { timeoutMs: 30_000, what: 'every reading in the view' })
    await pollUntil(async () => patients.every((id) => heard.has(id)), { timeoutMs: 10_000, what: "every patient's update on the updates channel" })
    // The 12 alerts are in the stream. The layer's count of alert events it produced is 12 too,
    // unless its first batch met a shard without its epoch copy (the cluster still settling after
    // the previous test's restart): the batch is then applied again after the rebuild as a replay,
    // its events already produced, and not counted.
    expect((await streamIds()).size).toBe(12)
    producedBefore = layer.stats().alertEvents
    return now
  }

  /**
   * Restarts empty a master that serves view shards but not the `{view}` slot, so that only its
   * shards' data (their copies of the epoch with it) goes; returns those shards.
   */
  async function restartAShardMaster(): Promise<number[]> {
    const viewMaster = await masterPort(redis, keys.viewEpoch)
    const shardMasters = await Promise.all(Array.from({ length: VIEW_SHARDS }, (_, s) => masterPort(redis, keys.shardEpoch(s))))
    const victim = shardMasters.find((port) => port !== viewMaster) as number
    const lost = shardMasters.flatMap((port, s) => (port === victim ? [s] : []))
    await restartRedisClusterNodeEmpty(victim)
    // Restarted empty (had its replica taken over, the data would still be there).
    await pollUntil(async () => (await redis.exists(keys.shardEpoch(lost[0] as number)).catch(() => undefined)) === 0, {
      timeoutMs: 15_000,
      what: 'the restarted master to answer, empty',
    })
    return lost
  }

  /** The view exactly as before, no alert produced or streamed again, the lost shards under the view's epoch again. */
  async function expectRebuilt(before: Awaited<ReturnType<typeof snapshot>>, lost: readonly number[]): Promise<void> {
    expect(layer?.stats().rebuilds).toBeGreaterThanOrEqual(1)
    expect(await snapshot()).toEqual(before)
    // No alert produced again by the rebuild.
    expect(layer?.stats().alertEvents).toBe(producedBefore)
    expect((await streamIds()).size).toBe(12)
    const epoch = await redis.get(keys.viewEpoch)
    for (const s of lost) expect(await redis.get(keys.shardEpoch(s))).toBe(epoch)
  }

  it('notices while idle that a master restarted empty, and rebuilds its shards from Kafka: the view as before, no alert raised again', async () => {
    await fillView(300)
    const before = await snapshot()
    const lost = await restartAShardMaster()
    expect(lost.length).toBeGreaterThan(0)
    // No reading comes: the housekeeping pass finds the lost shards' copies of the epoch gone.
    await pollUntil(complete, { timeoutMs: 60_000, what: 'the lost shards rebuilt from Kafka' })
    await expectRebuilt(before, lost)
  })

  it('rebuilds the shards of a master that restarted empty when the next batch writes to one of them', async () => {
    // Housekeeping out of the way: the batch's write is what finds the shard without its epoch.
    const now = await fillView(600_000)
    const before = await snapshot()
    const lost = await restartAShardMaster()
    let n = 0
    while (!lost.includes(viewShard(`p-trigger-${n}`))) n++
    const trigger = `p-trigger-${n}`
    await send([{ v: 1, patientId: trigger, deviceId: `dev-${trigger}`, ts: now, seq: 0, vitals: { heartRate: 72 } }])
    await pollUntil(async () => (await complete()) && (await redis.zCard(keys.series(trigger))) === 1, {
      timeoutMs: 60_000,
      what: 'the lost shards rebuilt from Kafka',
    })
    await expectRebuilt(before, lost)
  })
})
