/**
 * The routes around the API: `/healthz` (public) and `/metrics` (Prometheus text, viewer). Signing
 * in and out (`/login`, `/logout`, `/api/me`) are the sign-in routes', beside the role guard.
 */
import type { FastifyPluginAsync } from 'fastify'
import { checkHealth } from './health.ts'
import type { RouteDeps } from './routes.ts'
import { health } from './schemas.ts'

export function systemRoutes(deps: RouteDeps): FastifyPluginAsync {
  const { metrics, options } = deps
  return async (app) => {
    // For load balancers and probes, which hold no credential; it tells only whether Redis and Kafka answer, and the lag.
    app.get('/healthz', { config: { role: 'public' }, schema: { response: { 200: health, 503: health } } }, async (_request, reply) => {
      const result = await checkHealth({ admin: deps.admin, redis: deps.redis, config: deps.config, timeoutMs: options.healthTimeoutMs })
      return reply.code(result.status === 'ok' ? 200 : 503).send(result)
    })

    // Viewer, not admin: the figures are the process's and the pipeline's (clients, pushes, readings
    // and alerts counted by level, batch durations, consumer lag), with no patient id, no user and
    // no device among the labels: whoever may watch the patients may see whether the pipeline
    // that keeps the screen current is healthy.
    app.get(
      '/metrics',
      { config: { role: 'viewer' }, schema: { response: { 200: { type: 'string', description: 'Prometheus text format' } } } },
      async (_request, reply) => {
        const body = await metrics.registry.metrics()
        return reply.type(metrics.registry.contentType).send(body)
      },
    )
  }
}
