/**
 * The batch job (`vigil batch`, and `POST /api/batch/runs` through the serving layer): reads the
 * raw lake with DuckDB, computes the daily statistics (stats-sql.ts) for the requested days of
 * event time, and publishes them:
 *   - <lake>/views/daily_stats/dt=D/daily_stats.parquet, replaced atomically per day
 *     (temporary file + rename);
 *   - Redis `batch:daily:<D>` (field patientId -> JSON DailyStatsRow[]), `batch:meta`, then an
 *     Update {type:'batch'} on the updates channel.
 *
 * Partition pruning: only the `dt=` folders of the requested days are listed and read (the
 * Hive layout makes the day a folder), so a run over one day never opens another day's files.
 * Incremental: a day is recomputed only when the list of its files (name, size, mtime) changed
 * since the last run that computed it, or when its Redis view is missing; `full` recomputes all.
 *
 * Bad files: before the query, every file of the days to compute is checked (quarantine.ts:
 * magic bytes, footer, schema); a bad one is moved to <lake>/quarantine and reported in
 * `quarantined`, and the rest is computed. With `strict` the first bad file fails the run and
 * nothing is moved.
 *
 * Bands: the status counts use each patient's band table in force when the job runs (the
 * overrides in Redis, band-overrides.ts), joined in DuckDB as a small table of variants
 * (stats-sql.ts); overrides keep no history, so a run classifies a whole day with the bands in
 * force at the run (docs/CLINICAL.md, Per-patient bands and the batch job). A change of bands
 * alone does not make a day "changed" for the incremental mode: `full` recomputes with the new
 * bands.
 *
 * The run's parts, in order: `listDays` (scan), `daysToCompute` (incremental), `loadBands`
 * (overrides into DuckDB), `RawFiles` (check and quarantine), `computeStats` (DuckDB),
 * `writeDays` (lake and Redis, and each day's fingerprint for the state file), `publishRun`
 * (`batch:meta` and the update).
 *
 * Engines: DuckDB computes unless the options name a Spark engine (`spark`, spark.ts): then
 * Spark runs the same statistics in its SQL dialect (spark-sql.ts) over the same checked files,
 * its result is loaded into the same `stats` table, and every other part of the run (scan,
 * incremental, quarantine, footers, writing, publishing) is the one above.
 */
import { randomUUID } from 'node:crypto'
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import type { Config } from '../lib/config.ts'
import { VigilError, describeError, isVigilError } from '../lib/errors.ts'
import { connectRedis, type RedisClient } from '../lib/redis.ts'
import { redisKeys, type RedisKeys } from '../lib/contract/keys.ts'
import type { BatchMeta, DailyStatsRow } from '../lib/contract/views.ts'
import { encodeBatchMeta } from '../lib/contract/codecs/batch-meta.ts'
import { encodeDailyDay } from '../lib/contract/codecs/daily-stats.ts'
import { encodeUpdate } from '../lib/contract/codecs/updates.ts'
import type { Vital } from '../lib/contract/schema.ts'
import type { BatchDeps, BatchProgress, BatchRunOptions, BatchRunResult } from '../lib/contract/batch.ts'
import { batchOptionsSchema, daysBetween } from './config.ts'
import { dtDir, ensureDir, exists, parseFileName, quarantineRoot, utcDay, visibleNames } from './lake.ts'
import { sqlString, VITAL_COLUMNS } from './parquet.ts'
import { firstLine, inspectFiles, notAboutTheFile, quarantineFile, type Quarantined, type Verdict } from './quarantine.ts'
import { readBandOverrides } from './band-overrides.ts'
import { ASSESSMENT_COUNT_COLUMNS, bandVariants, dailyStatsSql, patientBandsSql, STATS_COLUMNS, type BandVariants } from './stats-sql.ts'
import { runSparkQuery, type SparkEngine, type SparkRun } from './spark.ts'
import { sparkDailyStatsSql, sparkPatientBandsTable } from './spark-sql.ts'

