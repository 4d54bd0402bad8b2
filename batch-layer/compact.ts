/**
 * Compaction (`vigil compact`): rewrites the lake's small files into few large ones, each offset
 * still exactly once, whenever the run is killed (the rules readers and the archiver follow are
 * in lake.ts).
 *
 * Why: the archiver writes a file per partition per flush, every 10 s by default, so that the
 * lake stays fresh for the batch job; at a ward's rate (~21 readings/s) that is ~52 000 files a
 * day of ~35 rows, and the batch job opens every one of them. The running archiver compacts every
 * hour itself (periodic-compaction.ts, with an abort signal and one DuckDB thread); `vigil
 * compact` is the same run by hand.
 *
 * A run: take the compaction lock (one compaction per lake and topic; the archiver may run
 * beside it); delete what a killed compaction left (its `.compacting` files, and the sources of
 * a compacted file it had renamed); then for each day, kind and partition, cut the complete raw
 * files, in offset order, into runs of at most `maxRowsPerFile` rows that no incomplete or
 * quarantined file interrupts, and rewrite each run of two files or more: COPY to a temporary
 * name, check the row count, fsync, rename, fsync the folder, delete the sources. A day already
 * compacted has one file per run and is left alone, so a second run rewrites nothing.
 */
import { rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import type { Config } from '../lib/config.ts'
import { VigilError, describeError } from '../lib/errors.ts'
import type { Logger } from '../lib/log.ts'
import { topicNames } from '../lib/contract/topics.ts'
import { compactOptionsSchema } from './config.ts'
import { compactingName, exists, fileName, fsyncFile, scanLake, type LakeFile, type LakeScan, type RawKind } from './lake.ts'
import { takeLock } from './lock.ts'
import { sqlString } from './parquet.ts'
import { firstLine, inspectFiles, notAboutTheFile, OPTIONAL_READING_SCHEMA, type Inspection } from './quarantine.ts'

/** The moments a rewrite passes, in order (tests stop or read the lake at each). */
export type CompactStep = 'written' | 'renamed' | 'deleted'

export interface CompactRunOptions {
  /** Days to compact, YYYY-MM-DD; default every day in the lake, today included. */
  dates?: string[]
  /** Without `dates`: only the days holding small files (daysWithSmallFiles), so the result counts those days' files. */
  onlyDaysWithSmallFiles?: boolean
  maxRowsPerFile?: number
  /** DuckDB worker threads. @defaultValue 2; the archiver's periodic compaction uses 1, leaving it the other core. */
  threads?: number
}

export interface CompactDeps {
  log?: Logger
  /** Called after each step of each rewrite with the file it concerns; a throw stops the run there. */
  onStep?: (step: CompactStep, file: string) => Promise<void> | void
  /**
   * Stops the run: the running DuckDB query is interrupted, and the run throws before its next
   * group, before a COPY and before a rename (then its temporary file is deleted). A rename's
   * deletes are never cut short, so an abort leaves no superseded file behind.
   */
  signal?: AbortSignal
}

export interface SkippedGroup {
  /** The folder, relative to the lake: raw/<kind>/dt=<day>. */
  dir: string
  partition: number
  reason: string
}

export interface CompactResult {
  days: string[]
  /** Raw files of those days before and after the run (files a compacted one supersedes not counted). */
  filesBefore: number
  filesAfter: number
  /** Compacted files written, and the rows they hold. */
  written: number
  rows: number
  /** Leftovers of a killed compaction deleted at the start. */
  cleaned: number
  /** Runs left as they are because a file in them cannot be read; `vigil batch` quarantines such files. */
  skipped: SkippedGroup[]
  seconds: number
}

/** The complete raw files of one kind, day and partition, and what a run must not reach across. */
interface Group {
  kind: RawKind
  dt: string
  partition: number
  files: LakeFile[]
  /** Incomplete or quarantined files of the same folder and partition. */
  breakers: LakeFile[]
}

export interface Sized {
  first: number
  last: number
  rows: number
}

export async function compactLake(config: Config, options: CompactRunOptions = {}, deps: CompactDeps = {}): Promise<CompactResult> {
  const started = Date.now()
  const { maxRowsPerFile } = compactOptionsSchema.parse({ maxRowsPerFile: options.maxRowsPerFile })
  const lake = path.resolve(config.datalakeDir)
  const topic = topicNames(config.topicPrefix).readings
  if (!(await exists(path.join(lake, 'raw')))) {
    throw new VigilError('INPUT_INVALID', `there is no raw lake in ${lake}: run \`vigil archive\` first, or set VIGIL_DATALAKE_DIR / --datalake-dir.`)
  }
  deps.signal?.throwIfAborted()
  const release = await takeLock(lake, 'compaction', topic)
  // No external file cache: it keeps what a run read of every file, and closing the instance,
  // which is synchronous, then blocked the event loop for ~1 s per 18,000 files (measured).
  const db = await DuckDBInstance.create(':memory:', { threads: String(options.threads ?? 2), enable_external_file_cache: 'false' })
  const conn = await db.connect()
  const interrupt = (): void => conn.interrupt()
  deps.signal?.addEventListener('abort', interrupt, { once: true })
  try {
    const cleaned = await removeLeftovers(await scanLake(lake, topic))
    if (cleaned > 0) deps.log?.info(`removed ${cleaned} leftover file(s) of an interrupted compaction`)
    const scan = await scanLake(lake, topic)
    const days = options.dates ?? (options.onlyDaysWithSmallFiles === true ? daysWithSmallFiles(scan.complete) : allDays(scan.complete))
    const result: CompactResult = { days, filesBefore: 0, filesAfter: 0, written: 0, rows: 0, cleaned, skipped: [], seconds: 0 }
    await compactGroups(conn, topic, groupsOf(scan, new Set(days)), { maxRowsPerFile, deps, result })
    result.seconds = (Date.now() - started) / 1000
    return result
  } finally {
    deps.signal?.removeEventListener('abort', interrupt)
    conn.closeSync()
    db.closeSync()
    await release()
  }
}

/** Every group in turn, counting into `result` the files before and after, what was written and what was skipped. */
async function compactGroups(
  conn: DuckDBConnection,
  topic: string,
  groups: readonly Group[],
  run: { maxRowsPerFile: number; deps: CompactDeps; result: CompactResult },
): Promise<void> {
  const { result, deps } = run
  result.filesBefore = groups.reduce((n, g) => n + g.files.length + g.breakers.filter((f) => f.quarantined !== true).length, 0)
  result.filesAfter = result.filesBefore
  for (const g of groups) {
    deps.signal?.throwIfAborted()
    const outcome = await compactGroup(conn, topic, g, run.maxRowsPerFile, deps)
    if (outcome.skipped !== undefined) {
      result.skipped.push({ dir: path.join('raw', g.kind, `dt=${g.dt}`), partition: g.partition, reason: outcome.skipped })
      deps.log?.warn(`left raw/${g.kind}/dt=${g.dt} partition ${g.partition} as it is: ${outcome.skipped}`)
    }
    for (const done of outcome.runs) {
      result.written++
      result.rows += done.rows
      result.filesAfter -= done.sources - 1
    }
  }
}

/** The days of the lake's complete files, in order. */
function allDays(complete: readonly LakeFile[]): string[] {
  return [...new Set(complete.map((f) => f.dt))].sort()
}

/**
 * The days holding small files: those where some kind and partition has two complete files or
 * more (not quarantined), the only folders a run can rewrite. A day compacted since its last
 * flush has one file per kind and partition and is left out.
 */
export function daysWithSmallFiles(complete: readonly LakeFile[]): string[] {
  const seen = new Set<string>()
  const days = new Set<string>()
  for (const f of complete) {
    if (f.quarantined === true) continue
    const group = `${f.kind}/${f.dt}/${f.partition}`
    if (seen.has(group)) days.add(f.dt)
    else seen.add(group)
  }
  return [...days].sort()
}

/** Deletes a killed compaction's temporary files and the sources its renamed files supersede. */
async function removeLeftovers(scan: LakeScan): Promise<number> {
  const doomed = [...scan.compacting, ...scan.superseded.map((f) => f.path)]
  for (const p of doomed) await rm(p, { force: true })
  return doomed.length
}

function groupsOf(scan: LakeScan, days: ReadonlySet<string>): Group[] {
  const groups = new Map<string, Group>()
  const groupOf = (f: LakeFile): Group => {
    const key = `${f.kind}/${f.dt}/${f.partition}`
    const g = groups.get(key) ?? { kind: f.kind, dt: f.dt, partition: f.partition, files: [], breakers: [] }
    groups.set(key, g)
    return g
  }
  for (const f of scan.complete) {
    if (!days.has(f.dt)) continue
    if (f.quarantined === true) groupOf(f).breakers.push(f)
    else groupOf(f).files.push(f)
  }
  for (const f of scan.incomplete) if (days.has(f.dt)) groupOf(f).breakers.push(f)
  for (const g of groups.values()) g.files.sort((a, b) => a.first - b.first)
  return [...groups.values()].sort((a, b) =>
    a.dt === b.dt ? (a.kind === b.kind ? a.partition - b.partition : a.kind < b.kind ? -1 : 1) : a.dt < b.dt ? -1 : 1,
  )
}

type GroupOutcome = { runs: { sources: number; rows: number }[]; skipped?: string }

async function compactGroup(conn: DuckDBConnection, topic: string, g: Group, maxRowsPerFile: number, deps: CompactDeps): Promise<GroupOutcome> {
  if (g.files.length < 2) return { runs: [] }
  const paths = g.files.map((f) => f.path)
  const done: { sources: number; rows: number }[] = []
  try {
    const sources = await aboutTheFiles(() => checkSources(conn, g.kind, paths))
    if ('problem' in sources) return { runs: [], skipped: sources.problem }
    const rows = await aboutTheFiles(() => rowCounts(conn, paths))
    const runs = planRuns(
      g.files.map((f) => ({ ...f, rows: rows.get(f.path) ?? 0 })),
      g.breakers,
      maxRowsPerFile,
    )
    for (const run of runs) {
      await rewrite(conn, topic, g.partition, run, widestFile(run, sources.columns), deps)
      done.push({ sources: run.length, rows: run.reduce((n, f) => n + f.rows, 0) })
    }
    return { runs: done }
  } catch (error) {
    if (!(error instanceof UnreadableSource)) throw error
    // The runs rewritten before stay rewritten; the rest of the folder is left as it is.
    return { skipped: `a file cannot be read (${error.message}); \`vigil batch\` quarantines it`, runs: done }
  }
}

/** A DuckDB error about a source file (not about memory, disk or an interrupt). */
class UnreadableSource extends Error {}

/** Runs a DuckDB read of the sources, turning an error about a file into UnreadableSource. */
async function aboutTheFiles<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    if (notAboutTheFile(error) || error instanceof VigilError) throw error
    throw new UnreadableSource(firstLine(describeError(error)), { cause: error })
  }
}

