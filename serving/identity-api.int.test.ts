import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestEnv, type TestEnv } from '../test/support.ts'
import type { Config } from '../lib/config.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import type { AlertEvent } from '../lib/contract/views.ts'
import { readPatientBands } from '../lib/band-store.ts'
import { credentialHash, type AuditEvent } from '../lib/identity/model.ts'
import { createLogger } from '../lib/log.ts'
import { freePort, writeAlert } from '../test/view-fixtures.ts'
import { start, servingOptions, type Serving } from './index.ts'
import { ackKey } from './view.ts'

/**
 * The API of identity and audit (docs/SECURITY.md) against a real broker and Redis: acknowledging
 * as the signed-in user, band changes with a reason, the admin API, the audit trail read back, and
 * no secret in any answer.
 */
const TOKEN = 'identity-api-test-token-0123456789'
const T0 = Date.parse('2026-11-20T10:00:00Z')
const PASSWORD = 'correct horse battery staple'

let env: TestEnv
let config: Config
let serving: Serving
let redis: RedisClient
let keys: RedisKeys
/** Every answer's body, to look for secrets in all of them at the end. */
const answers: Array<{ what: string; body: string }> = []
/** The one answer allowed to hold a device credential: the one that created it. */
const credentials = new Map<string, string>()
/** The session cookie of each signed-in user. */
const cookies = new Map<string, string>()

async function call(method: string, path: string, as: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const auth: Record<string, string> = as === 'token' ? { authorization: `Bearer ${TOKEN}` } : { cookie: cookies.get(as) ?? '' }
  const res = await fetch(`${serving.url}${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual',
  })
  const text = await res.text()
  answers.push({ what: `${method} ${path}`, body: text })
  let json: unknown = null
  try {
    json = JSON.parse(text)
  } catch {
    // Not every answer is JSON (a bare 401); `text` has it.
  }
  return { status: res.status, json, text }
}

/** Adds a user through the admin API and signs them in: their session cookie is then in `cookies`. */
async function addAndSignIn(username: string, role: 'viewer' | 'clinician' | 'admin'): Promise<void> {
  const added = await call('POST', '/api/admin/users', 'token', { username, role, password: PASSWORD })
  expect(added.status).toBe(201)
  await signIn(username, PASSWORD)
}

async function signIn(username: string, password: string): Promise<number> {
  const res = await fetch(`${serving.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
    redirect: 'manual',
  })
  answers.push({ what: `POST /login ${username}`, body: await res.text() })
  const cookie = res.headers.get('set-cookie')?.split(';')[0]
  if (res.status < 400 && cookie !== undefined) cookies.set(username, cookie)
  return res.status
}

async function auditOf(patientId: string, as = 'token'): Promise<AuditEvent[]> {
  const res = await call('GET', `/api/patients/${patientId}/audit`, as)
  expect(res.status).toBe(200)
  return res.json as AuditEvent[]
}

function alertFor(patientId: string, n: number): AlertEvent {
  return { id: `${patientId}|spo2|raised|${n}`, patientId, vital: 'spo2', kind: 'raised', level: 'CRITICAL_LOW', value: 85, ts: T0 + n, message: 'SpO2 85' }
}

async function startServing(): Promise<Serving> {
  return start({ ...config, serving: servingOptions() }, { log: createLogger({ level: 'silent' }) })
}

beforeAll(async () => {
  env = await createTestEnv()
  config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  keys = redisKeys(config.redisPrefix)
  redis = await connectRedis(config)
  serving = await startServing()
  await addAndSignIn('nurse-kim', 'clinician')
  await addAndSignIn('student-lee', 'viewer')
})

afterAll(async () => {
  await serving?.stop()
  redis?.destroy()
  await env?.cleanup()
})

