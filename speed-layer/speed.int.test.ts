import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Consumer, Producer, type MessageToProduce } from '@platformatic/kafka'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import { pollUntil } from '../lib/backoff.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { createLogger } from '../lib/log.ts'
import { connectRedis, deleteKeys, type RedisClient } from '../lib/redis.ts'
import type { AlertEvent, SeriesEntry } from '../lib/contract/views.ts'
import { parseBandSpec } from '../lib/bands.ts'
import { writePatientBands } from '../lib/band-store.ts'
import { REJECT_HEADERS, TOPIC_PARTITIONS } from '../lib/contract/topics.ts'
import type { Reading } from '../lib/contract/schema.ts'
import { DEFAULT_SPEED_OPTIONS, start, type SpeedLayer, type SpeedOptions } from './index.ts'
import { epochKey } from './view.ts'

type Out = MessageToProduce<Buffer, Buffer, Buffer, Buffer>

function record(topic: string, r: Reading, key: string = r.patientId): Out {
  return { topic, key: Buffer.from(key), value: Buffer.from(JSON.stringify(r)) }
}

function reading(patientId: string, seq: number, ts: number, vitals: Reading['vitals'], deviceId = `dev-${patientId}`): Reading {
  return { v: 1, patientId, deviceId, ts, seq, vitals }
}

