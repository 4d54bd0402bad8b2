/**
 * The routes around the API: `/login` (sets the session cookie), `/healthz` (no token) and
 * `/metrics` (Prometheus text).
 */
import type { FastifyPluginAsync } from 'fastify'
import { SESSION_COOKIE } from './auth.ts'
import { checkHealth } from './health.ts'
import type { RouteDeps } from './routes.ts'
import { health } from './schemas.ts'

const loginQuery = { type: 'object', required: ['token'], properties: { token: { type: 'string', maxLength: 512 } } } as const

export function systemRoutes(deps: RouteDeps): FastifyPluginAsync {
  const { auth, metrics, options } = deps
  return async (app) => {
    // A malformed token is a wrong token: 401 with no body, never a 400 that tells why.
    app.get<{ Querystring: { token?: string } }>(
      '/login',
      { attachValidation: true, schema: { querystring: loginQuery, response: { 303: { type: 'null' }, 401: { type: 'null' } } } },
      async (request, reply) => {
        if (request.validationError !== undefined || !auth.isToken(request.query.token)) return reply.code(401).send()
        reply.setCookie(SESSION_COOKIE, auth.sessionValue, { path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' })
        return reply.redirect('/', 303)
      },
    )

    app.get('/healthz', { schema: { response: { 200: health, 503: health } } }, async (_request, reply) => {
      const result = await checkHealth({ admin: deps.admin, redis: deps.redis, config: deps.config, timeoutMs: options.healthTimeoutMs })
      return reply.code(result.status === 'ok' ? 200 : 503).send(result)
    })

    app.get('/metrics', { schema: { response: { 200: { type: 'string', description: 'Prometheus text format' } } } }, async (_request, reply) => {
      const body = await metrics.registry.metrics()
      return reply.type(metrics.registry.contentType).send(body)
    })
  }
}
