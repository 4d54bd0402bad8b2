/**
 * Daily statistics (the Lambda merge of the batch view and the real-time series) and batch runs
 * on demand (one at a time, rate-limited per client).
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import type { RouteDeps } from './routes.ts'
import { dayBounds, mergeDay, utcDate } from './merge.ts'
import { batchRunBody, dailyQuery, dailyStats, problem, runningJob } from './schemas.ts'

interface RunBody {
  date?: string
  from?: string
  to?: string
  full?: boolean
}

export function batchRoutes(deps: RouteDeps): FastifyPluginAsync {
  const { view, options, batch } = deps

  async function daily(query: { date?: string; patientId?: string }) {
    const { patientId } = query
    const meta = await view.batchMeta()
    const patient = patientId === undefined ? null : await view.patient(patientId)
    // Without a date: the day of the patient's newest reading, else the batch's newest day, else today (UTC).
    const date = query.date ?? (patient !== null ? utcDate(patient.ts) : (meta?.dates.slice().sort().at(-1) ?? utcDate(Date.now())))
    const rows = await view.daily(date, patientId)
    if (patientId === undefined) return { date, patientId: null, batch: meta, rows, merged: null }
    const cutoffTs = meta?.cutoffTs ?? null
    const { start, end } = dayBounds(date)
    const since = await view.seriesSince(patientId, Math.max(start, cutoffTs ?? start), end)
    const merged = mergeDay({ date, patientId, rows, cutoffTs, entries: since.entries, seriesEarliest: since.earliest })
    return { date, patientId, batch: meta, rows, merged }
  }

  function run(body: RunBody, reply: FastifyReply) {
    // A rule JSON Schema states only with an unclear message: the range needs both ends.
    if ((body.from === undefined) !== (body.to === undefined))
      return reply.code(400).send({ error: 'Bad Request', message: 'give both from and to, or neither' })
    const { date, ...rest } = body
    const { started, job } = batch.start({ ...rest, ...(date === undefined ? {} : { dates: [date] }) })
    if (!started) return reply.code(409).send({ error: 'Conflict', message: 'a batch run is already running', jobId: job.jobId })
    return reply.code(202).send({ jobId: job.jobId, startedAt: job.startedAt })
  }

  return async (app) => {
    app.get<{ Querystring: { date?: string; patientId?: string } }>(
      '/api/stats/daily',
      { config: { role: 'viewer' }, schema: { querystring: dailyQuery, response: { 200: dailyStats, 400: problem } } },
      async (request) => daily(request.query),
    )

    // Clinician, not viewer: a run reads the whole lake (minutes of CPU and disk on the server),
    // only one runs at a time so it holds off everyone else's, and a full rebuild replaces the
    // batch view every page shows. Reading the result is a viewer's.
    app.post<{ Body: RunBody }>(
      '/api/batch/runs',
      {
        config: { role: 'clinician', rateLimit: { max: options.batchRunsPerMinute, timeWindow: 60_000 } },
        schema: { body: batchRunBody, response: { 202: runningJob, 400: problem, 409: problem } },
      },
      async (request, reply) => run(request.body, reply),
    )

    app.get(
      '/api/batch/runs/current',
      {
        config: { role: 'viewer' },
        schema: { response: { 200: { type: 'object', properties: { running: { anyOf: [runningJob, { type: 'null' }] } } } } },
      },
      async () => ({
        running: batch.running,
      }),
    )
  }
}
