/**
 * The clinical rules end to end (docs/CLINICAL.md), through the real Kafka broker and Redis, the
 * real speed layer and the real serving layer, and the page in Chromium:
 * - a reading with one implausible field still alerts on its good fields, and the refused field is
 *   dead-lettered with `vigil-reject-fields`;
 * - a patient observed only through heart rate and SpO2 has a NEWS2 labelled partial in the API and
 *   on the page, never "low risk";
 * - an aggregate of 7 raises exactly one NEWS2_HIGH alert on `vitals.alerts`.
 * Nothing here measures time: each wait polls for an outcome, and every alert is checked by its
 * event time, which the readings fix.
 */
import { mkdir } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Consumer, Producer, type MessageToProduce } from '@platformatic/kafka'
import type { Browser } from 'playwright-core'
import { createTestEnv, freePort, launchChromium, type TestEnv } from './support.ts'
import { recordCount } from './read-topic.ts'
import { pollUntil } from '../lib/backoff.ts'
import type { Config } from '../lib/config.ts'
import { kafkaBaseOptions } from '../lib/kafka.ts'
import { createLogger } from '../lib/log.ts'
import { REJECT_HEADERS } from '../lib/contract/topics.ts'
import type { Reading } from '../lib/contract/schema.ts'
import type { AlertEvent, PatientState } from '../lib/contract/views.ts'
import { DEFAULT_SPEED_OPTIONS, start as startSpeed, type SpeedLayer } from '../speed-layer/index.ts'
import { start as startServing, servingOptions, type Serving } from '../serving/index.ts'

const TOKEN = 'clinical-test-token-0123456789'
const ARTIFACTS = 'test-artifacts'

type Out = MessageToProduce<Buffer, Buffer, Buffer, Buffer>
interface Got {
  key: string | undefined
  value: Buffer
  headers: Map<string, string>
}

let env: TestEnv
let config: Config
let speed: SpeedLayer
let serving: Serving
let producer: Producer<Buffer, Buffer, Buffer, Buffer>
let browser: Browser
let sent = 0

function reading(patientId: string, deviceId: string, seq: number, ts: number, fields: Partial<Reading> & Pick<Reading, 'vitals'>): Reading {
  return { v: 1, patientId, deviceId, ts, seq, ...fields }
}

async function send(readings: readonly Reading[]): Promise<void> {
  const messages: Out[] = readings.map((r) => ({ topic: env.topics.readings, key: Buffer.from(r.patientId), value: Buffer.from(JSON.stringify(r)) }))
  await producer.send({ messages })
  sent += messages.length
}

/** Every record sent so far is decided, and its dead letters and alert events produced (the layer counts a batch after producing them). */
async function settled(): Promise<void> {
  await pollUntil(async () => speed.stats().records >= sent, { timeoutMs: 60_000, what: `${sent} readings processed` })
}

/** Every record of a topic, with its headers. */
async function readAll(topic: string): Promise<Got[]> {
  const count = await recordCount(config, topic)
  const consumer = new Consumer({ ...kafkaBaseOptions(config, 'clinical-reader'), groupId: `${config.topicPrefix}reader-${Math.random()}` })
  const got: Got[] = []
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 100 })
    stream.on('data', (m) => {
      const headers = new Map<string, string>()
      for (const [k, v] of m.headers) headers.set(k.toString(), v.toString())
      got.push({ key: m.key?.toString(), value: m.value, headers })
    })
    await pollUntil(async () => got.length >= count, { timeoutMs: 30_000, what: `${count} records on ${topic}` })
    await stream.close()
  } finally {
    await consumer.close(true)
  }
  return got
}

async function alertsOf(patientId: string): Promise<AlertEvent[]> {
  return (await readAll(env.topics.alerts)).map((m) => JSON.parse(m.value.toString()) as AlertEvent).filter((e) => e.patientId === patientId)
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true })
  env = await createTestEnv()
  config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr })
  speed = await startSpeed({ ...config, speed: DEFAULT_SPEED_OPTIONS }, { log })
  serving = await startServing({ ...config, serving: servingOptions() }, { log: createLogger({ level: 'silent' }) })
  producer = new Producer({ ...kafkaBaseOptions(config, 'clinical-producer'), idempotent: true, acks: -1 })
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await producer?.close()
  await serving?.stop()
  await speed?.stop()
  await env?.cleanup()
})

