/**
 * The batch layer's own options (the shared ones, like the lake folder, are in lib/config.ts).
 * Each default is written once, here, with its unit and why; a field offered as a flag carries
 * its help in `.describe()` and `.meta()` (cli/options.ts makes the flags).
 */
import { z } from 'zod'

const DAY = /^\d{4}-\d{2}-\d{2}$/

export const archiverOptionsSchema = z.strictObject({
  /**
   * A partition's buffer is written to a file when it holds this many records.
   * @defaultValue 50 000 records: files of a few MB (zstd) that DuckDB scans efficiently, and a
   * memory bound of partitions × this many buffered records.
   */
  flushRecords: z.coerce
    .number()
    .int()
    .min(1, { error: 'expected a whole number of records of at least 1' })
    .default(50_000)
    .describe("write a partition's file when it holds this many records")
    .meta({ unit: 'records' }),
  /**
   * ... or when its oldest buffered record has waited this long, in milliseconds.
   * @defaultValue 10 000 ms: the lake is at most ~10 s behind Kafka under a trickle of readings.
   */
  flushIntervalMs: z.coerce
    .number()
    .int()
    .min(100, { error: 'expected milliseconds, at least 100' })
    .default(10_000)
    .describe('... or when its oldest record is this old')
    .meta({ unit: 'ms' }),
  /**
   * The running archiver compacts the days that hold small files (compact.ts) this often, in
   * milliseconds, the first time one interval after it starts; 0 turns it off (then schedule
   * `vigil compact`).
   * @defaultValue 3 600 000 ms (1 hour): the lake holds at most about an hour of small files (at
   * 10 s flushes, 360 a partition), so a run rewrites a few thousand files in seconds and the
   * batch job opens a handful of files a day instead of ~52,000.
   */
  compactIntervalMs: z.coerce
    .number()
    .int()
    .min(0, { error: 'expected milliseconds: 0 (off) or at least 1000' })
    .refine((ms) => ms === 0 || ms >= 1_000, { error: 'expected milliseconds: 0 (off) or at least 1000' })
    .default(3_600_000)
    .describe("compact the lake's days holding small files this often while archiving; 0: off")
    .meta({ unit: 'ms' }),
  /**
   * This archiver's name in a group of archivers sharing the topic's partitions and one lake
   * folder (ownership.ts): each running archiver needs its own; a restart with the same id takes
   * its partitions back at once (static group membership).
   * @defaultValue none: the one archiver of the lake
   */
  instanceId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'expected an instance id of letters, digits, ".", "_" or "-"' })
    .optional()
    .meta({
      description:
        'this archiver in a group sharing the partitions and the lake: one id per running archiver; a restart with the same id takes its partitions back at once',
      arg: 'id',
      unset: 'none (the lake has one archiver)',
    }),
})

export type ArchiverOptions = z.infer<typeof archiverOptionsSchema>

/** The archiver's options from a partial input (tests, `vigil all`), defaults filled in and frozen. */
export function archiverOptions(input: z.input<typeof archiverOptionsSchema> = {}): ArchiverOptions {
  return Object.freeze(archiverOptionsSchema.parse(input))
}

/** The batch job's engines (`vigil batch --engine`). */
export const BATCH_ENGINES = ['duckdb', 'spark'] as const
export type BatchEngine = (typeof BATCH_ENGINES)[number]

/**
 * The engine of `vigil batch` without `--engine`, and of the serving layer's runs.
 * @defaultValue 'duckdb': in this process, no JVM; Spark is for a lake that outgrows one machine
 * (docs/ARCHITECTURE.md, The batch job on Spark).
 */
export const DEFAULT_BATCH_ENGINE: BatchEngine = 'duckdb'

/**
 * The Spark master of `--engine spark` without `--spark-master`.
 * @defaultValue 'local[*]': Spark in one JVM on this machine, a worker thread per core.
 */
export const DEFAULT_SPARK_MASTER = 'local[*]'

const day = z
  .string()
  .regex(DAY, { error: 'expected a day as YYYY-MM-DD' })
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), {
    error: 'expected a real calendar day',
  })