/** One day's raw reading files as a reader should read them (lake.ts, rule 1), and their fingerprint. */
export interface DayFiles {
  date: string
  files: { path: string; size: number; mtimeMs: number }[]
  fingerprint: string
}

const STATE_FILE = '_state.json'

/** Listings taken before a run gives up on a lake whose files keep vanishing under it. */
const MAX_LISTINGS = 5

/**
 * A raw file listed by this run vanished before it was read: a compaction (compact.ts) replaced
 * it, or a repair or another run's quarantine removed it. Its rows may be in a file this listing
 * does not hold, so the run lists the days again instead of computing without it.
 */
class LakeChanged extends Error {}

export type { BatchDeps, BatchProgress, BatchRunOptions, BatchRunResult }

/** The run's options, and the engine: DuckDB in this process unless `spark` is given. */
export interface BatchJobOptions extends BatchRunOptions {
  /** Compute with Apache Spark (`vigil batch --engine spark`); the composition root installs PySpark and passes its Python. */
  spark?: SparkEngine
}

/** The run's result, and how the Spark engine's run went when it computed. */
export interface BatchJobResult extends BatchRunResult {
  spark?: SparkRun
}

export async function runBatchJob(config: Config, options: BatchJobOptions = {}, deps: BatchDeps = {}): Promise<BatchJobResult> {
  const started = Date.now()
  const runId = `${new Date(started).toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`
  // Files quarantined by an attempt stay quarantined and are reported by the run.
  const quarantined: Quarantined[] = []
  for (let listing = 1; ; listing++) {
    try {
      return await runOnce(config, options, deps, { started, runId, quarantined })
    } catch (error) {
      if (!(error instanceof LakeChanged)) throw error
      if (listing >= MAX_LISTINGS) {
        throw new VigilError(
          'STAGE_FAILED',
          `the batch job listed ${config.datalakeDir} ${listing} times and each time a file vanished before it was read (last: ${error.message}); run it again when compaction or the archiver's repair is done.`,
        )
      }
      deps.log?.info(`${error.message} vanished after it was listed; listing the lake again`)
    }
  }
}

/** One attempt of a run: what it was asked, and how it reports. */
interface Attempt {
  config: Config
  options: BatchJobOptions
  deps: BatchDeps
  started: number
  runId: string
  /** Files quarantined by this run (every attempt of it). */
  quarantined: Quarantined[]
  progress: (p: BatchProgress) => void
  lake: string
  dates: string[]
  rawLabel: string
  rangeLabel: string
}

/** Where the computed view goes: DuckDB's `stats` table, the lake's views folder and Redis. */
interface Outputs {
  conn: DuckDBConnection
  redis: RedisClient
  keys: RedisKeys
  statsRoot: string
}

/** What the write step wrote. */
interface Written {
  computed: string[]
  rows: number
  patients: Set<string>
}

interface Totals {
  readings: number
  cutoffTs: number
  /** The Spark engine's run, when it computed. */
  spark?: SparkRun
}

