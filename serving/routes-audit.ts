/**
 * The audit trail over the API (docs/SECURITY.md, The audit trail): reading it back, per patient
 * for a clinician and whole for an admin, and `recordFirst`, which the routes that act call before
 * they change anything.
 */
import type { FastifyPluginAsync } from 'fastify'
import { VigilError } from '../lib/errors.ts'
import type { AuditInput, AuditLog } from '../lib/identity/audit.ts'
import { readAudit } from '../lib/identity/audit.ts'
import type { AuditEvent } from '../lib/identity/model.ts'
import type { RouteDeps } from './routes.ts'
import { auditEvent, auditQuery, idParams, patientAuditQuery, problem } from './schemas.ts'

/**
 * Appends the event to the audit trail and resolves once Kafka acknowledged it. An action is
 * recorded before it is applied, so that nothing changes unrecorded: when Kafka does not
 * acknowledge, this throws KAFKA_UNREACHABLE (503) and the caller changes nothing.
 */
export async function recordFirst(audit: AuditLog, input: AuditInput): Promise<AuditEvent> {
  try {
    return await audit.record(input)
  } catch (error) {
    throw new VigilError(
      'KAFKA_UNREACHABLE',
      'the audit trail could not be written, so nothing was changed: try again once Kafka is reachable (`vigil stack status`).',
      { cause: error },
    )
  }
}

interface AuditWindow {
  since?: number
  limit: number
}

const auditList = { type: 'array', items: auditEvent } as const

export function auditRoutes(deps: RouteDeps): FastifyPluginAsync {
  const { config } = deps
  return async (app) => {
    // A patient's trail: what was done to their alerts and bands, and their devices' assignments.
    app.get<{ Params: { id: string }; Querystring: AuditWindow }>(
      '/api/patients/:id/audit',
      { config: { role: 'clinician' }, schema: { params: idParams, querystring: patientAuditQuery, response: { 200: auditList, 400: problem, 503: problem } } },
      async (request) => readAudit(config, { patientId: request.params.id, ...request.query }),
    )

    // The whole trail (user changes have no patient): an admin's.
    app.get<{ Querystring: AuditWindow & { patientId?: string } }>(
      '/api/audit',
      { config: { role: 'admin' }, schema: { querystring: auditQuery, response: { 200: auditList, 400: problem, 503: problem } } },
      async (request) => readAudit(config, request.query),
    )
  }
}
