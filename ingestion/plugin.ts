/**
 * The gateway as a fastify plugin: its bodies read as text, its error and not-found answers as
 * application/problem+json, a device credential required on every route but /healthz, the
 * readings of a request checked against the device that sends them, its answers counted, and its
 * routes (routes.ts). Everything is registered in the plugin's own context, so the credential
 * check runs for unknown paths too and a route cannot be probed without a credential.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from '../lib/log.ts'
import { describeError, isVigilError } from '../lib/errors.ts'
import { bearerToken } from '../lib/identity/model.ts'
import type { RegistryReader } from '../lib/identity/registry.ts'
import type { BatchingProducer } from '../lib/producer.ts'
import { BODY_TYPES } from './bodies.ts'
import { bindingRefusal, identify, type BindingLimits, type Sender } from './binding.ts'
import type { GatewayCounts } from './counts.ts'
import type { DeviceTokens } from './device-tokens.ts'
import { hasProblemType, notTheDevicesReadings, problem, revokedDevice, sendProblem, unknownCredential } from './problem.ts'
import { fhirRoutes, healthRoute, readingRoutes, type Accept } from './routes.ts'

export interface GatewayPluginOptions {
  producer: BatchingProducer
  /** The development tokens (VIGIL_DEVICE_TOKENS); none outside development. */
  tokens: DeviceTokens
  /** The registry as read so far (`reader` undefined until it is read). */
  registry: { readonly reader: RegistryReader | undefined }
  counts: GatewayCounts
  /** The server's body limit, named in the 413 answer. */
  bodyLimitBytes: number
  /** Seconds a device is told to wait (Retry-After) while the broker is unreachable. */
  retryAfterS: number
  /** How far ahead a registered device's clock may run, and how long it may upload for a patient it left. */
  binding: BindingLimits
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

/** The sender of each request that passed the credential check, for the binding check before producing. */
type Senders = WeakMap<FastifyRequest, Sender>

/**
 * Requires a known, unrevoked credential on every request but /healthz, and remembers its sender.
 * A refused request's connection is closed, so a body the device may still be sending is never read.
 */
function requireCredential(app: FastifyInstance, opts: GatewayPluginOptions, senders: Senders): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/healthz' || req.url.startsWith('/healthz?')) return
    const identity = identify(bearerToken(req.headers.authorization), opts.tokens, opts.registry.reader)
    if (identity.outcome === 'sender') {
      senders.set(req, identity.sender)
      return
    }
    reply.header('connection', 'close')
    if (identity.outcome === 'registry-unavailable') {
      reply.header('retry-after', String(opts.retryAfterS))
      return sendProblem(reply, problem(503, 'The device registry is not read yet (Kafka is unreachable): nothing was stored; retry after the delay given.'))
    }
    opts.counts.refusedFor(identity.outcome)
    if (identity.outcome === 'revoked') return sendProblem(reply, revokedDevice(identity.device))
    reply.header('www-authenticate', identity.missing ? 'Bearer' : 'Bearer error="invalid_token"')
    return sendProblem(reply, unknownCredential(identity.missing))
  })
}

/**
 * Refuses the whole request with 403 when a reading in it is not its device's to send (judged by
 * the gateway's clock when the request is checked); else
 * produces and answers 202 after Kafka acknowledged, 503 with Retry-After while it is unreachable.
 */
function acceptor(opts: GatewayPluginOptions, senders: Senders): Accept {
  return async (req: FastifyRequest, reply: FastifyReply, { records, readings }, extra = {}) => {
    const sender = senders.get(req)
    if (sender === undefined) throw new Error(`${req.method} ${req.url} reached a route without a sender: the credential check did not run`)
    if (sender.kind === 'device') {
      const refusal = bindingRefusal(sender.device, readings, opts.binding, Date.now())
      if (refusal !== undefined) {
        opts.counts.refusedFor(refusal.reason)
        return sendProblem(reply, notTheDevicesReadings(sender.device, refusal, opts.binding))
      }
    }
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
  const senders: Senders = new WeakMap()
  requireCredential(app, opts, senders)
  // Counted for the status line every 10 s (never a line per request).
  app.addHook('onResponse', async (_req, reply) => opts.counts.answered(reply.statusCode))
  const accept = acceptor(opts, senders)
  readingRoutes(app, accept)
  fhirRoutes(app, accept)
  healthRoute(app, opts.producer)
}