export const batchOptionsSchema = z
  .strictObject({
    date: day.optional().meta({ description: 'one day of event time, UTC', arg: 'YYYY-MM-DD', unset: 'today, UTC' }),
    from: day.optional().meta({ description: 'first day of a range, UTC', arg: 'YYYY-MM-DD', unset: 'none; needs --to' }),
    to: day.optional().meta({ description: 'last day of a range, inclusive', arg: 'YYYY-MM-DD', unset: 'none; needs --from' }),
    /** Recompute every day in the range, not only days whose lake files changed since the last run. */
    full: z.boolean().default(false).describe('recompute every requested day, not only days whose lake files changed since the last run'),
    /** Fail on the first bad raw Parquet file instead of quarantining it (quarantine.ts). */
    strict: z.boolean().default(false).describe('fail on the first bad Parquet file instead of quarantining it'),
    /** The engine that computes the statistics; unset: DEFAULT_BATCH_ENGINE. */
    engine: z.enum(BATCH_ENGINES).optional().meta({
      description:
        'the engine that computes the statistics: duckdb in this process, or spark (Apache Spark; PySpark is installed into .stack/spark on first use)',
      unset: DEFAULT_BATCH_ENGINE,
    }),
    /** The Spark master URL with `--engine spark`, passed to Spark as it is; unset: DEFAULT_SPARK_MASTER. */
    sparkMaster: z.string().min(1, { error: 'expected a Spark master URL, e.g. local[*] or spark://host:7077' }).optional().meta({
      description: 'the Spark master with --engine spark: local[N], spark://host:7077, yarn, k8s://https://host:443',
      arg: 'URL',
      unset: DEFAULT_SPARK_MASTER,
    }),
  })
  .refine((o) => o.date === undefined || (o.from === undefined && o.to === undefined), { error: 'use either --date or --from/--to, not both', path: ['date'] })
  .refine((o) => (o.from === undefined) === (o.to === undefined), { error: '--from and --to go together', path: ['from'] })
  .refine((o) => o.from === undefined || o.to === undefined || o.from <= o.to, { error: '--from must not be after --to', path: ['from'] })
  .refine((o) => o.sparkMaster === undefined || o.engine === 'spark', { error: '--spark-master goes with --engine spark', path: ['sparkMaster'] })

export type BatchOptions = z.infer<typeof batchOptionsSchema>

export const compactOptionsSchema = z
  .strictObject({
    date: day.optional().meta({ description: 'one day of the lake, UTC', arg: 'YYYY-MM-DD', unset: 'every day in the lake, today included' }),
    from: day.optional().meta({ description: 'first day of a range, UTC', arg: 'YYYY-MM-DD', unset: 'none; needs --to' }),
    to: day.optional().meta({ description: 'last day of a range, inclusive', arg: 'YYYY-MM-DD', unset: 'none; needs --from' }),
    /**
     * A compacted file holds at most this many rows.
     * @defaultValue 10 000 000 rows: about 45 MB of readings (zstd, 4.4 bytes a row measured),
     * so a day at 5 000 readings/s is ~47 files; DuckDB writes one streaming, in bounded memory.
     */
    maxRowsPerFile: z.coerce
      .number()
      .int()
      .min(2, { error: 'expected a whole number of rows of at least 2' })
      .default(10_000_000)
      .describe('rows of a compacted file at most')
      .meta({ unit: 'rows' }),
  })
  .refine((o) => o.date === undefined || (o.from === undefined && o.to === undefined), { error: 'use either --date or --from/--to, not both', path: ['date'] })
  .refine((o) => (o.from === undefined) === (o.to === undefined), { error: '--from and --to go together', path: ['from'] })
  .refine((o) => o.from === undefined || o.to === undefined || o.from <= o.to, { error: '--from must not be after --to', path: ['from'] })

export type CompactOptions = z.infer<typeof compactOptionsSchema>

/** Days from..to inclusive, YYYY-MM-DD (UTC). */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = []
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10))
  }
  return out
}
