/**
 * Devices bound to their patients (docs/SECURITY.md), against the real broker: devices are added,
 * reassigned and revoked through a registry of the test's own, and the gateway, following the
 * registry topic, accepts or refuses their readings; what it refuses never reaches Kafka. The time
 * a revocation takes to reach the gateway (the registry's follow latency) is printed, not asserted.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { pollUntil } from '../lib/backoff.ts'
import { loadConfig, type Config } from '../lib/config.ts'
import type { Reading } from '../lib/contract/schema.ts'
import type { DeviceRecord, Principal } from '../lib/identity/model.ts'
import { openRegistry, type Registry } from '../lib/identity/registry.ts'
import { createLogger } from '../lib/log.ts'
import { createTestEnv, freePort, type TestEnv } from '../test/support.ts'
import { readTopic, recordCount } from '../test/read-topic.ts'
import { gatewayOptions } from './config.ts'
import { start, type Gateway } from './gateway.ts'

const DEV_TOKEN = 'development-token-for-tests'
const ACTOR: Principal = { user: 'cli:tester@vigil-tests', role: 'admin', via: 'cli' }
const HOUR = 3_600_000
/** Devices revoked in the revocation test, each a measure of the registry's follow latency. */
const REVOCATIONS = Number(process.env.VIGIL_TEST_REVOCATIONS ?? 10)
const quiet = createLogger({ level: 'warn', destination: process.stderr })

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Setup {
  env: TestEnv
  gw: Gateway
  /** The registry an operator would use (`vigil device ...`), not the gateway's. */
  admin: Registry
}

async function setup(configOverride: Partial<Config> = {}): Promise<Setup> {
  const env = await createTestEnv()
  cleanups.push(() => env.cleanup())
  const admin = await openRegistry(env.config, { log: quiet, clientId: 'vigil-test-registry' })
  cleanups.push(() => admin.close())
  const gw = await start({ ...env.config, ...configOverride, gateway: gatewayOptions({ host: '127.0.0.1', port: 0 }) }, { log: quiet })
  cleanups.push(() => gw.stop())
  return { env, gw, admin }
}

/** Waits until the gateway's registry holds the device as `check` wants it; resolves with the wait, ms. */
async function gatewaySees(gw: Gateway, id: string, check: (d: DeviceRecord) => boolean = () => true): Promise<number> {
  const started = performance.now()
  await pollUntil(async () => (gw.registry()?.device(id) ?? false) && check(gw.registry()!.device(id)!), {
    timeoutMs: 30_000,
    intervalMs: 1,
    what: `the gateway to see device ${id}`,
  })
  return performance.now() - started
}

/** Registers a device assigned to `patientId` from `from`, and waits until the gateway sees it. */
async function addDevice(s: Setup, id: string, patientId: string, from: number): Promise<string> {
  const { credential } = await s.admin.addDevice({ id, kind: 'wearable', patientId, from }, ACTOR, 'admitted')
  await gatewaySees(s.gw, id)
  return credential
}

function reading(deviceId: string, patientId: string, ts: number, seq = 1): Reading {
  return { v: 1, patientId, deviceId, ts, seq, vitals: { heartRate: 72, spo2: 97 } }
}

function observation(deviceId: string, patientId: string, ts: number): unknown {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: `Patient/${patientId}` },
    device: { reference: `Device/${deviceId}` },
    effectiveDateTime: new Date(ts).toISOString(),
    valueQuantity: { value: 72, system: 'http://unitsofmeasure.org', code: '/min' },
  }
}

async function post(
  gw: Gateway,
  path: string,
  body: unknown,
  credential: string | null,
  contentType = 'application/json',
  // biome-ignore lint/suspicious/noExplicitAny: answers of many shapes, each test reads the fields it checks
): Promise<{ status: number; type: string; json: any; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': contentType }
  if (credential !== null) headers.authorization = `Bearer ${credential}`
  const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('content-type') ?? '', json: text.length > 0 ? JSON.parse(text) : undefined, headers: res.headers }
}

const FORBIDDEN = { status: 403, type: expect.stringContaining('application/problem+json') }

