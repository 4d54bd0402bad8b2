/**
 * The gateway's routes (docs/CONTRACT.md, The gateway), each with the JSON schema of its success
 * answer. Bodies arrive as text (every accepted media type is read as a string) and are parsed and
 * validated here, not by route schemas: a body may be NDJSON, a valid NDJSON line goes to Kafka as
 * it came, and every bad field is named in an application/problem+json answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Reading } from '../lib/contract/schema.ts'
import type { BatchingProducer } from '../lib/producer.ts'
import {
  FHIR_TYPES,
  READING_TYPES,
  jsonItems,
  mediaType,
  ndjsonItems,
  parseJson,
  validateAll,
  validateMapped,
  type BodyItem,
  type Validated,
} from './bodies.ts'
import { bundleToReadings, observationToReading, type FieldError } from './fhir.ts'
import { invalidFields, problem, sendProblem, unreadable, type Problem } from './problem.ts'

/**
 * Checks the valid readings of a request against the device that sends them (403 when one is not
 * its to send), then produces their records and answers 202 once Kafka acknowledged them (or 503
 * while it is unreachable).
 */
export type Accept = (
  req: FastifyRequest,
  reply: FastifyReply,
  valid: Pick<Validated, 'records' | 'readings'>,
  extra?: { ignored?: number },
) => Promise<FastifyReply>

/** 202: the readings stored, and the Bundle entries that were not Observations. */
const ACCEPTED_SCHEMA = {
  type: 'object',
  properties: { accepted: { type: 'integer', minimum: 0 }, ignored: { type: 'integer', minimum: 1 } },
  required: ['accepted'],
  additionalProperties: false,
} as const

/** GET /healthz: the gateway's state and Kafka's, and nothing else (it needs no token). */
const HEALTH_SCHEMA = {
  type: 'object',
  properties: { status: { type: 'string', enum: ['ok', 'degraded'] }, kafka: { type: 'string', enum: ['ok', 'unreachable'] } },
  required: ['status', 'kafka'],
  additionalProperties: false,
} as const

function unsupported(reply: FastifyReply, type: string, accepted: ReadonlySet<string>): FastifyReply {
  return sendProblem(reply, problem(415, `Content type "${type || '(none)'}" is not accepted here: send ${[...accepted].join(' or ')}.`))
}

/** The items of a POST /v1/readings body and its lines that are not JSON, or the answer to a body without any. */
function readingItems(type: string, body: unknown): { items: BodyItem[]; errors: FieldError[] } | { problem: Problem } {
  if (type === 'application/x-ndjson') {
    const lines = ndjsonItems(body)
    if (lines.items.length === 0 && lines.errors.length === 0) {
      return { problem: problem(400, 'The NDJSON body holds no reading: send one JSON reading per line.') }
    }
    return lines
  }
  const parsed = parseJson(body)
  if (!parsed.ok) return { problem: unreadable('The reading', parsed.detail) }
  return { items: jsonItems(parsed.json), errors: [] }
}

/** POST /v1/readings: one reading v1 (application/json), an array of them, or many (application/x-ndjson). */
export function readingRoutes(app: FastifyInstance, accept: Accept): void {
  app.post('/v1/readings', { schema: { response: { 202: ACCEPTED_SCHEMA } } }, async (req, reply) => {
    const type = mediaType(req.headers['content-type'])
    if (!READING_TYPES.has(type)) return unsupported(reply, type, READING_TYPES)
    const body = readingItems(type, req.body)
    if ('problem' in body) return sendProblem(reply, body.problem)
    const v = validateAll(body.items)
    const errors = [...body.errors, ...v.errors]
    if (errors.length > 0) return sendProblem(reply, invalidFields(errors, 'this request'))
    return accept(req, reply, v)
  })
}

/** What a FHIR body maps to: the readings (and the Bundle entries ignored), or the answer refusing it. */
type Mapped = { readings: Reading[]; ignored?: number } | { problem: Problem }

/**
 * One FHIR route: checks the media type, parses the body (`what` names it: "The Observation"),
 * maps it with `map`, validates the mapped readings (`invalid` is the 400 detail when one is not
 * valid) and accepts them.
 */
function fhirRoute(app: FastifyInstance, accept: Accept, url: string, what: string, invalid: string, map: (json: unknown) => Mapped): void {
  app.post(url, { schema: { response: { 202: ACCEPTED_SCHEMA } } }, async (req, reply) => {
    const type = mediaType(req.headers['content-type'])
    if (!FHIR_TYPES.has(type)) return unsupported(reply, type, FHIR_TYPES)
    const parsed = parseJson(req.body)
    if (!parsed.ok) return sendProblem(reply, unreadable(what, parsed.detail))
    const m = map(parsed.json)
    if ('problem' in m) return sendProblem(reply, m.problem)
    const v = validateMapped(m.readings)
    if (v.errors.length > 0) return sendProblem(reply, problem(400, invalid, { errors: v.errors }))
    return accept(req, reply, v, m.ignored !== undefined && m.ignored > 0 ? { ignored: m.ignored } : {})
  })
}

/** POST /fhir/Observation (one vital-sign Observation) and POST /fhir (a Bundle of them). */
export function fhirRoutes(app: FastifyInstance, accept: Accept): void {
  fhirRoute(app, accept, '/fhir/Observation', 'The Observation', 'The mapped reading is not valid.', (json) => {
    const r = observationToReading(json)
    if (r.ok) return { readings: [r.reading] }
    const listed = r.errors.map((e) => `${e.pointer}: ${e.detail}`).join('; ')
    return { problem: problem(400, `The Observation cannot become a reading: ${listed}.`, { errors: r.errors }) }
  })
  fhirRoute(app, accept, '/fhir', 'The Bundle', 'A mapped reading is not valid.', (json) => {
    const b = bundleToReadings(json)
    if (b.errors.length > 0) return { problem: invalidFields(b.errors, 'the Bundle') }
    return { readings: b.readings, ignored: b.ignored }
  })
}

/** GET /healthz: 200 while Kafka answers, 503 while it does not. */
export function healthRoute(app: FastifyInstance, producer: BatchingProducer): void {
  app.get('/healthz', { schema: { response: { 200: HEALTH_SCHEMA, 503: HEALTH_SCHEMA } } }, async (_req, reply) => {
    const down = producer.unreachable
    return reply.code(down ? 503 : 200).send({ status: down ? 'degraded' : 'ok', kafka: down ? 'unreachable' : 'ok' })
  })
}