describe('clinical safety through Kafka, Redis, the speed layer and the serving layer', () => {
  it('classifies and alerts on the good fields of a reading with one implausible field, and dead-letters that field alone', async () => {
    // A wrist device with a temperature probe reporting a Fahrenheit value (98.6 is not a body temperature in °C):
    // heart rate 140 and SpO2 82 are critical. After 3 normal readings (a continuous device: no first-sample confirmation),
    // 20 bad readings a second apart outlast the 15 s critical persistence.
    // Event times end now: none is ahead of the broker, and none looks old on the page.
    const t0 = Date.now() - 25_000
    const id = 'p-bad-field'
    const vitals = { heartRate: 140, spo2: 82, temperature: 98.6 }
    const normal = { heartRate: 75, spo2: 97 }
    await send(Array.from({ length: 23 }, (_, i) => reading(id, 'wrist-bad', i, t0 + i * 1000, { vitals: i < 3 ? normal : vitals })))
    // The same SpO2 82 as one artefact sample among normal ones of a continuous device raises nothing.
    const artefact = 'p-artefact'
    await send(Array.from({ length: 20 }, (_, i) => reading(artefact, 'wrist-art', i, t0 + i * 1000, { vitals: { heartRate: 75, spo2: i === 5 ? 82 : 97 } })))
    await settled()
    expect(await alertsOf(artefact)).toEqual([])

    const raised = (await alertsOf(id)).filter((a) => a.kind !== 'cleared' && (a.vital === 'spo2' || a.vital === 'heartRate'))
    // A run of a continuous device is confirmed once it has lasted the critical persistence: 15 s after its first bad reading.
    expect(raised.map((a) => [a.vital, a.kind, a.level, a.value, a.side, a.ts]).sort()).toEqual([
      ['heartRate', 'raised', 'CRITICAL_HIGH', 140, 'high', t0 + 3000 + 15_000],
      ['spo2', 'raised', 'CRITICAL_LOW', 82, 'low', t0 + 3000 + 15_000],
    ])
    expect((await alertsOf(id)).some((a) => a.vital === 'temperature')).toBe(false)

    const rejected = (await readAll(env.topics.rejected)).filter((m) => m.key === id)
    expect(rejected).toHaveLength(20)
    for (const m of rejected) {
      expect(m.headers.get(REJECT_HEADERS.reason)).toBe('OUT_OF_RANGE')
      expect(m.headers.get(REJECT_HEADERS.fields)).toBe('temperature')
      expect(m.headers.get(REJECT_HEADERS.detail)).toContain('temperature 98.6')
      // The lake's copy is the record as sent, the refused field included.
      expect((JSON.parse(m.value.toString()) as Reading).vitals).toEqual(vitals)
    }
    expect(speed.stats().partialRejects).toBeGreaterThanOrEqual(20)

    const state = (await (await api(`/api/patients/${id}`)).json()) as PatientState
    expect(state.vitals.spo2).toMatchObject({ value: 82, status: 'CRITICAL_LOW' })
    expect(state.vitals.heartRate).toMatchObject({ value: 140, status: 'CRITICAL_HIGH' })
    expect(state.vitals.temperature).toBeUndefined()
  })

  it('labels a NEWS2 from heart rate and SpO2 alone partial in the API and on the page, never low risk', async () => {
    // The wearable: heart rate 115 (NEWS2 2) and SpO2 95 (NEWS2 1), nothing else. Was "NEWS2 3 · low risk".
    const t0 = Date.now() - 12_000
    const id = 'p-wrist-only'
    await send(Array.from({ length: 10 }, (_, i) => reading(id, 'wrist-only', i, t0 + i * 1000, { vitals: { heartRate: 115, spo2: 95 } })))
    await settled()

    const state = (await (await api(`/api/patients/${id}`)).json()) as PatientState
    expect(state.news2).toMatchObject({ score: 3, complete: false, counted: ['spo2', 'heartRate'] })
    expect([...state.news2.missing].sort()).toEqual(['consciousness', 'onOxygen', 'respRate', 'systolic', 'temperature'])
    expect(state.news2.risk).not.toBe('low')

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 })
    try {
      await page.goto(`${serving.url}/login?token=${TOKEN}`)
      const news = page.locator('.tile', { hasText: id }).locator('.tile-news')
      await news.waitFor()
      expect(await news.textContent()).toBe('NEWS2 ≥ 3 · partial: 2 of 7')
      await page.locator('.tile-id', { hasText: id }).click()
      const detail = page.locator('#detail-news', { hasText: 'partial: 2 of 7' })
      await detail.waitFor()
      for (const text of [await news.textContent(), await detail.textContent()]) expect(text?.toLowerCase()).not.toContain('low risk')
      expect(await page.locator('#detail-missing').textContent()).toContain('Missing:')
      await page.screenshot({ path: `${ARTIFACTS}/clinical-partial-news2.png` })
    } finally {
      await page.close()
    }
  })

  it('raises exactly one NEWS2_HIGH alert for an aggregate of 7 from all seven parameters, sustained', async () => {
    // RCP 2017, Chart 1: on oxygen 2, ACVPU A 0, temperature 37.5 °C 0, systolic 105 1, heart rate 105 1,
    // respiration 22 2, SpO2 95 (scale 1) 1: 7, no parameter scoring 3. The nurse's round, the thermometer and
    // the cuff come first (score 3); the wrist device sends normal values for 5 s (NEWS2 3), then brings it to 7 and keeps it
    // there for 26 s: a continuous device, so NEWS2_HIGH is confirmed 15 s after the 7 began.
    const t0 = Date.now() - 35_000
    const id = 'p-news2-seven'
    await send([
      reading(id, 'obs-7', 1, t0, { vitals: {}, onOxygen: true, consciousness: 'A' }),
      reading(id, 'thermo-7', 1, t0 + 1000, { vitals: { temperature: 37.5 } }),
      reading(id, 'cuff-7', 1, t0 + 2000, { vitals: { systolic: 105, diastolic: 70 } }),
      ...Array.from({ length: 31 }, (_, i) =>
        reading(id, 'wrist-7', i, t0 + 3000 + i * 1000, {
          vitals: i < 5 ? { heartRate: 80, respRate: 16, spo2: 97 } : { heartRate: 105, respRate: 22, spo2: 95 },
        }),
      ),
    ])
    await settled()

    const news2 = (await alertsOf(id)).filter((a) => a.vital === 'news2')
    expect(news2.map((a) => [a.kind, a.level, a.score, a.ts])).toEqual([['raised', 'NEWS2_HIGH', 7, t0 + 8000 + 15_000]])
    expect(news2[0]?.message).toContain('emergency')

    const state = (await (await api(`/api/patients/${id}`)).json()) as PatientState & { openAlerts: { level: string }[] }
    expect(state.news2).toMatchObject({ score: 7, complete: true, risk: 'high', missing: [] })
    expect(state.openAlerts[0]?.level).toBe('NEWS2_HIGH')
  })
})

function api(path: string): Promise<Response> {
  return fetch(`${serving.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
}