async function runOnce(
  config: Config,
  options: BatchJobOptions,
  deps: BatchDeps,
  run: { started: number; runId: string; quarantined: Quarantined[] },
): Promise<BatchJobResult> {
  const dates = requestedDates(options, deps.now ?? Date.now)
  const a: Attempt = {
    config,
    options,
    deps,
    ...run,
    dates,
    progress: options.onProgress ?? (() => undefined),
    lake: config.datalakeDir,
    rawLabel: path.join(config.datalakeDir, 'raw'),
    rangeLabel: dates.length === 1 ? (dates[0] as string) : `${dates[0]} to ${dates[dates.length - 1]}`,
  }
  if (!(await isDir(a.lake))) {
    throw new VigilError(
      'INPUT_INVALID',
      `the data lake folder ${a.lake} does not exist: run \`vigil archive\` first, or set VIGIL_DATALAKE_DIR / --datalake-dir.`,
    )
  }
  checkAborted(options.signal)
  const days = await listDays(a)
  const statsRoot = path.join(a.lake, 'views', 'daily_stats')
  const state = await readState(statsRoot)
  const ownRedis = deps.redis === undefined
  const redis = deps.redis ?? (await connectRedis(config, { log: deps.log }))
  const keys = redisKeys(config.redisPrefix)
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  const onAbort = () => conn.interrupt()
  options.signal?.addEventListener('abort', onAbort)
  try {
    const todo = await daysToCompute(days, state, options.full === true, redis, keys)
    if (todo.length === 0) {
      deps.log?.info(`nothing changed in ${a.rawLabel} for ${a.rangeLabel} since the last run (use --full to recompute)`)
      return {
        runId: a.runId,
        dates: [],
        rows: 0,
        patients: 0,
        readings: 0,
        seconds: (Date.now() - a.started) / 1000,
        cutoffTs: 0,
        quarantined: [],
        bandOverrides: 0,
      }
    }
    const variants = await loadBands(conn, redis, keys, deps)
    const raw = new RawFiles(a, todo)
    await raw.check(conn)
    const totals = await computeStats(a, conn, raw, variants)
    const written = await writeDays(a, { conn, redis, keys, statsRoot }, todo, state, raw.leftRaw)
    await writeState(statsRoot, state)
    return await publishRun(a, redis, keys, written, { ...totals, bandOverrides: variants.patients.size })
  } catch (error) {
    if (options.signal?.aborted === true && !isVigilError(error)) throw cancelled()
    throw error
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    conn.closeSync()
    db.closeSync()
    if (ownRedis) redis.destroy()
  }
}

/** Bands: every patient's overrides in Redis now, as variants, and the `patient_bands` table the query joins. */
async function loadBands(conn: DuckDBConnection, redis: RedisClient, keys: RedisKeys, deps: BatchDeps): Promise<BandVariants> {
  const variants = bandVariants(await readBandOverrides(redis, keys, deps.log))
  for (const sql of patientBandsSql(variants)) await conn.run(sql)
  return variants
}

/** Scan: the files of each requested day (partition pruning by folder); the days that have any. */
async function listDays(a: Attempt): Promise<DayFiles[]> {
  const days: DayFiles[] = []
  for (const [i, date] of a.dates.entries()) {
    const day = await listDay(a.lake, date)
    if (day.files.length > 0) days.push(day)
    a.progress({ phase: 'scan', done: i + 1, total: a.dates.length, message: date })
  }
  if (days.length === 0) {
    throw new VigilError('INPUT_INVALID', `no readings in ${a.rawLabel} for ${a.rangeLabel}: is \`vigil archive\` running?`)
  }
  return days
}

/** The days to recompute: all with `full`, else those whose files changed since the last run or whose Redis view is missing. */
async function daysToCompute(
  days: readonly DayFiles[],
  state: Record<string, string>,
  full: boolean,
  redis: RedisClient,
  keys: RedisKeys,
): Promise<DayFiles[]> {
  const todo: DayFiles[] = []
  for (const d of days) {
    const unchanged = !full && state[d.date] === d.fingerprint && (await redis.exists(keys.batchDaily(d.date))) === 1
    if (!unchanged) todo.push(d)
  }
  return todo
}

/**
 * The raw files of the days to compute, as the checks leave them: a bad file is quarantined and
 * left out of the query (with `strict`, it fails the run and nothing is moved).
 */
class RawFiles {
  files: string[]
  /** Files moved out of the raw tree (quarantined): left out of the days' fingerprints. */
  readonly leftRaw = new Set<string>()

  constructor(
    private readonly a: Attempt,
    todo: readonly DayFiles[],
  ) {
    this.files = todo.flatMap((d) => d.files.map((f) => f.path))
  }

  /** Check: every file of the days to compute, before one bad file can fail the query. */
  async check(conn: DuckDBConnection): Promise<void> {
    const { dates, options } = this.a
    this.a.progress({ phase: 'scan', done: dates.length, total: dates.length, message: `checking ${this.files.length} files` })
    const inspection = await inspectFiles(conn, this.files).catch((error: unknown) => {
      checkAborted(options.signal)
      throw error
    })
    if (inspection.gone.length > 0) throw new LakeChanged(inspection.gone[0])
    for (const f of this.files.filter((x) => inspection.bad.has(x))) await this.reject(f, inspection.bad.get(f) as Verdict)
  }

