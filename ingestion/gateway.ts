/**
 * The device gateway (`vigil ingest`, docs/CONTRACT.md, The gateway): HTTP in, `vitals.readings` out.
 *
 *   POST /v1/readings      one reading v1 (application/json) or many (application/x-ndjson)
 *   POST /fhir/Observation one FHIR R4 vital-sign Observation (application/fhir+json or json)
 *   POST /fhir             a FHIR Bundle of Observations
 *   GET  /healthz          no token; 200 while Kafka answers, 503 while it does not
 *
 * It is the boundary for HTTP devices: a request is validated whole against schema v1 (after the
 * FHIR mapping) and refused whole with 400 when any reading in it is invalid, so a device never
 * has to work out which half of a batch went through. Physiological plausibility is the speed
 * layer's job (an implausible value is still archived raw). A request is answered 202 with the
 * count only after Kafka acknowledged every record of it; while the broker is unreachable the
 * answer is 503 with Retry-After and the device keeps its readings. Errors are
 * application/problem+json (RFC 9457) with an `errors` array naming every bad field.
 *
 * Device tokens: `Authorization: Bearer <token>`, one of VIGIL_DEVICE_TOKENS. When none is set,
 * the gateway generates one at start, logs it, and exposes it on the handle, so a local demo works
 * and nothing is ever open without a token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyReply, type FastifyRequest, type RouteOptions } from 'fastify'
import type { Config } from '../lib/config.ts'
import type { Logger } from '../lib/log.ts'
import type { Stoppable } from '../lib/shutdown.ts'
import { VigilError, describeError, isVigilError } from '../lib/errors.ts'
import { readingSchema, type Reading } from '../lib/contract/schema.ts'
import { TOPIC_PARTITIONS, topicNames } from '../lib/contract/topics.ts'
import { BatchingProducer, type ProducerRecord } from '../lib/producer.ts'
import { MAX_FIELD_ERRORS, bundleToReadings, observationToReading, type FieldError } from './fhir.ts'
import type { GatewayOptions } from './config.ts'

export interface GatewayDeps {
  log: Logger
  /** Called for every route registered (the security suite checks each one refuses without a token). */
  onRoute?: (route: RouteOptions) => void
}

export interface Gateway extends Stoppable {
  /** Base URL it listens on, e.g. http://127.0.0.1:8080. */
  url: string
  port: number
  /** The tokens accepted (the generated one when VIGIL_DEVICE_TOKENS is unset). */
  deviceTokens: readonly string[]
  /** True when the token was generated at start. */
  generatedToken: boolean
  producer: BatchingProducer
}

const PROBLEM = 'application/problem+json'

interface Problem {
  status: number
  title: string
  detail: string
  errors?: FieldError[]
  /** Extra members (RFC 9457 extensions). */
  [key: string]: unknown
}

const TITLES: Record<number, [string, string]> = {
  400: ['invalid-input', 'The request holds invalid input'],
  401: ['unauthorized', 'A valid device token is required'],
  404: ['not-found', 'No such endpoint'],
  405: ['method-not-allowed', 'Method not allowed'],
  413: ['body-too-large', 'The request body is too large'],
  415: ['unsupported-media-type', 'Unsupported content type'],
  503: ['kafka-unavailable', 'The broker is unavailable'],
  500: ['internal', 'Internal error'],
}

function problem(status: number, detail: string, extra: Record<string, unknown> = {}): Problem {
  const [slug, title] = TITLES[status] ?? TITLES[500]!
  return { type: `urn:vigil:problem:${slug}`, title, status, detail, ...extra }
}

function send(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type(PROBLEM).send(p)
}

/** Content types each route takes (the media type without parameters). */
const READING_TYPES = new Set(['application/json', 'application/x-ndjson'])
/** application/json+fhir is the media type of FHIR before R3, still sent by some devices. */
const FHIR_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir'])

