import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../lib/log.ts'
import { loadConfig, type Config } from '../lib/config.ts'
import { pollUntil } from '../lib/backoff.ts'
import { createTestEnv, freePort, startTcpProxy, type TestEnv } from '../test/support.ts'
import { readTopic, recordCount } from '../test/read-topic.ts'
import { start, type Gateway } from './gateway.ts'
import { gatewayOptions, type GatewayOptionsInput } from './config.ts'
import { EXPECTED } from './fixtures/fhir-vitalsigns-examples.ts'
import type { Reading } from '../lib/contract/schema.ts'

const TOKEN = 'device-token-for-tests'
const quiet = createLogger({ level: 'warn', destination: process.stderr })

const envs: TestEnv[] = []
const gateways: Gateway[] = []
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.stop()
  for (const e of envs.splice(0)) await e.cleanup()
})

async function setup(options: GatewayOptionsInput = {}, configOverride: Partial<Config> = {}): Promise<{ env: TestEnv; gw: Gateway; config: Config }> {
  const env = await createTestEnv()
  envs.push(env)
  const config = { ...env.config, deviceTokens: [TOKEN], ...configOverride }
  const gw = await start({ ...config, gateway: gatewayOptions({ host: '127.0.0.1', port: 0, ...options }) }, { log: quiet })
  gateways.push(gw)
  return { env, gw, config }
}

function reading(n: number, over: Partial<Reading> = {}): Reading {
  return {
    v: 1,
    patientId: `p-${String(n % 5).padStart(4, '0')}`,
    deviceId: `wrist-${n % 5}`,
    ts: 1763805600000 + n * 1000,
    seq: n + 1,
    vitals: { heartRate: 60 + (n % 40), spo2: 97 },
    ...over,
  }
}

async function post(
  gw: Gateway,
  path: string,
  body: string,
  contentType: string,
  token: string | null = TOKEN,
  // biome-ignore lint/suspicious/noExplicitAny: answers of many shapes, each test reads the fields it checks
): Promise<{ status: number; type: string; json: any; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': contentType }
  if (token !== null) headers.authorization = `Bearer ${token}`
  const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers, body })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('content-type') ?? '', json: text.length > 0 ? JSON.parse(text) : undefined, headers: res.headers }
}

