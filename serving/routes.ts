/**
 * The HTTP API (docs/CONTRACT.md, Serving) as a fastify plugin: JSON everywhere, every route with
 * its JSON Schema, so bad input is refused with 400 `{error, message}` before a handler runs, and
 * with the least role it requires in `config.role` (docs/SECURITY.md, Every route's role), which
 * the guard of serving/http.ts enforces before any route runs. The routes themselves are in
 * routes-system.ts, routes-patients.ts, routes-alerts.ts, routes-events.ts, routes-batch.ts,
 * routes-admin.ts and routes-audit.ts.
 */
import type { Admin } from '@platformatic/kafka'
import type { FastifyError, FastifyPluginAsync } from 'fastify'
import type { Config } from '../lib/config.ts'
import { isVigilError, type VigilErrorCode } from '../lib/errors.ts'
import type { AuditLog } from '../lib/identity/audit.ts'
import type { Registry } from '../lib/identity/registry.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { Auth } from './auth.ts'
import type { BatchRunner } from './batch.ts'
import type { ServingOptions } from './config.ts'
import type { AlertView } from './events.ts'
import type { ServingMetrics } from './metrics.ts'
import { adminRoutes } from './routes-admin.ts'
import { alertRoutes } from './routes-alerts.ts'
import { auditRoutes } from './routes-audit.ts'
import { batchRoutes } from './routes-batch.ts'
import { eventRoutes, type EventProducer } from './routes-events.ts'
import { patientRoutes } from './routes-patients.ts'
import { systemRoutes } from './routes-system.ts'
import { validationMessage } from './schemas.ts'
import type { View } from './view.ts'

export { bandsJson } from './routes-patients.ts'

export interface RouteDeps {
  config: Config
  options: ServingOptions
  auth: Auth
  view: View
  redis: RedisClient
  admin: Admin
  metrics: ServingMetrics
  batch: BatchRunner
  /** Devices and users (the admin API). */
  registry: Registry
  /** Where acknowledgements and band changes are recorded before they are applied. */
  audit: AuditLog
  /** The one producer of `vitals.events` (clinical events recorded by clinicians). */
  events: EventProducer
  /** Tells every page about an acknowledged alert. */
  alertChanged: (alert: AlertView) => void
}

/** The answer to a VigilError a handler (or the registry it calls) throws: its status and error word. */
const VIGIL_ERROR_STATUS: Partial<Record<VigilErrorCode, [number, string]>> = {
  NOT_FOUND: [404, 'Not Found'],
  CONFLICT: [409, 'Conflict'],
  INPUT_INVALID: [400, 'Bad Request'],
  USAGE: [400, 'Bad Request'],
  // Kafka did not acknowledge: the registry or the audit trail could not be written, so nothing changed.
  KAFKA_UNREACHABLE: [503, 'Service Unavailable'],
  // A registry write takes its lock in Redis first (lib/identity/registry-lock.ts).
  REDIS_UNREACHABLE: [503, 'Service Unavailable'],
}

/** The fastify server options the schemas rely on (serving/http.ts passes them to Fastify()). */
export const API_AJV_OPTIONS = {
  // Refuse a property a body does not allow (POST /api/batch/runs) rather than drop it silently.
  customOptions: { removeAdditional: false },
} as const

export function apiRoutes(deps: RouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.setSchemaErrorFormatter((errors, dataVar) => new Error(validationMessage(errors, dataVar)))
    // The response schemas describe the answers; the bytes stay JSON.stringify's, so a field a
    // schema does not list is never dropped and key order is the handler's.
    app.setSerializerCompiler(() => (data) => JSON.stringify(data))
    // No body, or a JSON null, is an empty object, as it always was for these routes.
    app.addHook('preValidation', async (request) => {
      if (request.routeOptions.schema?.body !== undefined && (request.body === undefined || request.body === null)) request.body = {}
    })
    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (error.validation !== undefined) return reply.code(400).send({ error: 'Bad Request', message: error.message })
      const known = isVigilError(error) ? VIGIL_ERROR_STATUS[error.code] : undefined
      if (known !== undefined) {
        if (known[0] >= 500) request.log.error({ err: error }, 'refused: Kafka or Redis did not answer')
        return reply.code(known[0]).send({ error: known[1], message: error.message })
      }
      // Everything else (413, 415, a failed handler) as fastify answers it.
      throw error
    })
    await app.register(systemRoutes(deps))
    await app.register(patientRoutes(deps))
    await app.register(alertRoutes(deps))
    await app.register(eventRoutes(deps))
    await app.register(batchRoutes(deps))
    await app.register(adminRoutes(deps))
    await app.register(auditRoutes(deps))
  }
}
