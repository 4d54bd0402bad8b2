import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestEnv, freePort, type TestEnv } from '../test/support.ts'
import { readTopic } from '../test/read-topic.ts'
import type { Config } from '../lib/config.ts'
import { parseClinicalEvent, type ClinicalEvent } from '../lib/contract/events.ts'
import type { AuditEvent } from '../lib/identity/model.ts'
import { createLogger } from '../lib/log.ts'
import { start, servingOptions, type Serving } from './index.ts'

/**
 * `POST /api/events` (docs/CONTRACT.md, Clinical events) against a real broker and Redis: a
 * clinician's event answered 201 once on `vitals.events`, recorded with the signed-in user and in
 * the audit trail; every bad field named in one 400; 401 without a credential, 403 for a viewer.
 */
const TOKEN = 'events-api-test-token-0123456789'
const PASSWORD = 'correct horse battery staple'
const ONSET = Date.parse('2026-11-30T09:40:00Z')

let env: TestEnv
let serving: Serving
const cookies = new Map<string, string>()

async function call(method: string, path: string, as: string | null, body?: unknown): Promise<{ status: number; json: unknown }> {
  const auth: Record<string, string> = as === null ? {} : as === 'token' ? { authorization: `Bearer ${TOKEN}` } : { cookie: cookies.get(as) ?? '' }
  const res = await fetch(`${serving.url}${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, json: text === '' ? null : (JSON.parse(text) as unknown) }
}

async function addAndSignIn(username: string, role: 'viewer' | 'clinician'): Promise<void> {
  expect((await call('POST', '/api/admin/users', 'token', { username, role, password: PASSWORD })).status).toBe(201)
  const res = await fetch(`${serving.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  })
  expect(res.status).toBe(200)
  cookies.set(username, res.headers.get('set-cookie')!.split(';')[0]!)
}

/** The events on the topic, in offset order per partition. */
async function eventsOnTopic(count: number): Promise<Array<{ key: string | undefined; event: ClinicalEvent }>> {
  return (await readTopic(env.config, env.topics.events, count)).map((r) => {
    const parsed = parseClinicalEvent(r.value)
    if (!parsed.ok) throw new Error(parsed.detail)
    return { key: r.key, event: parsed.event }
  })
}

beforeAll(async () => {
  env = await createTestEnv()
  const config: Config = Object.freeze({ ...env.config, port: await freePort(), token: TOKEN })
  serving = await start({ ...config, serving: servingOptions() }, { log: createLogger({ level: 'silent' }) })
  await addAndSignIn('nurse-ada', 'clinician')
  await addAndSignIn('student-bo', 'viewer')
})

afterAll(async () => {
  await serving?.stop()
  await env?.cleanup()
})

