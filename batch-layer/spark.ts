/**
 * The Spark engine of the batch job (`vigil batch --engine spark`): runs the Spark SQL of
 * spark-sql.ts over a list of lake files with Apache Spark, through the driver script
 * spark-job.py in the Python that has PySpark (stack/spark.ts installs it; the composition root
 * passes its path in, so this stage never imports stack/). The result lands as Parquet in an
 * output folder; the job (job.ts) loads it into DuckDB's `stats` table and publishes it exactly
 * as the DuckDB engine's, so the view files, Redis and the run's summary do not depend on the
 * engine.
 *
 * The driver runs here (client mode) with any master Spark accepts: `local[*]` uses this
 * machine's cores, `spark://host:7077`, `yarn` or `k8s://...` a cluster, whose executors must
 * read the lake's files and write the output folder at the same paths (a shared mount). The
 * executors run only SQL: they need Java, not Python.
 *
 * A failure is told apart by the driver: one of the lake's files could not be read (thrown as
 * SparkFileError, so the job quarantines that file as it does DuckDB's), or Spark itself failed
 * (one VigilError with Spark's first lines). Cancelling closes the driver's stdin: it exits, and
 * Spark's JVM exits with it.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { childEnv } from '../lib/config.ts'
import { VigilError } from '../lib/errors.ts'
import type { Logger } from '../lib/log.ts'
import { SPARK_MISSING_COLUMNS, SPARK_READINGS_VIEW, type SparkTable } from './spark-sql.ts'

/** The driver script, beside this module. */
const DRIVER = fileURLToPath(new URL('./spark-job.py', import.meta.url))

/** Lines of Spark's own log kept for an error message. */
const LOG_TAIL_LINES = 20

/** After the driver's stdin closes on a cancel, how long it has to exit before it is killed. */
const CANCEL_GRACE_MS = 10_000

/** How the batch job reaches Spark. */
export interface SparkEngine {
  /** The Python that imports PySpark (stack/spark.ts, `ensureSpark`). */
  python: string
  /** The master URL: `local[*]`, `local[4]`, `spark://host:7077`, `yarn`, `k8s://https://host:443`; passed to Spark as it is. */
  master: string
  /** PySpark's version, for the run's summary. */
  version?: string
  /** More Spark settings (e.g. `spark.driver.memory`), over SPARK_DEFAULT_CONF. */
  conf?: Readonly<Record<string, string>>
}

/** What one Spark run computes. */
export interface SparkQuery {
  runId: string
  files: readonly string[]
  /** Spark SQL over the view SPARK_READINGS_VIEW and `tables`. */
  query: string
  tables: readonly SparkTable[]
  /** A folder that does not exist yet: the result's Parquet files. */
  output: string
}

/** How a Spark run went. */
export interface SparkRun {
  version: string
  /** Parallelism Spark reported (cores of local[*], or the executors' cores). */
  parallelism: number
  /** Seconds until the session was up (JVM start, and on a cluster the executors' registration). */
  startSeconds: number
  /** Seconds of the driver from its start to the result written and the session stopped. */
  seconds: number
  /** Seconds listing the files and merging their schemas. */
  readSeconds: number
  /** Seconds of the query and the write of its result. */
  querySeconds: number
}

/** Spark could not read one of the lake's files; its message names the file. */
export class SparkFileError extends Error {
  override readonly name = 'SparkFileError'
}

/**
 * Settings every run gets: UTC for the session (a timestamp with a zone is cut into UTC days,
 * as DuckDB does), no console progress bar (spark-job.py reports progress), and on a local
 * master no web UI and the driver on the loopback address (no port taken beside other users).
 */
export function sparkConf(master: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const local = master === 'local' || master.startsWith('local[')
  return {
    'spark.sql.session.timeZone': 'UTC',
    'spark.ui.showConsoleProgress': 'false',
    ...(local ? { 'spark.ui.enabled': 'false', 'spark.driver.host': '127.0.0.1', 'spark.driver.bindAddress': '127.0.0.1' } : {}),
    ...extra,
  }
}

interface DriverEvent {
  event: 'started' | 'progress' | 'done' | 'error'
  version?: string
  parallelism?: number
  seconds?: number
  readSeconds?: number
  querySeconds?: number
  done?: number
  total?: number
  kind?: 'file' | 'engine'
  message?: string
}