describe('vigil ingest (the device gateway)', () => {
  it('answers /healthz without a token', async () => {
    const { gw } = await setup()
    const res = await fetch(`${gw.url}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok', kafka: 'ok' })
  })

  it('accepts one JSON reading and an NDJSON batch with 202 and the count, after Kafka has them, keyed by patient', async () => {
    const { gw, env } = await setup()
    const one = await post(gw, '/v1/readings', JSON.stringify(reading(1)), 'application/json')
    expect(one).toMatchObject({ status: 202, json: { accepted: 1 } })
    const batch = `${[2, 3, 4].map((n) => JSON.stringify(reading(n))).join('\n')}\n`
    const many = await post(gw, '/v1/readings', batch, 'application/x-ndjson; charset=utf-8')
    expect(many).toMatchObject({ status: 202, json: { accepted: 3 } })
    expect(await recordCount(env.config, env.topics.readings)).toBe(4)
    const records = await readTopic(env.config, env.topics.readings, 4)
    const got = records.map((r) => ({ key: r.key, reading: JSON.parse(r.value.toString()) as Reading })).sort((a, b) => a.reading.seq - b.reading.seq)
    expect(got).toEqual([1, 2, 3, 4].map((n) => ({ key: reading(n).patientId, reading: reading(n) })))
  })

  it('maps every FHIR R4 vital-signs example, posted one by one and as a Bundle, to its reading on the topic', async () => {
    const { gw, env } = await setup()
    for (const { obs } of EXPECTED) {
      const res = await post(gw, '/fhir/Observation', JSON.stringify(obs), 'application/fhir+json')
      expect(res, JSON.stringify(res.json)).toMatchObject({ status: 202, json: { accepted: 1 } })
    }
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [...EXPECTED.map(({ obs }) => ({ resource: obs })), { resource: { resourceType: 'Patient', id: 'example' } }],
    }
    expect(await post(gw, '/fhir', JSON.stringify(bundle), 'application/fhir+json')).toMatchObject({
      status: 202,
      json: { accepted: EXPECTED.length, ignored: 1 },
    })
    const n = EXPECTED.length * 2
    const records = await readTopic(env.config, env.topics.readings, n)
    const values = records.map((r) => JSON.parse(r.value.toString()) as Reading)
    for (const { name, reading: expected } of EXPECTED)
      expect(
        values.filter((v) => JSON.stringify(v) === JSON.stringify(expected)),
        name,
      ).toHaveLength(2)
  })

  it('carries onOxygen and consciousness from a reading, an NDJSON nurse observation and FHIR oxygen and ACVPU Observations to the topic', async () => {
    const { gw, env } = await setup()
    const withAssessments = reading(1, { onOxygen: true, consciousness: 'A' })
    expect(await post(gw, '/v1/readings', JSON.stringify(withAssessments), 'application/json')).toMatchObject({ status: 202 })
    const nurseLine = JSON.stringify(reading(2, { deviceId: 'obs-2', vitals: {}, consciousness: 'C' }))
    expect(await post(gw, '/v1/readings', `${nurseLine}\n`, 'application/x-ndjson')).toMatchObject({ status: 202 })
    const nothing = await post(gw, '/v1/readings', JSON.stringify(reading(3, { vitals: {} })), 'application/json')
    expect(nothing).toMatchObject({ status: 400, json: { errors: [{ pointer: '/', detail: expect.stringContaining('a reading must hold at least one of') }] } })
    const base = { resourceType: 'Observation', status: 'final', subject: { reference: 'Patient/p-0009' }, effectiveDateTime: '2026-03-01T10:00:00Z' }
    const flow = {
      ...base,
      code: { coding: [{ system: 'http://loinc.org', code: '3151-8' }] },
      valueQuantity: { value: 2, system: 'http://unitsofmeasure.org', code: 'L/min' },
    }
    const acvpu = (code: string) => ({
      ...base,
      code: { coding: [{ system: 'http://loinc.org', code: '67775-7' }] },
      valueCodeableConcept: { coding: [{ system: 'http://loinc.org', code }] },
    })
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: flow }, { resource: acvpu('LA17108-4') }] }
    expect(await post(gw, '/fhir', JSON.stringify(bundle), 'application/fhir+json')).toMatchObject({ status: 202, json: { accepted: 2 } })
    const unknown = await post(gw, '/fhir/Observation', JSON.stringify(acvpu('LA6561-0')), 'application/fhir+json')
    expect(unknown).toMatchObject({
      status: 400,
      type: expect.stringContaining('application/problem+json'),
      json: { errors: [{ pointer: '/valueCodeableConcept/coding', detail: expect.stringContaining('not an ACVPU level Vigil knows') }] },
    })
    const values = (await readTopic(env.config, env.topics.readings, 4)).map((r) => JSON.parse(r.value.toString()) as Reading)
    const ts = Date.UTC(2026, 2, 1, 10)
    expect(values.sort((a, b) => a.patientId.localeCompare(b.patientId) || a.seq - b.seq)).toEqual([
      withAssessments,
      JSON.parse(nurseLine),
      { v: 1, patientId: 'p-0009', deviceId: 'fhir-p-0009', ts, seq: ts * 16 + 8, vitals: {}, onOxygen: true },
      { v: 1, patientId: 'p-0009', deviceId: 'fhir-p-0009', ts, seq: ts * 16 + 9, vitals: {}, consciousness: 'V' },
    ])
    expect(await recordCount(env.config, env.topics.readings)).toBe(4)
  })

  it('answers each bad request with its status and an application/problem+json naming every bad field, and stores nothing', async () => {
    const { gw, env } = await setup({ bodyLimitBytes: 4_096 })
    const good = JSON.stringify(reading(1))
    const noToken = await post(gw, '/v1/readings', good, 'application/json', null)
    expect(noToken).toMatchObject({
      status: 401,
      type: expect.stringContaining('application/problem+json'),
      json: { status: 401, title: expect.any(String), type: expect.any(String) },
    })
    expect(noToken.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect(await post(gw, '/v1/readings', good, 'application/json', 'not-a-valid-token')).toMatchObject({ status: 401 })
    expect(await post(gw, '/v1/readings', good, 'text/plain')).toMatchObject({ status: 415, type: expect.stringContaining('application/problem+json') })
    expect(await post(gw, '/fhir/Observation', good, 'application/x-ndjson')).toMatchObject({ status: 415 })
    const big = Array.from({ length: 60 }, (_, i) => JSON.stringify(reading(i))).join('\n')
    expect(await post(gw, '/v1/readings', big, 'application/x-ndjson')).toMatchObject({ status: 413, json: { status: 413 } })
    expect(await post(gw, '/v1/readings', '{"v":1,', 'application/json')).toMatchObject({ status: 400, json: { errors: [{ pointer: '/' }] } })

    const invalid = await post(
      gw,
      '/v1/readings',
      JSON.stringify({ v: 1, patientId: '', ts: 'noon', seq: -1, vitals: { heartRate: 'fast' } }),
      'application/json',
    )
    expect(invalid.status).toBe(400)
    const pointers = [...new Set((invalid.json.errors as Array<{ pointer: string }>).map((e) => e.pointer))].sort()
    expect(pointers).toEqual(['/deviceId', '/patientId', '/seq', '/ts', '/vitals/heartRate'])

    const mixed = [JSON.stringify(reading(1)), '{"broken"', JSON.stringify({ ...reading(3), vitals: { spo2: '97' } })].join('\n')
    const m = await post(gw, '/v1/readings', mixed, 'application/x-ndjson')
    expect(m.status).toBe(400)
    expect(m.json.errors).toEqual([
      { pointer: '/1', line: 2, detail: expect.stringMatching(/not valid JSON/) },
      { pointer: '/2/vitals/spo2', line: 3, detail: expect.any(String) },
    ])

    const fhirBad = await post(
      gw,
      '/fhir/Observation',
      JSON.stringify({ ...EXPECTED[0]!.obs, valueQuantity: { value: 44, system: 'http://unitsofmeasure.org', code: 'kg' } }),
      'application/fhir+json',
    )
    expect(fhirBad).toMatchObject({
      status: 400,
      json: { errors: [{ pointer: '/valueQuantity/code', detail: expect.stringMatching(/unit "kg" is not accepted for heartRate/) }] },
    })
    expect(await post(gw, '/fhir', JSON.stringify({ resourceType: 'Observation' }), 'application/fhir+json')).toMatchObject({
      status: 400,
      json: { errors: [{ pointer: '/resourceType' }] },
    })
    expect(await post(gw, '/v2/readings', good, 'application/json')).toMatchObject({ status: 404, json: { status: 404 } })

    expect(await recordCount(env.config, env.topics.readings)).toBe(0)
  })

  it('shares produce requests between concurrent HTTP requests', async () => {
    const { gw, env } = await setup()
    const bodies = Array.from({ length: 40 }, (_, i) => Array.from({ length: 25 }, (_, j) => JSON.stringify(reading(i * 25 + j))).join('\n'))
    const answers = await Promise.all(bodies.map((b) => post(gw, '/v1/readings', b, 'application/x-ndjson')))
    expect(answers.every((a) => a.status === 202 && a.json.accepted === 25)).toBe(true)
    expect(gw.producer.stats.acked).toBe(1_000)
    expect(gw.producer.stats.requests).toBeLessThan(40)
    expect(await recordCount(env.config, env.topics.readings)).toBe(1_000)
  })

  it('answers 503 with Retry-After while the broker is unreachable, stores nothing, and recovers when it is back', async () => {
    const env = await createTestEnv()
    envs.push(env)
    const port = await freePort()
    const config = { ...loadConfig({ kafkaBrokers: `127.0.0.1:${port}`, topicPrefix: env.config.topicPrefix }, {}), deviceTokens: [TOKEN] }
    const gw = await start({ ...config, gateway: gatewayOptions({ host: '127.0.0.1', port: 0, retryAfterS: 1 }) }, { log: quiet })
    gateways.push(gw)
    const down = await post(gw, '/v1/readings', JSON.stringify(reading(1)), 'application/json')
    expect(down).toMatchObject({ status: 503, type: expect.stringContaining('application/problem+json'), json: { status: 503 } })
    expect(down.headers.get('retry-after')).toBe('1')
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(503)
    const proxy = await startTcpProxy(port, env.config.kafkaBrokers[0]!)
    try {
      const up = await pollUntil(
        async () => {
          const r = await post(gw, '/v1/readings', JSON.stringify(reading(2)), 'application/json')
          return r.status === 202 ? r : undefined
        },
        { timeoutMs: 30_000, intervalMs: 250, what: 'the gateway to accept readings again' },
      )
      expect(up.json).toEqual({ accepted: 1 })
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200)
    } finally {
      await gw.stop()
      gateways.splice(gateways.indexOf(gw), 1)
      await proxy.close()
    }
    const records = await readTopic(env.config, env.topics.readings, 1)
    expect(records.map((r) => JSON.parse(r.value.toString()))).toEqual([reading(2)])
  })
})
