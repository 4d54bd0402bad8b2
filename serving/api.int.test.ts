import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import type { Config } from '../lib/config.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import { createLogger } from '../lib/log.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { start, servingOptions, type Serving } from './index.ts'
import { runBatchJob } from '../batch-layer/job.ts'
import { ackKey } from './view.ts'
import { produceAll } from '../batch-layer/synthetic.ts'
import { createAdmin } from '../lib/kafka.ts'
import { TOPIC_PARTITIONS, consumerGroups } from '../lib/contract/topics.ts'
import { dailyRow, freePort, writeAlert, writeBatchView } from '../test/view-fixtures.ts'
import { news2Of, writeOpenAlert, writeReadings } from './state-fixtures.ts'

const TOKEN = 'api-test-token-0123456789'
const DAY = '2026-11-20'
const T0 = Date.parse(`${DAY}T10:00:00Z`)

let env: TestEnv
let serving: Serving
let redis: RedisClient
let keys: RedisKeys

const get = (path: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
  fetch(`${serving.url}${path}`, { headers, redirect: 'manual' })

beforeAll(async () => {
  env = await createTestEnv()
  const config: Config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  keys = redisKeys(config.redisPrefix)
  redis = await connectRedis(config)
  // Every protected route is tried with a wrong token below: more wrong tokens than an address may send a minute by default.
  serving = await start(
    { ...config, serving: servingOptions({ batchRunsPerMinute: 3, signInsPerMinute: 1_000 }) },
    { runBatchJob, log: createLogger({ level: 'silent' }) },
  )
})

afterAll(async () => {
  await serving?.stop()
  redis?.destroy()
  await env?.cleanup()
})

describe('serving API', () => {
  const protectedRoutes: Array<[string, string]> = [
    ['GET', '/app.js'],
    ['GET', '/vendor/chart.umd.min.js'],
    ['GET', '/socket.io/socket.io.esm.min.js'],
    ['GET', '/api/bands'],
    ['GET', '/api/patients'],
    ['GET', '/api/patients/p-1'],
    ['GET', '/api/patients/p-1/series?seconds=60'],
    ['GET', '/api/alerts'],
    ['POST', '/api/alerts/x/ack'],
    ['PUT', '/api/patients/p-1/bands'],
    ['GET', '/api/patients/p-1/audit'],
    ['GET', '/api/stats/daily'],
    ['POST', '/api/batch/runs'],
    ['GET', '/api/admin/devices'],
    ['POST', '/api/admin/devices'],
    ['POST', '/api/admin/devices/w-1/revoke'],
    ['GET', '/api/admin/users'],
    ['PATCH', '/api/admin/users/kim'],
    ['GET', '/api/audit'],
    ['GET', '/metrics'],
    ['GET', '/no-such-route'],
  ]

  it.each(protectedRoutes)('%s %s without the token or with a wrong one is 401 with an empty body', async (method, path) => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-wrong-token' }, { cookie: 'vigil_session=forged' }] as Record<string, string>[]) {
      const res = await fetch(`${serving.url}${path}`, {
        method,
        headers: { ...headers, ...(method === 'GET' ? {} : { 'content-type': 'application/json' }) },
        body: method === 'GET' ? undefined : '{}',
      })
      expect(res.status).toBe(401)
      expect(await res.text()).toBe('')
    }
  })

  it('serves the dashboard, Chart.js and the Socket.io client with the token, under a CSP without inline scripts', async () => {
    const page = await get('/')
    expect(page.status).toBe(200)
    const csp = page.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    expect(await page.text()).toContain('<script type="module" src="/app.js">')
    expect((await get('/vendor/chart.umd.min.js')).status).toBe(200)
    expect((await get('/socket.io/socket.io.esm.min.js')).status).toBe(200)
  })

  it('/healthz needs no token and reports Redis, Kafka and the lag of both consumer groups', async () => {
    const res = await get('/healthz', {})
    const body = (await res.json()) as {
      status: string
      redis: { reachable: boolean }
      kafka: { reachable: boolean; lag: Array<{ group: string; lag: number | null }> }
    }
    expect(res.status).toBe(200)
    expect(body.status).toBe('ok')
    expect(body.redis.reachable).toBe(true)
    expect(body.kafka.reachable).toBe(true)
    expect(body.kafka.lag.map((g) => g.group)).toEqual([`${env.config.topicPrefix}vigil-speed`, `${env.config.topicPrefix}vigil-archiver`])
  })

  it("/healthz computes each group's lag as log-end minus committed offsets over the partitions", async () => {
    await produceAll(
      env.config,
      env.topics.readings,
      Array.from({ length: 20 }, (_, i) => ({ key: `p-${i}`, value: '{}' })),
    )
    const groups = consumerGroups(env.config.topicPrefix)
    const admin = createAdmin(env.config)
    try {
      const partitions = Array.from({ length: TOPIC_PARTITIONS.readings }, (_, i) => i)
      const ends = await admin.listOffsets({
        topics: [{ name: env.topics.readings, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) }],
      })
      const endOf = (p: number) => ends[0]?.partitions.find((x) => x.partitionIndex === p)?.offset ?? 0n
      // The speed layer has committed nothing past 0, the archiver everything.
      await admin.alterConsumerGroupOffsets({
        groupId: groups.speed,
        topics: [{ name: env.topics.readings, partitionOffsets: partitions.map((partition) => ({ partition, offset: 0n })) }],
      })
      await admin.alterConsumerGroupOffsets({
        groupId: groups.archiver,
        topics: [{ name: env.topics.readings, partitionOffsets: partitions.map((partition) => ({ partition, offset: endOf(partition) })) }],
      })
    } finally {
      await admin.close()
    }
    const body = (await (await get('/healthz', {})).json()) as { kafka: { lag: Array<{ group: string; lag: number | null }> } }
    expect(body.kafka.lag).toEqual([
      { group: groups.speed, lag: 20 },
      { group: groups.archiver, lag: 0 },
    ])
    const metrics = await (await get('/metrics')).text()
    expect(metrics).toContain(`vigil_consumer_lag{group="${groups.speed}"} 20`)
  })

  it('/login with the right token sets an HttpOnly SameSite=Strict cookie that opens the API, and a wrong token gets 401', async () => {
    const bad = await get(`/login?token=nope-nope-nope-nope`, {})
    expect(bad.status).toBe(401)
    expect(await bad.text()).toBe('')
    expect(bad.headers.get('set-cookie')).toBeNull()
    const ok = await get(`/login?token=${TOKEN}`, {})
    expect(ok.status).toBe(303)
    expect(ok.headers.get('location')).toBe('/')
    const cookie = ok.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Strict/)
    expect(cookie).not.toContain(TOKEN)
    const session = cookie.split(';')[0] ?? ''
    const res = await get('/api/patients', { cookie: session })
    expect(res.status).toBe(200)
  })

  it("GET /api/patients/:id has the docs/CONTRACT.md shape with the patient's alerts and open alerts, and /api/patients lists it", async () => {
    // A wearable and a CGM: pulse and SpO2 are the only NEWS2 parameters observed, so the score is partial.
    await writeReadings(redis, keys, [{ patientId: 'p-1', ts: T0, seq: 1, vitals: { heartRate: 72, spo2: 91, glucose: 104 } }])
    const open = {
      level: 'CRITICAL_LOW' as const,
      raisedTs: T0,
      normalSince: null,
      value: 91,
      side: 'low' as const,
      score: 3,
      ts: T0,
      message: 'p-1: SpO2 91 %, low (NEWS2 3), CRITICAL',
    }
    await writeOpenAlert(redis, keys, 'p-1', 'spo2', open)
    await redis.hSet(keys.alertState('p-1'), 'spo2:pending', JSON.stringify({ outSince: null, criticalSince: null }))
    const alert: AlertEvent = {
      id: 'p-1|spo2|raised|1',
      patientId: 'p-1',
      vital: 'spo2',
      kind: 'raised',
      level: 'CRITICAL_LOW',
      value: 91,
      ts: T0,
      message: 'SpO2 91 % is critically low',
    }
    await writeAlert(redis, keys, alert)
    await writeAlert(redis, keys, { ...alert, id: 'p-2|x', patientId: 'p-2' })
    const res = await get('/api/patients/p-1')
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, unknown>
    expect(body).toEqual({
      patientId: 'p-1',
      ts: T0,
      status: 'CRITICAL_LOW',
      news2: news2Of({ spo2: 3, heartRate: 0 }),
      vitals: {
        heartRate: { value: 72, status: 'NORMAL', ts: T0 },
        spo2: { value: 91, status: 'CRITICAL_LOW', ts: T0 },
        glucose: { value: 104, status: 'NORMAL', ts: T0 },
      },
      alerts: [{ ...alert, streamId: expect.any(String) }],
      openAlerts: [{ subject: 'spo2', ...open }],
    })
    expect(body.news2).toMatchObject({ score: 3, risk: 'low-medium', complete: false, counted: ['spo2', 'heartRate'] })
    const list = (await (await get('/api/patients')).json()) as Array<{ patientId: string }>
    expect(list.map((p) => p.patientId)).toContain('p-1')
    expect((await get('/api/patients/nobody')).status).toBe(404)
  })

  it('GET /api/patients/:id/series returns the last N seconds before the newest reading, oldest first', async () => {
    const readings = Array.from({ length: 120 }, (_, i) => ({ patientId: 'p-s', ts: T0 + i * 1000, seq: i, vitals: { heartRate: 60 + (i % 10) } }))
    await writeReadings(redis, keys, readings, { publish: false })
    const body = (await (await get('/api/patients/p-s/series?seconds=60')).json()) as { entries: Array<{ ts: number; seq: number }>; from: number; to: number }
    expect(body.to).toBe(T0 + 119_000)
    expect(body.entries).toHaveLength(61)
    expect(body.entries[0]?.seq).toBe(59)
    expect(body.entries.at(-1)?.seq).toBe(119)
    expect((await get('/api/patients/p-s/series?seconds=100000')).status).toBe(400)
  })

  it('GET /api/alerts lists alerts newest first, and acknowledging one records who (the token: VIGIL_TOKEN) and when in Redis', async () => {
    const older: AlertEvent = {
      id: 'p-a|hr|1',
      patientId: 'p-a',
      vital: 'heartRate',
      kind: 'raised',
      level: 'WARNING',
      value: 105,
      ts: T0 + 1,
      message: 'HR 105',
    }
    const newer: AlertEvent = { ...older, id: 'p-a|hr|2', kind: 'escalated', level: 'CRITICAL_HIGH', value: 140, ts: T0 + 2, message: 'HR 140' }
    await writeAlert(redis, keys, older)
    await writeAlert(redis, keys, newer)
    const list = (await (await get('/api/alerts?limit=2')).json()) as Array<{ id: string }>
    expect(list.map((a) => a.id)).toEqual(['p-a|hr|2', 'p-a|hr|1'])
    const before = Date.now()
    const ack = await fetch(`${serving.url}/api/alerts/${encodeURIComponent('p-a|hr|2')}/ack`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    })
    expect(ack.status).toBe(200)
    const stored = JSON.parse((await redis.hGet(ackKey(keys), 'p-a|hr|2')) ?? '{}') as { by: string; at: number }
    expect(stored.by).toBe('VIGIL_TOKEN')
    expect(stored.at).toBeGreaterThanOrEqual(before)
    const again = (await (await get('/api/alerts?limit=2')).json()) as Array<{ id: string; ack?: { by: string } }>
    expect(again[0]?.ack?.by).toBe('VIGIL_TOKEN')
    expect(again[1]?.ack).toBeUndefined()
  })

  it('GET /api/alerts lists an alert once when a replay of the speed layer appended it to the stream again', async () => {
    const raised: AlertEvent = {
      id: 'p-r|spo2|1',
      patientId: 'p-r',
      vital: 'spo2',
      kind: 'raised',
      level: 'CRITICAL_LOW',
      value: 84,
      ts: T0 + 5,
      message: 'SpO2 84',
    }
    const cleared: AlertEvent = { ...raised, id: 'p-r|spo2|2', kind: 'cleared', level: 'CRITICAL_LOW', value: 97, ts: T0 + 6, message: 'SpO2 97' }
    for (const e of [raised, cleared, raised, cleared]) await writeAlert(redis, keys, e)
    const list = (await (await get('/api/alerts?limit=50')).json()) as Array<{ id: string; patientId: string }>
    expect(list.filter((a) => a.patientId === 'p-r').map((a) => a.id)).toEqual(['p-r|spo2|2', 'p-r|spo2|1'])
  })

  it('GET /api/stats/daily merges the batch view before the cutoff with real-time readings after it, and says which is which', async () => {
    const cutoff = T0 + 60_000
    await writeBatchView(
      redis,
      keys,
      [
        dailyRow(DAY, 'p-m', 'heartRate', { count: 100, mean: 70, min: 60, max: 80 }),
        dailyRow(DAY, 'p-m', 'glucose', { count: 10, mean: 120, min: 90, max: 150, tir: [0, 0, 1, 0, 0] }),
      ],
      {
        runId: 'run-1',
        cutoffTs: cutoff,
        startedAt: cutoff,
        finishedAt: cutoff + 5_000,
        dates: [DAY],
        rows: 2,
      },
    )
    // Two readings before the cutoff (already in the batch view) and two after it.
    await writeReadings(
      redis,
      keys,
      [
        { patientId: 'p-m', ts: cutoff - 2_000, seq: 1, vitals: { heartRate: 200 } },
        { patientId: 'p-m', ts: cutoff - 1_000, seq: 2, vitals: { heartRate: 200 } },
        { patientId: 'p-m', ts: cutoff, seq: 3, vitals: { heartRate: 90, glucose: 300 } },
        { patientId: 'p-m', ts: cutoff + 1_000, seq: 4, vitals: { heartRate: 110 } },
      ],
      { publish: false },
    )
    const body = (await (await get(`/api/stats/daily?date=${DAY}&patientId=p-m`)).json()) as {
      rows: unknown[]
      batch: { runId: string }
      merged: {
        cutoffTs: number
        live: { from: number }
        vitals: Array<{
          vital: string
          batch: { count: number } | null
          live: { count: number; mean: number; max: number } | null
          merged: { count: number; mean: number; max: number }
          tir: { merged: { r70_180: number; gt250: number } } | null
        }>
      }
    }
    expect(body.rows).toHaveLength(2)
    expect(body.batch.runId).toBe('run-1')
    expect(body.merged.cutoffTs).toBe(cutoff)
    expect(body.merged.live.from).toBe(cutoff)
    const hr = body.merged.vitals.find((v) => v.vital === 'heartRate')
    expect(hr?.batch?.count).toBe(100)
    expect(hr?.live).toEqual({ count: 2, mean: 100, min: 90, max: 110 })
    expect(hr?.merged.count).toBe(102)
    expect(hr?.merged.mean).toBeCloseTo((100 * 70 + 200) / 102, 6)
    expect(hr?.merged.max).toBe(110)
    const glucose = body.merged.vitals.find((v) => v.vital === 'glucose')
    expect(glucose?.tir?.merged.r70_180).toBeCloseTo(10 / 11, 6)
    expect(glucose?.tir?.merged.gt250).toBeCloseTo(1 / 11, 6)
    expect((await get('/api/stats/daily?date=2026-13-45')).status).toBe(400)
  })

  it('GET /api/bands serves the clinical band table with the open upper edge as null', async () => {
    const body = (await (await get('/api/bands')).json()) as { bands: Record<string, Array<{ max: number | null; status: string }>> }
    expect(body.bands.spo2?.[0]).toEqual({ max: 91, maxInclusive: true, status: 'CRITICAL_LOW', score: 3 })
    expect(body.bands.heartRate?.at(-1)?.max).toBeNull()
  })

  it('refuses a malformed batch request with 400 naming what is wrong', async () => {
    const res = await fetch(`${serving.url}/api/batch/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from: DAY }),
    })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { message: string }).message).toBe('give both from and to, or neither')
  })

  it('refuses a request body over the size limit with 413', async () => {
    const res = await fetch(`${serving.url}/api/alerts/x/ack`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ note: 'x'.repeat(20_000) }),
    })
    expect(res.status).toBe(413)
  })

  it('GET /metrics speaks the Prometheus format with clients, pushes and batch durations', async () => {
    const text = await (await get('/metrics')).text()
    expect(text).toContain('# TYPE vigil_serving_connected_clients gauge')
    expect(text).toContain('# TYPE vigil_batch_run_duration_seconds histogram')
    expect(text).toContain('# TYPE vigil_serving_readings_seen_total counter')
    expect(text).toMatch(/vigil_serving_updates_seen_total\{type="readings"\} [1-9]/)
  })
})