/** Runs one query with Spark; `onProgress` gets a whole percentage (tasks of its stages done) and a line to show. */
export function runSparkQuery(
  engine: SparkEngine,
  q: SparkQuery,
  options: { signal?: AbortSignal; onProgress?: (pct: number, message: string) => void; log?: Logger } = {},
): Promise<SparkRun> {
  const plan = {
    master: engine.master,
    appName: `vigil-batch-${q.runId}`,
    conf: sparkConf(engine.master, engine.conf),
    files: q.files,
    view: SPARK_READINGS_VIEW,
    missingColumns: SPARK_MISSING_COLUMNS,
    tables: q.tables,
    query: q.query,
    output: q.output,
  }
  const local = engine.master === 'local' || engine.master.startsWith('local[')
  const progress = options.onProgress ?? (() => undefined)
  return new Promise((resolve, reject) => {
    progress(0, `starting Spark (${engine.master})`)
    // A path relative to this process's folder stays one: the driver runs in its own folder.
    const python = engine.python.includes('/') ? path.resolve(engine.python) : engine.python
    const child = spawn(python, [DRIVER], {
      cwd: path.dirname(DRIVER),
      stdio: ['pipe', 'pipe', 'pipe'],
      env: childEnv({ PYTHONUNBUFFERED: '1', ...(local ? { SPARK_LOCAL_IP: '127.0.0.1' } : {}) }),
    })
    const tail: string[] = []
    const keep = (line: string) => {
      tail.push(line)
      if (tail.length > LOG_TAIL_LINES) tail.shift()
      options.log?.debug(`spark: ${line}`)
    }
    let started: DriverEvent | undefined
    let finished: DriverEvent | undefined
    let failed: DriverEvent | undefined
    let pct = 0
    const onEvent = (e: DriverEvent) => {
      if (e.event === 'started') {
        started = e
        progress(0, `Spark ${e.version} on ${engine.master}: ${q.files.length} files`)
      } else if (e.event === 'progress' && (e.total ?? 0) > 0) {
        // Stages appear as the query runs (adaptive execution plans them one after another): never go back.
        pct = Math.max(pct, Math.min(99, Math.floor(((e.done ?? 0) / (e.total ?? 1)) * 100)))
        progress(pct, `Spark: ${e.done}/${e.total} tasks`)
      } else if (e.event === 'done') finished = e
      else if (e.event === 'error') failed = e
    }
    lines(child.stdout, (line) => {
      if (!line.startsWith('@vigil ')) return keep(line)
      try {
        onEvent(JSON.parse(line.slice('@vigil '.length)) as DriverEvent)
      } catch {
        keep(line)
      }
    })
    lines(child.stderr, keep)

    let killTimer: NodeJS.Timeout | undefined
    const onAbort = () => {
      child.stdin.end()
      killTimer = setTimeout(() => child.kill('SIGKILL'), CANCEL_GRACE_MS)
    }
    options.signal?.addEventListener('abort', onAbort)
    child.stdin.on('error', () => undefined)
    child.stdin.write(`${JSON.stringify(plan)}\n`)

    child.on('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort)
      reject(
        new VigilError(
          'STAGE_FAILED',
          `the Spark engine's Python ${engine.python} could not start (${error.message}); remove .stack/spark and run again to reinstall PySpark, or run without --engine spark.`,
          { cause: error },
        ),
      )
    })
    child.on('close', (code) => {
      options.signal?.removeEventListener('abort', onAbort)
      clearTimeout(killTimer)
      child.stdin.end()
      if (options.signal?.aborted === true) return reject(new Error('the Spark run was cancelled'))
      if (code === 0 && finished !== undefined && started !== undefined) {
        return resolve({
          version: started.version ?? '?',
          parallelism: started.parallelism ?? 0,
          startSeconds: started.seconds ?? 0,
          seconds: finished.seconds ?? 0,
          readSeconds: finished.readSeconds ?? 0,
          querySeconds: finished.querySeconds ?? 0,
        })
      }
      if (failed?.kind === 'file') return reject(new SparkFileError(failed.message ?? 'a file could not be read'))
      const why = [failed?.message, jvmException(tail)].filter((x) => x !== undefined).join(': ') || tail.slice(-3).join(' | ') || `exit status ${code}`
      reject(
        new VigilError(
          'STAGE_FAILED',
          `the batch job failed in Spark (master ${engine.master}): ${why}; check the master URL and that the cluster can read ${path.dirname(q.files[0] ?? '.')}, or run without --engine spark.`,
        ),
      )
    })
  })
}

/**
 * The message of the last Java exception in Spark's log, if any: when the JVM itself fails (a
 * master URL spark-submit refuses, a port taken) the driver only sees "Java gateway process
 * exited", and the reason is in the JVM's log.
 */
export function jvmException(log: readonly string[]): string | undefined {
  let found: string | undefined
  for (const line of log) {
    const m = /^(?:Exception in thread "[^"]*" )?(?:Caused by: )?[\w.$]+(?:Exception|Error): (.+)$/.exec(line)
    if (m !== null) found = m[1]
  }
  return found
}

/** Calls `onLine` with each line of a stream, without its line break. */
function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n')
    rest = parts.pop() ?? ''
    for (const p of parts) onLine(p.trimEnd())
  })
  stream.on('end', () => {
    if (rest !== '') onLine(rest.trimEnd())
  })
}
