/**
 * The batch layer's benchmarks:
 *  - archiver drain rate: rows/s from a pre-filled `vitals.readings` (own topic prefix) into the
 *    lake, from the archiver's start to its last rename;
 *  - batch job over a generated lake (rows written straight to Parquet by DuckDB) against the
 *    same statistics SQL run directly in DuckDB: the job's overhead ratio, and the peak memory
 *    (RSS, sampled every 50 ms) of the process while the job runs.
 *
 *   npx tsx bench/batch.ts [--drain-rows 200000] [--batch-rows 10000000] [--skip-drain] [--skip-job]
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { loadConfig, type Config } from '../lib/config.ts'
import { createAdmin, ensureTopics } from '../lib/kafka.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { pollUntil } from '../lib/backoff.ts'
import { createLogger } from '../lib/log.ts'
import { TOPIC_PARTITIONS, topicNames } from '../lib/contract/topics.ts'
import { archiverOptions, start, runBatchJob } from '../batch-layer/index.ts'
import { generateLake, produceAll, syntheticReadings } from '../batch-layer/synthetic.ts'
import { rawDir } from '../batch-layer/lake.ts'
import { dailyStatsSql } from '../batch-layer/stats-sql.ts'
import { VITAL_COLUMNS } from '../batch-layer/parquet.ts'

export interface BatchBenchOptions {
  /** Rows pre-filled into the topic for the drain measurement (0: skip). @defaultValue 200 000 */
  drainRows?: number
  /** Rows of the generated lake for the batch job measurement (0: skip). @defaultValue 10 000 000 */
  batchRows?: number
  /** Base config (brokers, Redis); prefixes and lake folder are replaced by the benchmark's own. */
  config?: Config
}

export interface BatchBenchResult {
  archiverDrain?: {
    rows: number
    /** From start (lock, lake scan, group join) to the last file renamed (at stop). */
    seconds: number
    rowsPerSecond: number
    /** From the first record consumed to the last file renamed: the sustained drain rate. */
    steadyRowsPerSecond: number
    startupSeconds: number
    files: number
  }
  batchJob?: {
    rows: number
    jobSeconds: number
    /** The job's statistics SQL alone, in a plain DuckDB connection. */
    directSqlSeconds: number
    overheadRatio: number
    /** Baseline: count/avg/min/max per patient-day and vital, no percentiles or bands. */
    plainAggregateSeconds: number
    peakRssMB: number
    statsRows: number
  }
}

export async function runBatchBench(options: BatchBenchOptions = {}): Promise<BatchBenchResult> {
  const id = `bench-${randomUUID().slice(0, 8)}`
  const base = options.config ?? loadConfig({}, {})
  const lake = await mkdtemp(path.join(tmpdir(), `vigil-${id}-`))
  const config = Object.freeze({ ...base, topicPrefix: `${id}.`, redisPrefix: `${id}:`, datalakeDir: lake, logLevel: 'warn' as const })
  const result: BatchBenchResult = {}
  try {
    if ((options.drainRows ?? 200_000) > 0) result.archiverDrain = await benchDrain(config, options.drainRows ?? 200_000)
    if ((options.batchRows ?? 10_000_000) > 0) result.batchJob = await benchJob(config, options.batchRows ?? 10_000_000)
  } finally {
    await cleanup(config)
  }
  return result
}