describe('acknowledging as the signed-in user', () => {
  it('records the signed-in clinician as who acknowledged, never a name in the body, and writes exactly one audit event with the user and the note', async () => {
    const alert = alertFor('p-ack', 1)
    await writeAlert(redis, keys, alert)
    const spoofed = await call('POST', `/api/alerts/${encodeURIComponent(alert.id)}/ack`, 'nurse-kim', { by: 'Dr Somebody Else' })
    expect(spoofed.status).toBe(400)
    expect(await redis.hGet(ackKey(keys), alert.id)).toBeNull()

    const before = Date.now()
    const ack = await call('POST', `/api/alerts/${encodeURIComponent(alert.id)}/ack`, 'nurse-kim', { note: 'on my way to bed 4' })
    expect(ack.status).toBe(200)
    const answered = ack.json as { id: string; ack: { by: string; at: number } }
    expect(answered.ack.by).toBe('nurse-kim')
    expect(answered.ack.at).toBeGreaterThanOrEqual(before)
    expect(JSON.parse((await redis.hGet(ackKey(keys), alert.id)) ?? '{}')).toEqual(answered.ack)

    // A second press changes nothing and records nothing more.
    const again = await call('POST', `/api/alerts/${encodeURIComponent(alert.id)}/ack`, 'nurse-kim', {})
    expect(again.status).toBe(200)
    expect((again.json as { ack: unknown }).ack).toEqual(answered.ack)

    const events = await auditOf('p-ack', 'nurse-kim')
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({
      v: 1,
      action: 'alert.acknowledge',
      actor: { user: 'nurse-kim', role: 'clinician', via: 'session' },
      patientId: 'p-ack',
      subject: alert.id,
      before: null,
      after: answered.ack,
      reason: 'on my way to bed 4',
    })
  })

  it('refuses a viewer with 403 and writes nothing, in Redis or in the audit trail', async () => {
    const alert = alertFor('p-viewer', 1)
    await writeAlert(redis, keys, alert)
    const res = await call('POST', `/api/alerts/${encodeURIComponent(alert.id)}/ack`, 'student-lee', {})
    expect(res.status).toBe(403)
    expect((res.json as { error: string }).error).toBe('Forbidden')
    expect(await redis.hGet(ackKey(keys), alert.id)).toBeNull()
    expect(await auditOf('p-viewer')).toEqual([])
    // A viewer still sees the alert, and may not read the audit trail.
    expect((await call('GET', '/api/alerts?patientId=p-viewer', 'student-lee')).status).toBe(200)
    expect((await call('GET', '/api/patients/p-viewer/audit', 'student-lee')).status).toBe(403)
  })
})

describe('band changes with a reason', () => {
  it('refuses a band change without a reason with 400 and changes nothing; with one, records who, why, before and after', async () => {
    const bands = ['spo2:news2-scale2']
    for (const body of [{ bands }, { bands, reason: '   ' }]) {
      const res = await call('PUT', '/api/patients/p-copd/bands', 'nurse-kim', body)
      expect(res.status).toBe(400)
    }
    expect((await readPatientBands(redis, keys, 'p-copd')).overrides).toEqual({})
    expect(await auditOf('p-copd')).toEqual([])
    expect((await call('PUT', '/api/patients/p-copd/bands', 'student-lee', { bands, reason: 'COPD' })).status).toBe(403)

    const res = await call('PUT', '/api/patients/p-copd/bands', 'nurse-kim', { bands, reason: 'COPD, prescribed target 88-92 %' })
    expect(res.status).toBe(200)
    expect(Object.keys((await readPatientBands(redis, keys, 'p-copd')).overrides)).toEqual(['spo2'])
    const [event, ...rest] = await auditOf('p-copd', 'nurse-kim')
    expect(rest).toEqual([])
    expect(event).toMatchObject({
      action: 'patient.bands',
      actor: { user: 'nurse-kim', role: 'clinician' },
      patientId: 'p-copd',
      before: {},
      reason: 'COPD, prescribed target 88-92 %',
    })
    expect(Object.keys(event?.after as object)).toEqual(['spo2'])
  })
})

