/**
 * The batch layer's public API (docs/CONTRACT.md, The data lake, Daily statistics): the archiver stage
 * (Kafka -> Parquet lake, exactly once) and the daily-statistics job (lake -> views + Redis),
 * which the serving layer may also call.
 */
export { start, type Archiver, type ArchiverConfig, type ArchiverDeps, type ArchiverStats } from './archiver.ts'
export { runBatchJob, type BatchDeps, type BatchProgress, type BatchRunOptions, type BatchRunResult } from './job.ts'
export type { Quarantined, QuarantineKind } from './quarantine.ts'
export { archiverOptions, archiverOptionsSchema, batchOptionsSchema, type ArchiverOptions, type BatchOptions } from './config.ts'