async function benchDrain(config: Config, rows: number): Promise<NonNullable<BatchBenchResult['archiverDrain']>> {
  const topic = topicNames(config.topicPrefix).readings
  const admin = createAdmin(config)
  try {
    await ensureTopics(admin, [{ name: topic, partitions: TOPIC_PARTITIONS.readings }])
  } finally {
    await admin.close()
  }
  const readings = syntheticReadings({ count: rows, startTs: Date.UTC(2026, 10, 22, 8), stepMs: 100, patients: 200, seed: 11 })
  await produceAll(
    config,
    topic,
    readings.map((r) => ({ key: r.patientId, value: JSON.stringify(r) })),
    5_000,
  )
  const t0 = performance.now()
  // Files of 10 000 records and a 1 s age: the tail of the drain (partitions short of a full
  // file) waits at most 1 s instead of the default 10 s, so the figure is the sustained rate.
  const archiver = await start(
    { ...config, archiver: archiverOptions({ flushRecords: 10_000, flushIntervalMs: 1_000 }) },
    { log: createLogger({ level: 'warn' }) },
  )
  let first = 0
  try {
    first = await pollUntil(async () => archiver.stats().consumed > 0 && performance.now(), { timeoutMs: 60_000, intervalMs: 5, what: 'the first record' })
    await pollUntil(async () => archiver.stats().consumed >= rows || undefined, {
      timeoutMs: 600_000,
      intervalMs: 5,
      what: 'the archiver to consume the topic',
    })
  } finally {
    // A clean stop writes the partitions' last, partial files at once (no wait for their age).
    await archiver.stop()
  }
  const end = performance.now()
  if (archiver.stats().records !== rows) throw new Error(`the archiver wrote ${archiver.stats().records} of ${rows} records`)
  const seconds = (end - t0) / 1000
  return {
    rows,
    seconds: round(seconds),
    rowsPerSecond: Math.round(rows / seconds),
    steadyRowsPerSecond: Math.round(rows / ((end - first) / 1000)),
    startupSeconds: round((first - t0) / 1000),
    files: archiver.stats().files,
  }
}

async function benchJob(config: Config, rows: number): Promise<NonNullable<BatchBenchResult['batchJob']>> {
  const day = '2026-11-20'
  await generateLake(config.datalakeDir, rows, { days: 1, patients: 1_000, startDay: day })

  // The same SQL directly in DuckDB, over the same files.
  const glob = path.join(rawDir(config.datalakeDir, 'readings'), '*', '*.parquet')
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  const source = `read_parquet('${glob}', hive_partitioning = true)`
  const p0 = performance.now()
  const cols = Object.values(VITAL_COLUMNS)
    .map((c) => `count(${c}), avg(${c}), min(${c}), max(${c})`)
    .join(', ')
  await conn.run(`CREATE TABLE plain AS SELECT patient_id, CAST(ts AS DATE) AS day, ${cols} FROM ${source} GROUP BY ALL`)
  const plainAggregateSeconds = (performance.now() - p0) / 1000
  const d0 = performance.now()
  await conn.run(`CREATE TABLE stats AS ${dailyStatsSql(source)}`)
  const directSqlSeconds = (performance.now() - d0) / 1000
  conn.closeSync()
  db.closeSync()

  let peak = process.memoryUsage().rss
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 50)
  const redis = await connectRedis(config)
  try {
    const j0 = performance.now()
    const r = await runBatchJob(config, { dates: [day], full: true }, { redis })
    const jobSeconds = (performance.now() - j0) / 1000
    return {
      rows,
      jobSeconds: round(jobSeconds),
      directSqlSeconds: round(directSqlSeconds),
      overheadRatio: round(jobSeconds / directSqlSeconds),
      plainAggregateSeconds: round(plainAggregateSeconds),
      peakRssMB: Math.round(peak / 1e6),
      statsRows: r.rows,
    }
  } finally {
    clearInterval(sampler)
    redis.destroy()
  }
}

async function cleanup(config: Config): Promise<void> {
  const admin = createAdmin(config)
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(config.topicPrefix))
    if (mine.length > 0) await admin.deleteTopics({ topics: mine })
  } finally {
    await admin.close()
  }
  const redis = await connectRedis(config)
  try {
    await deleteKeys(redis, redisKeys(config.redisPrefix).everything)
  } finally {
    redis.destroy()
  }
  await rm(config.datalakeDir, { recursive: true, force: true })
}

const round = (x: number) => Math.round(x * 100) / 100

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      'drain-rows': { type: 'string', default: '200000' },
      'batch-rows': { type: 'string', default: '10000000' },
      'skip-drain': { type: 'boolean', default: false },
      'skip-job': { type: 'boolean', default: false },
    },
  })
  const result = await runBatchBench({
    drainRows: values['skip-drain'] === true ? 0 : Number(values['drain-rows']),
    batchRows: values['skip-job'] === true ? 0 : Number(values['batch-rows']),
    config: loadConfig({}),
  })
  console.table(Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v])))
  console.log(JSON.stringify(result))
}