  async reject(file: string, verdict: Verdict): Promise<void> {
    const { options, lake, runId, deps } = this.a
    if (options.strict === true) {
      throw new VigilError(
        'INPUT_INVALID',
        `${file} cannot be read (${verdict.kind}: ${verdict.detail}); move it out of the lake or run without --strict to quarantine it.`,
      )
    }
    const q = await quarantineFile(lake, file, verdict, runId)
    this.files = this.files.filter((x) => x !== file)
    if (q === undefined) {
      this.leftRaw.add(file)
      return
    }
    deps.log?.warn(`quarantined ${file} (${q.kind}: ${q.detail})${q.movedTo === null ? '' : ` to ${q.movedTo}`}`)
    this.a.quarantined.push(q)
    if (q.movedTo !== null) this.leftRaw.add(file)
  }
}

/**
 * Compute: one query over every file of every day to recompute, into DuckDB's `stats` table,
 * retried without a file DuckDB cannot read (quarantined as CORRUPT).
 */
async function computeStats(a: Attempt, conn: DuckDBConnection, raw: RawFiles, variants: BandVariants): Promise<Totals> {
  for (;;) {
    if (raw.files.length === 0) {
      throw new VigilError(
        'INPUT_INVALID',
        `no readable readings in ${a.rawLabel} for ${a.rangeLabel}: ${a.quarantined.length} bad file(s) were quarantined and no other file is left; see ${path.join(quarantineRoot(a.lake), '_log.ndjson')}.`,
      )
    }
    checkAborted(a.options.signal)
    let totals: Totals
    try {
      totals = await queryStats(a, conn, raw.files, variants)
    } catch (error) {
      checkAborted(a.options.signal)
      // A VigilError is the engine's own failure (Spark did not start, the master did not
      // answer), not a file's: DuckDB's query never throws one.
      if (isVigilError(error)) throw error
      const bad = await unreadableFile(conn, raw.files, error)
      if (!(await exists(bad.file))) throw new LakeChanged(bad.file)
      await raw.reject(bad.file, { kind: 'CORRUPT', detail: `the data cannot be read: ${bad.why}` })
      continue
    }
    a.progress({ phase: 'compute', done: 100, total: 100 })
    return totals
  }
}

async function queryStats(a: Attempt, conn: DuckDBConnection, files: readonly string[], variants: BandVariants): Promise<Totals> {
  const source = `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, union_by_name = true)`
  a.progress({ phase: 'compute', done: 0, total: 100, message: `${files.length} files` })
  // Footers first: row counts and the newest event time per file come from the Parquet
  // metadata (no scan), and a file with a broken footer is named here.
  const footers = (
    await conn.runAndReadAll(
      `SELECT file_name, row_group_num_rows::BIGINT AS n, stats_max_value AS mx FROM parquet_metadata([${files.map(sqlString).join(', ')}]) WHERE path_in_schema = 'ts'`,
    )
  ).getRowObjectsJS()
  if (a.options.spark !== undefined) return { ...footerTotals(footers), spark: await sparkStats(a, a.options.spark, conn, files, variants) }
  await withQueryProgress(
    conn,
    (pct) => a.progress({ phase: 'compute', done: pct, total: 100 }),
    async () => {
      await conn.run(`CREATE OR REPLACE TABLE stats AS ${dailyStatsSql(source, 'true', variants)}`)
    },
  )
  return footerTotals(footers)
}

/**
 * The Spark engine's compute: Spark writes the statistics of `files` as Parquet into a folder of
 * the run under <lake>/views (where a cluster's executors can write, as they read the lake), and
 * the rows are loaded into DuckDB's `stats` table, the columns in the view's order; the folder
 * is removed whatever happens.
 */