describe('the gateway with registered devices', () => {
  it("accepts a registered device's readings for the patient it is assigned to, and refuses with 403 every request holding another patient's, another device's or an unassigned time's reading, storing none of it", async () => {
    const s = await setup()
    const now = Date.now()
    const credential = await addDevice(s, 'wrist-a', 'p-a', now - HOUR)

    expect(await post(s.gw, '/v1/readings', reading('wrist-a', 'p-a', now), credential)).toMatchObject({ status: 202, json: { accepted: 1 } })
    expect(await post(s.gw, '/fhir/Observation', observation('wrist-a', 'p-a', now + 1), credential, 'application/fhir+json')).toMatchObject({ status: 202 })
    expect(await recordCount(s.env.config, s.env.topics.readings)).toBe(2)

    const otherPatient = await post(s.gw, '/v1/readings', [reading('wrist-a', 'p-a', now, 2), reading('wrist-a', 'p-b', now, 3)], credential)
    expect(otherPatient).toMatchObject({
      ...FORBIDDEN,
      json: {
        type: 'urn:vigil:problem:forbidden',
        status: 403,
        reason: 'not-assigned',
        errors: [{ pointer: '/1/patientId', detail: expect.stringContaining('"p-b"') }],
      },
    })
    expect(otherPatient.json.detail).toMatch(/nothing from this request was stored.*vigil device assign/)

    const ndjson = `${JSON.stringify(reading('wrist-a', 'p-a', now, 4))}\n${JSON.stringify(reading('wrist-b', 'p-a', now, 5))}\n`
    expect(await post(s.gw, '/v1/readings', ndjson, credential, 'application/x-ndjson')).toMatchObject({
      ...FORBIDDEN,
      json: { reason: 'device-mismatch', errors: [{ pointer: '/1/deviceId', line: 2 }] },
    })
    expect(await post(s.gw, '/v1/readings', reading('wrist-a', 'p-a', now - 2 * HOUR, 6), credential)).toMatchObject({
      ...FORBIDDEN,
      json: { reason: 'not-assigned', errors: [{ pointer: '/patientId' }] },
    })
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: observation('wrist-a', 'p-a', now + 2) }, { resource: observation('wrist-a', 'p-c', now + 3) }],
    }
    expect(await post(s.gw, '/fhir', bundle, credential, 'application/fhir+json')).toMatchObject({
      ...FORBIDDEN,
      json: { reason: 'not-assigned', errors: [{ pointer: '/mapped/1/patientId' }] },
    })
    const unknown = await post(s.gw, '/v1/readings', reading('wrist-a', 'p-a', now, 7), 'vgd_not-a-credential-anyone-issued')
    expect(unknown).toMatchObject({
      status: 401,
      json: { type: 'urn:vigil:problem:unauthorized', reason: 'unknown-credential', detail: expect.stringContaining('vigil device add') },
    })
    expect(await post(s.gw, '/v1/readings', reading('wrist-a', 'p-a', now, 8), null)).toMatchObject({ status: 401 })

    expect(await recordCount(s.env.config, s.env.topics.readings)).toBe(2)
    const stored = (await readTopic(s.env.config, s.env.topics.readings, 2)).map((r) => JSON.parse(r.value.toString()) as Reading)
    expect(stored.map((r) => [r.deviceId, r.patientId])).toEqual([
      ['wrist-a', 'p-a'],
      ['wrist-a', 'p-a'],
    ])
    expect(s.gw.stats()).toMatchObject({ accepted: 2, refused: 6, refusals: { 'unknown-credential': 2, revoked: 0, 'device-mismatch': 1, 'not-assigned': 3 } })
  })

  it("follows a reassignment: the new patient's readings are accepted from its time on, the old patient's only before it (uploaded within the grace)", async () => {
    const s = await setup()
    const now = Date.now()
    const credential = await addDevice(s, 'cuff-r', 'p-old', now - 2 * HOUR)
    const switchAt = now - HOUR
    await s.admin.assignDevice('cuff-r', 'p-new', switchAt, ACTOR, 'moved to bed 4')
    await gatewaySees(s.gw, 'cuff-r', (d) => d.assignments.length === 2)

    expect(await post(s.gw, '/v1/readings', [reading('cuff-r', 'p-old', switchAt - 1, 1), reading('cuff-r', 'p-new', switchAt, 2)], credential)).toMatchObject({
      status: 202,
      json: { accepted: 2 },
    })
    expect(await post(s.gw, '/v1/readings', reading('cuff-r', 'p-old', now, 3), credential)).toMatchObject({ ...FORBIDDEN, json: { reason: 'not-assigned' } })
    expect(await recordCount(s.env.config, s.env.topics.readings)).toBe(2)
  })

  it("refuses with 403 a reading timed far ahead of the gateway's clock (clock) and one for a patient the device left more than a day ago (not-assigned), storing neither", async () => {
    const s = await setup()
    const now = Date.now()
    const credential = await addDevice(s, 'wrist-f', 'p-left', now - 50 * HOUR)
    const handover = now - 25 * HOUR
    await s.admin.assignDevice('wrist-f', 'p-now', handover, ACTOR, 'moved to bed 7')
    await gatewaySees(s.gw, 'wrist-f', (d) => d.assignments.length === 2)

    const tenYears = now + 10 * 365 * 24 * HOUR
    const future = await post(s.gw, '/v1/readings', [reading('wrist-f', 'p-now', now, 1), reading('wrist-f', 'p-now', tenYears, 2)], credential)
    expect(future).toMatchObject({
      ...FORBIDDEN,
      json: {
        type: 'urn:vigil:problem:forbidden',
        reason: 'clock',
        errors: [{ pointer: '/1/ts', detail: expect.stringContaining("ahead of the gateway's clock") }],
      },
    })
    expect(future.json.detail).toMatch(/nothing from this request was stored.*set it \(NTP\)/)
    const fhirFuture = await post(s.gw, '/fhir/Observation', observation('wrist-f', 'p-now', tenYears), credential, 'application/fhir+json')
    expect(fhirFuture).toMatchObject({ ...FORBIDDEN, json: { reason: 'clock', errors: [{ pointer: '/mapped/0/ts' }] } })

    const afterGrace = await post(s.gw, '/v1/readings', reading('wrist-f', 'p-left', handover - HOUR, 3), credential)
    expect(afterGrace).toMatchObject({
      ...FORBIDDEN,
      json: { reason: 'not-assigned', errors: [{ pointer: '/patientId', detail: expect.stringContaining('ended more than 24 h ago') }] },
    })
    expect(await post(s.gw, '/v1/readings', reading('wrist-f', 'p-now', handover, 4), credential)).toMatchObject({ status: 202, json: { accepted: 1 } })

    const stored = (await readTopic(s.env.config, s.env.topics.readings, 1)).map((r) => JSON.parse(r.value.toString()) as Reading)
    expect(stored.map((r) => [r.patientId, r.seq])).toEqual([['p-now', 4]])
    expect(await recordCount(s.env.config, s.env.topics.readings)).toBe(1)
    expect(s.gw.stats()).toMatchObject({ accepted: 1, refused: 3, refusals: { clock: 2, 'not-assigned': 1, 'device-mismatch': 0 } })
  })

  it('refuses a revoked device with 403 once the revocation reaches the gateway, and nothing more of it reaches Kafka', async () => {
    const s = await setup()
    const now = Date.now()
    const latencies: number[] = []
    for (let i = 0; i < REVOCATIONS; i++) {
      const id = `wear-${i}`
      const credential = await addDevice(s, id, `p-${i}`, now - HOUR)
      expect(await post(s.gw, '/v1/readings', reading(id, `p-${i}`, now), credential)).toMatchObject({ status: 202 })
      // From the operator's call (`vigil device revoke`) to the gateway's registry holding the revocation.
      const [, latency] = await Promise.all([s.admin.revokeDevice(id, ACTOR, 'reported lost'), gatewaySees(s.gw, id, (d) => d.revokedAt !== null)])
      latencies.push(latency)
      const refused = await post(s.gw, '/v1/readings', reading(id, `p-${i}`, now + 1, 2), credential)
      expect(refused).toMatchObject({
        ...FORBIDDEN,
        json: { type: 'urn:vigil:problem:forbidden', reason: 'revoked', detail: expect.stringContaining(`"${id}" was revoked`) },
      })
    }
    expect(await recordCount(s.env.config, s.env.topics.readings)).toBe(REVOCATIONS)
    expect(s.gw.stats().refusals.revoked).toBe(REVOCATIONS)
    const sorted = [...latencies].sort((a, b) => a - b)
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(1)
    console.log(`revocation reached the gateway ${REVOCATIONS} times in: median ${pct(0.5)} ms, p90 ${pct(0.9)} ms, max ${pct(1)} ms`)
  })

  it('in development mode accepts VIGIL_DEVICE_TOKENS for any device and patient, while a registered device stays bound', async () => {
    const s = await setup({ deviceTokens: [DEV_TOKEN] })
    const now = Date.now()
    const credential = await addDevice(s, 'cgm-d', 'p-d', now - HOUR)
    expect(s.gw.deviceTokens).toEqual([DEV_TOKEN])
    expect(await post(s.gw, '/v1/readings', [reading('anything-1', 'p-x', now), reading('cgm-d', 'p-y', now)], DEV_TOKEN)).toMatchObject({
      status: 202,
      json: { accepted: 2 },
    })
    expect(await post(s.gw, '/v1/readings', reading('cgm-d', 'p-y', now), credential)).toMatchObject({ ...FORBIDDEN, json: { reason: 'not-assigned' } })
    expect(await recordCount(s.env.config, s.env.topics.readings)).toBe(2)
  })

  it('answers a credential 503 with Retry-After, not 401, while the registry cannot be read, and lets a development token through to the producer', async () => {
    const env = await createTestEnv()
    cleanups.push(() => env.cleanup())
    const config = { ...loadConfig({ kafkaBrokers: `127.0.0.1:${await freePort()}`, topicPrefix: env.config.topicPrefix }, {}), deviceTokens: [DEV_TOKEN] }
    const gw = await start({ ...config, gateway: gatewayOptions({ host: '127.0.0.1', port: 0, retryAfterS: 1 }) }, { log: quiet })
    cleanups.push(() => gw.stop())
    expect(gw.registry()).toBeUndefined()
    const answer = await post(gw, '/v1/readings', reading('wrist-z', 'p-z', Date.now()), 'vgd_a-credential-the-gateway-cannot-check-yet')
    expect(answer).toMatchObject({ status: 503, json: { type: 'urn:vigil:problem:kafka-unavailable', detail: expect.stringContaining('registry') } })
    expect(answer.headers.get('retry-after')).toBe('1')
    expect(await post(gw, '/v1/readings', reading('wrist-z', 'p-z', Date.now()), DEV_TOKEN)).toMatchObject({ status: 503 })
    expect(gw.stats().refusals).toEqual({ 'unknown-credential': 0, revoked: 0, 'device-mismatch': 0, 'not-assigned': 0, clock: 0 })
  })
})
