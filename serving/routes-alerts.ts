/** Alert routes: the feed, and acknowledging an alert (recorded in Redis and pushed to every page). */
import type { FastifyPluginAsync } from 'fastify'
import type { RouteDeps } from './routes.ts'
import { ackBody, ackParams, alertView, patientIdSchema, problem } from './schemas.ts'

export function alertRoutes(deps: RouteDeps): FastifyPluginAsync {
  const { view, options } = deps
  const feedQuery = {
    type: 'object',
    properties: { limit: { type: 'integer', minimum: 1, maximum: options.alertFeedSize, default: options.alertFeedSize }, patientId: patientIdSchema },
  } as const

  return async (app) => {
    app.get<{ Querystring: { limit: number; patientId?: string } }>(
      '/api/alerts',
      { schema: { querystring: feedQuery, response: { 200: { type: 'array', items: alertView }, 400: problem } } },
      async (request) => view.alerts(request.query.limit, request.query.patientId),
    )

    app.post<{ Params: { alertId: string }; Body: { by: string } }>(
      '/api/alerts/:alertId/ack',
      { schema: { params: ackParams, body: ackBody, response: { 200: alertView, 400: problem, 404: problem } } },
      async (request, reply) => {
        // Acknowledgements are looked for among the newest alerts (5 feeds' worth), not the whole stream.
        const acked = await view.acknowledge(request.params.alertId, request.body.by.trim(), Date.now(), options.alertFeedSize * 5)
        if (acked === null) return reply.code(404).send({ error: 'Not Found', message: 'no such recent alert' })
        deps.alertChanged(acked)
        return acked
      },
    )
  }
}
