/**
 * Alert routes: the feed, and acknowledging an alert as the signed-in user (recorded in the audit
 * trail, then in Redis, then pushed to every page).
 */
import type { FastifyPluginAsync } from 'fastify'
import { principalOf } from './principal.ts'
import { recordFirst } from './routes-audit.ts'
import type { RouteDeps } from './routes.ts'
import { ackBody, ackParams, alertView, patientIdSchema, problem } from './schemas.ts'

export function alertRoutes(deps: RouteDeps): FastifyPluginAsync {
  const { view, options, audit } = deps
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
    // would otherwise fill the trail with events whose before and after are the same.
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
        const actor = principalOf(request)
        const ack = { by: actor.user, at: Date.now() }
        const note = request.body.note?.trim() ?? ''
        await recordFirst(audit, {
          at: ack.at,
          actor,
          action: 'alert.acknowledge',
          patientId: alert.patientId,
          subject: alert.id,
          before: null,
          after: ack,
          reason: note === '' ? null : note,
        })
        const acked = await view.acknowledge(alert, ack)
        deps.alertChanged(acked)
        return acked
      },
    )
  }
}
