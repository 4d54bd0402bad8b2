/**
 * The batch layer's benchmarks:
 *  - archiver drain, for each patient count (100, 1 000 and 10 000 by default), on its own topic
 *    pre-filled once with snappy batches as the simulator and the gateway write them (bench/drain.ts),
 *    and its own lake: the archiver runs as its own process
 *    (`node bin/vigil.js archive`, as users run it) and drains the topic into the lake; rows/s
 *    from the group's first commit to the commit of the last offset, CPU µs per row and peak RSS
 *    of its process. Files are written at 10 000 records or 1 s of age (flags), so that the tail
 *    of the drain (partitions short of a full file) waits at most 1 s. Aim: ≥ 100k rows/s;
 *  - batch job over a generated lake (rows written straight to Parquet by DuckDB) against the
 *    same statistics SQL run directly in DuckDB: the job's overhead ratio, and the peak memory
 *    (RSS, sampled every 50 ms) of the process while the job runs;
 *  - with `--engines duckdb,spark`, the whole job on each engine over the same generated lake
 *    (`--batch-rows` may list sizes: 10000000,100000000; the lake is generated before the clock
 *    starts): wall seconds, rows/s, the peak RSS of the engine's processes (DuckDB: this process,
 *    where it runs; Spark: its driver script and JVM, summed, sampled every 200 ms) and of this
 *    process, Spark's start-up seconds, and the load average around each run. `--baseline` adds
 *    the plain-DuckDB SQL measurements above for each size.
 *
 *   npx tsx bench/batch.ts [--drain-rows 1000000] [--patients 100,1000,10000] [--compression snappy] [--flush-records 10000] [--flush-interval-ms 1000]
 *                          [--batch-rows 10000000] [--skip-drain] [--skip-job]
 *                          [--engines duckdb,spark] [--spark-master local[*]] [--spark-driver-memory 4g] [--baseline]
 */