describe('the speed layer', () => {
  let env: TestEnv
  let redis: RedisClient
  let keys: RedisKeys
  let producer: Producer<Buffer, Buffer, Buffer, Buffer>
  const layers: SpeedLayer[] = []
  const children: ChildProcess[] = []

  beforeEach(async () => {
    env = await createTestEnv()
    redis = await connectRedis(env.config)
    keys = redisKeys(env.config.redisPrefix)
    producer = new Producer({ ...kafkaBaseOptions(env.config, 'test-producer'), idempotent: true, acks: -1 })
  })
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    for (const l of layers.splice(0)) await l.stop()
    await producer.close()
    redis.destroy()
    await env.cleanup()
  })

  async function startLayer(options: Partial<SpeedOptions> = {}): Promise<SpeedLayer> {
    const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr })
    const layer = await start({ ...env.config, speed: { ...DEFAULT_SPEED_OPTIONS, housekeepingIntervalMs: 300, ...options } }, { log })
    layers.push(layer)
    return layer
  }

  async function send(messages: Out[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 1000) await producer.send({ messages: messages.slice(i, i + 1000) })
  }

  async function readTopic(topic: string, count: number): Promise<{ key?: string; value: Buffer; headers: Map<string, string>; partition: number }[]> {
    const consumer = new Consumer({ ...kafkaBaseOptions(env.config, 'test-reader'), groupId: `${env.config.topicPrefix}reader-${Math.random()}` })
    const got: { key?: string; value: Buffer; headers: Map<string, string>; partition: number }[] = []
    try {
      const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 100 })
      stream.on('data', (m) => {
        const headers = new Map<string, string>()
        for (const [k, v] of m.headers) headers.set(k.toString(), v.toString())
        got.push({ key: m.key?.toString(), value: m.value, headers, partition: m.partition })
      })
      await pollUntil(async () => got.length >= count, { timeoutMs: 30_000, what: `${count} records on ${topic}` })
      await stream.close()
    } finally {
      await consumer.close(true)
    }
    return got
  }

  async function alertsInStream(): Promise<AlertEvent[]> {
    const entries = await redis.xRange(keys.alerts, '-', '+')
    return (entries ?? []).map((e) => JSON.parse(e.message.event as string) as AlertEvent)
  }

  async function series(patientId: string): Promise<SeriesEntry[]> {
    return (await redis.zRange(keys.series(patientId), 0, -1)).map((s) => JSON.parse(s) as SeriesEntry)
  }

  it('classifies a scripted episode and raises exactly one alert for a sustained heart rate then jittering on an edge, cleared after the hold-down', async () => {
    const layer = await startLayer({ holdDownMs: 60_000 })
    const t0 = Date.now() - 200_000
    const hr: number[] = []
    for (let i = 0; i < 30; i++) hr.push(75) // normal
    // One artefact sample at t0 + 32 s, alone no alert (warning persistence 60 s): its run ends at the next value back.
    for (let i = 0; i < 5; i++) hr.push(i === 2 ? 95 : 75)
    for (let i = 0; i < 62; i++) hr.push(95) // out of NORMAL from t0 + 35 s: WARNING confirmed at t0 + 95 s
    for (let i = 0; i < 20; i++) hr.push(i % 2 === 0 ? 91 : 90) // jitter on the 90/91 edge: the alert stays open, nothing new
    for (let i = 0; i < 40; i++) hr.push(75) // normal for 40 s: below the hold-down, the alert stays open
    const messages = hr.map((v, i) => record(env.topics.readings, reading('p-episode', i, t0 + i * 1000, { heartRate: v, spo2: 97 })))
    await send(messages)
    await pollUntil(async () => (await redis.zCard(keys.series('p-episode'))) === hr.length, { timeoutMs: 30_000, what: 'the episode in the series' })

    const entries = await series('p-episode')
    expect(entries.map((e) => e.status)).toEqual(hr.map((v) => (v > 90 ? 'WARNING' : 'NORMAL')))
    let alerts = (await alertsInStream()).filter((a) => a.vital === 'heartRate')
    expect(alerts.map((a) => [a.kind, a.level, a.value, a.side, a.score])).toEqual([['raised', 'WARNING', 95, 'high', 1]])
    expect(alerts[0]?.message).toBe('p-episode: heart rate 95 bpm, high (NEWS2 1), WARNING')

    // 25 more normal seconds: 60 s of normal values since the last WARNING at t0 + 115 s, so the alert clears at t0 + 176 s.
    const n = hr.length
    await send(Array.from({ length: 25 }, (_, k) => record(env.topics.readings, reading('p-episode', n + k, t0 + (n + k) * 1000, { heartRate: 75, spo2: 97 }))))
    await pollUntil(async () => (await alertsInStream()).some((a) => a.kind === 'cleared'), { timeoutMs: 30_000, what: 'the alert to clear' })
    alerts = (await alertsInStream()).filter((a) => a.vital === 'heartRate')
    expect(alerts.map((a) => [a.kind, a.level, a.ts])).toEqual([
      ['raised', 'WARNING', t0 + 95_000],
      ['cleared', 'WARNING', t0 + 176_000],
    ])
    const latest = await redis.hGetAll(keys.latest('p-episode'))
    expect(latest).toMatchObject({
      status: 'NORMAL',
      heartRate: '75',
      'heartRate:status': 'NORMAL',
      spo2: '97',
      news2: '0',
      news2Complete: '0',
      news2Risk: '',
      ts: String(t0 + (n + 24) * 1000),
    })
    expect(await redis.zScore(keys.patients, 'p-episode')).toBe(t0 + (n + 24) * 1000)
    // Neither an open alert nor a pending run is left.
    expect(await redis.hLen(keys.alertState('p-episode'))).toBe(0)

    // The same events went to vitals.alerts, keyed by patient.
    const onTopic = await readTopic(env.topics.alerts, 2)
    expect(onTopic.map((m) => (JSON.parse(m.value.toString()) as AlertEvent).kind).sort()).toEqual(['cleared', 'raised'])
    expect(onTopic.every((m) => m.key === 'p-episode')).toBe(true)
    expect(layer.stats().alertEvents).toBe(2)
  })

  it('sends every kind of bad input to vitals.rejected with its reason, source offset and original bytes, and counts duplicates', async () => {
    const layer = await startLayer()
    const now = Date.now()
    const good = reading('p-bad', 1, now - 1000, { heartRate: 70 })
    const bad: [string, Out][] = [
      ['MALFORMED_JSON', { topic: env.topics.readings, key: Buffer.from('p-bad'), value: Buffer.from('{"v":1,"patientId":') }],
      ['SCHEMA', { topic: env.topics.readings, key: Buffer.from('p-bad'), value: Buffer.from(JSON.stringify({ ...good, vitals: { heartRate: '70' } })) }],
      ['OUT_OF_RANGE', record(env.topics.readings, reading('p-bad', 2, now, { heartRate: 301 }))],
      ['OUT_OF_RANGE', record(env.topics.readings, reading('p-bad', 3, now, { spo2: 101 }))],
      ['OUT_OF_RANGE', record(env.topics.readings, reading('p-bad', 4, now, { temperature: 9.9 }))],
      ['OUT_OF_RANGE', record(env.topics.readings, reading('p-bad', 5, now, { respRate: -1 }))],
      ['INCONSISTENT', record(env.topics.readings, reading('p-bad', 6, now, { systolic: 80, diastolic: 80 }))],
      ['KEY_MISMATCH', record(env.topics.readings, reading('p-bad', 7, now, { heartRate: 70 }), 'p-other')],
      ['FUTURE_TS', record(env.topics.readings, reading('p-bad', 8, now + 3_600_000, { heartRate: 70 }))],
    ]
    await send([record(env.topics.readings, good), ...bad.map(([, m]) => m), record(env.topics.readings, good)])

    const rejected = await readTopic(env.topics.rejected, bad.length)
    expect(rejected.map((m) => m.headers.get(REJECT_HEADERS.reason)).sort()).toEqual(bad.map(([r]) => r).sort())
    const sentBytes = new Set(bad.map(([, m]) => (m.value as Buffer).toString('base64')))
    for (const m of rejected) {
      expect(sentBytes.has(m.value.toString('base64'))).toBe(true)
      expect(m.headers.get(REJECT_HEADERS.sourceTopic)).toBe(env.topics.readings)
      expect(m.headers.get(REJECT_HEADERS.sourcePartition)).toMatch(/^\d$/)
      expect(m.headers.get(REJECT_HEADERS.detail)?.length).toBeGreaterThan(5)
    }
    // p-bad's records sit in one partition at offsets 0 (good), 1..8 (bad ones), 9 (the duplicate); p-other's in its own.
    const offsets = rejected
      .filter((m) => m.headers.get(REJECT_HEADERS.reason) !== 'KEY_MISMATCH')
      .map((m) => Number(m.headers.get(REJECT_HEADERS.sourceOffset)))
    expect(offsets.sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    await pollUntil(async () => layer.stats().records === bad.length + 2, { timeoutMs: 10_000, what: 'every record counted' })
    expect(layer.stats().rejected).toMatchObject({ MALFORMED_JSON: 1, SCHEMA: 1, OUT_OF_RANGE: 4, INCONSISTENT: 1, KEY_MISMATCH: 1, FUTURE_TS: 1 })
    expect(layer.stats().duplicates).toBe(1)
    // The inconsistent cuff reading loses its diastolic only: its systolic 80 is classified (dead-lettered once, naming the field).
    expect(await redis.zCard(keys.series('p-bad'))).toBe(2)
    expect(await redis.hGetAll(keys.latest('p-bad'))).toMatchObject({ systolic: '80', 'systolic:status': 'CRITICAL_LOW' })
    expect(await redis.hGet(keys.latest('p-bad'), 'diastolic')).toBeNull()
    const partial = rejected.filter((m) => m.headers.get(REJECT_HEADERS.reason) === 'INCONSISTENT')
    expect(partial.map((m) => m.headers.get(REJECT_HEADERS.fields))).toEqual(['diastolic'])
  })

  it('classifies a hypothermic 22 °C as CRITICAL_LOW with NEWS2 3 and a hyperpyrexic 41.5 °C as CRITICAL_HIGH with NEWS2 2, neither dead-lettered', async () => {
    const layer = await startLayer()
    const now = Date.now()
    await send([
      record(env.topics.readings, reading('p-cold', 1, now - 1000, { temperature: 22 })),
      record(env.topics.readings, reading('p-hot', 1, now - 1000, { temperature: 41.5 })),
    ])
    await pollUntil(async () => (await redis.exists([keys.latest('p-cold'), keys.latest('p-hot')])) === 2, {
      timeoutMs: 20_000,
      what: 'both patients in the view',
    })
    expect(await redis.hGetAll(keys.latest('p-cold'))).toMatchObject({
      temperature: '22',
      'temperature:status': 'CRITICAL_LOW',
      status: 'CRITICAL_LOW',
      news2: '3',
    })
    expect(await redis.hGetAll(keys.latest('p-hot'))).toMatchObject({
      temperature: '41.5',
      'temperature:status': 'CRITICAL_HIGH',
      status: 'CRITICAL_HIGH',
      news2: '2',
    })
    const raised = (await alertsInStream()).filter((a) => a.vital === 'temperature').map((a) => [a.patientId, a.kind, a.level])
    expect(raised.sort()).toEqual([
      ['p-cold', 'raised', 'CRITICAL_LOW'],
      ['p-hot', 'raised', 'CRITICAL_HIGH'],
    ])
    expect(layer.stats().rejected.OUT_OF_RANGE ?? 0).toBe(0)
  })

  it('applies a per-patient band override from the next reading and places out-of-order readings in event-time order', async () => {
    const layer = await startLayer()
    const now = Date.now()
    await send([record(env.topics.readings, reading('p-ath', 1, now - 10_000, { heartRate: 45 }))])
    await pollUntil(async () => (await redis.hGet(keys.latest('p-ath'), 'heartRate:status')) === 'WARNING', { timeoutMs: 20_000, what: 'HR 45 as WARNING' })
    // As `vigil patient set` does: the overrides, then the bands version the layer watches.
    await writePatientBands(redis, keys, 'p-ath', [parseBandSpec('heartRate:normal=40-90')])
    await send([
      record(env.topics.readings, reading('p-ath', 2, now - 5_000, { heartRate: 46 })),
      // 3 s older than the newest: placed in order; 20 s older: late, counted, left out of the view
      record(env.topics.readings, reading('p-ath', 3, now - 8_000, { heartRate: 47 })),
      record(env.topics.readings, reading('p-ath', 4, now - 30_000, { heartRate: 120 })),
    ])
    await pollUntil(async () => layer.stats().records === 4, { timeoutMs: 20_000, what: 'four records' })
    expect(await redis.hGetAll(keys.latest('p-ath'))).toMatchObject({ heartRate: '46', 'heartRate:status': 'NORMAL', ts: String(now - 5_000) })
    expect((await series('p-ath')).map((e) => [e.seq, e.status])).toEqual([
      [1, 'WARNING'],
      [3, 'NORMAL'],
      [2, 'NORMAL'],
    ])
    expect(layer.stats()).toMatchObject({ late: 1, reordered: 1 })
  })

  it('raises a stale-data alert for a silent device, keeps consuming while idle, and clears the alert when the device comes back', async () => {
    await startLayer({ staleMinMs: 1_000 })
    const t = Date.now()
    await send([record(env.topics.readings, reading('p-quiet', 1, t, { heartRate: 70 }))])
    await pollUntil(async () => (await alertsInStream()).some((a) => a.kind === 'raised'), { timeoutMs: 30_000, what: 'the stale-data alert' })
    await send([record(env.topics.readings, reading('p-quiet', 2, Date.now(), { heartRate: 71 }))])
    await pollUntil(async () => (await alertsInStream()).some((a) => a.kind === 'cleared'), { timeoutMs: 30_000, what: 'the stale-data alert to clear' })
    const alerts = await alertsInStream()
    expect(alerts.map((a) => [a.vital, a.kind, a.level, a.deviceId])).toEqual([
      ['device', 'raised', 'STALE', 'dev-p-quiet'],
      ['device', 'cleared', 'STALE', 'dev-p-quiet'],
    ])
    // Stale on arrival: 3 cadences of a wearable (1 s, its kind's default) after the reading reached the broker.
    expect(alerts[0]?.ts).toBeGreaterThanOrEqual(t + 3_000)
    expect(alerts[0]?.ts).toBeLessThan(t + 3_000 + 10_000)
    expect(await redis.hGet(keys.latest('p-quiet'), 'heartRate')).toBe('71')
  })

  it('raises the stale-data alert of a device that fell silent while no instance was running', async () => {
    const first = await startLayer({ staleMinMs: 4_000 })
    const t = Date.now()
    await send([record(env.topics.readings, reading('p-gone', 1, t, { spo2: 97 }))])
    await pollUntil(async () => first.stats().records === 1, { timeoutMs: 20_000, what: 'the reading processed' })
    await first.stop()
    layers.splice(layers.indexOf(first), 1)
    expect(await alertsInStream()).toEqual([])
    const second = await startLayer({ staleMinMs: 4_000 })
    await pollUntil(async () => (await alertsInStream()).length > 0, { timeoutMs: 30_000, what: 'the stale-data alert' })
    const stale = await alertsInStream()
    expect(stale.map((a) => [a.patientId, a.vital, a.kind, a.level])).toEqual([['p-gone', 'device', 'raised', 'STALE']])
    // The stale time is 4 s (staleMinMs) after the reading's arrival at the broker.
    expect(stale[0]?.ts).toBeGreaterThanOrEqual(t + 4_000)
    expect(stale[0]?.ts).toBeLessThan(t + 4_000 + 10_000)
    expect(second.stats().records).toBe(0)
  })

  it('shares the partitions between two instances, each patient handled by the one owning its partition', async () => {
    const a = await startLayer()
    const b = await startLayer()
    await pollUntil(
      async () => a.partitions().length > 0 && b.partitions().length > 0 && a.partitions().length + b.partitions().length === TOPIC_PARTITIONS.readings,
      {
        timeoutMs: 60_000,
        what: 'both instances to own partitions',
      },
    )
    expect(new Set([...a.partitions(), ...b.partitions()]).size).toBe(TOPIC_PARTITIONS.readings)
    const now = Date.now()
    const patients = Array.from({ length: 40 }, (_, i) => `p-${i}`)
    const messages: Out[] = []
    for (let seq = 0; seq < 20; seq++)
      for (const p of patients) messages.push(record(env.topics.readings, reading(p, seq, now - 20_000 + seq * 1000, { heartRate: 70 + seq })))
    await send(messages)
    // A rebalance in the middle (a slow machine can miss a heartbeat) hands a partition over before
    // its last batch was committed; the new owner then sees those readings again as duplicates.
    // So: every reading is applied exactly once, and whatever was seen twice was counted as such.
    const applied = () => a.stats().records + b.stats().records - a.stats().duplicates - b.stats().duplicates
    // Two instances starting together on an empty view may both rebuild it and apply a batch
    // again (idempotent writes: the view below is the same); the counters then exceed the count.
    await pollUntil(async () => applied() >= messages.length, { timeoutMs: 60_000, what: 'every reading processed' })
    expect(a.stats().records).toBeGreaterThan(0)
    expect(b.stats().records).toBeGreaterThan(0)
    for (const p of patients) {
      expect(await redis.zCard(keys.series(p))).toBe(20)
      expect(await redis.hGet(keys.latest(p), 'heartRate')).toBe('89')
    }
  })

  it('loses nothing and duplicates nothing when a speed process is killed with SIGKILL under load and restarted', async () => {
    const spawnSpeed = () => {
      const child = spawn(process.execPath, ['bin/vigil.js', 'speed', '--max-batch-readings', '500'], {
        env: { ...process.env, VIGIL_TOPIC_PREFIX: env.config.topicPrefix, VIGIL_REDIS_PREFIX: env.config.redisPrefix, VIGIL_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'inherit'],
      })
      children.push(child)
      return child
    }
    const patients = Array.from({ length: 50 }, (_, i) => `p-k${i}`)
    const perPatient = 300
    const now = Date.now()
    const messages: Out[] = []
    for (let seq = 0; seq < perPatient; seq++)
      for (const p of patients) messages.push(record(env.topics.readings, reading(p, seq, now - perPatient * 1000 + seq * 1000, { heartRate: 72, spo2: 98 })))
    const first = spawnSpeed()
    // Produce in the background while the first process consumes; kill it once part of the load is in Redis.
    const producing = send(messages)
    await pollUntil(async () => (await redis.zCard(keys.patients)) >= 10, { timeoutMs: 60_000, what: 'the first process to write' })
    first.kill('SIGKILL')
    await once(first, 'exit')
    await producing
    let atKill = 0
    for (const p of patients) atKill += await redis.zCard(keys.series(p))
    expect(atKill).toBeLessThan(messages.length)
    spawnSpeed()
    await pollUntil(
      async () => {
        for (const p of patients) if ((await redis.zCard(keys.series(p))) !== perPatient) return false
        return true
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'every reading of every patient in Redis' },
    )
    for (const p of patients) {
      const seqs = (await series(p)).map((e) => e.seq)
      expect(seqs).toEqual(Array.from({ length: perPatient }, (_, i) => i))
    }
  })

  it('notices a wiped Redis and rebuilds the view from Kafka without raising the same alerts again', async () => {
    const layer = await startLayer()
    const now = Date.now()
    const messages: Out[] = []
    // HR 140 for 20 s: one CRITICAL_HIGH (the device sends glucose, so it is a CGM: intermittent, confirmed at once); the heart
    // rate's NEWS2 3 raises no NEWS2_SINGLE_3 beside it (aggregate.ts).
    for (let i = 0; i < 30; i++)
      messages.push(record(env.topics.readings, reading('p-wipe', i, now - 30_000 + i * 1000, { heartRate: i < 20 ? 140 : 72, glucose: 110 })))
    await send(messages)
    await pollUntil(async () => (await redis.zCard(keys.series('p-wipe'))) === 30, { timeoutMs: 30_000, what: 'the readings in the series' })
    const before = await redis.hGetAll(keys.latest('p-wipe'))
    const alertsBefore = layer.stats().alertEvents
    expect(alertsBefore).toBe(1)

    await deleteKeys(redis, keys.everything)
    await pollUntil(async () => (await redis.zCard(keys.series('p-wipe'))) === 30, { timeoutMs: 30_000, what: 'the series rebuilt' })
    expect(await redis.hGetAll(keys.latest('p-wipe'))).toEqual(before)
    expect((await alertsInStream()).map((a) => [a.vital, a.kind, a.level])).toEqual([['heartRate', 'raised', 'CRITICAL_HIGH']])
    expect(await redis.zScore(keys.patients, 'p-wipe')).toBe(now - 1000)
    expect(layer.stats().rebuilds).toBeGreaterThanOrEqual(1)
    expect(layer.stats().alertEvents).toBe(alertsBefore)
  })

  it('rebuilds a wiped view even when an instance died after setting the new epoch and before rewinding', async () => {
    const first = await startLayer()
    const now = Date.now()
    await send(Array.from({ length: 10 }, (_, i) => record(env.topics.readings, reading('p-half', i, now - 20_000 + i * 1000, { spo2: 97 }))))
    await pollUntil(async () => (await redis.zCard(keys.series('p-half'))) === 10, { timeoutMs: 30_000, what: 'the readings in the series' })
    await pollUntil(async () => first.stats().records === 10, { timeoutMs: 10_000, what: 'the batch counted' })
    await first.stop()
    layers.splice(0)
    // Redis wiped, then an instance set the view's new epoch and was killed before it rewound.
    await deleteKeys(redis, keys.everything)
    await redis.set(epochKey(keys), 'epoch-of-a-dead-instance')
    await startLayer()
    await pollUntil(async () => (await redis.zCard(keys.series('p-half'))) === 10, { timeoutMs: 30_000, what: 'the series rebuilt' })
    expect(await redis.hGet(keys.latest('p-half'), 'ts')).toBe(String(now - 11_000))
  })
})