function mediaType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** The 400 answer naming the bad fields (the first MAX_FIELD_ERRORS: collecting stops there). */
function invalidFields(errors: readonly FieldError[], source: string) {
  const count = errors.length >= MAX_FIELD_ERRORS ? `${MAX_FIELD_ERRORS} or more` : String(errors.length)
  return problem(400, `${count} invalid field${errors.length === 1 ? '' : 's'}: nothing from ${source} was stored; fix them and send it again.`, { errors: errors.slice(0, MAX_FIELD_ERRORS) })
}

/** Validates each item against schema v1; every bad field named (up to MAX_FIELD_ERRORS), with its line for NDJSON. */
function validateAll(items: Array<{ json: unknown; raw?: string; pointer: string; line?: number }>): { records: ProducerRecord[]; errors: FieldError[] } {
  const records: ProducerRecord[] = []
  const errors: FieldError[] = []
  for (const item of items) {
    if (errors.length >= MAX_FIELD_ERRORS) break
    const parsed = readingSchema.safeParse(item.json)
    if (parsed.success) {
      // A valid NDJSON line goes to Kafka as it came (strict schema: it holds exactly the known fields).
      records.push({ key: parsed.data.patientId, value: item.raw ?? JSON.stringify(parsed.data) })
    } else {
      for (const issue of parsed.error.issues) {
        errors.push({
          pointer: `${item.pointer}/${issue.path.map(String).join('/')}`.replace(/\/$/, '') || '/',
          detail: issue.message,
          ...(item.line === undefined ? {} : { line: item.line }),
        })
      }
    }
  }
  return { records, errors }
}