/**
 * Consecutive files, in offset order, cut into runs of at most `maxRows` rows; a breaker (a file
 * that is not to be rewritten) between two files ends a run, so no compacted file spans a file
 * it did not read. Runs of one file are left out: rewriting them gains nothing.
 */
export function planRuns<F extends Sized>(files: readonly F[], breakers: readonly { first: number; last: number }[], maxRows: number): F[][] {
  const runs: F[][] = []
  let run: F[] = []
  let rows = 0
  const close = (): void => {
    if (run.length > 1) runs.push(run)
    run = []
    rows = 0
  }
  for (const f of files) {
    const prev = run[run.length - 1]
    const interrupted = prev !== undefined && breakers.some((b) => b.first > prev.last && b.first < f.first)
    if (interrupted || (run.length > 0 && rows + f.rows > maxRows)) close()
    run.push(f)
    rows += f.rows
  }
  close()
  return runs
}

/**
 * How many files one DuckDB question about a group's files covers. Turning an answer into JS
 * objects holds the event loop (~60 ms per 1,000 files measured, in inspectFiles), and the
 * archiver's periodic compaction shares it with the flushes: slices bound each hold, whatever
 * a day's backlog of files.
 */
const FILES_PER_QUESTION = 500

function slices<T>(items: readonly T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += FILES_PER_QUESTION) out.push(items.slice(i, i + FILES_PER_QUESTION))
  return out
}

