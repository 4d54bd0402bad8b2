/**
 * The HTTP API (docs/CONTRACT.md, Serving). JSON everywhere; every route but /healthz is behind the
 * token (serving/index.ts installs the check before any route runs).
 */
import type { Admin } from '@platformatic/kafka'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { z } from 'zod'
import { VITALS, VITAL_UNITS, patientIdSchema } from '../lib/contract/schema.ts'
import { BandSpecError, DEFAULT_BANDS, parseBandSpec, type Band, type BandTable } from '../lib/bands.ts'
import { readPatientBands, writePatientBands, type PatientBands } from '../lib/band-store.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { zodReason, type Config } from '../lib/config.ts'
import type { RedisClient } from '../lib/redis.ts'
import { SESSION_COOKIE, type Auth } from './auth.ts'
import type { BatchRunner } from './batch.ts'
import type { ServingOptions } from './config.ts'
import type { AlertView } from './events.ts'
import { checkHealth } from './health.ts'
import { dayBounds, mergeDay, utcDate } from './merge.ts'
import type { ServingMetrics } from './metrics.ts'
import type { View } from './view.ts'

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

const dateSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'expected a date YYYY-MM-DD' }).refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), { error: 'expected a real calendar date' })

function badRequest(reply: FastifyReply, error: z.ZodError) {
  return reply.code(400).send({ error: 'Bad Request', message: zodReason(error) })
}

/** Bands as JSON (Infinity has no JSON form: the open upper edge is null). */
function bandListJson(bands: readonly Band[]) {
  return bands.map((b) => ({ max: Number.isFinite(b.max) ? b.max : null, maxInclusive: b.maxInclusive, status: b.status, score: b.score ?? null }))
}

/** The band table as JSON. */
export function bandsJson(table: BandTable = DEFAULT_BANDS) {
  return {
    vitals: VITALS,
    units: VITAL_UNITS,
    bands: Object.fromEntries(VITALS.map((v) => [v, bandListJson(table[v])])),
  }
}

