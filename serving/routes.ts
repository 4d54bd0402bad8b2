/**
 * The HTTP API (docs/CONTRACT.md, Serving) as a fastify plugin: JSON everywhere, every route with
 * its JSON Schema, so bad input is refused with 400 `{error, message}` before a handler runs. Every
 * route but /healthz and /login is behind the token (serving/http.ts installs the check before
 * any route runs). The routes themselves are in routes-system.ts, routes-patients.ts,
 * routes-alerts.ts and routes-batch.ts.
 */
import type { Admin } from '@platformatic/kafka'
import type { FastifyError, FastifyPluginAsync } from 'fastify'
import type { Config } from '../lib/config.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { Auth } from './auth.ts'
import type { BatchRunner } from './batch.ts'
import type { ServingOptions } from './config.ts'
import type { AlertView } from './events.ts'
import type { ServingMetrics } from './metrics.ts'
import { alertRoutes } from './routes-alerts.ts'
import { batchRoutes } from './routes-batch.ts'
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
  /** Tells every page about an acknowledged alert. */
  alertChanged: (alert: AlertView) => void
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
    app.setErrorHandler((error: FastifyError, _request, reply) => {
      if (error.validation !== undefined) return reply.code(400).send({ error: 'Bad Request', message: error.message })
      // Everything else (413, 415, a failed handler) as fastify answers it.
      throw error
    })
    await app.register(systemRoutes(deps))
    await app.register(patientRoutes(deps))
    await app.register(alertRoutes(deps))
    await app.register(batchRoutes(deps))
  }
}