async function sparkStats(a: Attempt, engine: SparkEngine, conn: DuckDBConnection, files: readonly string[], variants: BandVariants): Promise<SparkRun> {
  const output = path.join(a.lake, 'views', `.spark-${a.runId}`)
  try {
    const run = await runSparkQuery(
      engine,
      { runId: a.runId, files, query: sparkDailyStatsSql(variants), tables: sparkPatientBandsTable(variants), output },
      { signal: a.options.signal, log: a.deps.log, onProgress: (pct, message) => a.progress({ phase: 'compute', done: pct, total: 100, message }) },
    )
    const columns = STATS_COLUMNS.map((c) => `"${c}"`).join(', ')
    await conn.run(`CREATE OR REPLACE TABLE stats AS SELECT ${columns} FROM read_parquet(${sqlString(path.join(output, '*.parquet'))})`)
    return run
  } finally {
    await rm(output, { recursive: true, force: true })
  }
}

/**
 * The file the failed query could not read. The footers and schemas were checked, so this is a
 * data page DuckDB cannot decode (or a file removed since the check). DuckDB names the file for
 * some errors, not for all: then each file is probed alone. Throws when the error is not a file's.
 */
async function unreadableFile(conn: DuckDBConnection, files: readonly string[], error: unknown): Promise<{ file: string; why: string }> {
  if (notAboutTheFile(error)) throw new VigilError('STAGE_FAILED', `the batch job failed in DuckDB: ${describeError(error)}.`, { cause: error })
  const named = files.find((f) => describeError(error).includes(f))
  const bad = named === undefined ? await findUnreadable(conn, files) : { file: named, why: firstLine(describeError(error)) }
  if (bad === undefined) throw new VigilError('STAGE_FAILED', `the batch job failed in DuckDB: ${describeError(error)}.`, { cause: error })
  return bad
}

/** Write: per day, the Parquet view (atomic replace) and the Redis view; records each day's fingerprint in `state`. */
async function writeDays(a: Attempt, out: Outputs, todo: readonly DayFiles[], state: Record<string, string>, leftRaw: ReadonlySet<string>): Promise<Written> {
  const w: Written = { computed: [], rows: 0, patients: new Set() }
  for (const [i, d] of todo.entries()) {
    checkAborted(a.options.signal)
    const dayRows = await writeDay(out, a.runId, d.date)
    for (const r of dayRows) w.patients.add(r.patientId)
    w.rows += dayRows.length
    w.computed.push(d.date)
    // The fingerprint of the files the next run will list: without those moved out.
    state[d.date] = fingerprint(d.files.filter((f) => !leftRaw.has(f.path)))
    a.progress({ phase: 'write', done: i + 1, total: todo.length, message: d.date })
  }
  return w
}

/** One day's rows of `stats`: to <lake>/views/daily_stats/dt=D (temporary file, then rename) and to Redis. */
async function writeDay(out: Outputs, runId: string, date: string): Promise<DailyStatsRow[]> {
  const { conn } = out
  const dayRows = toRows((await conn.runAndReadAll(`SELECT * FROM stats WHERE date = ${sqlString(date)} ORDER BY patient_id, vital`)).getRowObjectsJS())
  const dir = path.join(out.statsRoot, `dt=${date}`)
  await ensureDir(dir)
  const final = path.join(dir, 'daily_stats.parquet')
  const tmp = path.join(dir, `.daily_stats.parquet.${runId}.tmp`)
  await conn.run(
    `COPY (SELECT * FROM stats WHERE date = ${sqlString(date)} ORDER BY patient_id, vital) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`,
  )
  await rename(tmp, final)
  await writeRedisDay(out.redis, out.keys.batchDaily(date), dayRows)
  return dayRows
}