/** Why the files cannot be rewritten together, or each file's columns when they can. */
async function checkSources(
  conn: DuckDBConnection,
  kind: RawKind,
  paths: readonly string[],
): Promise<{ problem: string } | { columns: Map<string, FileColumns> }> {
  if (kind === 'readings') {
    const inspection: Inspection = { bad: new Map(), gone: [] }
    for (const slice of slices(paths)) {
      const part = await inspectFiles(conn, slice)
      for (const [file, verdict] of part.bad) inspection.bad.set(file, verdict)
      inspection.gone.push(...part.gone)
    }
    const [file, verdict] = [...inspection.bad][0] ?? []
    if (file !== undefined && verdict !== undefined)
      return { problem: `${path.basename(file)} is ${verdict.kind} (${verdict.detail}); \`vigil batch\` quarantines it` }
    if (inspection.gone.length > 0)
      return { problem: `${path.basename(inspection.gone[0] as string)} vanished while being read; the next run takes the folder again` }
  }
  const columns = await fileColumns(conn, paths)
  const problem = columnsProblem([...columns.values()], new Set(Object.keys(OPTIONAL_READING_SCHEMA)))
  if (problem !== undefined) return { problem }
  return { columns }
}

/** Each file's columns: name -> Parquet type and converted type. */
async function fileColumns(conn: DuckDBConnection, paths: readonly string[]): Promise<Map<string, FileColumns>> {
  const out = new Map<string, Map<string, string>>()
  for (const slice of slices(paths)) {
    const rows = (
      await conn.runAndReadAll(
        `SELECT file_name, name, coalesce(type, '') || ' ' || coalesce(converted_type, '') AS t FROM parquet_schema([${slice.map(sqlString).join(', ')}])`,
      )
    ).getRowObjectsJS()
    for (const r of rows) {
      const file = String(r.file_name)
      const cols = out.get(file) ?? new Map<string, string>()
      cols.set(String(r.name), String(r.t))
      out.set(file, cols)
    }
  }
  return out
}

