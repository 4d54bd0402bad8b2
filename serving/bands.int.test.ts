import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import type { Config } from '../lib/config.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { readPatientBands } from '../lib/band-store.ts'
import { classifyVital } from '../lib/bands.ts'
import type { AuditEvent } from '../lib/identity/model.ts'
import { createLogger } from '../lib/log.ts'
import { start, servingOptions, type Serving } from './index.ts'
import { freePort } from '../test/view-fixtures.ts'

const TOKEN = 'bands-test-token-0123456789'

let env: TestEnv
let serving: Serving
let redis: RedisClient

const call = (method: string, path: string, body?: unknown) =>
  fetch(`${serving.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })

beforeAll(async () => {
  env = await createTestEnv()
  const config: Config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  redis = await connectRedis(config)
  serving = await start({ ...config, serving: servingOptions() }, { log: createLogger({ level: 'silent' }) })
})

afterAll(async () => {
  await serving?.stop()
  redis?.destroy()
  await env?.cleanup()
})

describe('per-patient band overrides over the API', () => {
  it('gives the default bands of a patient without overrides', async () => {
    const res = await call('GET', '/api/patients/p-athlete/bands')
    expect(res.status).toBe(200)
    const body = (await res.json()) as { overridden: string[]; bands: Record<string, Array<{ max: number | null; status: string }>> }
    expect(body.overridden).toEqual([])
    expect(body.bands.heartRate?.[0]).toEqual({ max: 40, maxInclusive: true, status: 'CRITICAL_LOW', score: 3 })
  })

  it("stores an athlete's resting heart rate of 45 as normal, where the speed layer reads it", async () => {
    const res = await call('PUT', '/api/patients/p-athlete/bands', { bands: ['heartRate:normal=40-90'], reason: 'athlete, resting pulse in the 40s' })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { overridden: string[] }
    expect(body.overridden).toEqual(['heartRate'])
    const stored = await readPatientBands(redis, redisKeys(env.config.redisPrefix), 'p-athlete')
    expect(classifyVital('heartRate', 45, stored.table)).toBe('NORMAL')
    expect(classifyVital('heartRate', 45)).toBe('WARNING')
  })

  it('applies the NEWS2 SpO2 scale 2 preset for a COPD patient: 89 % is normal', async () => {
    const res = await call('PUT', '/api/patients/p-copd/bands', { bands: ['spo2:news2-scale2'], reason: 'COPD, prescribed target 88-92 %' })
    expect(res.status).toBe(200)
    const stored = await readPatientBands(redis, redisKeys(env.config.redisPrefix), 'p-copd')
    expect(classifyVital('spo2', 89, stored.table)).toBe('NORMAL')
    expect(classifyVital('spo2', 89)).toBe('CRITICAL_LOW')
  })

  it('refuses a malformed band spec with 400 naming it, and changes nothing', async () => {
    const res = await call('PUT', '/api/patients/p-copd/bands', { bands: ['pulse:normal=1-2'], reason: 'typo' })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { message: string }).message).toContain('"pulse:normal=1-2"')
    const stored = await readPatientBands(redis, redisKeys(env.config.redisPrefix), 'p-copd')
    expect(Object.keys(stored.overrides)).toEqual(['spo2'])
  })

  it('refuses a change without a reason with 400, and changes nothing', async () => {
    for (const body of [{ bands: ['spo2:default'] }, { bands: ['spo2:default'], reason: '' }]) {
      const res = await call('PUT', '/api/patients/p-copd/bands', body)
      expect(res.status).toBe(400)
    }
    const stored = await readPatientBands(redis, redisKeys(env.config.redisPrefix), 'p-copd')
    expect(Object.keys(stored.overrides)).toEqual(['spo2'])
  })

  it("records each change in the patient's audit trail with who, why, and the overrides before and after", async () => {
    const res = await call('GET', '/api/patients/p-copd/audit')
    expect(res.status).toBe(200)
    const events = (await res.json()) as AuditEvent[]
    expect(events).toHaveLength(1)
    const event = events[0]!
    expect(event).toMatchObject({
      action: 'patient.bands',
      actor: { user: 'VIGIL_TOKEN', role: 'admin', via: 'token' },
      patientId: 'p-copd',
      subject: 'p-copd',
      before: {},
      reason: 'COPD, prescribed target 88-92 %',
    })
    expect((event.after as { spo2: unknown[] }).spo2[0]).toEqual({
      max: 83,
      maxInclusive: true,
      status: 'CRITICAL_LOW',
      score: 3,
    })
  })

  it('needs the token', async () => {
    const res = await fetch(`${serving.url}/api/patients/p-copd/bands`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"bands":["spo2:default"],"reason":"x"}',
    })
    expect(res.status).toBe(401)
  })
})