/** `batch:meta` and the `batch` update (codecs in lib/contract/codecs/), and the run's result. */
async function publishRun(a: Attempt, redis: RedisClient, keys: RedisKeys, w: Written, totals: Totals & { bandOverrides: number }): Promise<BatchJobResult> {
  // The batch view is complete up to the newest reading every partition has reached, and
  // never past the end of the last day computed.
  const lastDayEnd = Date.parse(`${w.computed[w.computed.length - 1]}T00:00:00Z`) + 86_400_000
  const cutoffTs = Math.min(lastDayEnd, totals.cutoffTs + 1)
  const finished = Date.now()
  const meta: BatchMeta = { runId: a.runId, cutoffTs, startedAt: a.started, finishedAt: finished, dates: w.computed, rows: w.rows }
  await redis.hSet(keys.batchMeta, encodeBatchMeta(meta))
  await redis.publish(keys.updates, encodeUpdate({ type: 'batch', meta }))
  return {
    runId: a.runId,
    dates: w.computed,
    rows: w.rows,
    patients: w.patients.size,
    readings: totals.readings,
    seconds: (finished - a.started) / 1000,
    cutoffTs,
    quarantined: a.quarantined,
    bandOverrides: totals.bandOverrides,
    ...(totals.spark === undefined ? {} : { spark: totals.spark }),
  }
}

function requestedDates(o: BatchRunOptions, now: () => number): string[] {
  if (o.dates !== undefined && o.dates.length > 0) {
    for (const d of o.dates) {
      const parsed = batchOptionsSchema.safeParse({ date: d })
      if (!parsed.success) throw new VigilError('INPUT_INVALID', `the day ${JSON.stringify(d)} is not valid: ${parsed.error.issues[0]?.message ?? 'invalid'}.`)
    }
    return [...new Set(o.dates)].sort()
  }
  const parsed = batchOptionsSchema.safeParse({ from: o.from, to: o.to })
  if (!parsed.success)
    throw new VigilError('INPUT_INVALID', `the day range ${o.from ?? '?'}..${o.to ?? '?'} is not valid: ${parsed.error.issues[0]?.message ?? 'invalid'}.`)
  if (o.from !== undefined && o.to !== undefined) return daysBetween(o.from, o.to)
  return [utcDay(now())]
}

/**
 * The files of one day of readings a reader should read (without the superseded ones); none when
 * the day has no folder. The risk model's training lists the lake with it too (risk-dataset.ts).
 */
export async function listDay(lake: string, date: string): Promise<DayFiles> {
  const dir = dtDir(lake, 'readings', date)
  let names: string[]
  try {
    // Without the files a compacted file supersedes (lake.ts, rule 1).
    names = visibleNames(await readdir(dir)).sort()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { date, files: [], fingerprint: '' }
    throw error
  }
  const files = await Promise.all(
    names.map(async (n) => {
      const p = path.join(dir, n)
      const s = await stat(p)
      return { path: p, size: s.size, mtimeMs: s.mtimeMs }
    }),
  )
  return { date, files, fingerprint: fingerprint(files) }
}

function fingerprint(files: readonly DayFiles['files'][number][]): string {
  const hash = createHash('sha256')
  for (const f of files) hash.update(`${path.basename(f.path)}:${f.size}:${f.mtimeMs}\n`)
  return hash.digest('hex')
}

/** The first file DuckDB cannot read on its own (footer, then every column), with why. */
async function findUnreadable(conn: DuckDBConnection, files: readonly string[]): Promise<{ file: string; why: string } | undefined> {
  for (const probe of [
    (f: string) => `SELECT count(*) FROM parquet_metadata(${sqlString(f)})`,
    (f: string) =>
      `SELECT count(*), max(patient_id), max(ts), ${Object.values(VITAL_COLUMNS)
        .map((c) => `sum(${c})`)
        .join(', ')} FROM read_parquet(${sqlString(f)})`,
  ]) {
    for (const file of files) {
      try {
        await conn.run(probe(file))
      } catch (error) {
        if (notAboutTheFile(error)) throw error
        return { file, why: firstLine(describeError(error)) }
      }
    }
  }
  return undefined
}

async function withQueryProgress(conn: DuckDBConnection, report: (pct: number) => void, fn: () => Promise<void>): Promise<void> {
  let last = -1
  const timer = setInterval(() => {
    const pct = Math.floor(conn.progress.percentage)
    if (pct >= 0 && pct !== last) {
      last = pct
      report(Math.min(99, pct))
    }
  }, 200)
  try {
    await fn()
  } finally {
    clearInterval(timer)
  }
}