/** One file's columns: name -> type description. */
export type FileColumns = ReadonlyMap<string, string>

/**
 * Pure: why files cannot be rewritten into one, or undefined when they can. One COPY reads them
 * by name (union_by_name) with the select list of the run's widest file, so: every column a file
 * has must have the same type in every file that has it; files may differ only in the `optional`
 * columns (the assessment columns, absent from files written before them; such a file's rows get
 * nulls); and each file's columns must include the next narrower one's, so that the widest file
 * of any run holds every column of the run.
 */
export function columnsProblem(files: readonly FileColumns[], optional: ReadonlySet<string>): string | undefined {
  const types = new Map<string, string>()
  for (const f of files) {
    for (const [name, type] of f) {
      const seen = types.get(name)
      if (seen !== undefined && seen !== type) return `its files do not all have the same columns (${name} is ${seen.trim()} in one, ${type.trim()} in another)`
      types.set(name, type)
    }
  }
  const required = (f: FileColumns) =>
    [...f.keys()]
      .filter((n) => !optional.has(n))
      .sort()
      .join(',')
  const distinct = new Set(files.map(required))
  if (distinct.size > 1) return `its files do not all have the same columns (${distinct.size} different sets)`
  const bySize = [...files].sort((a, b) => a.size - b.size)
  for (let i = 1; i < bySize.length; i++) {
    const narrower = bySize[i - 1] as FileColumns
    const wider = bySize[i] as FileColumns
    if ([...narrower.keys()].some((n) => !wider.has(n))) return 'its files do not all have the same columns (optional columns differ)'
  }
  return undefined
}

