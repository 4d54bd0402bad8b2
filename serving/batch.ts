/**
 * Batch runs on demand (POST /api/batch/runs): the batch job runs in this process, one at a
 * time. Progress goes to every page as `batch:progress`; the result, once the new view is in
 * Redis, as `stats`.
 */
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import type { RunBatchJob } from '../lib/contract/batch.ts'
import type { Config } from '../lib/config.ts'
import { describeError } from '../lib/errors.ts'
import type { Logger } from '../lib/log.ts'
import type { RedisClient } from '../lib/redis.ts'
import type { BatchProgress, StatsNotice } from './events.ts'
import type { ServingMetrics } from './metrics.ts'
import type { View } from './view.ts'

export type { RunBatchJob }

/** Quarantined files listed in a run's result to pages (the count, `skippedFiles`, is always whole). */
const MAX_QUARANTINED_SHOWN = 20

export interface BatchRequest {
  dates?: string[]
  from?: string
  to?: string
  full?: boolean
}

export interface RunningJob {
  jobId: string
  startedAt: number
}

export interface BatchRunnerDeps {
  config: Config
  run: RunBatchJob
  redis: RedisClient
  view: View
  log: Logger
  metrics: ServingMetrics
  progress: (p: BatchProgress) => void
  stats: (n: StatsNotice) => void
}

export class BatchRunner {
  private current: (RunningJob & { done: Promise<void> }) | null = null
  private readonly abort = new AbortController()

  constructor(private readonly deps: BatchRunnerDeps) {}

  get running(): RunningJob | null {
    return this.current === null ? null : { jobId: this.current.jobId, startedAt: this.current.startedAt }
  }

  /** Starts a run, or returns the one already running (`started: false`). */
  start(request: BatchRequest): { started: boolean; job: RunningJob } {
    if (this.current !== null) return { started: false, job: this.running as RunningJob }
    const job: RunningJob = { jobId: randomUUID(), startedAt: Date.now() }
    const done = this.execute(job, request).finally(() => {
      this.current = null
    })
    this.current = { ...job, done }
    return { started: true, job }
  }

  private async execute(job: RunningJob, request: BatchRequest): Promise<void> {
    const { deps } = this
    const started = process.hrtime.bigint()
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9
    deps.progress({ jobId: job.jobId, phase: 'start', done: 0, total: 0, state: 'running' })
    try {
      const result = await deps.run(
        deps.config,
        {
          ...request,
          signal: this.abort.signal,
          onProgress: (p) => deps.progress({ jobId: job.jobId, phase: p.phase, done: p.done, total: p.total, message: p.message, state: 'running' }),
        },
        { log: deps.log, redis: deps.redis },
      )
      deps.metrics.batchRuns.observe({ outcome: 'succeeded' }, seconds())
      const summary = {
        runId: result.runId,
        dates: result.dates,
        rows: result.rows,
        patients: result.patients,
        readings: result.readings,
        seconds: result.seconds,
        cutoffTs: result.cutoffTs,
        bandOverrides: result.bandOverrides,
        skippedFiles: result.quarantined.length,
        // Pages get lake-relative paths, and at most a screenful of them.
        quarantined: result.quarantined.slice(0, MAX_QUARANTINED_SHOWN).map((q) => ({
          file: path.relative(deps.config.datalakeDir, q.file),
          kind: q.kind,
          detail: q.detail,
          movedTo: q.movedTo === null ? null : path.relative(deps.config.datalakeDir, q.movedTo),
        })),
      }
      const quarantinedNote = result.quarantined.length === 0 ? '' : `; ${result.quarantined.length} bad file(s) quarantined`
      const message =
        result.dates.length === 0
          ? 'nothing changed in the lake since the last run'
          : `${result.rows} rows for ${result.dates.join(', ')} from ${result.readings} readings${quarantinedNote}`
      deps.progress({ jobId: job.jobId, phase: 'done', done: 1, total: 1, state: 'succeeded', message })
      deps.stats({ meta: await deps.view.batchMeta(), jobId: job.jobId, result: summary })
    } catch (error) {
      deps.metrics.batchRuns.observe({ outcome: 'failed' }, seconds())
      deps.log.warn(`batch run ${job.jobId} failed: ${describeError(error)}`)
      deps.progress({ jobId: job.jobId, phase: 'failed', done: 0, total: 0, state: 'failed', message: error instanceof Error ? error.message : String(error) })
    }
  }

  /** Asks a running job to stop and waits for it. */
  async stop(): Promise<void> {
    this.abort.abort()
    await this.current?.done
  }
}