describe('the admin API', () => {
  it('adds a device with its credential shown once, assigns it, revokes it, and each step is in the audit trail', async () => {
    const added = await call('POST', '/api/admin/devices', 'token', { id: 'w-100', kind: 'wearable', patientId: 'p-dev', reason: 'admitted to ward 3' })
    expect(added.status).toBe(201)
    const { device, credential } = added.json as { device: Record<string, unknown>; credential: string }
    credentials.set(credential, 'POST /api/admin/devices')
    expect(credential).toMatch(/^vgd_/)
    expect(device).toMatchObject({ id: 'w-100', kind: 'wearable', revokedAt: null, patientId: 'p-dev' })
    expect((await call('POST', '/api/admin/devices', 'token', { id: 'w-100', kind: 'cuff' })).status).toBe(409)

    const moved = await call('POST', '/api/admin/devices/w-100/assign', 'token', { patientId: 'p-dev2', reason: 'moved to the next bed' })
    expect(moved.status).toBe(200)
    expect(moved.json).toMatchObject({ patientId: 'p-dev2', assignments: [{ patientId: 'p-dev' }, { patientId: 'p-dev2', to: null }] })
    expect((await call('POST', '/api/admin/devices/nope-1/assign', 'token', { patientId: 'p-dev' })).status).toBe(404)
    expect((await call('POST', '/api/admin/devices/w-100/revoke', 'token', {})).status).toBe(400)

    const revoked = await call('POST', '/api/admin/devices/w-100/revoke', 'token', { reason: 'reported lost' })
    expect(revoked.status).toBe(200)
    expect((revoked.json as { revokedAt: number | null }).revokedAt).toEqual(expect.any(Number))
    const list = (await call('GET', '/api/admin/devices', 'token')).json as Array<Record<string, unknown>>
    expect(list.find((d) => d.id === 'w-100')).toEqual(revoked.json)

    const trail = (await call('GET', '/api/audit?limit=10000', 'token')).json as AuditEvent[]
    const mine = trail.filter((e) => e.subject === 'w-100')
    // The move is in the trail of the patient the device leaves and of the one it joins.
    expect(mine.map((e) => [e.action, e.patientId, e.actor.user, e.reason])).toEqual([
      ['device.add', 'p-dev', 'VIGIL_TOKEN', 'admitted to ward 3'],
      ['device.assign', 'p-dev', 'VIGIL_TOKEN', 'moved to the next bed'],
      ['device.assign', 'p-dev2', 'VIGIL_TOKEN', 'moved to the next bed'],
      ['device.revoke', 'p-dev2', 'VIGIL_TOKEN', 'reported lost'],
    ])
    // A clinician sees devices through neither route.
    expect((await call('GET', '/api/admin/devices', 'nurse-kim')).status).toBe(403)
    expect((await call('GET', '/api/audit', 'nurse-kim')).status).toBe(403)
  })

  it('adds a user, changes their role and password, disables them, and refuses what does not fit', async () => {
    expect((await call('POST', '/api/admin/users', 'token', { username: 'dr-ode', role: 'viewer', password: PASSWORD })).status).toBe(201)
    expect((await call('POST', '/api/admin/users', 'token', { username: 'dr-ode', role: 'admin', password: PASSWORD })).status).toBe(409)
    expect((await call('POST', '/api/admin/users', 'token', { username: ' dr-ode', role: 'admin', password: PASSWORD })).status).toBe(400)
    expect((await call('POST', '/api/admin/users', 'token', { username: 'dr-x', role: 'root', password: PASSWORD })).status).toBe(400)
    expect((await call('PATCH', '/api/admin/users/nobody', 'token', { role: 'admin' })).status).toBe(404)
    expect((await call('PATCH', '/api/admin/users/dr-ode', 'token', {})).status).toBe(400)

    const promoted = await call('PATCH', '/api/admin/users/dr-ode', 'token', { role: 'clinician', reason: 'registrar from Monday' })
    expect(promoted.status).toBe(200)
    expect(promoted.json).toMatchObject({ username: 'dr-ode', role: 'clinician', disabled: false })
    const newPassword = 'another long passphrase 42'
    expect((await call('PATCH', '/api/admin/users/dr-ode', 'token', { password: newPassword })).status).toBe(200)
    expect(await signIn('dr-ode', PASSWORD)).toBeGreaterThanOrEqual(400)
    expect(await signIn('dr-ode', newPassword)).toBeLessThan(400)
    expect((await call('GET', '/api/patients', 'dr-ode')).status).toBe(200)

    const disabled = await call('PATCH', '/api/admin/users/dr-ode', 'token', { disabled: true, reason: 'left the trust' })
    expect(disabled.json).toMatchObject({ username: 'dr-ode', disabled: true })
    expect((await call('GET', '/api/patients', 'dr-ode')).status).toBe(401)

    const users = (await call('GET', '/api/admin/users', 'token')).json as Array<Record<string, unknown>>
    expect(users.map((u) => u.username)).toEqual(['dr-ode', 'nurse-kim', 'student-lee'])
    const trail = (await call('GET', '/api/audit?limit=10000', 'token')).json as AuditEvent[]
    expect(trail.filter((e) => e.subject === 'dr-ode').map((e) => e.action)).toEqual(['user.add', 'user.role', 'user.password', 'user.disable'])
  })
})

describe('the audit trail', () => {
  it('survives a restart of the serving layer: the same events, in the same order', async () => {
    const before = (await call('GET', '/api/audit?limit=10000', 'token')).json as AuditEvent[]
    expect(before.length).toBeGreaterThanOrEqual(10)
    await serving.stop()
    serving = await startServing()
    const after = (await call('GET', '/api/audit?limit=10000', 'token')).json as AuditEvent[]
    expect(after).toEqual(before)
    expect((await auditOf('p-ack')).map((e) => e.actor.user)).toEqual(['nurse-kim'])
    // Filters: one patient, and the newest `limit` at or after `since`.
    const copd = (await call('GET', '/api/audit?patientId=p-copd', 'token')).json as AuditEvent[]
    expect(copd.map((e) => e.action)).toEqual(['patient.bands'])
    const last = before.at(-1)!
    expect(((await call('GET', '/api/audit?limit=1', 'token')).json as AuditEvent[]).map((e) => e.id)).toEqual([last.id])
    const since = (await call('GET', `/api/audit?since=${last.at}`, 'token')).json as AuditEvent[]
    expect(since.every((e) => e.at >= last.at)).toBe(true)
    expect(since.map((e) => e.id)).toContain(last.id)
  })

  it('holds no secret, and neither does any answer: no password hash, no credential hash, a credential only where it was created', () => {
    expect(answers.length).toBeGreaterThan(30)
    const hashes = [...credentials.keys()].map(credentialHash)
    for (const { what, body } of answers) {
      expect(body, what).not.toMatch(/scrypt\$|passwordHash|credentialHash/)
      expect(body, what).not.toContain(PASSWORD)
      for (const hash of hashes) expect(body, what).not.toContain(hash)
      for (const [credential, where] of credentials) if (what !== where) expect(body, what).not.toContain(credential)
    }
  })
})
