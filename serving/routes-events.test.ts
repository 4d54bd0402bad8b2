import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Config } from '../lib/config.ts'
import type { AuditInput } from '../lib/identity/audit.ts'
import type { Principal } from '../lib/identity/model.ts'
import { BatchingProducer } from '../lib/producer.ts'
import { freePort } from '../test/support.ts'
import { servingOptions } from './config.ts'
import { API_AJV_OPTIONS, apiRoutes, type RouteDeps } from './routes.ts'
import { clinicianEvent, eventTime } from './routes-events.ts'

const nurse: Principal = { user: 'nurse-ada', role: 'clinician', via: 'session' }
const ONSET = Date.parse('2026-11-30T09:00:00Z')

describe("a clinician's event body", () => {
  it('takes times as epoch ms, a string of digits or an ISO 8601 date-time with its offset, and nothing else', () => {
    expect(eventTime(ONSET)).toBe(ONSET)
    expect(eventTime(String(ONSET))).toBe(ONSET)
    expect(eventTime('2026-11-30T10:00:00+01:00')).toBe(ONSET)
    for (const bad of ['this morning', '30/11/2026', '', true, {}]) expect(eventTime(bad), String(bad)).toBeUndefined()
  })

  it('becomes an event v1 of source clinician, by the signed-in user, recorded now, with a clin: id unless it gives one', () => {
    const made = clinicianEvent({ patientId: 'p-1', kind: 'fever', onset: '2026-11-30T09:00:00Z', plateau: null, note: ' ' }, nurse, 5, () => 'u-1')
    expect(made).toEqual({
      ok: true,
      event: { v: 1, eventId: 'clin:u-1', patientId: 'p-1', kind: 'fever', onset: ONSET, source: 'clinician', recordedBy: 'nurse-ada', recordedAt: 5 },
    })
    const given = clinicianEvent({ eventId: 'clin:mine', patientId: 'p-1', kind: 'fever', onset: ONSET }, nurse, 5)
    expect(given.ok && given.event.eventId).toBe('clin:mine')
  })

  it.each([
    [{ patientId: 'p-1', kind: 'fever' }, 'onset: required: epoch ms or an ISO 8601 date-time'],
    [{ patientId: 'p-1', kind: 'fever', onset: ONSET, end: ONSET - 1 }, 'event: phase times must not go back: onset <= plateau <= recovery <= end'],
    [
      { patientId: 'p-1', kind: 'fever', onset: ONSET, recordedAt: 1, v: 2 },
      'recordedAt: not a field of the body (the server sets v, source, recordedBy and recordedAt); v: not a field of the body (the server sets v, source, recordedBy and recordedAt)',
    ],
    [
      { patientId: 'p-1', kind: 'Fever', onset: 'soon', severity: -1 },
      'onset: expected epoch ms or an ISO 8601 date-time such as 2026-11-30T10:15:00Z; kind: kind must be a lowercase word of at most 40 characters (a-z, 0-9, -), e.g. hypotension; severity: Too small: expected number to be >=0',
    ],
  ])('refuses %j naming every bad field: %s', (body, message) => {
    expect(clinicianEvent(body, nurse, 5)).toEqual({ ok: false, message })
  })
})

describe('POST /api/events while Kafka is unreachable', () => {
  let app: FastifyInstance
  let producer: BatchingProducer
  const recorded: AuditInput[] = []

  beforeAll(async () => {
    // A real producer of the layer's kind ('fail'), aimed at a port where no broker listens.
    producer = new BatchingProducer({ kafkaBrokers: [`127.0.0.1:${await freePort()}`] }, { topic: 'vitals.events', onFailure: 'fail', initialRetryDelayMs: 50 })
    const audit = {
      record: async (input: AuditInput) => {
        recorded.push(input)
        return { ...input, v: 1, id: 'a-1', at: 1 }
      },
    }
    const deps = { config: {} as Config, options: servingOptions(), audit, events: producer } as unknown as RouteDeps
    app = Fastify({ ajv: API_AJV_OPTIONS })
    app.decorateRequest('principal', null)
    app.addHook('onRequest', async (request) => {
      request.principal = nurse
    })
    await app.register(apiRoutes(deps))
    await app.ready()
  })

  afterAll(async () => {
    await app?.close()
    await producer?.close({ drain: false })
  })

  it('answers 503 naming the eventId to send again, after recording it in the audit trail', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/events', payload: { eventId: 'clin:try-1', patientId: 'p-1', kind: 'fever', onset: ONSET } })
    expect(res.statusCode).toBe(503)
    expect(res.json()).toEqual({
      error: 'Service Unavailable',
      message:
        'the event could not be written to Kafka: send it again with "eventId": "clin:try-1" once Kafka is reachable (`vigil stack status`), and it stays one event.',
    })
    expect(recorded.map((r) => [r.action, r.subject])).toEqual([['event.record', 'clin:try-1']])
  }, 60_000)
})
