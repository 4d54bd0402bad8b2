/**
 * The batch layer's public API (DESIGN.md, The data lake, Daily statistics): the archiver stage
 * (Kafka -> Parquet lake, exactly once) and the daily-statistics job (lake -> views + Redis).
 */
import type { Config } from '../lib/config.ts'
import type { Logger } from '../lib/log.ts'
import type { RedisClient } from '../lib/redis.ts'
import { VigilError } from '../lib/errors.ts'

export interface BatchProgress {
  phase: 'scan' | 'compute' | 'write'
  done: number
  total: number
  message?: string
}

export interface BatchRunOptions {
  dates?: string[]
  from?: string
  to?: string
  full?: boolean
  strict?: boolean
  onProgress?: (p: BatchProgress) => void
  signal?: AbortSignal
}

export interface BatchRunResult {
  runId: string
  dates: string[]
  rows: number
  patients: number
  readings: number
  seconds: number
  cutoffTs: number
  skippedFiles: string[]
}

export async function runBatchJob(
  _config: Config,
  _options: BatchRunOptions = {},
  _deps: { log?: Logger; redis?: RedisClient } = {},
): Promise<BatchRunResult> {
  throw new VigilError('NOT_IMPLEMENTED', 'the batch job is not implemented yet.')
}