/** A patient's bands in force and which vitals are overridden. */
function patientBandsJson(patientId: string, b: PatientBands) {
  return { patientId, overridden: VITALS.filter((v) => b.overrides[v] !== undefined), ...bandsJson(b.table) }
}

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { auth, view, options, metrics, batch } = deps

  app.get('/login', async (request, reply) => {
    const q = z.object({ token: z.string().max(512) }).safeParse(request.query)
    if (!q.success || !auth.isToken(q.data.token)) return reply.code(401).send()
    reply.setCookie(SESSION_COOKIE, auth.sessionValue, { path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' })
    return reply.redirect('/', 303)
  })

  app.get('/healthz', async (_request, reply) => {
    const health = await checkHealth({ admin: deps.admin, redis: deps.redis, config: deps.config, timeoutMs: options.healthTimeoutMs })
    return reply.code(health.status === 'ok' ? 200 : 503).send(health)
  })

  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics()
    return reply.type(metrics.registry.contentType).send(body)
  })

  app.get('/api/bands', async () => bandsJson())

  app.get('/api/patients', async () => view.patients())

  const idParams = z.object({ id: patientIdSchema })

  app.get('/api/patients/:id', async (request, reply) => {
    const p = idParams.safeParse(request.params)
    if (!p.success) return badRequest(reply, p.error)
    const patient = await view.patient(p.data.id)
    if (patient === null) return reply.code(404).send({ error: 'Not Found', message: 'no such patient' })
    return { ...patient, alerts: await view.alerts(options.alertFeedSize, p.data.id) }
  })

  // Per-patient band overrides, the same specs as `vigil patient set --band` (e.g. "spo2:news2-scale2",
  // "heartRate:normal=40-90", "heartRate:default"); the speed layer applies them from the next reading.
  const keys = redisKeys(deps.config.redisPrefix)
  app.get('/api/patients/:id/bands', async (request, reply) => {
    const p = idParams.safeParse(request.params)
    if (!p.success) return badRequest(reply, p.error)
    return patientBandsJson(p.data.id, await readPatientBands(deps.redis, keys, p.data.id))
  })

  app.put('/api/patients/:id/bands', async (request, reply) => {
    const p = idParams.safeParse(request.params)
    if (!p.success) return badRequest(reply, p.error)
    const b = z.object({ bands: z.array(z.string().min(1).max(200)).min(1, { error: 'bands must list at least one band spec' }).max(50) }).safeParse(request.body ?? {})
    if (!b.success) return badRequest(reply, b.error)
    let specs
    try {
      specs = b.data.bands.map(parseBandSpec)
    } catch (error) {
      if (error instanceof BandSpecError) return reply.code(400).send({ error: 'Bad Request', message: error.message })
      throw error
    }
    return patientBandsJson(p.data.id, await writePatientBands(deps.redis, keys, p.data.id, specs))
  })

  app.get('/api/patients/:id/series', async (request, reply) => {
    const p = idParams.safeParse(request.params)
    if (!p.success) return badRequest(reply, p.error)
    const q = z.object({ seconds: z.coerce.number().int().min(1).max(options.maxSeriesSeconds).default(60) }).safeParse(request.query)
    if (!q.success) return badRequest(reply, q.error)
    return { patientId: p.data.id, seconds: q.data.seconds, ...(await view.series(p.data.id, q.data.seconds)) }
  })

  app.get('/api/alerts', async (request, reply) => {
    const q = z.object({ limit: z.coerce.number().int().min(1).max(options.alertFeedSize).default(options.alertFeedSize), patientId: patientIdSchema.optional() }).safeParse(request.query)
    if (!q.success) return badRequest(reply, q.error)
    return view.alerts(q.data.limit, q.data.patientId)
  })

  app.post('/api/alerts/:alertId/ack', async (request, reply) => {
    const p = z.object({ alertId: z.string().min(1).max(512) }).safeParse(request.params)
    if (!p.success) return badRequest(reply, p.error)
    const b = z.object({ by: z.string().trim().min(1, { error: 'say who acknowledges (by)' }).max(64) }).safeParse(request.body ?? {})
    if (!b.success) return badRequest(reply, b.error)
    const acked = await view.acknowledge(p.data.alertId, b.data.by, Date.now(), options.alertFeedSize * 5)
    if (acked === null) return reply.code(404).send({ error: 'Not Found', message: 'no such recent alert' })
    deps.alertChanged(acked)
    return acked
  })

  app.get('/api/stats/daily', async (request, reply) => {
    const q = z.object({ date: dateSchema.optional(), patientId: patientIdSchema.optional() }).safeParse(request.query)
    if (!q.success) return badRequest(reply, q.error)
    const { patientId } = q.data
    const meta = await view.batchMeta()
    const patient = patientId === undefined ? null : await view.patient(patientId)
    // Without a date: the day of the patient's newest reading, else the batch's newest day, else today (UTC).
    const date = q.data.date ?? (patient !== null ? utcDate(patient.ts) : (meta?.dates.slice().sort().at(-1) ?? utcDate(Date.now())))
    const rows = await view.daily(date, patientId)
    if (patientId === undefined) return { date, patientId: null, batch: meta, rows, merged: null }
    const cutoffTs = meta?.cutoffTs ?? null
    const { start, end } = dayBounds(date)
    const since = await view.seriesSince(patientId, Math.max(start, cutoffTs ?? start), end)
    const merged = mergeDay({ date, patientId, rows, cutoffTs, entries: since.entries, seriesEarliest: since.earliest })
    return { date, patientId, batch: meta, rows, merged }
  })

  const runBody = z
    .object({
      date: dateSchema.optional(),
      from: dateSchema.optional(),
      to: dateSchema.optional(),
      full: z.boolean().optional(),
    })
    .strict()
    .refine((b) => (b.from === undefined) === (b.to === undefined), { error: 'give both from and to, or neither' })

  app.post(
    '/api/batch/runs',
    { config: { rateLimit: { max: options.batchRunsPerMinute, timeWindow: 60_000 } } },
    async (request, reply) => {
      const b = runBody.safeParse(request.body ?? {})
      if (!b.success) return badRequest(reply, b.error)
      const { date, ...rest } = b.data
      const { started, job } = batch.start({ ...rest, ...(date === undefined ? {} : { dates: [date] }) })
      if (!started) return reply.code(409).send({ error: 'Conflict', message: 'a batch run is already running', jobId: job.jobId })
      return reply.code(202).send({ jobId: job.jobId, startedAt: job.startedAt })
    },
  )

  app.get('/api/batch/runs/current', async () => ({ running: batch.running }))
}