import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import os, { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { DuckDBInstance } from '@duckdb/node-api'
import { loadConfig, type Config } from '../lib/config.ts'
import { createAdmin, ensureTopics } from '../lib/kafka.ts'
import { connectRedis, deleteKeys } from '../lib/redis.ts'
import { redisKeys } from '../lib/contract/keys.ts'
import { describeError } from '../lib/errors.ts'
import type { Compression } from '../lib/producer.ts'
import { TOPIC_PARTITIONS, consumerGroups, topicNames } from '../lib/contract/topics.ts'
import { runBatchJob } from '../batch-layer/index.ts'
import { generateLake } from '../batch-layer/synthetic.ts'
import { rawDir } from '../batch-layer/lake.ts'
import { dailyStatsSql } from '../batch-layer/stats-sql.ts'
import { VITAL_COLUMNS } from '../batch-layer/parquet.ts'
import { BATCH_ENGINES, DEFAULT_SPARK_MASTER, type BatchEngine } from '../batch-layer/config.ts'
import type { SparkEngine } from '../batch-layer/spark.ts'
import { ensureSpark } from '../stack/spark.ts'
import {
  DRAIN_AIMS,
  type DrainFigures,
  measureDrain,
  parsePatientCounts,
  prefill,
  processPeakRssMb,
  servicePids,
  spawnLayer,
  stopLayer,
  textTable,
} from './drain.ts'

export interface BatchBenchOptions {
  /** Rows pre-filled into the topic for each drain measurement (0: skip). @defaultValue 1 000 000 */
  drainRows?: number
  /** Patient counts of the drain measurement, each on its own topic. @defaultValue 100, 1 000 and 10 000 */
  patients?: readonly number[]
  /** Compression of the pre-filled batches. @defaultValue 'snappy': what the simulator and the gateway write (lib/producer.ts) */
  compression?: Compression
  /** The archiver's --flush-records. @defaultValue 10 000 records */
  flushRecords?: number
  /** The archiver's --flush-interval-ms. @defaultValue 1 000 ms */
  flushIntervalMs?: number
  /** Rows of the generated lake for the batch job measurement (0: skip). @defaultValue 10 000 000 */
  batchRows?: number
  /**
   * Compare engines: the whole job on each, over generated lakes of each of `engineRows`, instead
   * of the DuckDB-only job measurement. @defaultValue none (the DuckDB-only measurement)
   */
  engines?: readonly BatchEngine[]
  /** Lake sizes of the engine comparison. @defaultValue [batchRows] */
  engineRows?: readonly number[]
  /** The Spark engine, when `engines` holds spark. */
  spark?: SparkEngine
  /** Also measure the plain-DuckDB baselines (directSqlSeconds, plainAggregateSeconds) for each size of the comparison. */
  baseline?: boolean
  /** Base config (brokers, Redis); prefixes and lake folder are replaced by the benchmark's own. */
  config?: Config
  progress?: (line: string) => void
}

export interface ArchiverDrain {
  patients: number
  rows: number
  prefillSeconds: number
  /** The archiver process's drain; peakRssMb read just before it was stopped. */
  drain: DrainFigures
  /** Parquet files in the lake after the drain. */
  files: number
  /** One-minute load average when the drain ended. */
  load1: number
  /** Whether the drain met DRAIN_AIMS.archiver. */
  aimMet: boolean
}

/** One engine's whole batch job over one generated lake. */
export interface EngineRun {
  engine: BatchEngine
  rows: number
  /** The job's wall time, from the call to its result (Spark: JVM start-up included). */
  seconds: number
  rowsPerSecond: number
  /** Peak RSS of the engine's processes: DuckDB, this process; Spark, its driver script and JVM summed. */
  enginePeakRssMB: number
  /** Peak RSS of this process (the job's Node.js side; with DuckDB the same as enginePeakRssMB). */
  nodePeakRssMB: number
  /** Spark: seconds until the session was up, listing and merging the files' schemas, the query with its write; its parallelism. */
  sparkStartSeconds?: number
  sparkReadSeconds?: number
  sparkQuerySeconds?: number
  sparkParallelism?: number
  statsRows: number
  /** One-minute load average before and after the run. */
  loadBefore: number
  loadAfter: number
  /** Plain DuckDB over the same files (with `baseline`). */
  directSqlSeconds?: number
  plainAggregateSeconds?: number
}

export interface BatchBenchResult {
  archiverDrain?: ArchiverDrain[]
  engineRuns?: EngineRun[]
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
  const base = options.config ?? loadConfig({}, {})
  const result: BatchBenchResult = {}
  const drainRows = options.drainRows ?? 1_000_000
  if (drainRows > 0) {
    result.archiverDrain = []
    for (const patients of options.patients ?? [100, 1_000, 10_000]) {
      options.progress?.(`archiver: ${patients} patients`)
      result.archiverDrain.push(await benchDrain(base, drainRows, patients, options))
    }
  }
  if (options.engines !== undefined && options.engines.length > 0) {
    result.engineRuns = []
    for (const rows of options.engineRows ?? [options.batchRows ?? 10_000_000]) {
      const config = await benchConfig(base)
      try {
        result.engineRuns.push(...(await benchEngines(config, rows, options)))
      } finally {
        await cleanup(config)
      }
    }
  } else if ((options.batchRows ?? 10_000_000) > 0) {
    const config = await benchConfig(base)
    try {
      result.batchJob = await benchJob(config, options.batchRows ?? 10_000_000)
    } finally {
      await cleanup(config)
    }
  }
  return result
}

/** The benchmark's own prefixes and temporary lake over `base`. */
async function benchConfig(base: Config): Promise<Config> {
  const id = `bench-${randomUUID().slice(0, 8)}`
  const lake = await mkdtemp(path.join(tmpdir(), `vigil-${id}-`))
  return Object.freeze({ ...base, topicPrefix: `${id}.`, redisPrefix: `${id}:`, datalakeDir: lake, logLevel: 'warn' as const })
}

async function benchDrain(base: Config, rows: number, patients: number, options: BatchBenchOptions): Promise<ArchiverDrain> {
  const config = await benchConfig(base)
  const topic = topicNames(config.topicPrefix).readings
  const admin = createAdmin(config, 'vigil-bench-admin')
  let child: ChildProcess | undefined
  try {
    await ensureTopics(admin, [{ name: topic, partitions: TOPIC_PARTITIONS.readings }])
    const compression = options.compression ?? 'snappy'
    const filled = await prefill(config, topic, rows, patients, compression)
    options.progress?.(`archiver: pre-filled ${rows} readings of ${patients} patients (${compression}) in ${filled.seconds} s`)
    const flags = [
      '--flush-records',
      String(options.flushRecords ?? 10_000),
      '--flush-interval-ms',
      String(options.flushIntervalMs ?? 1_000),
      '--compact-interval-ms',
      '0',
    ]
    const services = await servicePids(config, ['kafka'])
    child = spawnLayer(['archive', ...flags], {
      VIGIL_TOPIC_PREFIX: config.topicPrefix,
      VIGIL_REDIS_PREFIX: config.redisPrefix,
      VIGIL_DATALAKE_DIR: config.datalakeDir,
    })
    const drain = await measureDrain({ admin, group: consumerGroups(config.topicPrefix).archiver, topic, total: rows, child, what: 'the archiver', services })
    const load1 = Math.round(os.loadavg()[0]! * 100) / 100
    const peak = child.pid === undefined ? null : processPeakRssMb(child.pid)
    await stopLayer(child)
    options.progress?.(`archiver: drained ${drain.items} rows at ${drain.perSecond}/s, ${drain.cpuMicrosPerItem} µs CPU each (load ${load1})`)
    return {
      patients,
      rows,
      prefillSeconds: filled.seconds,
      drain: { ...drain, peakRssMb: peak ?? drain.peakRssMb },
      files: await countParquet(rawDir(config.datalakeDir, 'readings')),
      load1,
      aimMet: drain.perSecond >= DRAIN_AIMS.archiver,
    }
  } finally {
    await stopLayer(child)
    await admin.close()
    await cleanup(config).catch((error: unknown) => options.progress?.(`archiver: could not remove ${config.topicPrefix}*: ${describeError(error)}`))
  }
}

async function countParquet(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[])
  return entries.filter((e) => e.endsWith('.parquet')).length
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

/** The day and shape of every generated lake of the job benchmarks: one day, 1,000 patients. */
const BENCH_DAY = '2026-11-20'
const BENCH_PATIENTS = 1_000

/** The plain-DuckDB baselines over the generated lake: a plain aggregate, and the job's SQL alone. */
async function duckdbBaselines(config: Config): Promise<{ plainAggregateSeconds: number; directSqlSeconds: number }> {
  const glob = path.join(rawDir(config.datalakeDir, 'readings'), '*', '*.parquet')
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const source = `read_parquet('${glob}', hive_partitioning = true)`
    const cols = Object.values(VITAL_COLUMNS)
      .map((c) => `count(${c}), avg(${c}), min(${c}), max(${c})`)
      .join(', ')
    const p0 = performance.now()
    await conn.run(`CREATE TABLE plain AS SELECT patient_id, CAST(ts AS DATE) AS day, ${cols} FROM ${source} GROUP BY ALL`)
    const plainAggregateSeconds = round((performance.now() - p0) / 1000)
    const d0 = performance.now()
    await conn.run(`CREATE TABLE stats AS ${dailyStatsSql(source)}`)
    return { plainAggregateSeconds, directSqlSeconds: round((performance.now() - d0) / 1000) }
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

/** The whole job on each engine over one generated lake of `rows` rows (generated first, not timed). */
async function benchEngines(config: Config, rows: number, options: BatchBenchOptions): Promise<EngineRun[]> {
  options.progress?.(`batch engines: generating a lake of ${rows.toLocaleString('en-US')} rows`)
  const g0 = performance.now()
  await generateLake(config.datalakeDir, rows, { days: 1, patients: BENCH_PATIENTS, startDay: BENCH_DAY })
  options.progress?.(`batch engines: lake generated in ${round((performance.now() - g0) / 1000)} s`)
  const baselines = options.baseline === true ? await duckdbBaselines(config) : undefined
  const runs: EngineRun[] = []
  const redis = await connectRedis(config)
  try {
    for (const engine of options.engines ?? []) {
      if (engine === 'spark' && options.spark === undefined) throw new Error('the Spark engine needs options.spark (ensureSpark)')
      const load = () => Math.round(os.loadavg()[0]! * 100) / 100
      const loadBefore = load()
      const sampler = new RssSampler(engine === 'spark')
      const j0 = performance.now()
      const r = await runBatchJob(config, { dates: [BENCH_DAY], full: true, ...(engine === 'spark' ? { spark: options.spark } : {}) }, { redis }).finally(() =>
        sampler.stop(),
      )
      const seconds = (performance.now() - j0) / 1000
      const run: EngineRun = {
        engine,
        rows,
        seconds: round(seconds),
        rowsPerSecond: Math.round(rows / seconds),
        enginePeakRssMB: engine === 'spark' ? sampler.childrenPeakMB : sampler.selfPeakMB,
        nodePeakRssMB: sampler.selfPeakMB,
        ...(r.spark === undefined
          ? {}
          : {
              sparkStartSeconds: round(r.spark.startSeconds),
              sparkReadSeconds: round(r.spark.readSeconds),
              sparkQuerySeconds: round(r.spark.querySeconds),
              sparkParallelism: r.spark.parallelism,
            }),
        statsRows: r.rows,
        loadBefore,
        loadAfter: load(),
        ...(engine === 'duckdb' ? baselines : {}),
      }
      options.progress?.(`batch engines: ${engine} over ${rows.toLocaleString('en-US')} rows in ${run.seconds} s (load ${loadBefore} -> ${run.loadAfter})`)
      runs.push(run)
    }
  } finally {
    redis.destroy()
  }
  return runs
}

/**
 * Samples the RSS of this process and, for Spark, the sum over its child processes and their
 * descendants (the driver script and its JVM), read from /proc.
 */
class RssSampler {
  selfPeakMB = 0
  childrenPeakMB = 0
  private readonly timer: NodeJS.Timeout

  constructor(children: boolean) {
    const sample = () => {
      this.selfPeakMB = Math.max(this.selfPeakMB, Math.round(process.memoryUsage().rss / 1e6))
      if (children) this.childrenPeakMB = Math.max(this.childrenPeakMB, descendantsRssMB(process.pid))
    }
    sample()
    this.timer = setInterval(sample, children ? 200 : 50)
  }

  stop(): void {
    clearInterval(this.timer)
  }
}

/** The summed RSS (MB) of every descendant of `root`, from /proc (0 where /proc is missing). */
function descendantsRssMB(root: number): number {
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d))
  } catch {
    return 0
  }
  const parent = new Map<number, number>()
  const rssKb = new Map<number, number>()
  for (const d of pids) {
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8')
      parent.set(Number(d), Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0))
      rssKb.set(Number(d), Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0))
    } catch {
      // The process ended between the listing and the read.
    }
  }
  let kb = 0
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        kb += rssKb.get(pid) ?? 0
        break
      }
    }
  }
  return Math.round(kb / 1024)
}