/**
 * Readings read, and the cutoff: per Kafka partition (from the file name) the newest event time
 * archived, then the oldest of those, so every partition has reached the cutoff.
 */
function footerTotals(footers: Record<string, unknown>[]): { readings: number; cutoffTs: number } {
  let readings = 0
  const newest = new Map<number, number>()
  for (const f of footers) {
    readings += Number(f.n)
    const partition = parseFileName(path.basename(String(f.file_name)))?.partition ?? -1
    const mx = f.mx === null || f.mx === undefined ? NaN : Date.parse(`${String(f.mx).replace(' ', 'T')}Z`)
    if (!Number.isNaN(mx) && mx > (newest.get(partition) ?? -Infinity)) newest.set(partition, mx)
  }
  return { readings, cutoffTs: newest.size === 0 ? 0 : Math.min(...newest.values()) }
}

function toRows(objs: Record<string, unknown>[]): DailyStatsRow[] {
  const n = (x: unknown) => (x === null || x === undefined ? null : Number(x))
  return objs.map((o) => ({
    date: String(o.date),
    patientId: String(o.patient_id),
    vital: o.vital as Vital,
    count: Number(o.count),
    mean: Number(o.mean),
    min: Number(o.min),
    max: Number(o.max),
    stddev: n(o.stddev),
    p05: Number(o.p05),
    p50: Number(o.p50),
    p95: Number(o.p95),
    nNormal: Number(o.n_normal),
    nWarning: Number(o.n_warning),
    nCriticalLow: Number(o.n_critical_low),
    nCriticalHigh: Number(o.n_critical_high),
    tirLt54: n(o.tir_lt54),
    tir54_69: n(o.tir_54_69),
    tir70_180: n(o.tir_70_180),
    tir181_250: n(o.tir_181_250),
    tirGt250: n(o.tir_gt250),
    cv: n(o.cv),
    nRefused: Number(o.n_refused),
    nNoSignal: Number(o.n_no_signal),
    ...assessmentCounts(o),
  }))
}

/** The patient-day's assessment counts of a `stats` row, camelCase (n_on_oxygen -> nOnOxygen, n_acvpu_a -> nAcvpuA). */
function assessmentCounts(o: Record<string, unknown>): Partial<DailyStatsRow> {
  const camel = (c: string) => c.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase())
  return Object.fromEntries(ASSESSMENT_COUNT_COLUMNS.map((c) => [camel(c), Number(o[c] ?? 0)]))
}

/** Replaces one day's Redis view in one transaction: readers see the old day or the new one. */
async function writeRedisDay(redis: RedisClient, key: string, rows: DailyStatsRow[]): Promise<void> {
  const fields = encodeDailyDay(rows)
  const multi = redis.multi().del(key)
  if (Object.keys(fields).length > 0) multi.hSet(key, fields)
  await multi.exec()
}

async function readState(root: string): Promise<Record<string, string>> {
  try {
    const parsed = JSON.parse(await readFile(path.join(root, STATE_FILE), 'utf8')) as { days?: Record<string, string> }
    return parsed.days ?? {}
  } catch {
    // No state (first run) or an unreadable one: every day counts as changed, which is safe
    // (a recomputation gives the same statistics).
    return {}
  }
}

async function writeState(root: string, days: Record<string, string>): Promise<void> {
  await ensureDir(root)
  const tmp = path.join(root, `.${STATE_FILE}.${process.pid}.tmp`)
  await writeFile(tmp, JSON.stringify({ version: 1, days }, null, 1))
  await rename(tmp, path.join(root, STATE_FILE)).catch(async (error: unknown) => {
    await rm(tmp, { force: true })
    throw error
  })
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory()
  } catch {
    return false
  }
}

function cancelled(): VigilError {
  return new VigilError('STAGE_FAILED', 'the batch run was cancelled before it finished; nothing was published for the days not yet written.')
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw cancelled()
}
