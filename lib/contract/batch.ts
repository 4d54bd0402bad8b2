/**
 * What the batch job promises its callers (`vigil batch`, the serving layer's POST
 * /api/batch/runs): its options, progress, result and the function type. The serving layer
 * receives a function of this type from the composition root (cli/) and never imports the batch
 * layer, so DuckDB loads only in a process that runs a batch.
 */
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { RedisClient } from '../redis.ts'

/** Why a raw file was left out of the statistics (batch-layer/quarantine.ts decides). */
export type QuarantineKind = 'EMPTY' | 'NOT_PARQUET' | 'TRUNCATED' | 'CORRUPT' | 'SCHEMA_DRIFT'

export interface Verdict {
  kind: QuarantineKind
  detail: string
}

export interface Quarantined extends Verdict {
  /** Where the file was in the raw tree (absolute). */
  file: string
  /** Where it is now; null when it could not be moved and was left in place (not read). */
  movedTo: string | null
}

export interface BatchProgress {
  phase: 'scan' | 'compute' | 'write'
  done: number
  total: number
  message?: string
}

export interface BatchRunOptions {
  /** Days to compute, YYYY-MM-DD; or `from`..`to`; default today (UTC). */
  dates?: string[]
  from?: string
  to?: string
  /** Recompute every requested day, not only those whose files changed. */
  full?: boolean
  /** Fail on the first bad Parquet file instead of quarantining it with a warning. */
  strict?: boolean
  onProgress?: (p: BatchProgress) => void
  signal?: AbortSignal
}

export interface BatchRunResult {
  runId: string
  /** Days computed in this run (unchanged days skipped by the incremental mode are not listed). */
  dates: string[]
  /** Rows of statistics written (patient × vital × day). */
  rows: number
  patients: number
  /** Raw readings read. */
  readings: number
  seconds: number
  cutoffTs: number
  /**
   * Bad raw files left out of the statistics, each moved to <lake>/quarantine (see
   * quarantine.ts for the kinds); empty on a clean run.
   */
  quarantined: Quarantined[]
  /**
   * Patients whose band overrides (read from Redis when the run started) classified their
   * readings; every other patient's were classified with the default bands.
   */
  bandOverrides: number
}

export interface BatchDeps {
  log?: Logger
  /** A connected client to reuse (the serving layer's); otherwise the job connects and disconnects. */
  redis?: RedisClient
  /** Clock, for tests of the default day. */
  now?: () => number
}

/** The batch job: computes the requested days' statistics from the lake into datalake/views and Redis. */
export type RunBatchJob = (config: Config, options?: BatchRunOptions, deps?: BatchDeps) => Promise<BatchRunResult>
