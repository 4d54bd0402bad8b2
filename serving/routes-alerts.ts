/**
 * Alert routes: the feed, and acknowledging an alert as the signed-in user (claimed, recorded in
 * the audit trail, then stored in Redis, then pushed to every page: serving/acknowledgements.ts).
 */
import type { FastifyPluginAsync } from 'fastify'
import { redisKeys } from '../lib/contract/keys.ts'
import { AckInProgress, Acknowledgements } from './acknowledgements.ts'
import { principalOf } from './principal.ts'
import type { RouteDeps } from './routes.ts'
import { ackBody, ackParams, alertView, patientIdSchema, problem } from './schemas.ts'

export function alertRoutes(deps: RouteDeps): FastifyPluginAsync {
  const { view, options } = deps
  const acks = new Acknowledgements(deps.redis, redisKeys(deps.config.redisPrefix), view, deps.audit)
  const feedQuery = {
    type: 'object',
    properties: { limit: { type: 'integer', minimum: 1, maximum: options.alertFeedSize, default: options.alertFeedSize }, patientId: patientIdSchema },
  } as const
  // Acknowledgements are looked for among the newest alerts (5 feeds' worth), not the whole stream.
  const ackScan = options.alertFeedSize * 5

  return async (app) => {
    app.get<{ Querystring: { limit: number; patientId?: string } }>(
      '/api/alerts',
      { config: { role: 'viewer' }, schema: { querystring: feedQuery, response: { 200: { type: 'array', items: alertView }, 400: problem } } },
      async (request) => view.alerts(request.query.limit, request.query.patientId),
    )

    // Who acknowledges is the signed-in user, never a name in the body. An alert already
    // acknowledged is answered as it stands, with no second audit event: the acknowledgement (who
    // took responsibility, and when) does not change, and a double click or a second open page
    // would otherwise fill the trail with events whose before and after are the same. Two at
    // once: one records and stores its acknowledgement, the other answers it.
    app.post<{ Params: { alertId: string }; Body: { note?: string } }>(
      '/api/alerts/:alertId/ack',
      {
        config: { role: 'clinician' },
        schema: { params: ackParams, body: ackBody, response: { 200: alertView, 400: problem, 404: problem, 503: problem } },
      },
      async (request, reply) => {
        const alert = await view.recentAlert(request.params.alertId, ackScan)
        if (alert === null) return reply.code(404).send({ error: 'Not Found', message: 'no such recent alert' })
        if (alert.ack !== undefined) return alert
        try {
          const outcome = await acks.acknowledge(alert, principalOf(request), request.body.note?.trim() ?? '')
          if (outcome.changed) deps.alertChanged(outcome.alert)
          return outcome.alert
        } catch (error) {
          // Not a failure of this server: another request holds the alert and is still recording it.
          if (error instanceof AckInProgress) return reply.code(503).send({ error: 'Service Unavailable', message: error.message })
          throw error
        }
      },
    )
  }
}
