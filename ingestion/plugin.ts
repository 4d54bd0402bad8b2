/**
 * The gateway as a fastify plugin: its bodies read as text, its error and not-found answers as
 * application/problem+json, the device token required on every route but /healthz, its answers
 * counted, and its routes (routes.ts). Everything is registered in the plugin's own context, so
 * the token check runs for unknown paths too and a route cannot be probed without a token.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify'
import type { Logger } from '../lib/log.ts'
import { describeError, isVigilError } from '../lib/errors.ts'
import type { BatchingProducer, ProducerRecord } from '../lib/producer.ts'
import { BODY_TYPES } from './bodies.ts'
import type { GatewayCounts } from './counts.ts'
import type { DeviceTokens } from './device-tokens.ts'
import { hasProblemType, problem, sendProblem } from './problem.ts'
import { fhirRoutes, healthRoute, readingRoutes, type Accept } from './routes.ts'

export interface GatewayPluginOptions {
  producer: BatchingProducer
  tokens: DeviceTokens
  counts: GatewayCounts
  /** The server's body limit, named in the 413 answer. */
  bodyLimitBytes: number
  /** Seconds a device is told to wait (Retry-After) while the broker is unreachable. */
  retryAfterS: number
  log: Logger
}

/** Every accepted media type is read as a string; the routes parse it (JSON or NDJSON). */
function readBodiesAsText(app: FastifyInstance): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(BODY_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body))
}

function answerErrors(app: FastifyInstance, opts: GatewayPluginOptions): void {
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = error.statusCode ?? 500
    if (status === 413) return sendProblem(reply, problem(413, `The body is larger than ${opts.bodyLimitBytes} bytes: send smaller batches.`))
    if (status === 415 || error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendProblem(reply, problem(415, 'Send application/json or application/x-ndjson to /v1/readings, and application/fhir+json to /fhir.'))
    }
    if (status >= 400 && status < 500) return sendProblem(reply, problem(hasProblemType(status) ? status : 400, error.message))
    opts.log.error({ err: describeError(error) }, 'gateway request failed')
    return sendProblem(reply, problem(500, 'The gateway failed to handle the request; it has been logged.'))
  })
  app.setNotFoundHandler((req, reply) => {
    const detail = `${req.method} ${req.url} is not an endpoint of the gateway: use POST /v1/readings, POST /fhir/Observation, POST /fhir or GET /healthz.`
    return sendProblem(reply, problem(404, detail))
  })
}

function requireDeviceToken(app: FastifyInstance, tokens: DeviceTokens): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/healthz' || req.url.startsWith('/healthz?')) return
    const check = tokens.check(req.headers.authorization)
    if (check === 'ok') return
    // A refused request's connection is closed, so a body the device may still be sending is never read.
    if (check === 'missing') {
      reply.header('www-authenticate', 'Bearer').header('connection', 'close')
      return sendProblem(reply, problem(401, 'Send the device token as "Authorization: Bearer <token>".'))
    }
    reply.header('www-authenticate', 'Bearer error="invalid_token"').header('connection', 'close')
    return sendProblem(reply, problem(401, 'The device token is not one the gateway accepts: check VIGIL_DEVICE_TOKENS.'))
  })
}

/** Produces and answers 202 after Kafka acknowledged, 503 with Retry-After while it is unreachable. */
function acceptor(opts: GatewayPluginOptions): Accept {
  return async (reply: FastifyReply, records: ProducerRecord[], extra = {}) => {
    try {
      await opts.producer.send(records)
    } catch (error) {
      if (isVigilError(error) && error.code === 'KAFKA_UNREACHABLE') {
        reply.header('retry-after', String(opts.retryAfterS))
        return sendProblem(reply, problem(503, 'Kafka is unreachable: nothing from this request was stored; retry after the delay given.'))
      }
      throw error
    }
    opts.counts.accepted += records.length
    return reply.code(202).send({ accepted: records.length, ...extra })
  }
}

export const gatewayPlugin: FastifyPluginAsync<GatewayPluginOptions> = async (app, opts) => {
  readBodiesAsText(app)
  answerErrors(app, opts)
  requireDeviceToken(app, opts.tokens)
  // Counted for the status line every 10 s (never a line per request).
  app.addHook('onResponse', async (_req, reply) => opts.counts.answered(reply.statusCode))
  const accept = acceptor(opts)
  readingRoutes(app, accept)
  fhirRoutes(app, accept)
  healthRoute(app, opts.producer)
}