export async function startGateway(config: Config, options: GatewayOptions, deps: GatewayDeps): Promise<Gateway> {
  const log = deps.log
  let tokens = config.deviceTokens ?? []
  const generatedToken = tokens.length === 0
  if (generatedToken) {
    tokens = [randomBytes(24).toString('base64url')]
    log.warn(`VIGIL_DEVICE_TOKENS is not set: generated the device token ${tokens[0]} (devices send "Authorization: Bearer ${tokens[0]}"; set VIGIL_DEVICE_TOKENS to keep tokens across restarts)`)
  }
  const tokenHashes = tokens.map(sha256)
  const producer = new BatchingProducer(config, {
    topic: topicNames(config.topicPrefix).readings,
    clientId: 'vigil-gateway',
    onFailure: 'fail',
    maxBatchRecords: options.maxBatchRecords,
    maxBufferedRecords: options.maxBufferedRecords,
    maxRetryDelayMs: options.retryAfterS * 1000,
    log,
  })

  const app = Fastify({ logger: false, bodyLimit: options.bodyLimitBytes, return503OnClosing: true })
  if (deps.onRoute !== undefined) app.addHook('onRoute', deps.onRoute)
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(['application/json', 'application/x-ndjson', 'application/fhir+json', 'application/json+fhir'], { parseAs: 'string' }, (_req, body, done) => done(null, body))

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = error.statusCode ?? 500
    if (status === 413) return send(reply, problem(413, `The body is larger than ${options.bodyLimitBytes} bytes: send smaller batches.`))
    if (status === 415 || error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return send(reply, problem(415, 'Send application/json or application/x-ndjson to /v1/readings, and application/fhir+json to /fhir.'))
    }
    if (status >= 400 && status < 500) return send(reply, problem(status in TITLES ? status : 400, error.message))
    log.error({ err: describeError(error) }, 'gateway request failed')
    return send(reply, problem(500, 'The gateway failed to handle the request; it has been logged.'))
  })
  app.setNotFoundHandler((req, reply) => send(reply, problem(404, `${req.method} ${req.url} is not an endpoint of the gateway: use POST /v1/readings, POST /fhir/Observation, POST /fhir or GET /healthz.`)))

  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/healthz' || req.url.startsWith('/healthz?')) return
    const header = req.headers.authorization ?? ''
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    // A refused request's connection is closed, so a body the device may still be sending is never read.
    if (m === null) {
      reply.header('www-authenticate', 'Bearer').header('connection', 'close')
      return send(reply, problem(401, 'Send the device token as "Authorization: Bearer <token>".'))
    }
    const presented = sha256(m[1]!)
    if (!tokenHashes.some((h) => timingSafeEqual(h, presented))) {
      reply.header('www-authenticate', 'Bearer error="invalid_token"').header('connection', 'close')
      return send(reply, problem(401, 'The device token is not one the gateway accepts: check VIGIL_DEVICE_TOKENS.'))
    }
  })

  // Counted for the status line every 10 s (never a line per request).
  const counts = { accepted: 0, refused: 0, unavailable: 0 }
  app.addHook('onResponse', async (_req, reply) => {
    if (reply.statusCode === 503) counts.unavailable++
    else if (reply.statusCode >= 400) counts.refused++
  })

  /** Produces and answers 202 after Kafka acknowledged, 503 while it is unreachable. */
  async function accept(reply: FastifyReply, records: ProducerRecord[], extra: Record<string, unknown> = {}): Promise<FastifyReply> {
    try {
      await producer.send(records)
    } catch (error) {
      if (isVigilError(error) && error.code === 'KAFKA_UNREACHABLE') {
        reply.header('retry-after', String(options.retryAfterS))
        return send(reply, problem(503, 'Kafka is unreachable: nothing from this request was stored; retry after the delay given.'))
      }
      throw error
    }
    counts.accepted += records.length
    return reply.code(202).send({ accepted: records.length, ...extra })
  }

  function unsupported(reply: FastifyReply, req: FastifyRequest, accepted: Set<string>): FastifyReply {
    return send(reply, problem(415, `Content type "${mediaType(req) || '(none)'}" is not accepted here: send ${[...accepted].join(' or ')}.`))
  }

  function parseJson(body: unknown): { ok: true; json: unknown } | { ok: false; detail: string } {
    if (typeof body !== 'string' || body.trim().length === 0) return { ok: false, detail: 'the body is empty' }
    try {
      return { ok: true, json: JSON.parse(body) }
    } catch (error) {
      return { ok: false, detail: `the body is not valid JSON: ${(error as Error).message}` }
    }
  }

  app.post('/v1/readings', async (req, reply) => {
    const type = mediaType(req)
    if (!READING_TYPES.has(type)) return unsupported(reply, req, READING_TYPES)
    const items: Array<{ json: unknown; raw?: string; pointer: string; line?: number }> = []
    const errors: FieldError[] = []
    if (type === 'application/x-ndjson') {
      const body = typeof req.body === 'string' ? req.body : ''
      const lines = body.split('\n')
      for (let i = 0; i < lines.length; i++) {
        const raw = lines[i]!.trim()
        if (raw.length === 0) continue
        try {
          items.push({ json: JSON.parse(raw), raw, pointer: `/${i}`, line: i + 1 })
        } catch (error) {
          errors.push({ pointer: `/${i}`, line: i + 1, detail: `not valid JSON: ${(error as Error).message}` })
          if (errors.length >= MAX_FIELD_ERRORS) break
        }
      }
      if (items.length === 0 && errors.length === 0) return send(reply, problem(400, 'The NDJSON body holds no reading: send one JSON reading per line.'))
    } else {
      const parsed = parseJson(req.body)
      if (!parsed.ok) return send(reply, problem(400, `The reading could not be read: ${parsed.detail}.`, { errors: [{ pointer: '/', detail: parsed.detail }] }))
      if (Array.isArray(parsed.json)) parsed.json.forEach((json, i) => items.push({ json, pointer: `/${i}` }))
      else items.push({ json: parsed.json, pointer: '' })
    }
    const v = validateAll(items)
    errors.push(...v.errors)
    if (errors.length > 0) {
      return send(reply, invalidFields(errors, 'this request'))
    }
    return accept(reply, v.records)
  })

  function readingsToRecords(readings: Reading[]): { records: ProducerRecord[]; errors: FieldError[] } {
    return validateAll(readings.map((r, i) => ({ json: r, pointer: `/mapped/${i}` })))
  }

  app.post('/fhir/Observation', async (req, reply) => {
    if (!FHIR_TYPES.has(mediaType(req))) return unsupported(reply, req, FHIR_TYPES)
    const parsed = parseJson(req.body)
    if (!parsed.ok) return send(reply, problem(400, `The Observation could not be read: ${parsed.detail}.`, { errors: [{ pointer: '/', detail: parsed.detail }] }))
    const r = observationToReading(parsed.json)
    if (!r.ok) return send(reply, problem(400, `The Observation cannot become a reading: ${r.errors.map((e) => `${e.pointer}: ${e.detail}`).join('; ')}.`, { errors: r.errors }))
    const v = readingsToRecords([r.reading])
    if (v.errors.length > 0) return send(reply, problem(400, 'The mapped reading is not valid.', { errors: v.errors }))
    return accept(reply, v.records)
  })

  app.post('/fhir', async (req, reply) => {
    if (!FHIR_TYPES.has(mediaType(req))) return unsupported(reply, req, FHIR_TYPES)
    const parsed = parseJson(req.body)
    if (!parsed.ok) return send(reply, problem(400, `The Bundle could not be read: ${parsed.detail}.`, { errors: [{ pointer: '/', detail: parsed.detail }] }))
    const b = bundleToReadings(parsed.json)
    if (b.errors.length > 0) {
      return send(reply, invalidFields(b.errors, 'the Bundle'))
    }
    const v = readingsToRecords(b.readings)
    if (v.errors.length > 0) return send(reply, problem(400, 'A mapped reading is not valid.', { errors: v.errors }))
    return accept(reply, v.records, b.ignored > 0 ? { ignored: b.ignored } : {})
  })

  app.get('/healthz', async (_req, reply) => {
    const kafka = producer.unreachable ? 'unreachable' : 'ok'
    return reply.code(producer.unreachable ? 503 : 200).send({ status: producer.unreachable ? 'degraded' : 'ok', kafka })
  })

  const port = options.port ?? config.ingestPort
  try {
    await app.listen({ host: options.host, port })
  } catch (error) {
    await producer.close({ drain: false })
    throw new VigilError('STAGE_FAILED', `The gateway cannot listen on ${options.host}:${port}: free the port or set VIGIL_INGEST_PORT / --port.`, { cause: error })
  }
  await producer.ensureTopic(TOPIC_PARTITIONS.readings)
  // Learn the broker's state now, so /healthz and the first requests are right from the start.
  await producer.checkBroker()
  const address = app.server.address()
  const actualPort = typeof address === 'object' && address !== null ? address.port : port
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host
  const url = `http://${host}:${actualPort}`
  log.info(`gateway listening on ${url} (POST /v1/readings, /fhir/Observation, /fhir)`)
  let last = { at: Date.now(), accepted: 0 }
  const statusTimer = setInterval(() => {
    const now = Date.now()
    const rate = ((counts.accepted - last.accepted) * 1000) / Math.max(1, now - last.at)
    last = { at: now, accepted: counts.accepted }
    log.info(`${rate.toFixed(0)} readings/s accepted (${counts.accepted} in all), requests refused ${counts.refused}, answered 503 ${counts.unavailable}, Kafka ${producer.unreachable ? 'unreachable' : 'ok'}`)
  }, 10_000)
  statusTimer.unref()

  return {
    url,
    port: actualPort,
    deviceTokens: tokens,
    generatedToken,
    producer,
    async stop() {
      clearInterval(statusTimer)
      await app.close()
      await producer.close()
    },
  }
}