/** Pure: the file of a run with the most columns (the first of them), whose select list the run is written with. */
export function widestFile<F extends { path: string }>(run: readonly F[], columns: ReadonlyMap<string, FileColumns>): F {
  let widest = run[0] as F
  for (const f of run) if ((columns.get(f.path)?.size ?? 0) > (columns.get(widest.path)?.size ?? 0)) widest = f
  return widest
}

async function rowCounts(conn: DuckDBConnection, paths: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (const slice of slices(paths)) {
    const rows = (await conn.runAndReadAll(`SELECT file_name, num_rows FROM parquet_file_metadata([${slice.map(sqlString).join(', ')}])`)).getRowObjectsJS()
    for (const r of rows) counts.set(String(r.file_name), Number(r.num_rows))
  }
  return counts
}

/**
 * The select list that writes the columns back as the archiver wrote them: DuckDB reads a
 * millisecond timestamp (the lake's `ts`, `kafka_ts`) as microseconds and would write it so.
 */
async function columnsAsWritten(conn: DuckDBConnection, file: string): Promise<string> {
  const rows = (
    await conn.runAndReadAll(`SELECT name, converted_type, num_children FROM parquet_schema(${sqlString(file)}) ORDER BY column_id`)
  ).getRowObjectsJS()
  // The first element is the schema's root; the lake's columns are flat.
  return rows
    .slice(1)
    .map((r) => {
      const name = `"${String(r.name).replaceAll('"', '""')}"`
      return r.converted_type === 'TIMESTAMP_MILLIS' ? `${name}::TIMESTAMP_MS AS ${name}` : name
    })
    .join(', ')
}

/**
 * One compacted file from `run` (one folder, one partition, offset order), with the columns of
 * its widest file `template`, then its sources deleted.
 */
async function rewrite(
  conn: DuckDBConnection,
  topic: string,
  partition: number,
  run: readonly (LakeFile & Sized)[],
  template: LakeFile,
  deps: CompactDeps,
): Promise<void> {
  const first = run[0] as LakeFile & Sized
  const dir = path.dirname(first.path)
  const name = fileName({ topic, partition, first: first.first, last: (run[run.length - 1] as LakeFile).last, parts: 1, compacted: true })
  const final = path.join(dir, name)
  const tmp = path.join(dir, compactingName(name))
  const expected = run.reduce((n, f) => n + f.rows, 0)
  deps.signal?.throwIfAborted()
  try {
    const columns = await aboutTheFiles(() => columnsAsWritten(conn, template.path))
    // Files in offset order, each in offset order: DuckDB keeps that order (insertion order is
    // preserved by default). No hive partitioning: a `dt` column must not enter the file. By
    // name: a file written before the assessment columns gives them as nulls.
    await aboutTheFiles(() =>
      conn.run(
        `COPY (SELECT ${columns} FROM read_parquet([${run.map((f) => sqlString(f.path)).join(', ')}], hive_partitioning = false, union_by_name = true)) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`,
      ),
    )
    const written = (await rowCounts(conn, [tmp])).get(tmp)
    if (written !== expected) {
      throw new VigilError(
        'STAGE_FAILED',
        `compaction wrote ${written ?? 0} rows to ${tmp} where its ${run.length} sources hold ${expected}; the sources are left as they are.`,
      )
    }
    await fsyncFile(tmp)
  } catch (error) {
    await rm(tmp, { force: true })
    throw error
  }
  await deps.onStep?.('written', tmp)
  // The last moment to stop: once renamed, the sources are deleted whatever happens.
  if (deps.signal?.aborted === true) {
    await rm(tmp, { force: true })
    deps.signal.throwIfAborted()
  }
  // The rename makes the compacted file visible and its sources superseded in one step; the
  // folder is synced before a source is deleted, so a power cut cannot keep the deletes and
  // lose the rename.
  await rename(tmp, final)
  await fsyncFile(dir)
  await deps.onStep?.('renamed', final)
  for (const f of run) {
    await rm(f.path, { force: true })
    await deps.onStep?.('deleted', f.path)
  }
  await fsyncFile(dir)
}