async function cleanup(config: Config): Promise<void> {
  const admin = createAdmin(config)
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(config.topicPrefix))
    if (mine.length > 0) await admin.deleteTopics({ topics: mine })
    await admin.deleteGroups({ groups: [consumerGroups(config.topicPrefix).archiver] }).catch(() => undefined)
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

/** The drains as one table for a terminal. */
export function formatArchiverDrains(drains: readonly ArchiverDrain[]): string {
  const rows = [['patients', 'rows/s', 'µs CPU/row', 'CPU %', 'peak MB', 'kafka µs/row', 'files', 'load', `aim ≥ ${DRAIN_AIMS.archiver / 1000}k rows/s`]]
  for (const d of drains)
    rows.push([
      String(d.patients),
      d.drain.perSecond.toLocaleString('en-US'),
      String(d.drain.cpuMicrosPerItem ?? '-'),
      String(d.drain.cpuPercent ?? '-'),
      String(d.drain.peakRssMb ?? '-'),
      String(d.drain.services.kafka ?? '-'),
      String(d.files),
      String(d.load1),
      d.aimMet ? 'met' : 'MISSED',
    ])
  const lines = textTable(rows)
  return lines.join('\n')
}

/** The engine runs as one table for a terminal. */
export function formatEngineRuns(runs: readonly EngineRun[]): string {
  const rows = [
    ['engine', 'rows', 'seconds', 'rows/s', 'engine peak MB', 'node peak MB', 'spark start / read / query s', 'cores', 'load before -> after', 'stats rows'],
  ]
  for (const r of runs)
    rows.push([
      r.engine,
      r.rows.toLocaleString('en-US'),
      String(r.seconds),
      r.rowsPerSecond.toLocaleString('en-US'),
      String(r.enginePeakRssMB),
      String(r.nodePeakRssMB),
      r.sparkStartSeconds === undefined ? '-' : `${r.sparkStartSeconds} / ${r.sparkReadSeconds} / ${r.sparkQuerySeconds}`,
      String(r.sparkParallelism ?? os.availableParallelism()),
      `${r.loadBefore} -> ${r.loadAfter}`,
      String(r.statsRows),
    ])
  return textTable(rows).join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      'drain-rows': { type: 'string', default: '1000000' },
      patients: { type: 'string', default: '100,1000,10000' },
      compression: { type: 'string', default: 'snappy' },
      'flush-records': { type: 'string', default: '10000' },
      'flush-interval-ms': { type: 'string', default: '1000' },
      'batch-rows': { type: 'string', default: '10000000' },
      'skip-drain': { type: 'boolean', default: false },
      'skip-job': { type: 'boolean', default: false },
      engines: { type: 'string' },
      'spark-master': { type: 'string', default: DEFAULT_SPARK_MASTER },
      'spark-driver-memory': { type: 'string' },
      baseline: { type: 'boolean', default: false },
    },
  })
  const engines = values.engines?.split(',').map((e) => e.trim()) as BatchEngine[] | undefined
  for (const e of engines ?? [])
    if (!(BATCH_ENGINES as readonly string[]).includes(e)) throw new Error(`--engines: unknown engine ${e} (${BATCH_ENGINES.join(', ')})`)
  const sizes = values['batch-rows'].split(',').map(Number)
  const spark: SparkEngine | undefined = engines?.includes('spark')
    ? {
        ...(await ensureSpark((line) => process.stderr.write(`${line}\n`))),
        master: values['spark-master'],
        ...(values['spark-driver-memory'] === undefined ? {} : { conf: { 'spark.driver.memory': values['spark-driver-memory'] } }),
      }
    : undefined
  const load = () => os.loadavg().map((x) => x.toFixed(2))
  const loadAtStart = load()
  const result = await runBatchBench({
    drainRows: values['skip-drain'] === true ? 0 : Number(values['drain-rows']),
    patients: parsePatientCounts(values.patients),
    compression: values.compression as Compression,
    flushRecords: Number(values['flush-records']),
    flushIntervalMs: Number(values['flush-interval-ms']),
    batchRows: values['skip-job'] === true ? 0 : (sizes[0] ?? 0),
    ...(engines === undefined ? {} : { engines, engineRows: sizes, baseline: values.baseline }),
    ...(spark === undefined ? {} : { spark }),
    config: loadConfig({}),
    progress: (line) => process.stderr.write(`${line}\n`),
  })
  if (result.archiverDrain !== undefined) console.log(formatArchiverDrains(result.archiverDrain))
  if (result.batchJob !== undefined) console.table([result.batchJob])
  if (result.engineRuns !== undefined) console.log(formatEngineRuns(result.engineRuns))
  console.log(`load average (1/5/15 min): ${loadAtStart.join(' / ')} at start, ${load().join(' / ')} at end; ${os.availableParallelism()} cores`)
  console.log(JSON.stringify(result))
}