describe('POST /api/events', () => {
  it('answers 201 with the event as the signed-in clinician recorded it, once it is on vitals.events keyed by patient, and records it in the audit trail', async () => {
    const before = Date.now()
    const res = await call('POST', '/api/events', 'nurse-ada', {
      patientId: 'p-0007',
      kind: 'rapid-response-call',
      onset: '2026-11-30T09:40:00Z',
      end: ONSET + 1_200_000,
      severity: 1,
      note: '  MAP 55, called the outreach team  ',
    })
    expect(res.status).toBe(201)
    const event = res.json as ClinicalEvent
    expect(event).toMatchObject({
      v: 1,
      patientId: 'p-0007',
      kind: 'rapid-response-call',
      onset: ONSET,
      end: ONSET + 1_200_000,
      severity: 1,
      source: 'clinician',
      recordedBy: 'nurse-ada',
      note: 'MAP 55, called the outreach team',
    })
    expect(event.eventId).toMatch(/^clin:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    expect(event.recordedAt).toBeGreaterThanOrEqual(before)
    expect(event.recordedAt).toBeLessThanOrEqual(Date.now())
    // Answered only once Kafka acknowledged: the record is there, the same bytes' event, keyed by the patient.
    const [onTopic] = await eventsOnTopic(1)
    expect(onTopic).toEqual({ key: 'p-0007', event })

    const audit = await call('GET', '/api/patients/p-0007/audit', 'nurse-ada')
    expect(audit.status).toBe(200)
    expect(audit.json as AuditEvent[]).toEqual([
      expect.objectContaining({
        action: 'event.record',
        actor: { user: 'nurse-ada', role: 'clinician', via: 'session' },
        patientId: 'p-0007',
        subject: event.eventId,
        before: null,
        after: event,
        reason: 'MAP 55, called the outreach team',
      }),
    ])
  })

  it('keeps an eventId the body gives, so that a retry is the same event, and takes onset in epoch ms', async () => {
    const body = { eventId: 'clin:retry-0001', patientId: 'p-0008', kind: 'hypotension', onset: ONSET, plateau: ONSET + 60_000 }
    const first = await call('POST', '/api/events', 'token', body)
    const retry = await call('POST', '/api/events', 'token', body)
    expect(first.status).toBe(201)
    expect(retry.status).toBe(201)
    expect((first.json as ClinicalEvent).recordedBy).toBe('VIGIL_TOKEN')
    const { recordedAt: _a, ...a } = first.json as ClinicalEvent
    const { recordedAt: _b, ...b } = retry.json as ClinicalEvent
    expect(b).toEqual(a)
    const mine = (await eventsOnTopic(3)).filter((r) => r.event.patientId === 'p-0008')
    expect(mine.map((r) => r.event.eventId)).toEqual(['clin:retry-0001', 'clin:retry-0001'])
  })

  it('refuses a bad body with one 400 that names every bad field, and a field only the server sets', async () => {
    const res = await call('POST', '/api/events', 'nurse-ada', {
      patientId: 'bed 4!',
      kind: 'Low BP',
      onset: 'this morning',
      end: '2026-11-30T09:00:00Z',
      severity: 1.5,
      source: 'simulator',
      recordedBy: 'Dr Somebody Else',
    })
    expect(res.status).toBe(400)
    const { message } = res.json as { message: string }
    for (const field of ['source:', 'recordedBy:', 'onset:', 'patientId:', 'kind:', 'severity:']) expect(message).toContain(field)
    expect(message).toContain('onset: expected epoch ms or an ISO 8601 date-time')

    const backwards = await call('POST', '/api/events', 'nurse-ada', { patientId: 'p-0009', kind: 'fever', onset: ONSET, end: ONSET - 1 })
    expect(backwards.status).toBe(400)
    expect((backwards.json as { message: string }).message).toContain('phase times must not go back')

    const missing = await call('POST', '/api/events', 'nurse-ada', { patientId: 'p-0009', kind: 'fever' })
    expect(missing.status).toBe(400)
    expect((missing.json as { message: string }).message).toBe('onset: required: epoch ms or an ISO 8601 date-time')
  })

  it('answers 401 without a credential and 403 to a viewer, and writes nothing', async () => {
    const body = { patientId: 'p-0010', kind: 'fever', onset: ONSET }
    const anonymous = await call('POST', '/api/events', null, body)
    expect(anonymous.status).toBe(401)
    const viewer = await call('POST', '/api/events', 'student-bo', body)
    expect(viewer.status).toBe(403)
    expect(viewer.json).toEqual({ error: 'Forbidden', message: 'clinician required' })
    // One recorded by a clinician afterwards is the only one of its patient on the topic.
    expect((await call('POST', '/api/events', 'nurse-ada', body)).status).toBe(201)
    const ofPatient = (await eventsOnTopic(4)).filter((r) => r.event.patientId === 'p-0010')
    expect(ofPatient).toHaveLength(1)
    expect(ofPatient[0]!.event.recordedBy).toBe('nurse-ada')
  })
})
