/**
 * Patient routes: the grid, one patient, their series, and their band overrides (the same specs
 * as `vigil patient set --band`, e.g. "spo2:news2-scale2", "heartRate:normal=40-90",
 * "heartRate:default"; the speed layer applies them from the next reading). A change of bands is
 * a clinician's, with a reason, recorded in the audit trail before it is written.
 */
import type { FastifyPluginAsync } from 'fastify'
import { VITALS, VITAL_UNITS } from '../lib/contract/schema.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { applyBandSpecs, bandListJson, overridesJson, BandSpecError, DEFAULT_BANDS, parseBandSpec, type BandSpec, type BandTable } from '../lib/bands.ts'
import { readPatientBands, writePatientBands, type PatientBands } from '../lib/band-store.ts'
import { principalOf } from './principal.ts'
import { recordFirst } from './routes-audit.ts'
import type { RouteDeps } from './routes.ts'
import { bandTable, bandsBody, idParams, onePatient, patientBands, patientState, problem, seriesAnswer } from './schemas.ts'

/** The band table as JSON. */
export function bandsJson(table: BandTable = DEFAULT_BANDS) {
  return {
    vitals: VITALS,
    units: VITAL_UNITS,
    bands: Object.fromEntries(VITALS.map((v) => [v, bandListJson(table[v])])),
  }
}

/** The specs of a body, or the message of the first that does not parse. */
function parseSpecs(specs: readonly string[]): BandSpec[] | string {
  try {
    return specs.map(parseBandSpec)
  } catch (error) {
    if (error instanceof BandSpecError) return error.message
    throw error
  }
}

/** A patient's bands in force and which vitals are overridden. */
function patientBandsJson(patientId: string, b: PatientBands) {
  return { patientId, overridden: VITALS.filter((v) => b.overrides[v] !== undefined), ...bandsJson(b.table) }
}

type IdParams = { Params: { id: string } }

export function patientRoutes(deps: RouteDeps): FastifyPluginAsync {
  const { view, options } = deps
  const keys = redisKeys(deps.config.redisPrefix)
  const seriesQuery = { type: 'object', properties: { seconds: { type: 'integer', minimum: 1, maximum: options.maxSeriesSeconds, default: 60 } } } as const

  return async (app) => {
    app.get('/api/bands', { config: { role: 'viewer' }, schema: { response: { 200: bandTable } } }, async () => bandsJson())

    app.get('/api/patients', { config: { role: 'viewer' }, schema: { response: { 200: { type: 'array', items: patientState } } } }, async () => view.patients())

    app.get<IdParams>(
      '/api/patients/:id',
      { config: { role: 'viewer' }, schema: { params: idParams, response: { 200: onePatient, 400: problem, 404: problem } } },
      async (request, reply) => {
        const patient = await view.patient(request.params.id)
        if (patient === null) return reply.code(404).send({ error: 'Not Found', message: 'no such patient' })
        const [alerts, openAlerts] = await Promise.all([view.alerts(options.alertFeedSize, request.params.id), view.openAlerts(request.params.id)])
        return { ...patient, alerts, openAlerts }
      },
    )

    app.get<IdParams>(
      '/api/patients/:id/bands',
      { config: { role: 'viewer' }, schema: { params: idParams, response: { 200: patientBands, 400: problem } } },
      async (request) => patientBandsJson(request.params.id, await readPatientBands(deps.redis, keys, request.params.id)),
    )

    app.put<IdParams & { Body: { bands: string[]; reason: string } }>(
      '/api/patients/:id/bands',
      { config: { role: 'clinician' }, schema: { params: idParams, body: bandsBody, response: { 200: patientBands, 400: problem, 503: problem } } },
      async (request, reply) => {
        const patientId = request.params.id
        const specs = parseSpecs(request.body.bands)
        if (typeof specs === 'string') return reply.code(400).send({ error: 'Bad Request', message: specs })
        const before = await readPatientBands(deps.redis, keys, patientId)
        await recordFirst(deps.audit, {
          actor: principalOf(request),
          action: 'patient.bands',
          patientId,
          subject: patientId,
          before: overridesJson(before.overrides),
          after: overridesJson(applyBandSpecs(before.overrides, specs)),
          reason: request.body.reason.trim(),
        })
        return patientBandsJson(patientId, await writePatientBands(deps.redis, keys, patientId, specs))
      },
    )

    app.get<IdParams & { Querystring: { seconds: number } }>(
      '/api/patients/:id/series',
      { config: { role: 'viewer' }, schema: { params: idParams, querystring: seriesQuery, response: { 200: seriesAnswer, 400: problem } } },
      async (request) => ({ patientId: request.params.id, seconds: request.query.seconds, ...(await view.series(request.params.id, request.query.seconds)) }),
    )
  }
}
