/**
 * Recording a clinical event as the signed-in user (docs/CONTRACT.md, Clinical events):
 * `POST /api/events` turns the body into an event v1 (source `clinician`, recordedBy the user,
 * recordedAt now), records it in the audit trail, produces it to `vitals.events` and answers 201
 * with the event once Kafka acknowledged it, as an acknowledgement of an alert is recorded first
 * and then written (routes-alerts.ts).
 */
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import { clinicalEventSchema, type ClinicalEvent } from '../lib/contract/events.ts'
import { VigilError } from '../lib/errors.ts'
import type { Principal } from '../lib/identity/model.ts'
import type { BatchingProducer } from '../lib/producer.ts'
import { principalOf } from './principal.ts'
import { recordFirst } from './routes-audit.ts'
import type { RouteDeps } from './routes.ts'
import { problem } from './schemas.ts'

/** The fields a body may give; the server sets `v`, `source`, `recordedBy` and `recordedAt`. */
const BODY_FIELDS = ['eventId', 'patientId', 'kind', 'onset', 'plateau', 'recovery', 'end', 'severity', 'note'] as const
const TIME_FIELDS = ['onset', 'plateau', 'recovery', 'end'] as const
type TimeField = (typeof TIME_FIELDS)[number]

export type EventBody = Partial<Record<(typeof BODY_FIELDS)[number], unknown>> & Record<string, unknown>

export type EventOutcome = { ok: true; event: ClinicalEvent } | { ok: false; message: string }

/**
 * A time of the body as epoch ms: a number as it is, or a string of digits, or an ISO 8601
 * date-time (`2026-11-30T10:15:00Z`); undefined when it is neither.
 */
export function eventTime(value: unknown): number | undefined {
  if (typeof value === 'number') return value
  if (typeof value !== 'string') return undefined
  const text = value.trim()
  const ms = /^\d+$/.test(text) ? Number(text) : /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN
  return Number.isFinite(ms) ? ms : undefined
}

/**
 * The event a clinician's body describes, or every problem with it in one message (each named by
 * its field): fields the body may not set, times that are not times, then what
 * clinicalEventSchema refuses.
 */
export function clinicianEvent(body: EventBody, by: Principal, now: number, newId: () => string = randomUUID): EventOutcome {
  const problems: string[] = []
  for (const key of Object.keys(body)) {
    if (!(BODY_FIELDS as readonly string[]).includes(key))
      problems.push(`${key}: not a field of the body (the server sets v, source, recordedBy and recordedAt)`)
  }
  if (body.onset === undefined || body.onset === null) problems.push('onset: required: epoch ms or an ISO 8601 date-time')
  const times: Partial<Record<TimeField, number>> = {}
  for (const field of TIME_FIELDS) {
    const value = body[field]
    if (value === undefined || value === null) continue
    const ms = eventTime(value)
    if (ms === undefined) problems.push(`${field}: expected epoch ms or an ISO 8601 date-time such as 2026-11-30T10:15:00Z`)
    else times[field] = ms
  }
  const note = typeof body.note === 'string' ? body.note.trim() : body.note
  const candidate = {
    v: 1,
    eventId: body.eventId ?? `clin:${newId()}`,
    patientId: body.patientId,
    kind: body.kind,
    ...times,
    ...(body.severity === undefined ? {} : { severity: body.severity }),
    source: 'clinician',
    recordedBy: by.user,
    recordedAt: now,
    ...(note === undefined || note === '' ? {} : { note }),
  }
  const parsed = clinicalEventSchema.safeParse(candidate)
  if (!parsed.success) {
    // A field already named above (a time that is not one, a missing onset) is not named twice.
    const named = new Set(problems.map((p) => p.slice(0, p.indexOf(':'))))
    for (const issue of parsed.error.issues) {
      const field = issue.path.length > 0 ? issue.path.join('.') : 'event'
      if (!named.has(field)) problems.push(`${field}: ${issue.message}`)
    }
  }
  if (problems.length > 0 || !parsed.success) return { ok: false, message: problems.join('; ') }
  return { ok: true, event: parsed.data }
}

/** What the route needs of the serving layer's one producer of `vitals.events`. */
export type EventProducer = Pick<BatchingProducer, 'send'>

/** The event as the answer and the audit trail show it. */
const clinicalEvent = { type: 'object', required: ['v', 'eventId', 'patientId', 'kind', 'onset', 'source', 'recordedAt'] } as const

export function eventRoutes(deps: RouteDeps): FastifyPluginAsync {
  const { options, audit, events } = deps

  /** Produces the event; 503 naming its id when Kafka does not acknowledge, so that a retry with that id is one event. */
  async function produce(event: ClinicalEvent): Promise<void> {
    try {
      await events.send([{ key: event.patientId, value: JSON.stringify(event) }])
    } catch (error) {
      throw new VigilError(
        'KAFKA_UNREACHABLE',
        `the event could not be written to Kafka: send it again with "eventId": "${event.eventId}" once Kafka is reachable (\`vigil stack status\`), and it stays one event.`,
        { cause: error },
      )
    }
  }

  return async (app) => {
    // Whoever may acknowledge an alert may record an event (docs/SECURITY.md, Every route's role).
    // The user is the signed-in one, never a name in the body. Recorded in the audit trail first,
    // as every change is; then produced, and answered only once Kafka acknowledged it.
    app.post<{ Body: EventBody }>(
      '/api/events',
      {
        config: { role: 'clinician', rateLimit: { max: options.eventsPerMinute, timeWindow: 60_000 } },
        schema: { body: { type: 'object' }, response: { 201: clinicalEvent, 400: problem, 503: problem } },
      },
      async (request, reply) => {
        const actor = principalOf(request)
        const outcome = clinicianEvent(request.body, actor, Date.now())
        if (!outcome.ok) return reply.code(400).send({ error: 'Bad Request', message: outcome.message })
        const { event } = outcome
        await recordFirst(audit, {
          actor,
          action: 'event.record',
          patientId: event.patientId,
          subject: event.eventId,
          before: null,
          after: event,
          reason: event.note ?? null,
        })
        await produce(event)
        return reply.code(201).send(event)
      },
    )
  }
}
